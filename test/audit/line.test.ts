// Building and writing audit lines: the argument digest from the JSON text captured at decision time equals the digest
// of the arguments' value, a handler that changes the arguments object later cannot change the line, the written text
// is the canonical body with its hash appended, and a failed write is cut back to whole lines and counted.
import { strict as assert } from "node:assert";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createSecretKey } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AuditLog, argumentsDigest, argumentsTextDigest, buildLine, GENESIS, lineHash, verifyAuditLog, type AuditDecision } from "../../runtime/audit/index.js";
import fc from "fast-check";
import { canonicalJson } from "../../runtime/manifest/digest.js";

/** A log written without an anchor has no checkpoint lines. */
const NO_CHECKPOINTS = { open: 0, recovered: 0, rotated: 0, close: 0 };

const decided = (args: unknown, argsText?: string): AuditDecision => ({
  time: 1_700_000_000_000,
  side: "server",
  tool: "transfer",
  decision: "allow",
  outcome: "allowed",
  rules: ["payments.policy:9"],
  reason: "permitted",
  sessionId: "s-1",
  args,
  argsText,
});

describe("audit line", () => {
  it("digests arguments given as JSON text exactly as their value, whatever the key order and number forms", () => {
    for (const args of [{}, { b: 1, a: [3, { z: null, y: "é" }] }, { amount: 1e21, small: 5e-7, neg: -0, text: "\u2028" }]) {
      assert.equal(argumentsTextDigest(JSON.stringify(args)), argumentsDigest(args));
    }
    assert.notEqual(argumentsTextDigest('{"a":1}'), argumentsTextDigest('{"a":2}'));
  });

  it("takes the short way (keys already in order) only where it gives the canonicaliser's digest", () => {
    const hmacKey = createSecretKey(Buffer.alloc(32, 7));
    // Shapes chosen to trip a shortcut: integer-like keys (written first, in numeric order: "9" before "10", which
    // RFC 8785 sorts after it), a `toJSON` key, keys in order except deep down, lone surrogates (no canonical form: the
    // digest of `null`), keys that differ only beyond the BMP, and text that is JSON but not JSON.stringify's.
    const texts = [
      '{"10":1,"9":2}',
      '{"1":1,"2":2,"a":3}',
      '{"a":{"toJSON":1,"b":2}}',
      '{"a":1,"b":{"d":1,"c":2}}',
      '{"a":"\\ud800"}',
      '{"\\udc00":1}',
      '{"\u{1F600}":1,"\uFFFF":2}',
      '{ "b" : 1 , "a" : [ 1.0 , 2e1 ] }',
      '[{"b":1,"a":2}]',
    ];
    for (const text of texts) {
      const value = JSON.parse(text);
      assert.equal(argumentsTextDigest(text), argumentsDigest(value), text);
      assert.equal(argumentsTextDigest(text, hmacKey), argumentsDigest(value, hmacKey), text);
    }
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = JSON.stringify(value);
        assert.equal(argumentsTextDigest(text), argumentsDigest(JSON.parse(text)));
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.dictionary(fc.string({ unit: "binary" }), fc.jsonValue()), (value) => {
        const text = JSON.stringify(value);
        assert.equal(argumentsTextDigest(text), argumentsDigest(JSON.parse(text)));
      }),
      { numRuns: 500 },
    );
  });

  it("records the arguments as decided, not as a handler changed them afterwards", async () => {
    const dir = await mkdtemp(join(tmpdir(), "pqguard-audit-line-"));
    try {
      const path = join(dir, "audit.jsonl");
      const log = await AuditLog.open(path);
      const args: Record<string, unknown> = { to: "acct-1", amount: 10 };
      log.append(decided(args, JSON.stringify(args)));
      args.amount = 1_000_000; // the handler runs before the log's flush builds the line
      await log.close();
      const line = JSON.parse((await readFile(path, "utf8")).trim()) as Record<string, unknown>;
      assert.equal(line.argsDigest, argumentsDigest({ to: "acct-1", amount: 10 }));
      assert.equal((await verifyAuditLog(path)).ok, true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("writes the canonical body with the hash appended, with or without raw arguments", () => {
    for (const includeArguments of [false, true]) {
      const { hash, text } = buildLine(decided({ b: 2, a: 1 }, '{"b":2,"a":1}'), 7, GENESIS, includeArguments);
      const line = JSON.parse(text) as Record<string, unknown>;
      assert.equal(line.hash, hash);
      assert.equal(lineHash(line), hash);
      const { hash: _hash, ...body } = line;
      assert.equal(text, `${canonicalJson(body).slice(0, -1)},"hash":"${hash}"}`);
      assert.equal("args" in line, includeArguments);
    }
  });
});

describe("audit log write failures", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "pqguard-audit-fail-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Makes the log's file handle fail its next writes after `bytes` bytes of the first, as a full disk does. */
  function failWrites(log: AuditLog, bytes: number): void {
    const handle = (log as unknown as { handle: { write: (b: Uint8Array, offset: number, length: number) => Promise<{ bytesWritten: number }> } }).handle;
    const write = handle.write.bind(handle);
    let allowed = bytes;
    handle.write = async (b, offset, length) => {
      if (allowed > 0) {
        const part = Math.min(allowed, length);
        allowed -= part;
        return write(b, offset, part);
      }
      throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
    };
  }

  it("cuts a partly written line off, says from which line on nothing is recorded and counts what is lost", async () => {
    const path = join(dir, "audit.jsonl");
    const log = await AuditLog.open(path);
    for (let i = 0; i < 3; i++) log.append(decided({ i }, JSON.stringify({ i })));
    await log.flush();
    const intact = await readFile(path, "utf8");
    failWrites(log, 100); // part of the next line reaches the file, then the disk is full
    for (let i = 3; i < 5; i++) log.append(decided({ i }, JSON.stringify({ i })));
    await assert.rejects(log.flush(), (error: Error & { code?: string }) => {
      assert.equal(error.code, "PQG7101");
      assert.match(error.message, /from line 3 on: ENOSPC/);
      assert.match(error.message, /2 decisions are not recorded so far/);
      return true;
    });
    assert.equal(log.unrecorded, 2);
    log.append(decided({ i: 5 }, "{}"));
    assert.equal(log.unrecorded, 3);
    await assert.rejects(log.close(), /3 decisions are not recorded so far/);
    assert.equal(await readFile(path, "utf8"), intact, "the partial line was cut off");
    assert.deepEqual(await verifyAuditLog(path), { ok: true, lines: 3, head: JSON.parse(intact.trim().split("\n")[2]!).hash, checkpoints: NO_CHECKPOINTS, closed: false });
    const reopened = await AuditLog.open(path);
    reopened.append(decided({ i: 6 }, "{}"));
    await reopened.close();
    assert.equal((await verifyAuditLog(path)).ok, true, "the log can be continued once the disk has room");
  });

  it("finishes a write that the file system took only in part", async () => {
    const path = join(dir, "audit.jsonl");
    const log = await AuditLog.open(path);
    const handle = (log as unknown as { handle: { write: (b: Uint8Array, offset: number, length: number) => Promise<{ bytesWritten: number }> } }).handle;
    const write = handle.write.bind(handle);
    handle.write = (b, offset, length) => write(b, offset, Math.min(length, 7));
    for (let i = 0; i < 4; i++) log.append(decided({ i }, JSON.stringify({ i })));
    await log.close();
    assert.equal((await verifyAuditLog(path)).ok, true);
    assert.equal((await readFile(path, "utf8")).trim().split("\n").length, 4);
  });
});
