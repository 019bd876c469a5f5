// When a session ends: enforce() ends each session it decided for once its decisions in flight (an approval pending
// at close) have finished, which still read the whole history; a reconnected Server starts a new unsealed session;
// DecisionPoint.endSession waits for decisions in flight and never throws what the store does.
import { strict as assert } from "node:assert";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { silentLogger, type AuditDecision } from "../../runtime/audit/index.js";
import { DecisionPoint, enforce, type CallToDecide } from "../../runtime/enforce/index.js";
import type { SessionView } from "../../runtime/enforce/context.js";
import type { Decision, GuardContext, GuardModule, GuardRequest } from "../../runtime/guard/types.js";
import { toolDigest } from "../../runtime/manifest/digest.js";
import { MemoryStateStore, type StateStore } from "../../runtime/state/index.js";
import { connect, paymentsGuard, paymentsServer, paymentsTools, REFUND_WINDOW_MS, sessionInfo } from "./fixtures.js";

/** A MemoryStateStore that notes each session it is told has ended, with what `when` reads at that moment. */
class EndSpyStore<T> extends MemoryStateStore {
  readonly ended: { sessionId: string; when: T | undefined }[] = [];
  when: (() => T) | undefined;

  override async endSession(sessionId: string): Promise<void> {
    this.ended.push({ sessionId, when: this.when?.() });
    return super.endSession(sessionId);
  }
}

/** What the guard saw of the session's history when it judged a refund. */
interface Seen {
  readonly sessionId: string;
  readonly refunds: number;
  readonly balanceCalled: boolean;
}

function decided(kind: Decision["decision"], rule: string, reason: string): Decision {
  return { decision: kind, determining: [rule], reason, explain: [] };
}

/**
 * The payments guard with session-scoped rules on top:
 *   forbid tool process_refund unless called(get_balance)
 *   limit tool process_refund to 2 per 10m per session
 */
function sessionGuard(digests: Record<string, string>, seen: Seen[]): GuardModule {
  const base = paymentsGuard(digests);
  return {
    ...base,
    guard(request: GuardRequest, context: GuardContext): Decision {
      if (request.tool !== "process_refund") return base.guard(request, context);
      const refunds = context.history.count(["process_refund"], context.now - REFUND_WINDOW_MS, "session");
      const balanceCalled = context.history.called("get_balance");
      seen.push({ sessionId: String(context.session.id), refunds, balanceCalled });
      if (!balanceCalled) return decided("deny", "sessions.policy:1", "look at the balance before refunding");
      if (refunds >= 2) return decided("deny", "sessions.policy:2", "rate limit of 2 calls per 10m per session exceeded");
      return base.guard(request, context);
    },
  };
}

/** The payments guard, but every call allowed once per session; notes the session id of each call it judges. */
function oncePerSessionGuard(digests: Record<string, string>, ids: string[]): GuardModule {
  const { reachableTools: _exact, ...base } = paymentsGuard(digests);
  return {
    ...base,
    guard: (_request, context) => {
      ids.push(String(context.session.id));
      return context.history.count("*", 0, "session") >= 1
        ? decided("deny", "once.policy:1", "one call per session")
        : decided("allow", "once.policy:2", "permitted by rule `once.policy:2`");
    },
  };
}

/** Polls `condition` every 5 ms; fails the test after `timeoutMs`. */
async function until(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe("ending sessions", () => {
  let digests: Record<string, string>;
  before(async () => {
    digests = Object.fromEntries((await paymentsTools()).map((t) => [t.name as string, toolDigest(t)]));
  });

  it("enforce(): an approval pending at close is withdrawn, its call refused (PQG7312) and not counted, and only then the session ends", async () => {
    const lines: AuditDecision[] = [];
    const audit = { failure: undefined, append: (line: AuditDecision) => void lines.push(line) };
    const store = new EndSpyStore<number>();
    store.when = () => lines.length;
    const seen: Seen[] = [];
    let asked: (() => void) | undefined;
    let withdrawn: AbortSignal | undefined;
    const payments = paymentsServer();
    enforce(payments.server, sessionGuard(digests, seen), {
      session: () => sessionInfo(),
      now: () => 2_000_000,
      logger: silentLogger(),
      store,
      audit,
      // An approver that never answers: only the close can end its question.
      approve: ({ signal }) =>
        new Promise<boolean>(() => {
          withdrawn = signal;
          asked?.();
        }),
    });
    const { client, close } = await connect(payments.server);
    await client.callTool({ name: "get_balance", arguments: { customer_id: "c-1" } });
    await client.callTool({ name: "process_refund", arguments: { customer_id: "c-1", amount: 5 } });
    const waiting = new Promise<void>((resolve) => (asked = resolve));
    const pending = client.callTool({ name: "process_refund", arguments: { customer_id: "c-1", amount: 2000 } }).catch(() => "closed");
    await waiting;
    assert.deepEqual(seen.at(-1), { sessionId: "a1b2c3", refunds: 1, balanceCalled: true }, "judged on the session's earlier calls");
    await close();
    assert.equal(await pending, "closed", "the client stopped waiting when it closed");
    await until(() => store.ended.length > 0, "the session to end");
    assert.equal(withdrawn?.aborted, true, "the question was withdrawn");
    assert.deepEqual(store.ended, [{ sessionId: "a1b2c3", when: 3 }], "ended once, after the refused call's line was written");
    assert.deepEqual(
      { outcome: lines[2]!.outcome, code: lines[2]!.code, decision: lines[2]!.decision },
      { outcome: "denied", code: "PQG7312", decision: "ask" },
      lines[2]!.reason,
    );
    assert.equal(payments.runs.count("process_refund"), 1, "only the first refund ran");
    // Nothing of the session is held, and the refused call was never counted: two calls for the client and global keys.
    assert.equal(store.size, 4);
  });

  it("enforce(): a Server that connects again serves a new unsealed session, not the ended one's", async () => {
    const store = new EndSpyStore<never>();
    const ids: string[] = [];
    const payments = paymentsServer();
    // Every call allowed once per session: the second connection's call must not count the first one's.
    const oncePerSession = oncePerSessionGuard(digests, ids);
    enforce(payments.server, oncePerSession, { allowUnsealed: true, session: () => undefined, logger: silentLogger(), store });
    const first = await connect(payments.server);
    await first.client.callTool({ name: "get_balance", arguments: { customer_id: "c-1" } });
    await first.close();
    const second = await connect(payments.server);
    const result = await second.client.callTool({ name: "get_balance", arguments: { customer_id: "c-1" } });
    assert.equal(result.isError, undefined, "the new session has made no calls yet");
    await second.close();
    assert.equal(ids.length, 2);
    assert.match(ids[0]!, /^unsealed-/);
    assert.notEqual(ids[1], ids[0], "a new connection gets a new unsealed session id");
    assert.deepEqual(
      store.ended.map((e) => e.sessionId),
      ids,
      "each connection's session is ended when it closes",
    );
  });

  it("enforce(): refuses a call that arrives with the close, on no session, and runs nothing", async () => {
    const store = new EndSpyStore<never>();
    const payments = paymentsServer();
    const guarded: string[] = [];
    const oncePerSession = oncePerSessionGuard(digests, guarded);
    const lines: AuditDecision[] = [];
    const audit = { failure: undefined, append: (line: AuditDecision) => void lines.push(line) };
    enforce(payments.server, oncePerSession, { allowUnsealed: true, session: () => undefined, logger: silentLogger(), store, audit });
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    const client = new Client({ name: "c", version: "1" });
    await payments.server.connect(serverSide);
    await client.connect(clientSide);
    await client.callTool({ name: "get_balance", arguments: { customer_id: "c-1" } });
    // A call delivered in the same turn as the close: the SDK still runs its handler, with its signal aborted.
    serverSide.onmessage!({ jsonrpc: "2.0", id: 99, method: "tools/call", params: { name: "get_balance", arguments: { customer_id: "c-1" } } });
    serverSide.onclose!();
    await until(() => lines.length === 2, "the late call's audit line");
    assert.equal(lines[1]!.code, "PQG7312");
    assert.equal(lines[1]!.sessionId, undefined, "decided on no session");
    assert.equal(guarded.length, 1, "the guard judged only the first call");
    assert.equal(payments.runs.count("get_balance"), 1, "the late call did not run");
    assert.equal(store.ended.length, 1, "the one session was ended, and no new one opened");
    await client.close();
  });

  describe("DecisionPoint.endSession", () => {
    const SESSION: SessionView = { sessionId: "a1b2c3", establishedAt: 1_000_000, sealed: true, info: sessionInfo() };
    const call = (approve?: CallToDecide["approve"]): CallToDecide => ({
      tool: "process_refund",
      args: { customer_id: "c", amount: approve === undefined ? 5 : 2000 },
      session: SESSION,
      pin: () => ({ ok: true }),
      approve,
    });

    it("ends a session at once when nothing is decided for it, and after the last decision in flight otherwise", async () => {
      const store = new EndSpyStore<never>();
      const point = new DecisionPoint(paymentsGuard({}), "server", { store, now: () => 2_000_000, logger: silentLogger() }, "m".repeat(64));
      assert.ok((await point.decide(call())).allowed);
      point.endSession("other");
      assert.deepEqual(store.ended.map((e) => e.sessionId), ["other"]);

      const answers: ((ok: boolean) => void)[] = [];
      const approve = () => new Promise<boolean>((resolve) => answers.push(resolve));
      const first = point.decide(call(approve));
      const second = point.decide(call(approve));
      await until(() => answers.length === 2, "both approvals to be asked");
      point.endSession(SESSION.sessionId);
      point.endSession(SESSION.sessionId);
      answers[0]!(true);
      assert.ok((await first).allowed);
      assert.deepEqual(store.ended.map((e) => e.sessionId), ["other"], "one decision is still in flight");
      answers[1]!(false);
      assert.ok(!(await second).allowed);
      assert.deepEqual(store.ended.map((e) => e.sessionId), ["other", SESSION.sessionId], "ended once, after the last decision");
      // Later decisions for the id start a new history; they are not ended again without being asked to.
      assert.ok((await point.decide(call())).allowed);
      assert.equal(store.ended.length, 2);
    });

    it("refuses (PQG7312) and does not count a call cancelled while its pin was read", async () => {
      const store = new MemoryStateStore();
      const point = new DecisionPoint(paymentsGuard({}), "server", { store, now: () => 2_000_000, logger: silentLogger() }, "m".repeat(64));
      const controller = new AbortController();
      // The pin is read asynchronously (a tool list read); the request is cancelled meanwhile.
      const verdict = await point.decide({
        ...call(),
        signal: controller.signal,
        pin: async () => {
          controller.abort();
          return { ok: true };
        },
      });
      assert.ok(!verdict.allowed);
      assert.equal(verdict.refusal.code, "PQG7312");
      assert.equal(store.size, 0, "a call nobody waits for is not counted");
      // Not cancelled, the same call is allowed.
      assert.ok((await point.decide({ ...call(), signal: new AbortController().signal })).allowed);
    });

    it("refuses (PQG7312), uncounted and unasked, a call cancelled while an asynchronous store answered", async () => {
      for (const [amount, kind] of [[5, "allow"], [2000, "ask"]] as const) {
        const memory = new MemoryStateStore();
        const controller = new AbortController();
        const store: StateStore = {
          record: (made) => memory.record(made),
          snapshot: async (key, now) => {
            controller.abort(); // the request is cancelled while its history is read
            return memory.snapshot(key, now);
          },
          endSession: (id) => memory.endSession(id),
        };
        const lines: AuditDecision[] = [];
        const audit = { failure: undefined, append: (line: AuditDecision) => void lines.push(line) };
        const point = new DecisionPoint(paymentsGuard({}), "server", { store, audit, now: () => 2_000_000, logger: silentLogger() }, "m".repeat(64));
        let asked = 0;
        const approve = async (): Promise<boolean> => (asked++, true);
        const verdict = await point.decide({ ...call(), args: { customer_id: "c", amount }, approve, signal: controller.signal });
        assert.ok(!verdict.allowed);
        assert.equal(verdict.refusal.code, "PQG7312");
        assert.equal(asked, 0, `${kind}: no approver is asked about a cancelled call`);
        assert.equal(memory.size, 0, `${kind}: a call nobody waits for is not counted`);
        assert.deepEqual([lines[0]!.decision, lines[0]!.outcome, lines[0]!.code], [kind, "denied", "PQG7312"]);
      }
    });

    it("logs, and never throws, a store that fails to end a session", async () => {
      const warnings: string[] = [];
      const logger = silentLogger();
      logger.warn = ((_fields: unknown, message: string) => void warnings.push(message)) as typeof logger.warn;
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
      process.on("unhandledRejection", onUnhandled);
      try {
        for (const fail of [() => Promise.reject(new Error("store is down")), () => { throw new Error("store is down"); }]) {
          const store = new MemoryStateStore();
          store.endSession = fail as MemoryStateStore["endSession"];
          const point = new DecisionPoint(paymentsGuard({}), "server", { store, now: () => 2_000_000, logger }, "m".repeat(64));
          point.endSession(SESSION.sessionId);
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      } finally {
        process.off("unhandledRejection", onUnhandled);
      }
      assert.deepEqual(unhandled, []);
      assert.equal(warnings.length, 2);
      assert.match(warnings[0]!, /could not end a session.*store is down/);
    });
  });
});
