// The error codes as one family: every code is declared once with one meaning, lies in its catalogue's range, every
// code the sources or docs mention is declared, every error class extends PqguardError, and docs/errors.md is current.
import { strict as assert } from "node:assert";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { ERROR_CATALOGUES, errorCodeRows, renderErrorDoc } from "../../bin/error-codes.js";
import { RequestError } from "../../compiler/request.js";
import { UsageError } from "../../bin/commands/io.js";
import {
  AuditError,
  ClientCertificateError,
  CryptoConfigError,
  CryptoError,
  EnforceError,
  ManifestError,
  PqguardError,
  ProxyError,
  SessionError,
  StateError,
} from "../../runtime/index.js";
import { UpstreamRpcError } from "../../runtime/proxy/errors.js";
import { ArbitraryError } from "../../testing/errors.js";
import { GuardAssertionError } from "../../testing/assertions.js";
import { BackendDisagreement } from "../../testing/runner/agreement.js";
import { DiscoveryError } from "../../testing/runner/discover.js";
import { PropertyFileError } from "../../testing/runner/properties.js";
import { errorCatalogue, type ErrorCatalogue } from "../../runtime/errors.js";
import { LiteralError } from "../../runtime/guard/literal-errors.js";

const ROOT = new URL("../../", import.meta.url).pathname;
const CODE = /PQG\d{4}/g;

function filesUnder(dir: string, keep: (name: string) => boolean): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === "node_modules" || name.startsWith(".") ? [] : filesUnder(path, keep);
    return keep(name) ? [path] : [];
  });
}

function duplicates(catalogues: readonly ErrorCatalogue[]): string[] {
  const owners = new Map<string, string[]>();
  for (const row of errorCodeRows(catalogues)) owners.set(row.code, [...(owners.get(row.code) ?? []), `${row.catalogue.area}.${row.name}`]);
  return [...owners].filter(([, names]) => names.length > 1).map(([code, names]) => `${code}: ${names.join(", ")}`);
}

function outOfRange(catalogues: readonly ErrorCatalogue[]): string[] {
  return errorCodeRows(catalogues)
    .filter((row) => !/^PQG\d{4}$/.test(row.code) || !row.catalogue.ranges.some(([from, to]) => Number(row.code.slice(3)) >= from && Number(row.code.slice(3)) <= to))
    .map((row) => `${row.code} (${row.catalogue.area})`);
}

function overlappingRanges(catalogues: readonly ErrorCatalogue[]): string[] {
  const ranges = catalogues.flatMap((c) => c.ranges.map(([from, to]) => ({ from, to, area: c.area }))).sort((a, b) => a.from - b.from);
  return ranges.slice(1).flatMap((range, i) => (range.from <= ranges[i]!.to ? [`${ranges[i]!.area} and ${range.area}`] : []));
}

describe("error codes", () => {
  const rows = errorCodeRows();
  const declared = new Set(rows.map((row) => row.code));

  it("declares every code in exactly one catalogue", () => {
    assert.ok(rows.length > 150, `only ${rows.length} codes registered`);
    assert.deepEqual(duplicates(ERROR_CATALOGUES), []);
  });

  it("gives every code one meaning, in one sentence", () => {
    for (const row of rows) {
      assert.ok(row.meaning.trim().length > 0, `${row.code} has no meaning`);
      assert.doesNotMatch(row.meaning, /(?<!\be\.g|\bi\.e)[.;]\s+[A-Z]/, `${row.code} reads as more than one sentence: ${row.meaning}`);
    }
  });

  it("keeps every code inside its catalogue's ranges, and the ranges apart", () => {
    assert.deepEqual(outOfRange(ERROR_CATALOGUES), []);
    assert.deepEqual(overlappingRanges(ERROR_CATALOGUES), []);
  });

  it("catches a code declared twice, a code out of range and overlapping ranges (the checks themselves)", () => {
    const a = errorCatalogue("a", "AError", [[8001, 8099]], { One: ["PQG8001", "one"] }).catalogue;
    const b = errorCatalogue("b", "BError", [[8050, 8150]], { Same: ["PQG8001", "another meaning"], Far: ["PQG9000", "far"] }).catalogue;
    assert.deepEqual(duplicates([a, b]), ["PQG8001: a.One, b.Same"]);
    assert.deepEqual(outOfRange([a, b]), ["PQG8001 (b)", "PQG9000 (b)"]);
    assert.deepEqual(overlappingRanges([a, b]), ["a and b"]);
  });

  it("declares every code the sources and the docs mention", () => {
    const sources = ["runtime", "bin", "compiler", "testing", "grammar", "policies"].flatMap((dir) => filesUnder(join(ROOT, dir), (name) => /\.(ts|mjs|js)$/.test(name)));
    const docs = [...filesUnder(join(ROOT, "docs"), (name) => name.endsWith(".md")), join(ROOT, "README.md")];
    const unknown = [...sources, ...docs].flatMap((file) => {
      const text = readFileSync(file, "utf8");
      return [...new Set(text.match(CODE) ?? [])].filter((code) => !declared.has(code)).map((code) => `${code} in ${file.slice(ROOT.length)}`);
    });
    assert.ok(sources.length > 100, `only ${sources.length} source files scanned`);
    assert.deepEqual(unknown, []);
  });

  it("docs/errors.md is the table the catalogues give (run `npm run errors:doc`)", () => {
    const doc = readFileSync(join(ROOT, "docs/errors.md"), "utf8");
    assert.equal(doc, renderErrorDoc());
    for (const code of declared) assert.ok(doc.includes(`| ${code} |`), `${code} missing from docs/errors.md`);
  });

  it("every error class carries a code and a sentence and extends PqguardError, and instanceof still tells them apart", () => {
    const failure = { assertion: "neverAllows", seed: 1, numRuns: 1, numShrinks: 0 };
    const errors: [Error, new (...args: never[]) => Error][] = [
      [new SessionError("PQG6012", "frame 3 was already received"), SessionError],
      [new CryptoError("PQG5010", "the key has 31 bytes, not 32"), CryptoError],
      [new CryptoConfigError("PQG5001", "unknown algorithm `x`"), CryptoError],
      [new ClientCertificateError("PQG5202", "not a certificate document"), ClientCertificateError],
      [new ManifestError("PQG7007", "tool `refund` was changed after signing", "refund"), ManifestError],
      [new AuditError("PQG7101", "cannot write `audit.log`"), AuditError],
      [new StateError("PQG7201", "the store is full"), StateError],
      [new EnforceError("PQG7310", "the server lacks the seam"), EnforceError],
      [new LiteralError("PQG7601", "`10.0.0.1/8` has bits set past its prefix"), LiteralError],
      [new ProxyError("PQG8013", "the request was cancelled", -32000), ProxyError],
      [new UpstreamRpcError({ code: -32602, message: "bad params" }), ProxyError],
      [new RequestError("PQG9001", "not JSON"), RequestError],
      [new UsageError("unknown option `--x`"), UsageError],
      [new ArbitraryError("PQG9551", "no value satisfies the schema"), ArbitraryError],
      [new GuardAssertionError("PQG9501", "a request was allowed", failure), GuardAssertionError],
      [new BackendDisagreement("the back ends disagree", undefined, undefined), BackendDisagreement],
      [new DiscoveryError("nothing to test"), DiscoveryError],
      [new PropertyFileError("`t.it` called late"), PropertyFileError],
    ];
    for (const [error, cls] of errors) {
      assert.ok(error instanceof PqguardError && error instanceof Error && error instanceof cls, error.name);
      assert.ok(declared.has(error.code), `${error.name} carries undeclared code ${error.code}`);
      assert.ok(error.message.length > 0 && !error.message.includes("\n"), error.name);
      assert.notEqual(error.name, "Error");
    }
    assert.equal(new UpstreamRpcError({ code: -32602, message: "bad params" }).code, "PQG8005");
    const cause = new Error("EACCES");
    assert.equal(new SessionError("PQG6021", "no credentials", { cause }).cause, cause);
    assert.ok(!(new Error("plain") instanceof PqguardError));
  });
});
