// Review: `pqguard connect`'s bridge (runtime/connect/bridge.ts) across a reconnection. The proxy numbers the requests
// it makes of a client per connection (`pqguard-1`, `pqguard-2`, ... in ProxyConnection.request), so a new session
// reuses the ids of the lost one; the bridge forgets the lost session's server requests without telling the host,
// and passes on any host answer whose id the new session has asked for. A human's answer to an approval dialog of the
// lost session then approves a different call on the new one.
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { ElicitRequestSchema, type ElicitResult } from "@modelcontextprotocol/sdk/types.js";
import { silentLogger } from "../../../runtime/audit/index.js";
import { Bridge } from "../../../runtime/connect/bridge.js";
import { generateIdentity } from "../../../runtime/identity/index.js";
import { PqcClientTransport, PqcServerTransport } from "../../../runtime/transport/index.js";
import type { Proxy } from "../../../runtime/proxy/index.js";
import { until } from "../harness.js";
import { reviewProxy, SpawnLog } from "./support.js";

describe("attack: the connect bridge across a reconnection", function () {
  this.timeout(30_000);
  let log: SpawnLog;
  let proxy: Proxy;
  let bridge: Bridge | undefined;

  beforeEach(async () => {
    log = new SpawnLog();
  });

  afterEach(async () => {
    await bridge?.close();
    await proxy.close();
    log.cleanUp();
  });

  it("does not take the host's answer to an approval asked on the lost session as the answer to one asked on the new session", async () => {
    const decisions: string[] = [];
    proxy = reviewProxy(log, { onDecision: (tool, verdict) => void decisions.push(`${tool}:${verdict.allowed ? "allowed" : verdict.refusal.code}`) });
    await proxy.start();
    // Each session of the bridge is one proxy connection, over an in-memory pair (the sealed session is not the point).
    const proxyEnds: InMemoryTransport[] = [];
    const [hostEnd, bridgeHostEnd] = InMemoryTransport.createLinkedPair();
    bridge = new Bridge({
      host: bridgeHostEnd,
      connect: () => {
        const [bridgeEnd, proxyEnd] = InMemoryTransport.createLinkedPair();
        proxyEnds.push(proxyEnd);
        void proxy.core.attachPlain(proxyEnd);
        return bridgeEnd;
      },
      logger: silentLogger(),
      reconnectInitialMs: 10,
      reconnectMaxMs: 10,
    });
    const started = bridge.start();
    const host = new Client({ name: "host", version: "1" }, { capabilities: { elicitation: { form: {} } } });
    // The human: each approval dialog stays open until the test answers it.
    const dialogs: { message: string; answer: (result: ElicitResult) => void }[] = [];
    host.setRequestHandler(ElicitRequestSchema, (request) => new Promise<ElicitResult>((answer) => dialogs.push({ message: String(request.params.message), answer })));
    await host.connect(hostEnd);
    await started;

    // Call X needs approval: its dialog opens on the first session.
    const x = host.callTool({ name: "slow", arguments: { ms: 1_001, call: "X" } }).catch((error: unknown) => `X failed: ${String(error)}`);
    await until(() => dialogs.length === 1, 5_000, "the dialog for X");
    // The connection drops (the network, a proxy restart): the bridge answers X with an error and opens a new session.
    await proxyEnds[0]!.close();
    assert.match(String(await x), /X failed/);
    await until(() => bridge!.connected && proxyEnds.length === 2, 5_000, "the new session");

    // Call Y needs approval too: its dialog opens on the new session, under the same id the proxy gave X's.
    const y = host.callTool({ name: "slow", arguments: { ms: 1_001, call: "Y" } }).then(
      () => "Y ran",
      (error: unknown) => `Y failed: ${String(error)}`,
    );
    await until(() => dialogs.length === 2, 5_000, "the dialog for Y");
    assert.match(dialogs[0]!.message, /"call":"X"/);
    // The human approves X, in the dialog still open from before the drop, and leaves Y's unanswered.
    dialogs[0]!.answer({ action: "accept", content: { approve: true } });
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.ok(!decisions.includes("slow:allowed"), `Y was approved by the answer to X's dialog (decisions: ${decisions.join(", ")})`);
    dialogs[1]!.answer({ action: "decline" });
    assert.match(await y, /Y failed/);
    await host.close();
  });

  it("opens a new session after one answered by an untrusted key during a reconnection, instead of giving up for good", async () => {
    proxy = reviewProxy(log);
    await proxy.start();
    const proxyKey = generateIdentity();
    // Someone on the network path answers one reconnection's hello with a key of their own (or `no common suite`).
    const impostorKey = generateIdentity();
    const serverEnds: InMemoryTransport[] = [];
    let attempt = 0;
    const [hostEnd, bridgeHostEnd] = InMemoryTransport.createLinkedPair();
    bridge = new Bridge({
      host: bridgeHostEnd,
      connect: () => {
        attempt += 1;
        const [bridgeEnd, serverEnd] = InMemoryTransport.createLinkedPair();
        serverEnds.push(serverEnd);
        const identity = attempt === 2 ? impostorKey : proxyKey;
        const sealed = new PqcServerTransport(serverEnd, { identity });
        if (attempt === 2) void sealed.start().catch(() => undefined);
        else void proxy.core.attachSealed(sealed).catch(() => undefined);
        return new PqcClientTransport(bridgeEnd, { trust: { serverFingerprints: [proxyKey.keyId] } });
      },
      logger: silentLogger(),
      reconnectInitialMs: 10,
      reconnectMaxMs: 10,
    });
    const started = bridge.start();
    const host = new Client({ name: "host", version: "1" });
    await host.connect(hostEnd);
    await started;
    assert.ok((await host.listTools()).tools.length > 0);
    // The connection drops; the next attempt meets the impostor, the one after it the proxy again.
    await serverEnds[0]!.close();
    await until(() => attempt >= 2, 5_000, "a reconnection attempt");
    await new Promise((resolve) => setTimeout(resolve, 500));
    const failure = bridge.failure instanceof Error ? bridge.failure.message : bridge.failure;
    assert.ok(failure === undefined, `the bridge gave up for good after one forged answer: ${String(failure)}`);
    await until(() => bridge!.connected, 5_000, "the session with the real proxy");
    assert.ok((await host.listTools()).tools.length > 0);
    await host.close();
  });
});
