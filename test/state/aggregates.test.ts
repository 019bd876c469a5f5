// Aggregates over history in every state store: `sum`, `max` and `min` answered by memory, SQLite and Redis exactly as
// a fold over the recorded calls, a sum limit that racing calls never overrun, and no argument but the aggregated
// numbers ever reaching a store.
import { strict as assert } from "node:assert";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspect } from "node:util";
import fc from "fast-check";
import { Redis } from "ioredis";
import { interpret } from "../../compiler/interpreter.js";
import type { SessionView } from "../../runtime/enforce/context.js";
import { DecisionPoint, stateStoreFor } from "../../runtime/enforce/decide.js";
import type { AggregateFunction, GuardModule, LimitScope } from "../../runtime/guard/types.js";
import { aggregateValues, MemoryStateStore, RedisStateStore, SqliteStateStore, type CallRecord, type StateStore } from "../../runtime/state/index.js";
import { openDatabase } from "../../runtime/state/sqlite.js";
import { sessionInfo } from "../enforce/fixtures.js";
import { checked, compiledGuard } from "../support/guards.js";
import { redisStoreSuite } from "../support/redis.js";

const NOW = 5_000_000_000;
const DAY = 86_400_000;
const LIMIT = 5000;

const TOOLS = {
  tools: [
    {
      name: "process_refund",
      inputSchema: {
        type: "object",
        properties: { customer_id: { type: "string" }, amount: { type: "number" }, note: { type: "string" }, reference: { type: "integer" } },
        required: ["customer_id", "amount"],
      },
    },
  ],
};

const POLICY = `policy refunds
manifest "tools.json"
permit tool process_refund
forbid tool process_refund
  when sum(process_refund.amount, 24h, client) + args.amount > ${LIMIT}
  because "at most ${LIMIT} refunded per client per day"
`;

const policy = checked(POLICY, { "tools.json": TOOLS }, "refunds.policy");

/** Argument values that must never reach a store: only `amount` is aggregated. */
const SECRET = "CUSTOMER-SECRET-7731";
const NOTE = "NOTE-SECRET-0042";
const REFERENCE = 987_654_321;

function session(i: number): SessionView {
  return { sessionId: `session-${i}`, establishedAt: 1_000_000, sealed: true, info: sessionInfo({ sessionId: `session-${i}` }) };
}

function refund(point: DecisionPoint, i: number, amount: number) {
  return point.decide({
    tool: "process_refund",
    args: { customer_id: SECRET, amount, note: NOTE, reference: REFERENCE },
    session: session(i),
    pin: () => ({ ok: true as const }),
    approve: undefined,
  });
}

const KEYS = [
  { sessionId: "s-a", clientId: "client-1" },
  { sessionId: "s-b", clientId: "client-1" },
  { sessionId: "s-c", clientId: "client-2" },
] as const;

interface Recorded {
  readonly call: CallRecord;
  readonly seq: number;
}

/** The reference: the values of the calls in the window and scope, folded in the order they were recorded. */
function reference(recorded: readonly Recorded[], fn: AggregateFunction, tool: string, pointer: string, since: number, scope: LimitScope, key: Query["key"]): number {
  const values = recorded
    .filter(({ call }) => call.tool === tool && call.at >= since)
    .filter(({ call }) => scope === "global" || (scope === "client" ? call.clientId === key.clientId : call.sessionId === key.sessionId))
    .map(({ call }) => call.values?.[pointer])
    .filter((v): v is number => typeof v === "number");
  return aggregateValues(fn, values);
}

type GeneratedCall = { readonly tool: string; readonly dt: number; readonly key: (typeof KEYS)[number]; readonly amount: number | undefined; readonly other: number | undefined };
type Query = { readonly fn: AggregateFunction; readonly tool: string; readonly pointer: string; readonly scope: LimitScope; readonly key: { readonly sessionId: string; readonly clientId: string }; readonly back: number };

const callsArb: fc.Arbitrary<GeneratedCall[]> = fc.array(
  fc.record({
    tool: fc.constantFrom("a", "b"),
    dt: fc.integer({ min: 0, max: 5000 }),
    key: fc.constantFrom(...KEYS),
    amount: fc.option(fc.oneof(fc.integer({ min: -50, max: 5000 }), fc.constantFrom(0.1, 0.2, 0.3, 1e-7, 123.45, 2 ** 53 + 2)), { nil: undefined }),
    other: fc.option(fc.double({ noNaN: true, noDefaultInfinity: true }), { nil: undefined }),
  }),
  { maxLength: 25 },
);

function recordsOf(calls: readonly GeneratedCall[], start: number): CallRecord[] {
  let at = start;
  return calls.map((c) => {
    at += c.dt;
    const values: Record<string, number> = {};
    if (c.amount !== undefined) values["/amount"] = c.amount;
    if (c.other !== undefined) values["/fee"] = c.other;
    return { tool: c.tool, at, ...c.key, ...(Object.keys(values).length === 0 ? {} : { values }) };
  });
}

const queryArb: fc.Arbitrary<Query> = fc.record({
  fn: fc.constantFrom<AggregateFunction>("sum", "max", "min"),
  tool: fc.constantFrom("a", "b"),
  pointer: fc.constantFrom("/amount", "/fee", "/missing"),
  scope: fc.constantFrom<LimitScope>("session", "client", "global"),
  key: fc.constantFrom(...KEYS),
  back: fc.integer({ min: 0, max: 60_000 }),
});

/** Reads one aggregate through a decision that records nothing, as a shared store answers a guard. */
async function aggregateThrough(store: StateStore, q: Query, now: number): Promise<number> {
  if (store.transact !== undefined) {
    return store.transact({ tool: "probe", at: now, ...q.key }, (snapshot) => {
      const value = snapshot.history.aggregate!(q.fn, q.tool, q.pointer, now - q.back, q.scope);
      return { record: false, verdict: String(value), outcome: value };
    });
  }
  const snapshot = await store.snapshot(q.key, now);
  return snapshot.history.aggregate!(q.fn, q.tool, q.pointer, now - q.back, q.scope);
}

async function conformsToReference(open: () => Promise<StateStore & { close?(): unknown }>, runs: number): Promise<void> {
  await fc.assert(
    fc.asyncProperty(callsArb, fc.array(queryArb, { minLength: 1, maxLength: 6 }), async (calls, queries) => {
      const store = await open();
      try {
        const records = recordsOf(calls, NOW);
        const recorded: Recorded[] = [];
        for (const [seq, call] of records.entries()) {
          await store.record(call);
          recorded.push({ call, seq });
        }
        const now = (records.at(-1)?.at ?? NOW) + 1;
        for (const q of queries) {
          const expected = reference(recorded, q.fn, q.tool, q.pointer, now - q.back, q.scope, q.key);
          assert.equal(await aggregateThrough(store, q, now), expected, `${q.fn}(${q.tool}${q.pointer}) over ${q.back} ms, ${q.scope} of ${q.key.sessionId}`);
        }
      } finally {
        await store.close?.();
      }
    }),
    { numRuns: runs },
  );
}

/** A store folds at most `maxFoldedValues` values: one more refuses the read (PQG7201), never folds part of the window. */
async function refusesPastTheFoldBound(store: StateStore & { close?(): unknown }): Promise<void> {
  try {
    const key = { sessionId: "s-fold", clientId: "client-fold" };
    const read = () => aggregateThrough(store, { fn: "sum", tool: "t", pointer: "/amount", scope: "client", key, back: 60_000 }, NOW + 100);
    for (let i = 0; i < 5; i++) await store.record({ tool: "t", at: NOW + i, ...key, values: { "/amount": 1 } });
    await store.record({ tool: "t", at: NOW + 5, ...key });
    assert.equal(await read(), 5, "five values, and a call without one, fold");
    await store.record({ tool: "t", at: NOW + 6, ...key, values: { "/amount": 1 } });
    await assert.rejects(read(), (e: { code?: string }) => e.code === "PQG7201");
  } finally {
    await store.close?.();
  }
}

/** Decides 60 refunds of 100 to 400 at once; every admitted call fits the limit, every refused one would not have. */
async function raceTheLimit(points: readonly DecisionPoint[]): Promise<number> {
  const amounts = Array.from({ length: 60 }, (_, i) => 100 + ((i * 37) % 301));
  const verdicts = await Promise.all(amounts.map((amount, i) => refund(points[i % points.length]!, i, amount)));
  const admitted = amounts.filter((_, i) => verdicts[i]!.allowed).reduce((a, b) => a + b, 0);
  assert.ok(admitted <= LIMIT, `admitted ${admitted}, over the limit of ${LIMIT}`);
  for (const [i, verdict] of verdicts.entries()) {
    if (verdict.allowed) continue;
    assert.ok(verdict.refusal.reason.includes(`at most ${LIMIT} refunded`), `refused for another reason: ${verdict.refusal.reason}`);
    assert.ok(admitted + amounts[i]! > LIMIT, `a refund of ${amounts[i]} was refused although ${admitted} was admitted in all`);
  }
  return admitted;
}

describe("aggregates over history in the state stores", function () {
  this.timeout(120_000);

  describe("in memory", () => {
    it("answers sum, max and min as a fold over the recorded calls, in every scope and window", async () => {
      await conformsToReference(async () => new MemoryStateStore({ retentionMs: DAY }), 150);
    });

    it("keeps a sum limit exact when many calls race it, interpreted and compiled alike", async () => {
      for (const guard of [interpret(policy), await compiledGuard(policy, "aggregates", "refunds")]) {
        const store = new MemoryStateStore({ retentionMs: DAY });
        const point = new DecisionPoint(guard, "server", { store, now: () => NOW }, "m".repeat(64));
        const admitted = await raceTheLimit([point]);
        const snapshot = await store.snapshot({ sessionId: "any", clientId: "mldsa65:client7" }, NOW + 1);
        assert.equal(snapshot.history.aggregate!("sum", "process_refund", "/amount", NOW - DAY, "client"), admitted);
      }
    });

    it("holds no argument of a call but the numbers the policy aggregates", async () => {
      const store = new MemoryStateStore({ retentionMs: DAY });
      const point = new DecisionPoint(interpret(policy), "server", { store, now: () => NOW }, "m".repeat(64));
      assert.equal((await refund(point, 1, 1234.5)).allowed, true);
      const held = inspect(store, { depth: null, showHidden: true, maxArrayLength: null, maxStringLength: null });
      assert.ok(held.includes("1234.5"), "the aggregated amount is kept");
      for (const leaked of [SECRET, NOTE, String(REFERENCE), "customer_id", "/note", "/reference"]) assert.ok(!held.includes(leaked), `\`${leaked}\` reached the store`);
    });

    it("fails closed on a sum that overflows: the forbid applies, in both back ends", async () => {
      for (const guard of [interpret(policy), await compiledGuard(policy, "aggregates", "refunds-overflow")]) {
        const store = new MemoryStateStore({ retentionMs: DAY });
        for (const i of [1, 2]) await store.record({ tool: "process_refund", at: NOW - i, sessionId: `s-${i}`, clientId: "mldsa65:client7", values: { "/amount": 1e308 } });
        const point = new DecisionPoint(guard, "server", { store, now: () => NOW }, "m".repeat(64));
        const verdict = await refund(point, 3, 1);
        assert.ok(!verdict.allowed && verdict.refusal.reason.includes(`at most ${LIMIT} refunded`), JSON.stringify(verdict));
      }
    });

    it("refuses a fold over more values than it may read", async () => {
      await refusesPastTheFoldBound(new MemoryStateStore({ retentionMs: DAY, maxFoldedValues: 5 }));
    });

    it("is refused at set-up by a store that keeps calls for less than the longest aggregate window", () => {
      const monthly = checked(POLICY.replace("24h, client", "30d, client"), { "tools.json": TOOLS }, "monthly.policy");
      assert.equal(interpret(monthly).longestWindowMs, 30 * DAY);
      assert.throws(() => stateStoreFor(interpret(monthly), new MemoryStateStore({ retentionMs: DAY })), (e: { code?: string }) => e.code === "PQG7311");
      assert.equal(stateStoreFor(interpret(monthly), undefined).retentionMs, 30 * DAY, "the default store keeps the window");
    });

    it("records nothing for a tool named `__proto__` and keeps only finite numbers a record carries", async () => {
      const store = new MemoryStateStore({ retentionMs: DAY });
      await store.record({ tool: "t", at: NOW, sessionId: "s", clientId: "c", values: { "/amount": 5, "/nan": Number.NaN, note: 7, "/text": "x" as unknown as number } });
      const held = inspect(store, { depth: null, showHidden: true });
      assert.ok(!held.includes("'/nan'") && !held.includes("'/text'") && !held.includes("note"), held);
      const { callRecordOf } = await import("../../runtime/enforce/context.js");
      const record = callRecordOf("__proto__", NOW, session(1), { amount: 5 }, interpret(policy).aggregatedValues);
      assert.equal(record.values, undefined);
    });
  });

  describe("in SQLite", () => {
    let dir: string;
    let n = 0;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), "pqguard-aggregates-"));
    });
    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it("answers sum, max and min as a fold over the recorded calls, in every scope and window", async () => {
      await conformsToReference(async () => SqliteStateStore.open(join(dir, `conform-${++n}.db`), { retentionMs: DAY }), 60);
    });

    it("answers a fold of -0 as 0, as every store does (SQLite keeps no sign on a zero)", async () => {
      const store = await SqliteStateStore.open(join(dir, `zero-${++n}.db`), { retentionMs: DAY });
      try {
        const key = { sessionId: "s-z", clientId: "client-z" };
        await store.record({ tool: "a", at: NOW - 10, ...key, values: { "/amount": -0 } });
        const memory = new MemoryStateStore({ retentionMs: DAY });
        await memory.record({ tool: "a", at: NOW - 10, ...key, values: { "/amount": -0 } });
        for (const s of [store, memory] as StateStore[]) {
          const { history } = await s.snapshot(key, NOW);
          for (const fn of ["sum", "max", "min"] as const) assert.ok(Object.is(history.aggregate!(fn, "a", "/amount", NOW - 100, "session"), 0), `${fn} of -0`);
        }
      } finally {
        store.close();
      }
    });

    it("refuses a fold over more values than it may read", async () => {
      await refusesPastTheFoldBound(await SqliteStateStore.open(join(dir, `fold-${++n}.db`), { retentionMs: DAY, maxFoldedValues: 5 }));
    });

    it("holds no argument of a call but the numbers the policy aggregates, in its tables or its file", async () => {
      const path = join(dir, `leak-${++n}.db`);
      const store = await SqliteStateStore.open(path, { retentionMs: DAY });
      const point = new DecisionPoint(interpret(policy), "server", { store, now: () => NOW }, "m".repeat(64));
      assert.equal((await refund(point, 1, 1234.5)).allowed, true);
      assert.equal((await refund(point, 2, 4000)).allowed, false, "over the daily sum");
      store.close();
      // The binding the store itself uses on this runtime (node:sqlite, or better-sqlite3 where Node has none).
      const { db } = await openDatabase(path);
      try {
        const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[];
        const rows = JSON.stringify(tables.map((t) => db.prepare(`SELECT * FROM "${t.name}"`).all()));
        assert.deepEqual(db.prepare("SELECT pointer, value FROM call_values").all().map((r) => ({ ...(r as object) })), [{ pointer: "/amount", value: 1234.5 }], "the refused call left no value");
        for (const leaked of [SECRET, NOTE, String(REFERENCE), "/note", "/reference"]) assert.ok(!rows.includes(leaked), `\`${leaked}\` reached a table`);
      } finally {
        db.close();
      }
      const bytes = Buffer.concat([await readFile(path), await readFile(`${path}-wal`).catch(() => Buffer.alloc(0))]).toString("latin1");
      for (const leaked of [SECRET, NOTE]) assert.ok(!bytes.includes(leaked), `\`${leaked}\` reached the file`);
    });
  });

  describe("in Redis", () => {
    const suite = redisStoreSuite("aggregates in the Redis state store are", "aggregates", { policy: "refunds", retentionMs: DAY });
    const open = (): Promise<RedisStateStore> => suite.open();

    it("answers sum, max and min as a fold over the recorded calls, in every scope and window", async () => {
      await conformsToReference(async () => {
        suite.nextDeployment();
        return open();
      }, 25);
    });

    it("keeps a sum limit exact when three replicas decide many calls at once", async () => {
      const guard: GuardModule = interpret(policy);
      const points = await Promise.all([0, 1, 2].map(async () => new DecisionPoint(guard, "server", { store: await open(), now: () => NOW }, "m".repeat(64))));
      const admitted = await raceTheLimit(points);
      const store = await open();
      const read = await store.transact({ tool: "probe", at: NOW + 1, sessionId: "any", clientId: "mldsa65:client7" }, (snapshot) => {
        const sum = snapshot.history.aggregate!("sum", "process_refund", "/amount", NOW + 1 - DAY, "client");
        return { record: false, verdict: String(sum), outcome: sum };
      });
      assert.equal(read, admitted, "the values of refused calls' reservations were taken back");
    });

    it("refuses a fold over more values than it may read, before reading them", async () => {
      const store = await suite.open({ maxFoldedValues: 5 });
      await refusesPastTheFoldBound(store);
    });

    it("forgets a session's own values when it ends, and keeps them for its client", async () => {
      const store = await open();
      const key = { sessionId: "s-ending", clientId: "client-9" };
      await store.record({ tool: "t", at: NOW, ...key, values: { "/amount": 40 } });
      const read = (scope: LimitScope) => aggregateThrough(store, { fn: "sum", tool: "t", pointer: "/amount", scope, key, back: 1000 }, NOW + 1);
      assert.deepEqual([await read("session"), await read("client")], [40, 40]);
      await store.endSession(key.sessionId);
      assert.deepEqual([await read("session"), await read("client")], [0, 40]);
    });

    it("holds no argument of a call but the numbers the policy aggregates", async () => {
      const raw = new Redis({ port: suite.redis.port, lazyConnect: true });
      try {
        await raw.connect();
        // Earlier tests' deployments (random amounts among them) stay in the server: only this one's keys are read.
        const earlier = new Set(await raw.keys("*"));
        const store = await open();
        const point = new DecisionPoint(interpret(policy), "server", { store, now: () => NOW }, "m".repeat(64));
        assert.equal((await refund(point, 1, 1234.5)).allowed, true);
        assert.equal((await refund(point, 2, 4000)).allowed, false, "over the daily sum");
        // Closing sends the queued resolutions (the refused call's take-back) now, so no key changes while it is read.
        await store.close();
        const dump: string[] = [];
        for (const key of (await raw.keys("*")).filter((k) => !earlier.has(k))) {
          const type = await raw.type(key);
          dump.push(key);
          if (type === "zset") dump.push(...(await raw.zrange(key, 0, -1, "WITHSCORES")));
          else if (type === "hash") dump.push(JSON.stringify(await raw.hgetall(key)));
          else if (type === "set") dump.push(...(await raw.smembers(key)));
          else if (type === "string") dump.push(String(await raw.get(key)));
          else dump.push(`unexpected ${type}`);
        }
        const text = dump.join("\n");
        assert.ok(text.includes("|1234.5"), "the aggregated amount is kept");
        assert.ok(!text.includes("|4000"), "the refused call's value was taken back");
        for (const leaked of [SECRET, NOTE, String(REFERENCE), "/note", "/reference", "unexpected"]) assert.ok(!text.includes(leaked), `\`${leaked}\` reached Redis`);
      } finally {
        raw.disconnect();
      }
    });
  });
});
