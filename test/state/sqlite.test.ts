// The SQLite StateStore: the same counts as the in-memory store for any sequence of calls, limits and windows that
// hold across a restart, one process at a time on a file, no raw ids in the file, and expiry that fails closed.
import { strict as assert } from "node:assert";
import { readFile } from "node:fs/promises";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { DecisionPoint } from "../../runtime/enforce/decide.js";
import { MemoryStateStore, SqliteStateStore, StateError } from "../../runtime/state/index.js";
import { paymentsGuard, REFUND_LIMIT, REFUND_WINDOW_MS, sessionInfo } from "../enforce/fixtures.js";

const A = { sessionId: "s-a", clientId: "client-1" };
const B = { sessionId: "s-b", clientId: "client-1" };
const C = { sessionId: "s-c", clientId: "client-2" };

describe("SqliteStateStore", function () {
  this.timeout(60_000);
  let dir: string;
  let n = 0;
  const file = (): string => join(dir, `state-${++n}.db`);
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "pqguard-sqlite-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("answers every count, session count and called() as the in-memory store does", async () => {
    const path = file();
    const sqlite = await SqliteStateStore.open(path, { retentionMs: 100_000 });
    try {
      let round = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.record({ tool: fc.constantFrom("a", "b", "c"), dt: fc.integer({ min: 0, max: 5000 }), key: fc.constantFrom(A, B, C) }), { maxLength: 30 }),
          fc.constantFrom("session", "client", "global" as const),
          fc.constantFrom<readonly string[] | "*">("*", ["a"], ["a", "b"], ["c", "c"]),
          fc.integer({ min: 0, max: 40_000 }),
          async (calls, scope, tools, back) => {
            // Each run its own ids, so runs do not see each other's calls in the one file.
            const tag = `r${round++}-`;
            const memory = new MemoryStateStore({ retentionMs: 100_000 });
            let at = 1_000_000_000 + round * 1_000_000;
            for (const c of calls) {
              at += c.dt;
              const call = { tool: c.tool, at, sessionId: tag + c.key.sessionId, clientId: tag + c.key.clientId };
              await memory.record(call);
              await sqlite.record(call);
            }
            const key = { sessionId: tag + A.sessionId, clientId: tag + A.clientId };
            const m = await memory.snapshot(key, at);
            const s = await sqlite.snapshot(key, at);
            assert.equal(s.sessionCalls, m.sessionCalls);
            if (scope !== "global") assert.equal(s.history.count(tools, at - back, scope), m.history.count(tools, at - back, scope));
            for (const t of ["a", "b", "*"]) assert.equal(s.history.called(t), m.history.called(t));
          },
        ),
        { numRuns: 60 },
      );
    } finally {
      sqlite.close();
    }
  });

  it("holds a limit across a restart of the process that decided", async () => {
    const path = file();
    const guard = paymentsGuard({});
    const session = { sessionId: "s1", establishedAt: 1_000_000, sealed: true, info: sessionInfo({ sessionId: "s1" }) };
    const refund = { tool: "process_refund", args: { customer_id: "x", amount: 10 }, session, pin: () => ({ ok: true as const }), approve: undefined };
    const NOW = 2_000_000_000;
    const first = await SqliteStateStore.open(path, { retentionMs: REFUND_WINDOW_MS });
    const point = new DecisionPoint(guard, "server", { store: first, now: () => NOW }, "m".repeat(64));
    for (let i = 0; i < REFUND_LIMIT; i++) assert.equal((await point.decide(refund)).allowed, true);
    first.close();
    const second = await SqliteStateStore.open(path, { retentionMs: REFUND_WINDOW_MS });
    try {
      const restarted = new DecisionPoint(guard, "server", { store: second, now: () => NOW + 1000 }, "m".repeat(64));
      const verdict = await restarted.decide({ ...refund, session: { ...session, sessionId: "s2" } });
      assert.equal(verdict.allowed, false, "the restarted proxy remembers the client's refunds");
      assert.ok(!verdict.allowed && verdict.refusal.reason.includes("rate limit"));
      const later = new DecisionPoint(guard, "server", { store: second, now: () => NOW + REFUND_WINDOW_MS + 1 }, "m".repeat(64));
      assert.equal((await later.decide(refund)).allowed, true, "the window still slides");
    } finally {
      second.close();
    }
  });

  it("refuses a second process (or store) on the same file instead of deciding without its calls", async () => {
    const path = file();
    const first = await SqliteStateStore.open(path);
    try {
      await first.record({ tool: "a", at: 1_000_000_000, ...A });
      await assert.rejects(
        async () => {
          const second = await SqliteStateStore.open(path);
          await second.record({ tool: "a", at: 1_000_000_000, ...B });
        },
        (error: unknown) => error instanceof StateError && error.code === "PQG7203",
      );
    } finally {
      first.close();
    }
  });

  it("keeps no raw session or client id in the file", async () => {
    const path = file();
    const store = await SqliteStateStore.open(path);
    await store.record({ tool: "a", at: 1_000_000_000, sessionId: "session-secret-123", clientId: "mldsa65:fingerprint-xyz" });
    store.close();
    const bytes = await readFile(path);
    const wal = await readFile(`${path}-wal`).catch(() => Buffer.alloc(0));
    for (const b of [bytes, wal]) {
      assert.equal(b.includes("session-secret-123"), false);
      assert.equal(b.includes("fingerprint-xyz"), false);
    }
  });

  it("refuses a count reaching past calls it expired, also after a restart", async () => {
    const path = file();
    const store = await SqliteStateStore.open(path, { retentionMs: 1000 });
    const t0 = 1_000_000_000;
    await store.record({ tool: "a", at: t0, ...A });
    const late = t0 + 10 * 60_000;
    await store.record({ tool: "a", at: late, ...A });
    store.close();
    const again = await SqliteStateStore.open(path, { retentionMs: 1000 });
    try {
      const snapshot = await again.snapshot(A, late);
      assert.equal(snapshot.history.count(["a"], late - 1000, "client"), 1);
      assert.throws(() => snapshot.history.count(["a"], t0, "client"), (e: unknown) => e instanceof StateError && e.code === "PQG7202");
    } finally {
      again.close();
    }
  });

  it("uses node:sqlite where the runtime has it, so a native module built for another Node is never loaded", async () => {
    const store = await SqliteStateStore.open(file());
    try {
      const builtin = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule?.("node:sqlite");
      assert.equal(store.binding, builtin === undefined ? "better-sqlite3" : "node:sqlite");
    } finally {
      store.close();
    }
  });

  it("refuses calls past its bound of entries", async () => {
    const store = await SqliteStateStore.open(file(), { maxEntries: 2 });
    try {
      await store.record({ tool: "a", at: 1_000_000_000, ...A });
      await store.record({ tool: "a", at: 1_000_000_001, ...A });
      await assert.rejects(store.record({ tool: "a", at: 1_000_000_002, ...A }), (e: unknown) => e instanceof StateError && e.code === "PQG7201");
    } finally {
      store.close();
    }
  });
});
