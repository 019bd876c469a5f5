// The proxy ends the sessions of a downstream connection in the call history when its transport closes, after the
// decisions still in flight for them (an approval pending at close) have finished.
import assert from "node:assert/strict";
import { MemoryStateStore } from "../../runtime/state/index.js";
import type { Proxy } from "../../runtime/proxy/index.js";
import { connectClient, flakyProxy, until } from "./harness.js";

/** A MemoryStateStore that notes each session it is told has ended. */
class EndSpyStore extends MemoryStateStore {
  readonly ended: string[] = [];

  override async endSession(sessionId: string): Promise<void> {
    this.ended.push(sessionId);
    return super.endSession(sessionId);
  }
}

describe("proxy sessions", function () {
  this.timeout(30_000);
  let proxy: Proxy | undefined;

  afterEach(async () => {
    await proxy?.close();
    proxy = undefined;
  });

  it("ends a connection's session when its transport closes, its pending approval withdrawn and the call refused", async () => {
    const state = new EndSpyStore();
    let answer: ((ok: boolean) => void) | undefined;
    const decided: string[] = [];
    proxy = flakyProxy({
      state,
      approver: () => new Promise<boolean>((resolve) => (answer = resolve)),
      onDecision: (tool, verdict) => void decided.push(`${tool}:${verdict.allowed ? "allowed" : verdict.refusal.code}`),
    });
    await proxy.start();
    const client = await connectClient(proxy);
    await client.callTool({ name: "echo", arguments: { text: "hi" } });
    assert.equal(state.size, 3, "the call is held for the global, client and session keys");
    const pending = client.callTool({ name: "slow", arguments: { ms: 1_001 } }).catch(() => "closed");
    await until(() => answer !== undefined, 5_000, "the approval to be asked");
    await client.close();
    assert.equal(await pending, "closed");
    // Nobody waits for the slow call's result any more: its approval is withdrawn, it is refused, and only then is
    // the session ended.
    await until(() => state.ended.length > 0, 5_000, "the session to end");
    assert.deepEqual(decided, ["echo:allowed", "slow:PQG7312"], "cancelled, not refused by the approver");
    answer!(true);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(decided, ["echo:allowed", "slow:PQG7312"], "an answer after the close changes nothing");
    assert.equal(state.ended.length, 1, "the connection's one session is ended once");
    assert.match(state.ended[0]!, /^unsealed-/);
    assert.equal(state.size, 2, "nothing of the session is held: the echo call for the global and client keys");
  });

  it("frees what short connections held, so that they do not fill the store", async () => {
    const state = new MemoryStateStore({ maxSessions: 3 });
    // About the call history, not upstream processes: one shared upstream instead of one started per connection.
    proxy = flakyProxy({ state, upstreamMode: "shared" });
    await proxy.start();
    for (let i = 0; i < 6; i++) {
      const client = await connectClient(proxy);
      await client.callTool({ name: "echo", arguments: { text: `hi ${i}` } });
      await client.close();
      await until(() => state.size === 2 * (i + 1), 5_000, `connection ${i}'s session to end`);
    }
  });
});
