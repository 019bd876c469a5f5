// `pqguard check` through the real CLI dispatcher: exit codes 0/1/2, text and JSON output, manifest overrides,
// and the shipped example policies.
import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { main } from "../../bin/cli.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const FIXTURES = "test/fixtures/diagnostics";

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main(["check", ...argv], { cwd: ROOT, out: (t) => void (out += t), err: (t) => void (err += t) });
  return { code, out, err };
}

describe("pqguard check", () => {
  it("exits 0 for the three example policies", async () => {
    const r = await cli("policies/payments/payments.policy", "policies/healthcare/healthcare.policy", "policies/filesystem/filesystem.policy");
    assert.equal(r.code, 0, r.out);
    assert.equal(r.out, "checked 3 files: no problems\n");
  });

  it("exits 0 with warnings only, and prints them", async () => {
    const r = await cli(`${FIXTURES}/PQG4001-shadowed-rule.policy`);
    assert.equal(r.code, 0);
    assert.match(r.out, /warning PQG4001/);
    assert.match(r.out, /checked 1 file: 0 errors, 2 warnings\n$/);
  });

  it("exits 1 on errors and names the file as given, with an excerpt", async () => {
    const r = await cli(`${FIXTURES}/PQG2001-unknown-tool.policy`);
    assert.equal(r.code, 1);
    assert.ok(
      r.out.startsWith(
        `${FIXTURES}/PQG2001-unknown-tool.policy:4:13: error PQG2001: unknown tool \`proces_refund\`; did you mean \`process_refund\`?\n` +
          " 4 | permit tool proces_refund\n" +
          "   |             ^^^^^^^^^^^^^\n",
      ),
      r.out,
    );
  });

  it("exits 1 when a file does not exist", async () => {
    const r = await cli("no/such.policy");
    assert.equal(r.code, 1);
    assert.match(r.out, /^no\/such\.policy:1:1: error PQG2019: policy file `no\/such\.policy` cannot be read: no such file\n/);
  });

  it("prints JSON objects with the same fields and positions", async () => {
    const r = await cli("--format", "json", `${FIXTURES}/PQG2001-unknown-tool.policy`, "policies/payments/payments.policy");
    assert.equal(r.code, 1);
    const parsed = JSON.parse(r.out) as Record<string, unknown>[];
    assert.equal(parsed.length, 2);
    assert.deepEqual(parsed[0], {
      file: `${FIXTURES}/PQG2001-unknown-tool.policy`,
      line: 4,
      column: 13,
      endLine: 4,
      endColumn: 26,
      code: "PQG2001",
      severity: "error",
      message: "unknown tool `proces_refund`",
      help: "did you mean `process_refund`?",
    });
  });

  it("prints an empty JSON array for a clean policy", async () => {
    const r = await cli("--format=json", "policies/payments/payments.policy");
    assert.equal(r.code, 0);
    assert.deepEqual(JSON.parse(r.out), []);
  });

  it("uses a --manifest file in place of the manifest the policy names", async () => {
    const dir = await mkdtemp(join(tmpdir(), "pqguard-check-"));
    const policy = join(dir, "p.policy");
    await writeFile(policy, 'policy p\nmanifest "tools.json"\npermit tool only_here\n');
    await writeFile(join(dir, "replacement.json"), JSON.stringify([{ name: "only_here", inputSchema: { type: "object" } }]));
    assert.equal((await cli(policy)).code, 1, "the named manifest does not exist");
    assert.equal((await cli(policy, "--manifest", join(dir, "replacement.json"))).code, 0);
  });

  it("exits 2 for usage errors", async () => {
    for (const argv of [[], ["--format", "xml", "policies/payments/payments.policy"], ["--nope", "x.policy"], ["--manifest"]]) {
      const r = await cli(...argv);
      assert.equal(r.code, 2, argv.join(" "));
      assert.match(r.err, /^error PQG0001: /);
    }
  });
});
