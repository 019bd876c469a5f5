// The audit key: its file (mode 0600, refused when others can read it or when malformed, never quoted in errors) and
// keyed argument digests, which nobody without the key can recompute for a guessed argument.
import { strict as assert } from "node:assert";
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../../bin/cli.js";
import { argumentsDigest, auditKey, AuditLog, KEYED_DIGEST_PREFIX, loadAuditKey, verifyAuditLog, writeAuditKey, type AuditDecision } from "../../runtime/audit/index.js";

const decided = (args: Record<string, unknown>): AuditDecision => ({
  time: 1_700_000_000_000,
  side: "server",
  tool: "process_refund",
  decision: "allow",
  outcome: "allowed",
  rules: ["payments.policy:9"],
  reason: "permitted",
  args,
  argsText: JSON.stringify(args),
});

const rejectsWith = (pattern: RegExp) => (error: Error & { code?: string }) => {
  assert.equal(error.code, "PQG7104");
  assert.match(error.message, pattern);
  return true;
};

describe("audit key", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "pqguard-audit-key-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("is written with mode 0600, loaded back, and not replaced without force", async () => {
    const path = join(dir, "audit.key");
    await writeAuditKey(path);
    if (process.platform !== "win32") assert.equal((await stat(path)).mode & 0o777, 0o600);
    const key = await loadAuditKey(path);
    assert.equal(key.symmetricKeySize, 32);
    await assert.rejects(writeAuditKey(path), rejectsWith(/already exists/));
    const before = await readFile(path, "utf8");
    await writeAuditKey(path, { force: true });
    assert.notEqual(await readFile(path, "utf8"), before);
  });

  it("is refused when group or others can read its file, when malformed or short, without quoting the file", async () => {
    const path = join(dir, "audit.key");
    await writeAuditKey(path);
    const secret = (JSON.parse(await readFile(path, "utf8")) as { key: string }).key;
    if (process.platform !== "win32") {
      await chmod(path, 0o644);
      await assert.rejects(loadAuditKey(path), rejectsWith(/readable by group or others/));
      await chmod(path, 0o600);
    }
    for (const text of [`{"format":"pqguard-audit-key/1","key":"${secret}"`, `{"format":"other","key":"${secret}"}`, '{"format":"pqguard-audit-key/1","key":"c2hvcnQ="}']) {
      await writeFile(path, text, { mode: 0o600 });
      await assert.rejects(loadAuditKey(path), (error: Error & { code?: string }) => {
        assert.equal(error.code, "PQG7104");
        assert.ok(!error.message.includes(secret.slice(0, 12)), "the error does not quote the key");
        return true;
      });
    }
    await assert.rejects(loadAuditKey(join(dir, "missing.key")), rejectsWith(/cannot read key file/));
    assert.throws(() => auditKey(new Uint8Array(16)), rejectsWith(/at least 32 bytes/));
  });

  it("makes each line's argument digest an HMAC that only the key holder can recompute", async () => {
    const key = auditKey(new Uint8Array(32).fill(7));
    const other = auditKey(new Uint8Array(32).fill(8));
    const args = { customer_id: "c-1", card: "4111111111111111", amount: 250 };
    const path = join(dir, "audit.jsonl");
    const log = await AuditLog.open(path, { argumentsKey: key });
    log.append(decided(args));
    await log.close();
    const line = JSON.parse((await readFile(path, "utf8")).trim()) as { argsDigest: string };
    assert.ok(line.argsDigest.startsWith(KEYED_DIGEST_PREFIX));
    assert.equal(line.argsDigest, argumentsDigest({ amount: 250, card: "4111111111111111", customer_id: "c-1" }, key));
    assert.notEqual(line.argsDigest, argumentsDigest(args, other));
    assert.ok(!line.argsDigest.includes(argumentsDigest(args)), "the plain digest a guesser could compute is not in the line");
    assert.equal((await verifyAuditLog(path)).ok, true);
  });

  describe("pqguard audit keygen and digest", () => {
    async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
      let out = "";
      let err = "";
      const code = await main(argv, { cwd: dir, out: (t) => void (out += t), err: (t) => void (err += t) });
      return { code, out, err };
    }

    it("writes a key the proxy can use, and prints the digest a keyed line records for given arguments", async () => {
      const made = await cli(["audit", "keygen", "--out", "audit.key"]);
      assert.equal(made.code, 0, made.err);
      assert.equal((await cli(["audit", "keygen", "--out", "audit.key"])).code, 1, "an existing key is not replaced");
      const key = await loadAuditKey(join(dir, "audit.key"));
      const args = '{"card":"4111111111111111","amount":250}';
      const keyed = await cli(["audit", "digest", "--key", "audit.key", args]);
      assert.equal(keyed.code, 0, keyed.err);
      assert.equal(keyed.out.trim(), argumentsDigest(JSON.parse(args), key));
      assert.equal((await cli(["audit", "digest", args])).out.trim(), argumentsDigest(JSON.parse(args)));
    });

    it("exits 1 for an unusable key file and 2 for a wrong command line", async () => {
      await writeFile(join(dir, "bad.key"), "{}", { mode: 0o600 });
      const bad = await cli(["audit", "digest", "--key", "bad.key", "{}"]);
      assert.equal(bad.code, 1);
      assert.match(bad.err, /^error PQG7104: /);
      assert.equal((await cli(["audit", "digest", "[1]"])).code, 2);
      assert.equal((await cli(["audit", "digest", "{nope"])).code, 2);
      assert.equal((await cli(["audit", "keygen"])).code, 2);
    });
  });
});
