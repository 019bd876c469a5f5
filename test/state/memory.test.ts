// The in-memory StateStore: counts by scope and window, snapshot isolation, bounds that fail closed, and expiry.
import { strict as assert } from "node:assert";
import fc from "fast-check";
import { DEFAULT_RETENTION_MS, EXPIRY_SLACK_MS, MemoryStateStore, StateError } from "../../runtime/state/index.js";

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

/** The retention most tests use, and how long the store then keeps a call at the most: the retention and the slack. */
const RETENTION = 10_000;
const KEPT = RETENTION + EXPIRY_SLACK_MS;
const DAY = 24 * 3_600_000;

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

/** A clock step: mostly small and forward, sometimes back, sometimes far past the retention period and the slack. */
const stepArb = fc.oneof({ arbitrary: fc.integer({ min: -3_000, max: 4_000 }), weight: 4 }, { arbitrary: fc.integer({ min: -2 * KEPT, max: 2 * KEPT }), weight: 1 });
const keyArb = fc.constantFrom(A, B, C);
type Scope = "session" | "client" | "global";
/** A call, a count (after a snapshot) over a window as long as the retention or past it, or a session's end. */
const opArb = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant("record" as const), dt: stepArb, tool: fc.constantFrom("a", "b", "c"), key: keyArb }), weight: 3 },
  {
    arbitrary: fc.record({
      kind: fc.constant("count" as const),
      dt: stepArb,
      key: keyArb,
      scope: fc.constantFrom<Scope>("session", "client", "global"),
      sinceAgo: fc.oneof(fc.integer({ min: 0, max: 2 * RETENTION }), fc.integer({ min: 0, max: 2 * KEPT })),
    }),
    weight: 2,
  },
  { arbitrary: fc.record({ kind: fc.constant("end" as const), key: keyArb }), weight: 1 },
);

/** One key in the model: the calls held, and the time of every call the key had that the store may no longer hold. */
interface ModelLog {
  held: { tool: string; at: number }[];
  /** Dropped by the bound, expired, carried from a forgotten log of the key, or the last call of any key forgotten before this log began (the store cannot tell which key that was). */
  lost: number[];
  lastAt: number;
}

/**
 * MemoryStateStore written naively, the spec the property checks it against: arrays instead of runs and binary
 * searches, and each lost call kept instead of one time. Same semantics: each key clamps a clock that steps back;
 * expiry runs when the clock moved a second on, or further back than the slack, and drops calls older than the
 * retention period and the slack; a count is refused exactly when a call at or after its start was lost; an ended
 * session is let go entirely, so that its id reads as a new session's.
 */
class HistoryModel {
  private lastExpiry = -Infinity;
  /** The last call of every key forgotten so far. */
  private readonly forgotten: number[] = [];
  private readonly global: ModelLog = { held: [], lost: [], lastAt: -Infinity };
  private readonly clients = new Map<string, ModelLog>();
  private readonly sessions = new Map<string, { log: ModelLog; called: Set<string>; calls: number }>();

  constructor(
    private readonly retentionMs: number,
    private readonly maxPerKey: number,
  ) {}

  record(call: Made): void {
    this.expireIfDue(call.at);
    let session = this.sessions.get(call.sessionId);
    if (session === undefined) {
      session = { log: this.newLog(), called: new Set(), calls: 0 };
      this.sessions.set(call.sessionId, session);
    }
    let client = this.clients.get(call.clientId);
    if (client === undefined) {
      client = this.newLog();
      this.clients.set(call.clientId, client);
    }
    for (const log of [this.global, client, session.log]) this.append(log, call.tool, call.at);
    session.called.add(call.tool);
    session.calls++;
  }

  end(sessionId: string): void {
    this.sessions.delete(sessionId);
  }

  /** Entries held over all keys: what the store's `size` must read. */
  get size(): number {
    let n = this.global.held.length;
    for (const log of this.clients.values()) n += log.held.length;
    for (const session of this.sessions.values()) n += session.log.held.length;
    return n;
  }

  snapshot(key: Key, now: number) {
    this.expireIfDue(now);
    const session = this.sessions.get(key.sessionId);
    const logs: Record<Scope, ModelLog> = {
      session: session?.log ?? this.newLog(),
      client: this.clients.get(key.clientId) ?? this.newLog(),
      global: this.global,
    };
    return {
      sessionCalls: session?.calls ?? 0,
      called: (tool: string) => session?.called.has(tool) ?? false,
      count(tools: readonly string[], since: number, scope: Scope): number | "refused" {
        const log = logs[scope];
        if (log.lost.some((at) => at >= since)) return "refused";
        return log.held.filter((h) => h.at >= since && tools.includes(h.tool)).length;
      },
    };
  }

  private newLog(): ModelLog {
    return { held: [], lost: [...this.forgotten], lastAt: -Infinity };
  }

  private append(log: ModelLog, tool: string, at: number): void {
    log.lastAt = Math.max(log.lastAt, at);
    if (log.held.length >= this.maxPerKey) log.lost.push(log.held.shift()!.at);
    log.held.push({ tool, at: log.lastAt });
  }

  private expireIfDue(now: number): void {
    if (now - this.lastExpiry < 1000 && now - this.lastExpiry >= -EXPIRY_SLACK_MS) return;
    this.lastExpiry = now;
    const before = now - this.retentionMs - EXPIRY_SLACK_MS;
    const expire = (log: ModelLog) => {
      log.lost.push(...log.held.filter((h) => h.at < before).map((h) => h.at));
      log.held = log.held.filter((h) => h.at >= before);
    };
    const through = (log: ModelLog) => Math.max(log.lastAt, ...log.lost);
    expire(this.global);
    for (const [id, log] of this.clients) {
      expire(log);
      if (log.held.length === 0) {
        this.forgotten.push(through(log));
        this.clients.delete(id);
      }
    }
    for (const [id, session] of this.sessions) {
      expire(session.log);
      if (through(session.log) < before) {
        this.forgotten.push(through(session.log));
        this.sessions.delete(id);
      }
    }
  }
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

  it("expires entries older than the retention period and the slack, and keeps them until then", async () => {
    const store = new MemoryStateStore({ retentionMs: RETENTION });
    await store.record({ tool: "t", at: 0, ...A });
    await store.record({ tool: "t", at: 5_000, ...C });
    assert.equal(store.size, 6);
    await store.record({ tool: "t", at: RETENTION + 2_000, ...C });
    assert.equal(store.size, 9, "past the retention period alone nothing expired");
    assert.equal((await store.snapshot(A, RETENTION + 2_000)).history.count("*", 0, "session"), 1);
    await store.record({ tool: "t", at: KEPT + 2_000, ...C });
    assert.equal(store.size, 9, "the call at 0 expired from all three keys");
    const { history } = await store.snapshot(C, KEPT + 2_000);
    assert.equal(history.count("*", 2_001, "global"), 3);
  });

  it("answers a window as long as the retention for a decision whose clock reading arrives after a later one's", async () => {
    // A decision reads its clock, awaits the tool pin; meanwhile one with a later reading (another server sharing the
    // store) expires calls. The late decision's window reaches 1.2 s before the other's: its count is still exact.
    const W = 2 * DAY;
    const store = new MemoryStateStore({ retentionMs: W });
    await store.record({ tool: "t", at: 0, ...A });
    await store.record({ tool: "t", at: 500, ...A });
    await store.snapshot(A, W + 1_600);
    const { history } = await store.snapshot(A, W + 400);
    for (const scope of ["session", "client", "global"] as const) assert.equal(history.count("*", 400, scope), 1, scope);
    // A clock that steps back a little is the same case.
    const stepped = (await store.snapshot(A, W + 1_000)).history;
    assert.equal(stepped.count("*", 0, "session"), 2);
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
    const store = new MemoryStateStore({ retentionMs: RETENTION });
    await store.record({ tool: "t", at: 0, ...A });
    await store.record({ tool: "t", at: KEPT + 5_000, ...A });
    const { history } = await store.snapshot(A, KEPT + 5_000);
    assert.equal(history.count("*", 5_001, "session"), 1, "a window inside the retention period still counts");
    for (const scope of ["session", "client", "global"] as const) {
      assert.throws(() => history.count("*", 0, scope), (e: unknown) => e instanceof StateError && e.code === "PQG7202" && /retention period of 10000 ms/.test(e.message), scope);
    }
    const other = (await store.snapshot(C, KEPT + 5_000)).history;
    assert.throws(() => other.count(["t"], 0, "client"), (e: unknown) => e instanceof StateError && e.code === "PQG7202", "a forgotten key is not a key without calls");
  });

  it("refuses a count for a key forgotten after its calls expired, also once the key calls again", async () => {
    const store = new MemoryStateStore({ retentionMs: RETENTION });
    await store.record({ tool: "t", at: 0, ...A });
    await store.record({ tool: "t", at: KEPT + 2_000, ...C });
    await store.record({ tool: "t", at: KEPT + 3_000, ...A });
    const { history } = await store.snapshot(A, KEPT + 3_000);
    for (const scope of ["session", "client"] as const) {
      assert.throws(() => history.count("*", 0, scope), (e: unknown) => e instanceof StateError && e.code === "PQG7202", scope);
      assert.equal(history.count("*", 3_001, scope), 1, `${scope}: a window inside the retention period still counts`);
    }
  });

  it("answers a key that lost no calls, even when another key's calls expired", async () => {
    const store = new MemoryStateStore({ retentionMs: RETENTION });
    await store.record({ tool: "t", at: 0, ...A });
    await store.record({ tool: "t", at: 5_000, ...C });
    await store.record({ tool: "t", at: KEPT + 2_000, ...C });
    const { history } = await store.snapshot(C, KEPT + 2_000);
    assert.equal(history.count("*", 0, "client"), 2, "client-2's calls are all held");
    assert.throws(() => history.count("*", 0, "global"), (e: unknown) => e instanceof StateError && e.code === "PQG7202", "the global log lost the call at 0");
  });

  it("says how far back it answers counts", () => {
    assert.equal(new MemoryStateStore().retentionMs, DEFAULT_RETENTION_MS);
    assert.equal(new MemoryStateStore({ retentionMs: 10_000 }).retentionMs, 10_000);
  });

  it("refuses a count reaching past entries a clock jump forward expired, once the clock is back", async () => {
    const store = new MemoryStateStore({ retentionMs: RETENTION });
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
    const store = new MemoryStateStore({ maxEntries: 6, retentionMs: RETENTION });
    await store.record({ tool: "t", at: 0, ...A });
    await store.record({ tool: "t", at: 1, ...B });
    const error = await rejectsWith(store.record({ tool: "t", at: 2, ...C }), "PQG7201");
    assert.match(error.message, /state store holds 6 entries/);
    await store.record({ tool: "t", at: KEPT + 2_000, ...C });
  });

  it("keeps expiring after one clock reading far in the future, once the clock is back", async () => {
    const store = new MemoryStateStore({ maxEntries: 9, retentionMs: RETENTION });
    await store.record({ tool: "t", at: 1_000, ...A });
    await store.snapshot(A, 1e12);
    assert.equal(store.size, 0, "the far reading expired everything");
    // Back on the real clock: three calls fill the store, and it must make room again as they age past retention.
    for (let i = 0; i < 3; i++) await store.record({ tool: "t", at: 2_000 + i, ...A });
    await rejectsWith(store.record({ tool: "t", at: 3_000, ...A }), "PQG7201");
    await store.record({ tool: "t", at: KEPT + 3_000, ...A });
    assert.equal(store.size, 3);
  });

  it("walks its keys once for a clock stepping back past the slack, and not for readings within it", () => {
    const store = new MemoryStateStore({ retentionMs: RETENTION });
    const internals = store as unknown as { expire(now: number): void };
    const expire = internals.expire.bind(store);
    let walks = 0;
    internals.expire = (now) => (walks++, expire(now));
    store.sync.record({ tool: "t", at: 1e12, ...A });
    assert.equal(walks, 1);
    for (let i = 0; i < 100; i++) store.sync.record({ tool: "t", at: 5_000 + i, ...A });
    assert.equal(walks, 2, "one walk for the step back, none for the calls just after it");
    // Late decisions (a reading a few seconds before the latest) interleaved with current ones: no walk for either.
    for (let i = 0; i < 100; i++) store.sync.snapshot(A, i % 2 === 0 ? 5_500 : 3_000);
    assert.equal(walks, 2, `${walks - 2} walks for readings within the slack`);
  });

  it("lets go of everything an ended session held: its entries, session.calls and called(); its id reads as a new session's", async () => {
    const store = new MemoryStateStore({ retentionMs: RETENTION });
    await store.record({ tool: "t", at: 1_000, ...A });
    await store.record({ tool: "u", at: 1_500, ...A });
    await store.record({ tool: "t", at: 1_600, ...B });
    assert.equal(store.size, 9);
    await store.endSession(A.sessionId);
    assert.equal(store.size, 7, "A's two session entries are freed; its calls still count for its client and globally");
    const { history, sessionCalls } = await store.snapshot(A, 2_000);
    assert.equal(sessionCalls, 0);
    assert.equal(history.count("*", 0, "session"), 0, "nothing decides for an ended session: it is not kept incomplete");
    assert.ok(!history.called("t") && !history.called("*"));
    assert.equal(history.count("*", 0, "client"), 3, "the client still counts its calls");
    assert.equal(history.count("*", 0, "global"), 3);
    // Other sessions keep their history, and no session is made incomplete by the end (no store-wide mark).
    assert.equal((await store.snapshot(B, 2_000)).history.count("*", 0, "session"), 1);
    const fresh = { sessionId: "s-new", clientId: "client-3" };
    await store.record({ tool: "t", at: 2_000, ...fresh });
    assert.equal((await store.snapshot(fresh, 2_000)).history.count("*", 0, "session"), 1);
    // Ending a session twice, or one never seen, changes nothing.
    await store.endSession(A.sessionId);
    await store.endSession("s-never");
    assert.equal(store.size, 10);
    // Its id, used again, starts a new history.
    await store.record({ tool: "u", at: 3_000, ...A });
    const again = await store.snapshot(A, 3_000);
    assert.equal(again.sessionCalls, 1);
    assert.equal(again.history.count("*", 0, "session"), 1);
    assert.ok(again.history.called("u") && !again.history.called("t"));
  });

  it("stays within its per-key bounds under a flood of short sessions that each end", () => {
    // One unauthenticated client opening sessions of one call each, each closed: nothing of an ended session is kept,
    // so the store holds the global and client logs only, and never fills up for the other clients.
    const store = new MemoryStateStore({ maxEntriesPerKey: 100, maxEntries: 1_000, maxSessions: 10 });
    for (let i = 0; i < 10_000; i++) {
      const sessionId = `short-${i}`;
      store.sync.record({ tool: "t", at: i, sessionId, clientId: "unauthenticated" });
      void store.endSession(sessionId);
      assert.ok(store.size <= 200, `${store.size} entries held after ${i + 1} ended sessions`);
    }
    store.sync.record({ tool: "t", at: 10_000, ...C });
    assert.equal(store.sync.snapshot(C, 10_000).history.count("*", 0, "client"), 1);
  });

  it("bounds the number of sessions, and an ended session frees its place", async () => {
    const store = new MemoryStateStore({ maxSessions: 1, retentionMs: RETENTION });
    await store.record({ tool: "t", at: 0, ...A });
    await rejectsWith(store.record({ tool: "t", at: 1, ...B }), "PQG7201");
    await store.endSession(A.sessionId);
    await store.record({ tool: "t", at: 3, ...B });
    assert.equal((await store.snapshot(B, 4)).history.count("*", 0, "client"), 2, "the client still counts the ended session's call");
    await rejectsWith(store.record({ tool: "t", at: 5, ...A }), "PQG7201");
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

  it("is exact, or refused exactly when a call in the window was lost, while bounds, expiry, ends and clock steps drop calls", () => {
    return fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 10, maxLength: 40, size: "max" }), fc.constantFrom(3, 6, 1000), async (ops, maxEntriesPerKey) => {
        const store = new MemoryStateStore({ retentionMs: RETENTION, maxEntriesPerKey });
        const model = new HistoryModel(RETENTION, maxEntriesPerKey);
        let now = 0;
        let latest = -Infinity;
        for (const op of ops) {
          if (op.kind === "end") {
            await store.endSession(op.key.sessionId);
            model.end(op.key.sessionId);
            assert.equal(store.size, model.size, "size after an end");
            continue;
          }
          now += op.dt;
          latest = Math.max(latest, now);
          if (op.kind === "record") {
            await store.record({ tool: op.tool, at: now, ...op.key });
            model.record({ tool: op.tool, at: now, ...op.key });
            assert.equal(store.size, model.size, "size after a call");
            continue;
          }
          const { history, sessionCalls } = await store.snapshot(op.key, now);
          const expected = model.snapshot(op.key, now);
          assert.equal(store.size, model.size, "size after a snapshot");
          assert.equal(sessionCalls, expected.sessionCalls, "session.calls");
          assert.equal(history.called("a"), expected.called("a"), "called(a)");
          const since = now - op.sinceAgo;
          let counted: number | "refused";
          try {
            counted = history.count(["a", "b"], since, op.scope);
          } catch (error) {
            assert.ok(error instanceof StateError && error.code === "PQG7202", String(error));
            // The retention is a minimum: no window that long is refused for expiry while no reading ran more than the
            // slack ahead of this one.
            if (op.sinceAgo <= RETENTION && latest <= now + EXPIRY_SLACK_MS) assert.doesNotMatch(error.message, /retention period/);
            counted = "refused";
          }
          assert.equal(counted, expected.count(["a", "b"], since, op.scope), `${op.scope} count since ${since} at ${now}`);
        }
      }),
      { numRuns: 500 },
    );
  });
});
