// `fmt` properties: formatting keeps the AST and the comments, is idempotent, and ignores the input's layout;
// and the `pqguard fmt` command rewrites, checks and refuses files as documented.
import assert from "node:assert/strict";
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import fc from "fast-check";
import { run as fmt } from "../../bin/commands/fmt.js";
import { UsageError } from "../../bin/commands/io.js";
import type { PolicyFile } from "../../grammar/ast.js";
import { parsePolicy } from "../../grammar/parse.js";
import { formatPolicy } from "../../grammar/printer.js";
import { commentedPolicyTextArb, policyTextArb, relaidPolicyTextArb } from "./arbitraries.js";

const ROOT = new URL("../../", import.meta.url).pathname;
const SPAN_KEYS = new Set(["span", "opSpan", "rootSpan", "calleeSpan", "scopeSpan", "nameSpan"]);

/** The AST without positions, and comments reduced to their text: what formatting must preserve. */
function shape(ast: PolicyFile): unknown {
  const strip = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(strip);
    if (value === null || typeof value !== "object") return value;
    return Object.fromEntries(Object.entries(value).filter(([k]) => !SPAN_KEYS.has(k)).map(([k, v]) => [k, strip(v)]));
  };
  return { ...(strip(ast) as object), comments: ast.comments.map((c) => (c.text.startsWith("//") ? c.text.trimEnd() : c.text)) };
}

function parseClean(source: string): PolicyFile {
  const { ast, problems } = parsePolicy(source);
  assert.deepEqual(problems, [], `problems in:\n${source}`);
  return ast;
}

function assertRoundTrip(source: string): string {
  const ast = parseClean(source);
  const formatted = formatPolicy(ast);
  const again = parseClean(formatted);
  assert.deepEqual(shape(again), shape(ast), `AST changed by formatting:\n${source}\n---\n${formatted}`);
  assert.equal(formatPolicy(again), formatted, `formatting is not idempotent:\n${formatted}`);
  return formatted;
}

function policyFiles(dir: string): string[] {
  const found: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return found;
  }
  for (const entry of entries) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) found.push(...policyFiles(path));
    else if (entry.endsWith(".policy")) found.push(path);
  }
  return found;
}

describe("grammar: fmt round trip", () => {
  it("formats the design example in the canonical layout", () => {
    const formatted = assertRoundTrip(readFileSync(new URL("./fixtures/payments.policy", import.meta.url), "utf8"));
    assert.match(formatted, /^policy payments version 1\ntimezone "Europe\/Berlin"\nmanifest "payments.tools.json"\n\nidentity \{\n  require client.authenticated\n/);
    assert.match(formatted, /\n\nask tool process_refund\n {2}when args.amount > 1000 and args.amount <= 5000\n {2}because "refunds between/);
    assert.match(formatted, /require transport.kem >= "ML-KEM-768" {2}\/\/ ordered by NIST security category\n {2}require transport.hybrid {15}\/\/ classical/);
  });

  it("keeps comments where they were", () => {
    const source = [
      "// Header comment.",
      "",
      "policy p // trailing the header",
      "",
      "/* before a rule */",
      "permit tool a",
      "  // between the target and the condition",
      "  when args.x > 1 /* after the condition */",
      "identity {",
      "  // inside the block",
      "  require client.authenticated",
      "  // before the brace",
      "}",
      "// at the end",
      "",
    ].join("\n");
    const formatted = assertRoundTrip(source);
    assert.equal(
      formatted,
      [
        "// Header comment.",
        "",
        "policy p  // trailing the header",
        "",
        "/* before a rule */",
        "permit tool a",
        "  // between the target and the condition",
        "  when args.x > 1  /* after the condition */",
        "",
        "identity {",
        "  // inside the block",
        "  require client.authenticated",
        "  // before the brace",
        "}",
        "// at the end",
        "",
      ].join("\n"),
    );
  });

  it("round-trips generated policies", () => {
    fc.assert(fc.property(policyTextArb, (text) => void assertRoundTrip(text)), { numRuns: 250 });
  });

  it("round-trips generated policies with comments", () => {
    fc.assert(fc.property(commentedPolicyTextArb, (text) => void assertRoundTrip(text)), { numRuns: 150 });
  });

  it("formats any layout of a policy to the same text", () => {
    fc.assert(
      fc.property(relaidPolicyTextArb, ({ canonical, relaid }) => {
        assert.equal(formatPolicy(parseClean(relaid)), canonical);
        assert.deepEqual(shape(parseClean(relaid)), shape(parseClean(canonical)));
      }),
      { numRuns: 150 },
    );
  });

  const fixtures = [...policyFiles(join(ROOT, "policies")), ...policyFiles(join(ROOT, "test"))];
  it(`round-trips every well-formed fixture (${fixtures.length} found under policies/ and test/)`, () => {
    assert.ok(fixtures.length > 0);
    for (const file of fixtures) {
      const source = readFileSync(file, "utf8");
      const result = parsePolicy(source);
      // Fixtures with syntax errors exist on purpose (golden diagnostics); fmt refuses those, so only check they parse safely.
      if (result.problems.length === 0) assertRoundTrip(source);
      else assert.ok(result.problems.every((p) => p.code.startsWith("PQG1")), relative(ROOT, file));
    }
  });
});

describe("pqguard fmt", () => {
  let dir: string;
  let out: string;
  let err: string;
  const io = (argv: string[]) => ({ argv, cwd: dir, out: (t: string) => void (out += t), err: (t: string) => void (err += t) });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "pqguard-fmt-"));
    out = "";
    err = "";
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("rewrites files in place and leaves canonical ones alone", async () => {
    await writeFile(join(dir, "a.policy"), "policy a permit   tool x when a==1\n");
    await writeFile(join(dir, "b.policy"), "policy b\n");
    assert.equal(await fmt(io(["a.policy", "b.policy"])), 0);
    assert.equal(await readFile(join(dir, "a.policy"), "utf8"), "policy a\n\npermit tool x\n  when a == 1\n");
    assert.equal(await readFile(join(dir, "b.policy"), "utf8"), "policy b\n");
  });

  it("with --check lists files that would change, writes nothing and exits 1", async () => {
    await writeFile(join(dir, "a.policy"), "policy a permit tool x\n");
    await writeFile(join(dir, "b.policy"), "policy b\n");
    assert.equal(await fmt(io(["--check", "a.policy", "b.policy"])), 1);
    assert.equal(out, "a.policy\n");
    assert.equal(await readFile(join(dir, "a.policy"), "utf8"), "policy a permit tool x\n");
    assert.equal(await fmt(io(["--check", "b.policy"])), 0);
  });

  it("refuses a file with syntax errors, printing each problem", async () => {
    await writeFile(join(dir, "bad.policy"), "policy p\npermit tool\nforbid tool x when (\n");
    assert.equal(await fmt(io(["bad.policy"])), 1);
    assert.equal(await readFile(join(dir, "bad.policy"), "utf8"), "policy p\npermit tool\nforbid tool x when (\n");
    assert.match(err, /^bad\.policy:2:12: error PQG1004: expected `\*` or a tool name, found `forbid`$/m);
    assert.match(err, /^bad\.policy:3:21: error PQG1004: expected an expression, found end of file$/m);
    assert.deepEqual(await readdir(dir), ["bad.policy"]);
  });

  it("reports an unreadable file and exits 1", async () => {
    assert.equal(await fmt(io(["missing.policy"])), 1);
    assert.match(err, /missing\.policy:1:1: error PQG2019: policy file `missing\.policy` cannot be read: ENOENT/);
  });

  it("throws a usage error without files or with an unknown option", async () => {
    await assert.rejects(fmt(io([])), UsageError);
    await assert.rejects(fmt(io(["--nope", "a.policy"])), UsageError);
  });
});
