// Building one audit line: the argument digest from the JSON text captured at decision time equals the digest of the
// arguments' value, a handler that changes the arguments object later cannot change the line, and the written text
// is the canonical body with its hash appended.
import { strict as assert } from "node:assert";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AuditLog, argumentsDigest, argumentsTextDigest, buildLine, GENESIS, lineHash, verifyAuditLog, type AuditDecision } from "../../runtime/audit/index.js";
import { canonicalJson } from "../../runtime/manifest/digest.js";

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
