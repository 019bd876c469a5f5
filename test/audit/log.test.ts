// The audit log: lines chain from the genesis value, the writer never loses a line on close and continues an existing
// chain, and the verifier names a removed, altered, reordered or cut-off line (library and `pqguard audit verify`).
import { strict as assert } from "node:assert";
import { appendFile, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../../bin/cli.js";
import { AuditLog, GENESIS, lineHash, verifyAuditLog, type AuditDecision } from "../../runtime/audit/index.js";

/** A log written without an anchor has no checkpoint lines. */
const NO_CHECKPOINTS = { open: 0, recovered: 0, rotated: 0, close: 0 };

function decision(i: number, args: unknown = { customer_id: "c-secret", amount: i }): AuditDecision {
  return {
    time: 1_700_000_000_000 + i,
    side: "server",
    tool: "process_refund",
    decision: i % 2 === 0 ? "allow" : "deny",
    outcome: i % 2 === 0 ? "allowed" : "denied",
    code: i % 2 === 0 ? undefined : "PQG7301",
    rules: ["payments.policy:27"],
    reason: "refunds over 5000 are never automated",
    sessionId: "s-1",
    peerFingerprint: "mldsa65:server",
    clientFingerprint: "mldsa65:client",
    suite: { kem: "X25519MLKEM768", signature: "ML-DSA-65", aead: "AES-256-GCM", hybrid: true, level: 3 },
    manifestDigest: "ab".repeat(32),
    policyDigest: "cd".repeat(32),
    args,
  };
}

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main(argv, { cwd: process.cwd(), out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

describe("audit log", () => {
  let dir: string;
  let n = 0;
  const fresh = () => join(dir, `log-${n++}.jsonl`);
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "pqguard-audit-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function writeLog(count: number, path = fresh()): Promise<string> {
    const log = await AuditLog.open(path);
    for (let i = 0; i < count; i++) log.append(decision(i));
    await log.close();
    return path;
  }

  async function lines(path: string): Promise<string[]> {
    return (await readFile(path, "utf8")).split("\n").filter((l) => l.length > 0);
  }

  it("chains every line from the genesis value and writes them all on close, mode 0600", async () => {
    const path = await writeLog(500);
    const text = await lines(path);
    assert.equal(text.length, 500);
    const first = JSON.parse(text[0]!) as Record<string, unknown>;
    assert.equal(first.prev, GENESIS);
    assert.equal(first.seq, 0);
    assert.equal(first.hash, lineHash(first));
    assert.equal((JSON.parse(text[1]!) as Record<string, unknown>).prev, first.hash);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.equal((await verifyAuditLog(path)).ok, true);
    assert.ok(!text.join("\n").includes("c-secret"));
  });

  it("writes raw arguments only when the operator turns that on", async () => {
    const path = fresh();
    const log = await AuditLog.open(path, { includeArguments: true });
    log.append(decision(0));
    await log.close();
    const line = JSON.parse((await lines(path))[0]!) as Record<string, unknown>;
    assert.deepEqual(line.args, { customer_id: "c-secret", amount: 0 });
    assert.equal((await verifyAuditLog(path)).ok, true);
  });

  it("continues an existing chain when reopened", async () => {
    const path = await writeLog(3);
    const log = await AuditLog.open(path);
    log.append(decision(3));
    const head = log.head;
    await log.close();
    assert.deepEqual(await verifyAuditLog(path, { head }), { ok: true, lines: 4, head, checkpoints: NO_CHECKPOINTS, closed: false });
  });

  it("refuses to continue a log whose last line does not verify", async () => {
    const path = await writeLog(2);
    await appendFile(path, '{"format":"pqguard-audit/1","seq":2,"hash":"00"}\n');
    await assert.rejects(AuditLog.open(path), (e: unknown) => (e as { code?: string }).code === "PQG7102");
  });

  it("names an altered line", async () => {
    const path = await writeLog(5);
    const text = await lines(path);
    text[2] = text[2]!.replace('"decision":"allow"', '"decision":"deny"');
    await writeFile(path, text.join("\n") + "\n");
    const result = await verifyAuditLog(path);
    assert.deepEqual(result.ok ? undefined : [result.line, result.problem], [3, "altered"]);
  });

  it("names a line altered where the hash cannot see it: a repeated key that readers taking the first one believe", async () => {
    const path = await writeLog(5);
    const text = await lines(path);
    assert.match(text[2]!, /"outcome":"allowed"/);
    // JSON.parse keeps the last of a repeated key, so the hash still matches; other readers keep the first.
    text[2] = text[2]!.replace("{", '{"outcome":"denied",');
    await writeFile(path, text.join("\n") + "\n");
    const result = await verifyAuditLog(path);
    assert.deepEqual(result.ok ? undefined : [result.line, result.problem], [3, "altered"]);
    assert.match(result.ok ? "" : result.message, /line 3 was altered: its text is not as the log wrote it/);
    text[2] = text[2]!.replace('{"outcome":"denied",', "{").replace('"tool":"process_refund"', '"tool":"process\\u005frefund"');
    await writeFile(path, text.join("\n") + "\n");
    const escaped = await verifyAuditLog(path);
    assert.deepEqual(escaped.ok ? undefined : [escaped.line, escaped.problem], [3, "altered"]);
  });

  it("names a line whose hash was recomputed after altering it: the next line no longer chains", async () => {
    const path = await writeLog(5);
    const text = await lines(path);
    const line = JSON.parse(text[1]!) as Record<string, unknown>;
    line.reason = "nothing to see";
    line.hash = lineHash(line);
    text[1] = JSON.stringify(line);
    await writeFile(path, text.join("\n") + "\n");
    const result = await verifyAuditLog(path);
    assert.ok(!result.ok);
    assert.equal(result.line, 3);
    assert.match(result.message, /line 3 does not chain to line 2/);
  });

  it("names a removed line, including the first", async () => {
    const path = await writeLog(6);
    const text = await lines(path);
    await writeFile(path, [...text.slice(0, 3), ...text.slice(4)].join("\n") + "\n");
    const middle = await verifyAuditLog(path);
    assert.ok(!middle.ok);
    assert.deepEqual([middle.line, middle.problem], [4, "removed"]);
    assert.match(middle.message, /1 line was removed before line 4/);
    await writeFile(path, text.slice(1).join("\n") + "\n");
    const first = await verifyAuditLog(path);
    assert.ok(!first.ok);
    assert.deepEqual([first.line, first.problem], [1, "removed"]);
  });

  it("names a reordered line", async () => {
    const path = await writeLog(6);
    const text = await lines(path);
    [text[2], text[4]] = [text[4]!, text[2]!];
    await writeFile(path, text.join("\n") + "\n");
    const result = await verifyAuditLog(path);
    assert.ok(!result.ok);
    assert.deepEqual([result.line, result.problem], [3, "reordered"]);
    assert.match(result.message, /line 3 is out of order: line 4 holds seq 3/);
  });

  it("finds lines cut off the end only against an anchored head", async () => {
    const path = fresh();
    const log = await AuditLog.open(path);
    for (let i = 0; i < 4; i++) log.append(decision(i));
    const head = log.head;
    await log.close();
    const text = await lines(path);
    await writeFile(path, text.slice(0, 3).join("\n") + "\n");
    assert.equal((await verifyAuditLog(path)).ok, true);
    const result = await verifyAuditLog(path, { head });
    assert.ok(!result.ok);
    assert.equal(result.problem, "truncated");
  });

  it("names a line that is not JSON", async () => {
    const path = await writeLog(3);
    const text = await lines(path);
    text[1] = "{not json";
    await writeFile(path, text.join("\n") + "\n");
    const result = await verifyAuditLog(path);
    assert.ok(!result.ok);
    assert.deepEqual([result.line, result.problem], [2, "malformed"]);
  });

  describe("pqguard audit verify", () => {
    it("exits 0 for an intact log", async () => {
      const path = await writeLog(3);
      const r = await cli(["audit", "verify", path]);
      assert.equal(r.code, 0);
      assert.match(r.out, /3 lines, chain intact/);
    });

    it("exits 1 naming the broken line", async () => {
      const path = await writeLog(4);
      const text = await lines(path);
      await writeFile(path, [text[0], text[2], text[3]].join("\n") + "\n");
      const r = await cli(["audit", "verify", path]);
      assert.equal(r.code, 1);
      assert.match(r.err, /^error PQG7103: .*1 line was removed before line 2/);
    });

    it("exits 1 for a missing file and 2 for a wrong command line", async () => {
      assert.equal((await cli(["audit", "verify", join(dir, "absent.jsonl")])).code, 1);
      assert.equal((await cli(["audit", "verify"])).code, 2);
      assert.equal((await cli(["audit", "check", "x"])).code, 2);
      assert.equal((await cli(["audit", "verify", "x", "--head", "nothex"])).code, 2);
    });
  });
});
