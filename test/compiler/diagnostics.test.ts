// Golden diagnostics: every fixture policy under test/fixtures/diagnostics is checked and its rendered diagnostics
// compared with the checked-in `.expected` file. `UPDATE_GOLDEN=1` rewrites the expected files instead.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { DIAGNOSTICS, closest, didYouMean, editDistance } from "../../compiler/diagnostics.js";
import { checkPolicyFile, type CheckOutcome } from "../../compiler/load.js";
import { renderDiagnostics } from "../../compiler/render.js";

const FIXTURES = fileURLToPath(new URL("../fixtures/diagnostics/", import.meta.url));
const UPDATE = process.env["UPDATE_GOLDEN"] === "1";

/** Renders an outcome with the file named by its base name, so expected files do not depend on where the repo is. */
function render(outcome: CheckOutcome, name: string): string {
  const diags = outcome.diagnostics.map((d) => ({ ...d, file: d.file === outcome.fileName ? name : basename(d.file) }));
  const text = renderDiagnostics(diags, { [name]: outcome.source }, "text");
  return text === "" ? "(no diagnostics)\n" : text;
}

function compare(name: string, actual: string): void {
  const expectedFile = join(FIXTURES, name.replace(/\.policy$/, ".expected"));
  if (UPDATE || !existsSync(expectedFile)) {
    if (!UPDATE) assert.fail(`${basename(expectedFile)} is missing; run with UPDATE_GOLDEN=1 to create it`);
    writeFileSync(expectedFile, actual);
    return;
  }
  assert.equal(actual, readFileSync(expectedFile, "utf8"), `${name} differs from ${basename(expectedFile)}; run with UPDATE_GOLDEN=1 to accept`);
}

/** Inputs that cannot sensibly be checked in as files: each is written to a temporary directory and checked there. */
const GENERATED: Record<string, (dir: string) => Promise<{ path: string; manifests?: string[] }>> = {
  "PQG1006-file-too-large.policy": async (dir) => {
    const path = join(dir, "PQG1006-file-too-large.policy");
    await writeFile(path, `policy big\n${"// padding padding padding padding padding padding padding padding\n".repeat(17000)}`);
    return { path };
  },
  "PQG2018-unused-manifest-override.policy": async (dir) => {
    const path = join(dir, "PQG2018-unused-manifest-override.policy");
    await writeFile(path, "policy p\npermit tool *\n");
    await writeFile(join(dir, "extra.tools.json"), "[]");
    return { path, manifests: [join(dir, "extra.tools.json")] };
  },
  "PQG2019-unreadable-policy.policy": async (dir) => ({ path: join(dir, "PQG2019-unreadable-policy.policy") }),
};

/** Codes no input is known to produce: the parser's last-resort report of its own bug. */
const UNREACHABLE = new Set(["PQG1017"]);

const fixtures = readdirSync(FIXTURES)
  .filter((f) => f.endsWith(".policy"))
  .sort();

describe("golden diagnostics", () => {
  for (const name of fixtures) {
    it(`${name} renders as expected`, async () => {
      const outcome = await checkPolicyFile(join(FIXTURES, name));
      compare(name, render(outcome, name));
    });
  }

  for (const [name, make] of Object.entries(GENERATED)) {
    it(`${name} (generated input) renders as expected`, async () => {
      const dir = await mkdtemp(join(tmpdir(), "pqguard-golden-"));
      const input = await make(dir);
      const outcome = await checkPolicyFile(input.path, { manifests: input.manifests });
      const text = render(outcome, name)
        .split(dir + "/")
        .join("");
      compare(name, text);
    });
  }

  it("has a fixture for every diagnostic code in the catalogue", () => {
    const seen = new Set<string>();
    for (const file of readdirSync(FIXTURES).filter((f) => f.endsWith(".expected"))) {
      for (const match of readFileSync(join(FIXTURES, file), "utf8").matchAll(/ (?:error|warning) (PQG\d{4}):/g)) seen.add(match[1]!);
    }
    const missing = Object.keys(DIAGNOSTICS).filter((code) => !seen.has(code) && !UNREACHABLE.has(code));
    assert.deepEqual(missing, [], `codes without a golden fixture: ${missing.join(", ")}`);
  });

  it("documents every diagnostic code in docs/language.md", () => {
    const docs = readFileSync(new URL("../../docs/language.md", import.meta.url), "utf8");
    const undocumented = Object.keys(DIAGNOSTICS).filter((code) => !docs.includes(`| ${code} |`));
    assert.deepEqual(undocumented, [], `codes missing from the table in docs/language.md: ${undocumented.join(", ")}`);
  });

  it("names each fixture after a code it produces", () => {
    for (const file of readdirSync(FIXTURES).filter((f) => f.endsWith(".expected"))) {
      const code = /^(PQG\d{4})-/.exec(file)?.[1];
      if (code === undefined) continue;
      assert.match(readFileSync(join(FIXTURES, file), "utf8"), new RegExp(` ${code}: `), `${file} does not produce ${code}`);
    }
  });
});

describe("did you mean", () => {
  it("counts a transposition as one edit", () => {
    assert.equal(editDistance("proces_refund", "process_refund"), 1);
    assert.equal(editDistance("amuont", "amount"), 1);
    assert.equal(editDistance("", "abc"), 3);
    assert.equal(editDistance("kitten", "sitting"), 3);
  });

  it("suggests close names only, scaled by length", () => {
    assert.equal(closest("proces_refund", ["get_balance", "process_refund", "list_transactions"]), "process_refund");
    assert.equal(closest("rol", ["role", "id"]), "role");
    assert.equal(closest("xyz", ["role", "id"]), undefined);
    assert.equal(closest("a", ["b"]), undefined, "a one-letter name is not a typo of another one-letter name");
    assert.equal(closest("ML-KEM-786", ["ML-KEM-512", "ML-KEM-768", "ML-KEM-1024"]), "ML-KEM-768");
    assert.equal(closest("europe/berlin", ["Europe/Berlin", "Europe/Paris"]), "Europe/Berlin");
    assert.equal(didYouMean("amont", ["amount"]), "did you mean `amount`?");
  });
});
