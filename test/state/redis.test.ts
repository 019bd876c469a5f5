// The Redis StateStore against a real redis-server: limits exact across several stores (replicas) deciding at once,
// no under-admission when refused calls race admitted ones, counts that survive a store, keys that hold no raw ids,
// and failing closed when Redis is down, slow or answers garbage, without the password reaching any message.
import { strict as assert } from "node:assert";
import fc from "fast-check";
import { Redis } from "ioredis";
import pino from "pino";
import { Writable } from "node:stream";
import { DecisionPoint } from "../../runtime/enforce/decide.js";
import type { SessionView } from "../../runtime/enforce/context.js";
import { RedisStateStore, StateError, type CallRecord, type Judge } from "../../runtime/state/index.js";
import { paymentsGuard, REFUND_LIMIT, REFUND_WINDOW_MS, sessionInfo } from "../enforce/fixtures.js";
import { redisStoreSuite, skipLoudly, startRedis, type RedisServer } from "../support/redis.js";

const NOW = 5_000_000_000;
const HOUR = 3_600_000;

/** A judge with one limit: `limit` calls to `tool` per hour per client; `refuse` judges a call denied for another reason. */
function limitJudge(limit: number, refuse = false): Judge<boolean> {
  return (snapshot) => {
    const used = snapshot.history.count(["t"], NOW - HOUR, "client");
    const allowed = !refuse && used < limit;
    return { record: allowed, verdict: allowed ? "allow" : refuse ? "deny other" : "deny limit", outcome: allowed };
  };
}

function callOf(i: number, client = "c1"): CallRecord {
  return { tool: "t", at: NOW, sessionId: `s${i}`, clientId: client };
}

function session(i: number): SessionView {
  return { sessionId: `session-${i}`, establishedAt: 1_000_000, sealed: true, info: sessionInfo({ sessionId: `session-${i}` }) };
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<StateError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof StateError, `expected a StateError, got ${String(error)}`);
    assert.equal(error.code, code);
    return error;
  }
  assert.fail("expected a StateError");
}

describe("RedisStateStore", function () {
  this.timeout(60_000);
  const suite = redisStoreSuite("the Redis state store is", "test", { policy: "payments" });
  const open = suite.open;
  /** Numbers the property's runs, so each decides for a client of its own. */
  let propertyRun = 0;

  it("admits exactly the limit when three stores decide 20 calls at once", async () => {
    const replicas = [await open(), await open(), await open()];
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => replicas[i % 3]!.transact(callOf(i), limitJudge(7))));
    assert.equal(results.filter(Boolean).length, 7);
    const after = await replicas[1]!.transact(callOf(99), limitJudge(7));
    assert.equal(after, false, "the limit holds once the burst is over");
  });

  it("admits the limit even when calls refused for another reason race the admitted ones", async () => {
    const replicas = [await open(), await open()];
    // Every other call is refused by a rule, not the limit: its reservation must not crowd out an admissible call.
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => replicas[i % 2]!.transact(callOf(i), limitJudge(5, i % 2 === 1))));
    assert.equal(results.filter(Boolean).length, 5);
  });

  it("admits min(limit, admissible calls) for any mix of replicas, limits and refusals decided at once", async () => {
    const replicas = [await open(), await open(), await open()];
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 8 }), fc.array(fc.record({ replica: fc.nat(2), refuse: fc.boolean() }), { minLength: 1, maxLength: 24 }), async (limit, calls) => {
        const client = `prop-${++propertyRun}`;
        const outcomes = await Promise.all(calls.map((c, i) => replicas[c.replica]!.transact(callOf(i, client), limitJudge(limit, c.refuse))));
        const admissible = calls.filter((c) => !c.refuse).length;
        assert.equal(outcomes.filter(Boolean).length, Math.min(limit, admissible));
      }),
      { numRuns: 25 },
    );
  });

  it("never lets a call through on a prerequisite that a concurrent, refused call seemed to meet", async () => {
    const [a, b] = [await open(), await open()];
    // `transfer` is allowed only after `login` in the session; every `login` is refused. Raced 40 times.
    const login: Judge<boolean> = () => ({ record: false, verdict: "deny", outcome: false });
    const transfer: Judge<boolean> = (snapshot) => {
      const ok = snapshot.history.called("login");
      return { record: ok, verdict: ok ? "allow" : "deny", outcome: ok };
    };
    for (let i = 0; i < 40; i++) {
      const sessionId = `race-${i}`;
      const [, allowed] = await Promise.all([
        a.transact({ tool: "login", at: NOW, sessionId, clientId: "c" }, login),
        b.transact({ tool: "transfer", at: NOW, sessionId, clientId: "c" }, transfer),
      ]);
      assert.equal(allowed, false, `round ${i}`);
    }
  });

  it("reads again when the guard takes a branch that asks for a count not asked before", async () => {
    const store = await open();
    // After two calls to `t` the guard also asks for the last minute's calls: a count the first decisions never read.
    const branching: Judge<string> = (snapshot) => {
      const hour = snapshot.history.count(["t"], NOW - HOUR, "client");
      const minute = hour >= 2 ? snapshot.history.count(["t", "u"], NOW - 60_000, "global") : -1;
      const none = snapshot.history.count([], NOW - HOUR, "global");
      return { record: true, verdict: "allow", outcome: `${hour} ${minute} ${none}` };
    };
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) seen.push(await store.transact(callOf(i), branching));
    assert.deepEqual(seen, ["0 -1 0", "1 -1 0", "2 2 0", "3 3 0"]);
  });

  it("answers a window that starts at the session's start, which differs at each decision, without a bound refusing it", async () => {
    const store = await open();
    // As `calls(t, session.age)` asks: since the session began, so the window grows with each call.
    const sinceStart: Judge<number> = (snapshot) => ({ record: true, verdict: "allow", outcome: snapshot.history.count(["t"], NOW - 1000, "session") });
    for (let i = 0; i < 300; i++) {
      assert.equal(await store.transact({ tool: "t", at: NOW - 1000 + i, sessionId: "long", clientId: "c" }, sinceStart), i);
    }
  });

  it("counts a reservation its replica never resolved as recorded once its lease ends on Redis's clock", async () => {
    const dead = await open();
    const live = await open({ pendingLeaseMs: 300 });
    // A replica that reserved and died before resolving: its reservation stays pending.
    // The lease starts on Redis's clock while the script runs: timed from before it is sent, the wait is at least 300 ms.
    const started = Date.now();
    await (dead as unknown as { run(mode: string, call: CallRecord, seq: number, queries: unknown[]): Promise<unknown> }).run("n", callOf(1), 0, []);
    assert.equal(await live.transact(callOf(2), limitJudge(1)), false, "the limit of one is taken by the call that may have run");
    assert.ok(Date.now() - started >= 290, "it waited for the lease rather than guessing");
  });

  it("does not end another replica's lease early when its own clock runs ahead", async () => {
    const other = await open();
    const ahead = await open({ pendingLeaseMs: 5000 });
    await (other as unknown as { run(mode: string, call: CallRecord, seq: number, queries: unknown[]): Promise<unknown> }).run("n", { tool: "login", at: NOW, sessionId: "skew", clientId: "c" }, 0, []);
    // A clock a minute ahead: by the decision times, the pending login is older than the lease; by Redis's, it is not.
    const transfer: Judge<boolean> = (snapshot) => {
      const ok = snapshot.history.called("login");
      return { record: ok, verdict: ok ? "allow" : "deny", outcome: ok };
    };
    await rejectsWith(ahead.transact({ tool: "transfer", at: NOW + 60_000, sessionId: "skew", clientId: "c" }, transfer), "PQG7204");
  });

  it("keeps a client's count when the store that recorded it is closed, and counts clients apart", async () => {
    const first = await open();
    for (let i = 0; i < 3; i++) assert.equal(await first.transact(callOf(i), limitJudge(3)), true);
    await first.close();
    const second = await open();
    assert.equal(await second.transact(callOf(10), limitJudge(3)), false, "the other replica sees the three calls");
    assert.equal(await second.transact(callOf(11, "c2"), limitJudge(3)), true, "another client has its own count");
  });

  it("answers session calls, called() and global counts, and forgets a session that ended", async () => {
    const store = await open();
    const call = { tool: "a", at: NOW, sessionId: "s", clientId: "c" };
    const seen: { calls: number; calledA: boolean; calledAny: boolean; global: number }[] = [];
    const judge: Judge<void> = (snapshot) => {
      seen.push({
        calls: snapshot.sessionCalls,
        calledA: snapshot.history.called("a"),
        calledAny: snapshot.history.called("*"),
        global: snapshot.history.count("*", NOW - HOUR, "global"),
      });
      return { record: true, verdict: "allow", outcome: undefined };
    };
    await store.transact(call, judge);
    await store.transact(call, judge);
    await store.transact({ ...call, sessionId: "other" }, judge);
    const last = seen.at(-1)!;
    assert.deepEqual(last, { calls: 0, calledA: false, calledAny: false, global: 2 });
    const second = seen.filter((s) => s.calls === 1)[0];
    assert.deepEqual(second, { calls: 1, calledA: true, calledAny: true, global: 1 });
    await store.endSession("s");
    seen.length = 0;
    await store.transact(call, judge);
    assert.equal(seen.at(-1)!.calls, 0, "an ended session starts again from nothing");
    assert.equal(seen.at(-1)!.global, 3, "its calls still count globally");
  });

  it("does not count a reservation that was taken back, nor a call outside the window", async () => {
    const store = await open();
    assert.equal(await store.transact(callOf(1), limitJudge(1, true)), false);
    assert.equal(await store.transact(callOf(2), limitJudge(1)), true, "the refused call left nothing behind");
    const later = { ...callOf(3), at: NOW + 2 * HOUR };
    const judge: Judge<number> = (s) => ({ record: false, verdict: "", outcome: s.history.count(["t"], NOW + HOUR, "client") });
    assert.equal(await store.transact(later, judge), 0);
  });

  it("keeps limits exact through the decision point: 20 concurrent refunds over three replicas admit the limit", async () => {
    const guard = paymentsGuard({});
    const points = await Promise.all([0, 1, 2].map(async () => new DecisionPoint(guard, "server", { store: await open({ retentionMs: REFUND_WINDOW_MS }), now: () => NOW }, "m".repeat(64))));
    const verdicts = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        points[i % 3]!.decide({ tool: "process_refund", args: { customer_id: "x", amount: i % 4 === 0 ? 9000 : 10 }, session: session(i), pin: () => ({ ok: true }), approve: undefined }),
      ),
    );
    assert.equal(verdicts.filter((v) => v.allowed).length, REFUND_LIMIT);
    const refusedByLimit = verdicts.filter((v) => !v.allowed && v.refusal.reason.includes("rate limit"));
    assert.equal(refusedByLimit.length, 15 - REFUND_LIMIT, "every admissible call past the limit was refused by the limit, none by a crowd");
  });

  it("counts an approved call once, after its approval, and tells a failing guard from a failing store", async () => {
    const store = await open({ retentionMs: REFUND_WINDOW_MS });
    const point = new DecisionPoint(paymentsGuard({}), "server", { store, now: () => NOW }, "m".repeat(64));
    const refund = (amount: number, i: number) => ({ tool: "process_refund", args: { customer_id: "x", amount }, session: session(100 + i), pin: () => ({ ok: true as const }), approve: async () => true });
    assert.equal((await point.decide(refund(2000, 0))).allowed, true, "asked and approved");
    assert.equal((await point.decide(refund(10, 1))).allowed, true);
    assert.equal((await point.decide(refund(3000, 2))).allowed, true, "asked and approved");
    const fourth = await point.decide(refund(10, 3));
    assert.ok(!fourth.allowed && fourth.refusal.code === "PQG7301", "three refunds, each counted once, reach the limit");
    const broken = { ...paymentsGuard({}), guard: () => { throw new Error("guard bug"); } };
    const failing = new DecisionPoint(broken, "server", { store, now: () => NOW }, "m".repeat(64));
    const verdict = await failing.decide(refund(10, 4));
    assert.ok(!verdict.allowed && verdict.refusal.code === "PQG7306", JSON.stringify(!verdict.allowed && verdict.refusal));
  });

  it("keeps no raw session or client id, tool arguments or password in its keys, and every key expires", async () => {
    const store = await open();
    await store.transact({ tool: "t", at: NOW, sessionId: "session-secret-123", clientId: "mldsa65:fingerprint-xyz" }, limitJudge(5));
    // The reservation's resolution is sent shortly after the decision; closing sends it now, so no key vanishes while listed.
    await store.close();
    const raw = new Redis({ port: suite.redis.port, lazyConnect: true });
    try {
      await raw.connect();
      const keys = await raw.keys("*");
      assert.ok(keys.length > 0);
      for (const key of keys) {
        assert.ok(!key.includes("session-secret-123") && !key.includes("fingerprint-xyz"), key);
        assert.ok(key.startsWith("pqg:{"), `namespaced: ${key}`);
        const ttl = await raw.pttl(key);
        assert.ok(ttl > 0, `${key} expires (pttl ${ttl})`);
      }
    } finally {
      raw.disconnect();
    }
  });

  it("refuses calls while Redis is down, says so in its health, and recovers when it returns", async () => {
    const store = await open({ commandTimeoutMs: 300 });
    assert.equal(await store.transact(callOf(1), limitJudge(5)), true);
    await suite.redis.stop();
    try {
      const error = await rejectsWith(store.transact(callOf(2), limitJudge(5)), "PQG7203");
      assert.match(error.message, /Redis/);
      assert.ok(!error.message.includes(String(suite.redis.port)), `a refusal reaches clients: it does not say where Redis is (${error.message})`);
      const down = Date.now() + 5000;
      while (store.health().ok && Date.now() < down) await new Promise((r) => setTimeout(r, 20));
      assert.equal(store.health().ok, false);
      assert.match(store.health().reason ?? "", /./);
      await rejectsWith(store.transact(callOf(2), limitJudge(5)), "PQG7203");
    } finally {
      await suite.redis.start();
    }
    const until = Date.now() + 10_000;
    while (!store.health().ok && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    assert.equal(store.health().ok, true, "reconnected with backoff");
    assert.equal(await store.transact(callOf(3), limitJudge(5)), true);
  });

  it("refuses when Redis is slower than the deadline", async () => {
    const store = await open({ commandTimeoutMs: 200 });
    const raw = new Redis({ port: suite.redis.port });
    try {
      await raw.call("CLIENT", "PAUSE", "3000", "ALL");
      const started = Date.now();
      await rejectsWith(store.transact(callOf(1), limitJudge(5)), "PQG7204");
      assert.ok(Date.now() - started < 2500, "refused at the deadline, not after Redis answered");
    } finally {
      await raw.call("CLIENT", "UNPAUSE").catch(() => undefined);
      raw.disconnect();
    }
  });

  it("refuses an answer that is not the script's reply", async () => {
    const store = await open();
    // Redis answering the store's script hash with another script's reply stands for a store answering garbage.
    const raw = new Redis({ port: suite.redis.port });
    try {
      const sha = (store as unknown as { sha: string }).sha;
      (store as unknown as { sha: string }).sha = String(await raw.script("LOAD", "return 'hello'"));
      await rejectsWith(store.transact(callOf(1), limitJudge(5)), "PQG7203");
      (store as unknown as { sha: string }).sha = sha;
      await raw.script("FLUSH");
      assert.equal(await store.transact(callOf(2), limitJudge(5)), true, "its own script is loaded again after Redis forgot it");
    } finally {
      raw.disconnect();
    }
  });

  it("never writes the password into a log line or an error", async function () {
    const password = "s3cret-Pa55word-value";
    let guarded: RedisServer;
    try {
      guarded = await startRedis({ password });
    } catch (error) {
      skipLoudly(this, `a password-protected redis-server did not start: ${String(error)}`);
    }
    let logged = "";
    const logger = pino({ level: "debug" }, new Writable({ write: (chunk, _enc, done) => ((logged += String(chunk)), done()) }));
    try {
      const wrong = guarded.url.replace(encodeURIComponent(password), "wrong-" + password);
      const bad = suite.adopt(await RedisStateStore.open({ url: wrong, logger, commandTimeoutMs: 300 }));
      const error = await rejectsWith(bad.transact(callOf(1), limitJudge(5)), "PQG7203");
      assert.ok(!error.message.includes(password), error.message);
      const good = suite.adopt(await RedisStateStore.open({ url: guarded.url, logger }));
      assert.equal(await good.transact(callOf(1), limitJudge(5)), true);
      await guarded.stop();
      await rejectsWith(good.transact(callOf(2), limitJudge(5)), "PQG7203");
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(logged.length > 0, "the failures were logged");
      assert.ok(!logged.includes(password), logged);
    } finally {
      await guarded.dispose();
    }
  });
});
