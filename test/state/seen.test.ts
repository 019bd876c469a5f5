// `seen` marks in the state stores: recorded per session (the label only), seen by later snapshots of that session
// alone, kept past the retention period and across a restart of the SQLite file, dropped when the session ends, bounded.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MAX_SEEN_LABELS_PER_SESSION, MemoryStateStore } from "../../runtime/state/memory.js";
import { SqliteStateStore } from "../../runtime/state/sqlite.js";
import type { StateStore } from "../../runtime/state/store.js";

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
});
