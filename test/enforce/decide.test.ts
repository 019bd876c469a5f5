// The decision pipeline on its own (DecisionPoint.decide): what it records in the audit log and the call history on
// the paths that are hard to reach through a whole server: a line that cannot be built, a broken approver, arguments
// that change while a human decides, a store that yields between its operations or never answers, a failing clock.
import { strict as assert } from "node:assert";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AuditError, AuditLog, silentLogger, type AuditDecision } from "../../runtime/audit/index.js";
import { DecisionPoint, type CallToDecide, type DecisionOptions } from "../../runtime/enforce/decide.js";
import type { SessionView } from "../../runtime/enforce/context.js";
import { MemoryStateStore, type StateStore } from "../../runtime/state/index.js";
import { paymentsGuard, REFUND_LIMIT, sessionInfo } from "./fixtures.js";

const SESSION: SessionView = { sessionId: "a1b2c3", establishedAt: 1_000_000, sealed: true, info: sessionInfo() };
const CLIENT = { sessionId: SESSION.sessionId, clientId: "mldsa65:client7" };
const NOW = 2_000_000;

/** An audit sink that keeps its lines in memory. */
function memoryAudit() {
  const lines: AuditDecision[] = [];
  return { lines, failure: undefined, append: (line: AuditDecision) => void lines.push(line) };
}

function decisionPoint(options: DecisionOptions = {}): DecisionPoint {
  return new DecisionPoint(paymentsGuard({}), "server", { now: () => NOW, logger: silentLogger(), ...options }, "m".repeat(64));
}

function call(tool: string, args: unknown, approve?: CallToDecide["approve"]): CallToDecide {
  return { tool, args, session: SESSION, pin: () => ({ ok: true }), approve };
}

async function refundsRecorded(store: StateStore): Promise<number> {
  return (await store.snapshot(CLIENT, NOW)).history.count(["process_refund"], 0, "client");
}

describe("DecisionPoint.decide", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "pqguard-decide-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("refuses an allowed call whose audit line could not be built", async () => {
    // A sink that takes the line and then reports that it could not build or write it.
    const audit = {
      failure: undefined as AuditError | undefined,
      append(): void {
        this.failure = new AuditError("PQG7101", "the line has no canonical form");
      },
    };
    const verdict = await decisionPoint({ audit }).decide(call("get_balance", { customer_id: "c" }));
    assert.ok(audit.failure !== undefined, "the line could not be built");
    assert.ok(!verdict.allowed, "a call no line records is not let through");
    assert.equal(verdict.refusal.code, "PQG7309");
  });

  it("refuses arguments with a lone surrogate before any line is built (they have no canonical form)", async () => {
    const audit = await AuditLog.open(join(dir, "unbuildable.log"), { includeArguments: true, logger: silentLogger() });
    try {
      const verdict = await decisionPoint({ audit }).decide(call("get_balance", { customer_id: "\ud800" }));
      assert.ok(!verdict.allowed);
      assert.equal(verdict.refusal.code, "PQG7308");
    } finally {
      await audit.close().catch(() => undefined);
    }
  });

  it("refuses, and records the refusal, when the approver throws instead of answering", async () => {
    const audit = memoryAudit();
    const store = new MemoryStateStore();
    const approve = (() => {
      throw new TypeError("the approval window is gone");
    }) as unknown as CallToDecide["approve"];
    const verdict = await decisionPoint({ audit, store }).decide(call("process_refund", { customer_id: "c", amount: 2000 }, approve));
    assert.ok(!verdict.allowed);
    assert.equal(verdict.refusal.code, "PQG7305");
    assert.match(verdict.refusal.reason, /approval was refused/);
    assert.deepEqual(audit.lines.map((l) => [l.decision, l.outcome, l.approval]), [["ask", "denied", "refused"]]);
    assert.equal(await refundsRecorded(store), 0);
  });

  it("refuses an approved call whose arguments changed while the human decided", async () => {
    const audit = memoryAudit();
    const store = new MemoryStateStore();
    const args = { customer_id: "c", amount: 2000 };
    const verdict = await decisionPoint({ audit, store }).decide(
      call("process_refund", args, async (request) => {
        (request.args as { amount: number }).amount = 4999;
        return true;
      }),
    );
    assert.ok(!verdict.allowed, "what was approved and audited is not what would run");
    assert.equal(verdict.refusal.code, "PQG7305");
    assert.match(verdict.refusal.reason, /arguments changed/);
    assert.equal(audit.lines.length, 1);
    assert.equal(audit.lines[0]!.argsText, '{"customer_id":"c","amount":2000}');
    assert.equal(await refundsRecorded(store), 0);
  });

  it("records an approved call once, and a refused one never", async () => {
    const store = new MemoryStateStore();
    const point = decisionPoint({ store });
    assert.ok((await point.decide(call("process_refund", { customer_id: "c", amount: 2000 }, async () => true))).allowed);
    assert.ok(!(await point.decide(call("process_refund", { customer_id: "c", amount: 2000 }, async () => false))).allowed);
    assert.ok(!(await point.decide(call("process_refund", { customer_id: "c", amount: 9000 }))).allowed);
    assert.equal(await refundsRecorded(store), 1);
  });

  it("keeps a limit exact when calls race through a store that yields between its operations", async () => {
    const memory = new MemoryStateStore();
    const yielding: StateStore = {
      record: async (c) => (await new Promise((r) => setImmediate(r)), memory.record(c)),
      snapshot: async (key, now) => (await new Promise((r) => setImmediate(r)), memory.snapshot(key, now)),
      endSession: (id) => memory.endSession(id),
    };
    const point = decisionPoint({ store: yielding });
    const verdicts = await Promise.all(Array.from({ length: 10 }, () => point.decide(call("process_refund", { customer_id: "c", amount: 5 }))));
    assert.equal(verdicts.filter((v) => v.allowed).length, REFUND_LIMIT);
    assert.equal(await refundsRecorded(memory), REFUND_LIMIT);
  });

  it("refuses a call whose asynchronous store never answers, and frees the store for the next call", async () => {
    const memory = new MemoryStateStore();
    let hang = true;
    const stuck: StateStore = {
      record: async (c) => memory.record(c),
      snapshot: (key, now) => (hang ? new Promise<never>(() => undefined) : memory.snapshot(key, now)),
      endSession: (id) => memory.endSession(id),
    };
    const point = decisionPoint({ store: stuck, storeTimeoutMs: 50 });
    const first = await point.decide(call("get_balance", { customer_id: "c" }));
    assert.ok(!first.allowed);
    assert.equal(first.refusal.code, "PQG7307");
    assert.match(first.refusal.reason, /did not answer within 50 ms/);
    hang = false;
    assert.ok((await point.decide(call("get_balance", { customer_id: "c" }))).allowed, "the lock was released");
  });

  it("refuses, with a typed refusal, when the clock cannot be read", async () => {
    const audit = memoryAudit();
    const point = decisionPoint({ audit, now: () => { throw new Error("clock unavailable"); } });
    const verdict = await point.decide(call("get_balance", { customer_id: "c" }));
    assert.ok(!verdict.allowed);
    assert.equal(verdict.refusal.code, "PQG7306");
    assert.match(verdict.refusal.reason, /clock could not be read.*clock unavailable/);
    assert.equal(audit.lines.length, 1);
  });

  it("refuses on a clock that reads no finite time, and the audit log goes on working", async () => {
    const audit = await AuditLog.open(join(dir, "nan-clock.log"), { logger: silentLogger() });
    try {
      let reading = Number.NaN;
      const point = decisionPoint({ audit, now: () => reading });
      const first = await point.decide(call("get_balance", { customer_id: "c" }));
      assert.ok(!first.allowed);
      assert.equal(first.refusal.code, "PQG7306");
      assert.match(first.refusal.reason, /read NaN, not a time/);
      reading = NOW;
      assert.ok((await point.decide(call("get_balance", { customer_id: "c" }))).allowed);
      await audit.flush();
      assert.equal(audit.failure, undefined, "the refusal's line was written");
    } finally {
      await audit.close();
    }
  });

  it("records a client's raw arguments as decided, not as its argument object reads later", async () => {
    const path = join(dir, "client-args.log");
    const audit = await AuditLog.open(path, { includeArguments: true, logger: silentLogger() });
    let reads = 0;
    const shifty = { customer_id: "c", get amount() { return reads++ === 0 ? 10 : 9000; } };
    const point = new DecisionPoint(paymentsGuard({}), "client", { now: () => NOW, logger: silentLogger(), audit }, "m".repeat(64));
    const verdict = await point.decide(call("process_refund", shifty));
    assert.ok(verdict.allowed);
    assert.deepEqual(verdict.args, { customer_id: "c", amount: 10 });
    await audit.close();
    const line = JSON.parse((await readFile(path, "utf8")).trim()) as { args: unknown };
    assert.deepEqual(line.args, { amount: 10, customer_id: "c" });
  });
});
