// `pqguard compile`: one guard module per policy, `--js` for plain JavaScript, and no output at all when any policy
// has an error.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";
import { main } from "../../bin/cli.js";
import { OUT_DIR, REPO_ROOT } from "../support/guards.js";

const DIR = join(OUT_DIR, "compile");

async function pqguard(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main(argv, { cwd: REPO_ROOT, out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

function fresh(name: string): string {
  const dir = join(DIR, name);
  rmSync(dir, { recursive: true, force: true });
  return dir;
}

describe("pqguard compile", function () {
  this.timeout(60_000);

  it("compiles every policy of a folder into <name>.guard.ts", async () => {
    const out = fresh("ts");
    const { code, err } = await pqguard("compile", "policies", "--out", out);
    assert.equal(code, 0, err);
    // One guard per policy in the folder tree, named by the policy's own name (`policy server_memory`), not its file.
    assert.deepEqual(readdirSync(out).sort(), [
      "database.guard.ts",
      "fetch.guard.ts",
      "filesystem.guard.ts",
      "git.guard.ts",
      "healthcare.guard.ts",
      "mcp_fetch_server.guard.ts",
      "payments.guard.ts",
      "payments_history.guard.ts",
      "server_everything.guard.ts",
      "server_filesystem.guard.ts",
      "server_memory.guard.ts",
    ]);
    const payments = readFileSync(join(out, "payments.guard.ts"), "utf8");
    assert.match(payments, /from "pqguard\/guard";/);
    assert.match(payments, /export function guard\(request: GuardRequest, context: GuardContext\): Decision \{/);
    assert.match(payments, /switch \(request\.tool\) \{/);
  });

  it("emits .js and .d.ts with --js, importing the runtime through --runtime-import", async () => {
    const out = fresh("js");
    const policy = join("policies", "payments", "payments.policy");
    const { code, err } = await pqguard("compile", policy, "--out", out, "--js", "--runtime-import", "@acme/pqguard/guard");
    assert.equal(code, 0, err);
    assert.deepEqual(readdirSync(out).sort(), ["payments.guard.d.ts", "payments.guard.js"]);
    assert.match(readFileSync(join(out, "payments.guard.js"), "utf8"), /from "@acme\/pqguard\/guard";/);
    assert.match(readFileSync(join(out, "payments.guard.d.ts"), "utf8"), /export interface ProcessRefundArgs/);
  });

  it("emits --js modules that plain Node runs against the package's `pqguard/guard` export", async () => {
    // OUT_DIR lies inside the package, so `pqguard/guard` resolves by self-reference to dist/runtime/guard (built by `prepare` and `npm test`).
    const out = fresh("plain");
    const { code, err } = await pqguard("compile", join("policies", "payments", "payments.policy"), "--out", out, "--js");
    assert.equal(code, 0, err);
    const script = [
      `import { guard, reachableTools } from ${JSON.stringify(pathToFileURL(join(out, "payments.guard.js")).href)};`,
      "const history = { count: () => 0, called: () => false };",
      'const context = { client: { authenticated: true, role: "billing-agent" }, peer: {}, history, now: Date.parse("2026-11-24T10:00:00Z"),',
      '  transport: { kem: "X25519MLKEM768", hybrid: true, level: 3 }, session: { ageMs: 60000, calls: 0 } };',
      'const d = guard({ tool: "process_refund", args: { amount: 250, customer_id: "c-1" } }, context);',
      "console.log(JSON.stringify([d.decision, d.determining, reachableTools(context)]));",
    ].join("\n");
    // No tsx here: the plain runtime must load on its own.
    const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], { cwd: REPO_ROOT, encoding: "utf8" });
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), ["allow", ["payments.policy:18"], ["get_balance", "list_transactions", "process_refund"]]);
  });

  it("writes nothing when any policy has an error", async () => {
    const src = join(DIR, "mixed");
    rmSync(src, { recursive: true, force: true });
    mkdirSync(src, { recursive: true });
    const manifest = join(REPO_ROOT, "policies", "payments", "payments.tools.json");
    writeFileSync(join(src, "payments.tools.json"), readFileSync(manifest));
    writeFileSync(join(src, "good.policy"), 'policy good\nmanifest "payments.tools.json"\npermit tool get_balance\n');
    writeFileSync(join(src, "bad.policy"), 'policy bad\nmanifest "payments.tools.json"\npermit tool get_balance when args.amount > "x"\n');
    const out = fresh("none");
    const { code, out: stdout, err } = await pqguard("compile", src, "--out", out);
    assert.equal(code, 1);
    assert.equal(stdout, "");
    assert.match(err, /bad\.policy:3:\d+: error PQG\d{4}/);
    assert.match(err, /no files were written/);
    assert.equal(existsSync(out), false);
  });

  it("refuses two policies with the same name", async () => {
    const src = join(DIR, "twins");
    rmSync(src, { recursive: true, force: true });
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, "payments.tools.json"), readFileSync(join(REPO_ROOT, "policies", "payments", "payments.tools.json")));
    for (const name of ["a", "b"]) writeFileSync(join(src, `${name}.policy`), 'policy twin\nmanifest "payments.tools.json"\npermit tool get_balance\n');
    const out = fresh("twins-out");
    const { code, err } = await pqguard("compile", src, "--out", out);
    assert.equal(code, 1);
    assert.match(err, /error PQG9005: policies `a\.policy` and `b\.policy` are both named `twin`/);
    assert.equal(existsSync(out), false);
  });

  it("is a usage error without --out", async () => {
    const { code, err } = await pqguard("compile", "policies");
    assert.equal(code, 2);
    assert.match(err, /`--out DIR` is required/);
  });
});
