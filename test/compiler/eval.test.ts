// `pqguard eval`: the decision JSON for a request file, through the compiled guard and the interpreter alike, and a
// clear error (exit 1) for a request file that is not JSON or not a request.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { main } from "../../bin/cli.js";
import { ownScript } from "../../bin/commands/own-scripts.js";
import { OUT_DIR, REPO_ROOT } from "../support/guards.js";

const DIR = join(OUT_DIR, "eval");
const POLICY = join(REPO_ROOT, "policies", "payments", "payments.policy");

const DESIGN_REQUEST = {
  tool: "process_refund",
  args: { amount: 250, customer_id: "c-17" },
  client: { id: "agent-7", role: "billing-agent", authenticated: true },
  transport: { kem: "X25519MLKEM768", signature: "ML-DSA-65", aead: "AES-256-GCM", hybrid: true },
  session: { id: "s-1", age: "5m" },
  time: "2026-11-23T10:15:00Z",
  history: [{ tool: "process_refund", at: "2026-11-23T10:11:00Z" }],
};

function requestFile(name: string, content: unknown): string {
  mkdirSync(DIR, { recursive: true });
  const file = join(DIR, name);
  writeFileSync(file, typeof content === "string" ? content : JSON.stringify(content));
  return file;
}

async function pqguard(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main(argv, { cwd: REPO_ROOT, out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

describe("pqguard eval", function () {
  this.timeout(60_000);

  it("prints the design request's decision through the compiled guard", async () => {
    const { code, out, err } = await pqguard("eval", POLICY, "--request", requestFile("design.json", DESIGN_REQUEST));
    assert.equal(err, "");
    assert.equal(code, 0);
    const decision = JSON.parse(out) as { decision: string; determining: string[]; reason: string; explain: unknown[] };
    assert.deepEqual(Object.keys(decision), ["decision", "determining", "reason", "explain"]);
    assert.equal(decision.decision, "allow");
    assert.deepEqual(decision.determining, ["payments.policy:18"]);
    assert.equal(decision.reason, "permitted by rule `payments.policy:18`");
    assert.ok(decision.explain.length > 0);
  });

  it("prints the same with --interpret", async () => {
    const file = requestFile("ask.json", { ...DESIGN_REQUEST, args: { amount: 3000, customer_id: "c-17" } });
    const compiled = await pqguard("eval", POLICY, "--request", file);
    const interpreted = await pqguard("eval", POLICY, "--request", file, "--interpret");
    assert.equal(interpreted.code, 0);
    assert.equal(interpreted.out, compiled.out);
    assert.equal((JSON.parse(interpreted.out) as { reason: string }).reason, "refunds between 1000 and 5000 need a human approval");
  });

  it("derives transport.hybrid from the algorithm when the request leaves it out", async () => {
    const { transport, ...rest } = DESIGN_REQUEST;
    const file = requestFile("derived.json", { ...rest, transport: { kem: transport.kem, signature: transport.signature, aead: transport.aead } });
    const { out } = await pqguard("eval", POLICY, "--request", file, "--interpret");
    assert.equal((JSON.parse(out) as { decision: string }).decision, "allow");
  });

  it("takes the manifest from --manifest", async () => {
    const manifest = join(REPO_ROOT, "policies", "payments", "payments.tools.json");
    const { code, out } = await pqguard("eval", POLICY, "--request", requestFile("design2.json", DESIGN_REQUEST), "--manifest", manifest);
    assert.equal(code, 0);
    assert.equal((JSON.parse(out) as { decision: string }).decision, "allow");
  });

  it("rejects a request file that is not JSON", async () => {
    const { code, out, err } = await pqguard("eval", POLICY, "--request", requestFile("broken.json", "{ tool: "));
    assert.equal(code, 1);
    assert.equal(out, "");
    assert.match(err, /error PQG9001: the request is not valid JSON/);
  });

  it("rejects a request without a tool, or with a malformed fact, naming the field", async () => {
    const noTool = await pqguard("eval", POLICY, "--request", requestFile("notool.json", { args: {} }));
    assert.equal(noTool.code, 1);
    assert.match(noTool.err, /error PQG9002: request field `tool` must be a string/);
    const badAge = await pqguard("eval", POLICY, "--request", requestFile("badage.json", { ...DESIGN_REQUEST, session: { age: "five minutes" } }));
    assert.equal(badAge.code, 1);
    assert.match(badAge.err, /request field `session.age` must be a duration such as `5m`/);
    const badTime = await pqguard("eval", POLICY, "--request", requestFile("badtime.json", { ...DESIGN_REQUEST, time: "yesterday" }));
    assert.match(badTime.err, /request field `time` must be an ISO-8601 time/);
  });

  it("reports a request file that does not exist", async () => {
    const { code, err } = await pqguard("eval", POLICY, "--request", join(DIR, "nope.json"));
    assert.equal(code, 1);
    assert.match(err, /error PQG9006: cannot read the request file `.*nope\.json` \(ENOENT\)/);
  });

  it("exits 1 with the diagnostics for a policy with errors", async () => {
    const bad = join(DIR, "bad.policy");
    writeFileSync(bad, 'policy bad\nmanifest "../../../policies/payments/payments.tools.json"\npermit tool proces_refund\n');
    const { code, out, err } = await pqguard("eval", bad, "--request", requestFile("design3.json", DESIGN_REQUEST));
    assert.equal(code, 1);
    assert.equal(out, "");
    assert.match(err, /PQG2\d{3}: unknown tool `proces_refund`/);
  });

  it("is a usage error without --request", async () => {
    const { code, err } = await pqguard("eval", POLICY);
    assert.equal(code, 2);
    assert.match(err, /`--request R\.json` is required/);
  });

  it("runs as a real command", async () => {
    const file = requestFile("cli.json", { ...DESIGN_REQUEST, time: "2026-11-28T10:15:00Z" });
    const { stdout } = await promisify(execFile)(process.execPath, [...ownScript("bin/pqguard").args, "eval", POLICY, "--request", file]);
    const decision = JSON.parse(stdout) as { decision: string; reason: string };
    assert.deepEqual([decision.decision, decision.reason], ["deny", "outside business hours"]);
  });
});
