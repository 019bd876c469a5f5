// `seen` marks in the state stores: recorded per session (the label only), seen by later snapshots of that session
// alone, kept past the retention period and across a restart of the SQLite file, dropped when the session ends, bounded.
// In Redis, a mark one replica records is in the very snapshot another replica's decision reads.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MAX_SEEN_LABELS_PER_SESSION, MemoryStateStore } from "../../runtime/state/memory.js";
import { SqliteStateStore } from "../../runtime/state/sqlite.js";
import type { StateStore } from "../../runtime/state/store.js";
import { DecisionPoint } from "../../runtime/enforce/decide.js";
import { interpret } from "../../compiler/interpreter.js";
import { checked } from "../support/guards.js";
import { redisStoreSuite } from "../support/redis.js";

const A = { sessionId: "s-a", clientId: "c" };
const B = { sessionId: "s-b", clientId: "c" };

async function marks(store: StateStore): Promise<void> {
  assert.equal((await store.snapshot(A, 1000)).history.seen?.("private-key"), false);
  await store.markSeen!("s-a", "private-key");
  await store.markSeen!("s-a", "private-key");
  assert.equal((await store.snapshot(A, 2000)).history.seen?.("private-key"), true);
  assert.equal((await store.snapshot(B, 2000)).history.seen?.("private-key"), false, "another session does not see it");
  assert.equal((await store.snapshot(A, 2000 + 3 * 86_400_000)).history.seen?.("private-key"), true, "a mark outlives the retention period");
  for (let i = 1; i < MAX_SEEN_LABELS_PER_SESSION; i++) await store.markSeen!("s-a", `label-${i}`);
  await assert.rejects(store.markSeen!("s-a", "one-too-many"), (e: { code?: string }) => e.code === "PQG7201");
  await store.endSession("s-a");
  assert.equal((await store.snapshot(A, 5000)).history.seen?.("private-key"), false, "an ended session forgets its marks");
}

describe("seen marks in the state stores", () => {
  it("MemoryStateStore", async () => {
    await marks(new MemoryStateStore());
  });

  it("SqliteStateStore, across a reopening of the file", async function () {
    const dir = mkdtempSync(join(tmpdir(), "pqguard-seen-"));
    try {
      const path = join(dir, "state.db");
      const first = await SqliteStateStore.open(path);
      await first.markSeen("s-x", "secret");
      first.close();
      const second = await SqliteStateStore.open(path);
      assert.equal((await second.snapshot({ sessionId: "s-x", clientId: "c" }, 1000)).history.seen?.("secret"), true);
      await marks(second);
      second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe("RedisStateStore", function () {
    this.timeout(60_000);
    const suite = redisStoreSuite("`seen` marks in Redis are", "seen", { policy: "files" });
    const open = suite.open;

    it("keeps marks per session, bounded, until the session ends", async () => {
      await marks(await open());
    });

    it("a mark one replica records is seen by a decision on another, in the snapshot its decision reads", async () => {
      const [a, b] = [await open(), await open()];
      const seenJudge = (snapshot: { history: { seen?(label: string): boolean } }) => {
        const seen = snapshot.history.seen?.("private-key") ?? false;
        return { record: !seen, verdict: seen ? "deny" : "allow", outcome: seen };
      };
      const call = { tool: "fetch", at: 1000, sessionId: "s-r", clientId: "c" };
      assert.equal(await b.transact(call, seenJudge), false, "nothing seen yet");
      await a.markSeen("s-r", "private-key");
      assert.equal(await b.transact(call, seenJudge), true, "replica b's decision reads replica a's mark");
      const snapshot = await b.snapshot({ sessionId: "s-r", clientId: "c" }, 1000);
      assert.equal(snapshot.history.seen?.("private-key"), true);
      assert.equal(snapshot.sessionCalls, 1, "a read-only snapshot answers (it once failed on its own sequence number)");
      await b.endSession("s-r");
      assert.equal((await a.snapshot({ sessionId: "s-r", clientId: "c" }, 1000)).history.seen?.("private-key"), false, "ended on b, forgotten on a");
    });

    it("through two decision points: a result rule on one replica marks the session, a call rule on the other refuses", async () => {
      const tools = { tools: [{ name: "read_text_file", inputSchema: { type: "object", properties: { path: { type: "string" } } } }, { name: "fetch", inputSchema: { type: "object", properties: { url: { type: "string" } } } }] };
      const guard = interpret(
        checked(`policy files\nmanifest "tools.json"\npermit tool *\nforbid tool fetch when seen("private-key") because "a session that read a private key may not reach the network"\nmark result of read_text_file when result.text contains "PRIVATE KEY-----" as seen "private-key"\n`, { "tools.json": tools }),
      );
      const replicas = [new DecisionPoint(guard, "server", { store: await open() }, "0".repeat(64)), new DecisionPoint(guard, "server", { store: await open() }, "0".repeat(64))];
      const session = { sessionId: "s-dp", establishedAt: Date.now(), sealed: false, info: undefined };
      const call = (tool: string, args: Record<string, unknown>) => ({ tool, args, session, pin: () => ({ ok: true }) as const, approve: undefined });
      assert.equal((await replicas[1]!.decide(call("fetch", { url: "https://x.example" }))).allowed, true);
      assert.equal((await replicas[0]!.decide(call("read_text_file", { path: "id_rsa" }))).allowed, true);
      const inspected = await replicas[0]!.inspectResult({ tool: "read_text_file", args: { path: "id_rsa" }, session, result: { content: [{ type: "text", text: "-----BEGIN OPENSSH PRIVATE KEY-----" }] } });
      assert.ok("result" in inspected);
      const refused = await replicas[1]!.decide(call("fetch", { url: "https://x.example" }));
      assert.equal(refused.allowed, false);
      assert.match(refused.allowed ? "" : refused.refusal.reason, /may not reach the network/);
    });

    it("marks expire their own time after the session's last mark or decision, not with the call log", async () => {
      // Reads 250 ms apart, six of them (longer in all than the marks' 1.5 s), each renewing the marks; a timer firing
      // late on a loaded machine still reads well within 1.5 s of the last read.
      const store = await open({ retentionMs: 1, seenRetentionMs: 1500 });
      await store.markSeen("s-t", "secret");
      for (let i = 0; i < 7; i++) {
        await new Promise((r) => setTimeout(r, 250));
        assert.equal((await store.snapshot({ sessionId: "s-t", clientId: "c" }, Date.now())).history.seen?.("secret"), true, "each read keeps a live session's marks");
      }
      await new Promise((r) => setTimeout(r, 2000));
      assert.equal((await store.snapshot({ sessionId: "s-t", clientId: "c" }, Date.now())).history.seen?.("secret"), false, "an idle session's marks expire");
    });
  });
});
