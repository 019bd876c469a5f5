// The in-memory StateStore: counts by scope and window, snapshot isolation, bounds that fail closed, and expiry.
import { strict as assert } from "node:assert";
import fc from "fast-check";
import { DEFAULT_RETENTION_MS, MemoryStateStore, StateError } from "../../runtime/state/index.js";

const A = { sessionId: "s-a", clientId: "client-1" };
const B = { sessionId: "s-b", clientId: "client-1" };
const C = { sessionId: "s-c", clientId: "client-2" };

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<StateError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof StateError);
    assert.equal(error.code, code);
    return error;
  }
  assert.fail("expected a StateError");
}

type Key = typeof A;
type Made = { tool: string; at: number } & Key;

/** A call to a, b or c by one of three sessions (two share a client), `dt` ms after the one before. */
const callArb = (maxDt: number) => fc.record({ tool: fc.constantFrom("a", "b", "c"), dt: fc.integer({ min: 0, max: maxDt }), key: fc.constantFrom(A, B, C) });
const scopeArb = fc.constantFrom("session", "client", "global" as const);

async function recordAll(store: MemoryStateStore, calls: readonly { tool: string; dt: number; key: Key }[]): Promise<{ made: Made[]; at: number }> {
  let at = 0;
  const made: Made[] = [];
  for (const c of calls) {
    at += c.dt;
    const record = { tool: c.tool, at, ...c.key };
    made.push(record);
    await store.record(record);
  }
  return { made, at };
}

/** What A's history should answer for calls to a or b since `since`: the model every count is checked against. */
function naiveCount(made: readonly Made[], scope: "session" | "client" | "global", since: number): number {
  const inScope = made.filter((m) => (scope === "global" ? true : scope === "client" ? m.clientId === A.clientId : m.sessionId === A.sessionId));
  return inScope.filter((m) => m.at >= since && m.tool !== "c").length;
}

describe("MemoryStateStore", () => {
  it("counts calls by session, client and globally, within a window, and answers called()", async () => {
    const store = new MemoryStateStore();
    await store.record({ tool: "refund", at: 1000, ...A });
    await store.record({ tool: "refund", at: 2000, ...B });
    await store.record({ tool: "balance", at: 3000, ...C });
    const { history, sessionCalls } = await store.snapshot(A, 4000);
    assert.equal(sessionCalls, 1);
    assert.equal(history.count(["refund"], 0, "session"), 1);
    assert.equal(history.count(["refund"], 0, "client"), 2);
    assert.equal(history.count("*", 0, "global"), 3);
    assert.equal(history.count(["refund", "balance"], 1500, "global"), 2);
    assert.equal(history.count(["refund"], 2001, "client"), 0);
    assert.ok(history.called("refund"));
    assert.ok(history.called("*"));
    assert.ok(!history.called("balance"));
  });

  it("never counts calls recorded after the snapshot was taken", async () => {
    const store = new MemoryStateStore();
    await store.record({ tool: "refund", at: 1000, ...A });
    const { history } = await store.snapshot(A, 1500);
    await store.record({ tool: "refund", at: 1600, ...A });
    await store.record({ tool: "other", at: 1700, ...A });
    assert.equal(history.count("*", 0, "session"), 1);
    assert.ok(!history.called("other"));
  });

  it("clamps a clock that steps back, so counts stay exact", async () => {
    const store = new MemoryStateStore();
    await store.record({ tool: "t", at: 5000, ...A });
    await store.record({ tool: "t", at: 4000, ...A });
    const { history } = await store.snapshot(A, 6000);
    assert.equal(history.count("*", 4500, "session"), 2);
  });

  it("expires entries older than the retention period", async () => {
    const store = new MemoryStateStore({ retentionMs: 10_000 });
    await store.record({ tool: "t", at: 0, ...A });
    await store.record({ tool: "t", at: 5_000, ...C });
    assert.equal(store.size, 6);
    await store.record({ tool: "t", at: 12_000, ...C });
    assert.equal(store.size, 6, "the call at 0 expired from all three keys");
    const { history } = await store.snapshot(C, 12_000);
    assert.equal(history.count("*", 2_001, "global"), 2);
  });

  it("refuses a count whose window reaches past entries dropped by the per-key bound", async () => {
    const store = new MemoryStateStore({ maxEntriesPerKey: 3 });
    for (let i = 0; i < 5; i++) await store.record({ tool: "t", at: i * 1000, ...A });
    const { history } = await store.snapshot(A, 5000);
    assert.equal(history.count("*", 2000, "session"), 3, "a window inside what is held still counts");
    assert.throws(() => history.count("*", 0, "session"), (e: unknown) => e instanceof StateError && e.code === "PQG7202" && /dropped at the bound of 3 entries per key/.test(e.message));
  });

  it("keeps a per-key bound to its key: another client's counts are still answered", async () => {
    const store = new MemoryStateStore({ maxEntriesPerKey: 3 });
    await store.record({ tool: "t", at: 0, ...C });
    for (let i = 1; i <= 5; i++) await store.record({ tool: "t", at: i * 1000, ...A });
    assert.equal((await store.snapshot(C, 6000)).history.count("*", 0, "client"), 1);
  });

  it("refuses a count whose window reaches past entries expired by the retention period, rather than under-count", async () => {
    const store = new MemoryStateStore({ retentionMs: 10_000 });
    await store.record({ tool: "t", at: 0, ...A });
    await store.record({ tool: "t", at: 15_000, ...A });
    const { history } = await store.snapshot(A, 15_000);
    assert.equal(history.count("*", 5_001, "session"), 1, "a window inside the retention period still counts");
    for (const scope of ["session", "client", "global"] as const) {
      assert.throws(() => history.count("*", 0, scope), (e: unknown) => e instanceof StateError && e.code === "PQG7202" && /retention period of 10000 ms/.test(e.message), scope);
    }
    const other = (await store.snapshot(C, 15_000)).history;
    assert.throws(() => other.count(["t"], 0, "client"), (e: unknown) => e instanceof StateError && e.code === "PQG7202", "a forgotten key is not a key without calls");
  });

  it("refuses a count for a key forgotten after its calls expired, also once the key calls again", async () => {
    const store = new MemoryStateStore({ retentionMs: 10_000 });
    await store.record({ tool: "t", at: 0, ...A });
    await store.record({ tool: "t", at: 12_000, ...C });
    await store.record({ tool: "t", at: 13_000, ...A });
    const { history } = await store.snapshot(A, 13_000);
    for (const scope of ["session", "client"] as const) {
      assert.throws(() => history.count("*", 0, scope), (e: unknown) => e instanceof StateError && e.code === "PQG7202", scope);
      assert.equal(history.count("*", 3_001, scope), 1, `${scope}: a window inside the retention period still counts`);
    }
  });

  it("answers a key that lost no calls, even when another key's calls expired", async () => {
    const store = new MemoryStateStore({ retentionMs: 10_000 });
    await store.record({ tool: "t", at: 0, ...A });
    await store.record({ tool: "t", at: 5_000, ...C });
    await store.record({ tool: "t", at: 12_000, ...C });
    const { history } = await store.snapshot(C, 12_000);
    assert.equal(history.count("*", 0, "client"), 2, "client-2's calls are all held");
    assert.throws(() => history.count("*", 0, "global"), (e: unknown) => e instanceof StateError && e.code === "PQG7202", "the global log lost the call at 0");
  });

  it("says how far back it answers counts", () => {
    assert.equal(new MemoryStateStore().retentionMs, DEFAULT_RETENTION_MS);
    assert.equal(new MemoryStateStore({ retentionMs: 10_000 }).retentionMs, 10_000);
  });

  it("refuses a count reaching past entries a clock jump forward expired, once the clock is back", async () => {
    const store = new MemoryStateStore({ retentionMs: 10_000 });
    await store.record({ tool: "t", at: 1_000, ...A });
    await store.snapshot(A, 1_000_000);
    const { history } = await store.snapshot(A, 2_000);
    assert.throws(() => history.count("*", 0, "client"), (e: unknown) => e instanceof StateError && e.code === "PQG7202");
  });

  it("refuses a clock reading that is not a finite time, and stays usable", async () => {
    const store = new MemoryStateStore();
    for (const at of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      await rejectsWith(store.record({ tool: "t", at, ...A }), "PQG7203");
      await rejectsWith(store.snapshot(A, at), "PQG7203");
    }
    await store.record({ tool: "t", at: 1_000, ...A });
    await store.record({ tool: "t", at: 5_000, ...A });
    const { history } = await store.snapshot(A, 6_000);
    assert.equal(history.count("*", 2_000, "session"), 1);
    assert.equal(store.size, 6);
  });

  it("keeps memory bounded when the per-key bound drops entries faster than they expire", () => {
    const store = new MemoryStateStore({ maxEntriesPerKey: 100 });
    for (let i = 0; i < 50_000; i++) store.sync.record({ tool: i % 2 === 0 ? "a" : "b", at: i * 10, ...A });
    // The runs are private; what they still reference is what the garbage collector cannot free.
    const global = (store as unknown as { global: { all: { entries: unknown[] }; byTool: Map<string, { entries: unknown[] }> } }).global;
    const referenced = global.all.entries.length + [...global.byTool.values()].reduce((n, run) => n + run.entries.length, 0);
    assert.ok(referenced <= 4 * 2048, `${referenced} entries referenced for 200 held`);
  });

  it("refuses to record once full, and records again after old entries expired", async () => {
    const store = new MemoryStateStore({ maxEntries: 6, retentionMs: 10_000 });
    await store.record({ tool: "t", at: 0, ...A });
    await store.record({ tool: "t", at: 1, ...B });
    const error = await rejectsWith(store.record({ tool: "t", at: 2, ...C }), "PQG7201");
    assert.match(error.message, /state store holds 6 entries/);
    await store.record({ tool: "t", at: 20_000, ...C });
  });

  it("bounds the number of sessions and forgets an ended session's called() facts", async () => {
    const store = new MemoryStateStore({ maxSessions: 1 });
    await store.record({ tool: "t", at: 0, ...A });
    await rejectsWith(store.record({ tool: "t", at: 1, ...B }), "PQG7201");
    await store.endSession(A.sessionId);
    assert.ok(!(await store.snapshot(A, 2)).history.called("t"));
    await store.record({ tool: "t", at: 3, ...B });
    assert.equal((await store.snapshot(B, 4)).history.count("*", 0, "client"), 2, "the client still counts the ended session's call");
  });

  it("walks its keys to expire at most once a second, even while full and refusing every call", () => {
    const store = new MemoryStateStore({ maxSessions: 10, maxEntries: 30 });
    for (let i = 0; i < 10; i++) store.sync.record({ tool: "t", at: 1000, sessionId: `s-${i}`, clientId: `c-${i}` });
    // The walk is private; counting it is the only way to see what each refused call costs.
    const internals = store as unknown as { expire(now: number): void };
    const expire = internals.expire.bind(store);
    let walks = 0;
    internals.expire = (now) => (walks++, expire(now));
    for (let i = 0; i < 100; i++) assert.throws(() => store.sync.record({ tool: "t", at: 1500, sessionId: `new-${i}`, clientId: "c-0" }), StateError);
    for (let i = 0; i < 100; i++) assert.throws(() => store.sync.record({ tool: "t", at: 1600, sessionId: "s-0", clientId: "c-0" }), StateError);
    assert.ok(walks <= 1, `${walks} walks over every key for 200 refused calls`);
  });

  it("agrees with a naive model of the history", () => {
    return fc.assert(
      fc.asyncProperty(fc.array(callArb(5000), { maxLength: 40 }), fc.integer({ min: 0, max: 100_000 }), scopeArb, async (calls, sinceAgo, scope) => {
        const store = new MemoryStateStore();
        const { made, at } = await recordAll(store, calls);
        const { history } = await store.snapshot(A, at);
        assert.equal(history.count(["a", "b"], at - sinceAgo, scope), naiveCount(made, scope, at - sinceAgo));
        assert.equal(history.called("a"), made.some((m) => m.sessionId === A.sessionId && m.tool === "a"));
      }),
      { numRuns: 100 },
    );
  });

  it("never answers a count too low while bounds and the retention period drop calls: it is exact or refused", () => {
    return fc.assert(
      fc.asyncProperty(fc.array(callArb(4000), { maxLength: 40 }), fc.integer({ min: 0, max: 20_000 }), fc.integer({ min: 0, max: 30_000 }), scopeArb, async (calls, later, sinceAgo, scope) => {
        const store = new MemoryStateStore({ retentionMs: 10_000, maxEntriesPerKey: 4 });
        const { made, at } = await recordAll(store, calls);
        const now = at + later;
        const { history } = await store.snapshot(A, now);
        let counted: number | undefined;
        try {
          counted = history.count(["a", "b"], now - sinceAgo, scope);
        } catch (error) {
          assert.ok(error instanceof StateError && error.code === "PQG7202", String(error));
        }
        if (counted !== undefined) assert.equal(counted, naiveCount(made, scope, now - sinceAgo));
      }),
      { numRuns: 300 },
    );
  });
});
