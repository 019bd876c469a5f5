// Key rotation under load: ten clients (each a `pqguard connect` bridge, never restarted) call continuously through a
// proxy whose keyring rotates three times and then loses its active key to a revocation. No call is lost or run twice,
// sessions on retired and revoked keys drain and are re-established on the new key, and the metrics say so.
import assert from "node:assert/strict";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { silentLogger } from "../../runtime/audit/index.js";
import { Bridge } from "../../runtime/connect/bridge.js";
import { initKeyring, revokeKeyring, rotateKeyring } from "../../runtime/identity/keyring.js";
import { TrustedServerKeys, readTrustList } from "../../runtime/identity/trust-list.js";
import { PqguardMetrics, currentMetrics, useMetrics } from "../../runtime/metrics/index.js";
import { TRUST_LIST_PATH, listenHttp, type HttpListener, type Proxy } from "../../runtime/proxy/index.js";
import { PqcClientTransport } from "../../runtime/transport/client.js";
import { KeyringServer } from "../../runtime/transport/keyring-server.js";
import { requestScopedFetch } from "../../runtime/transport/fetch.js";
import { flakyProxy, until } from "./harness.js";

const CLIENTS = 10;
/** Each retiring key's grace: short, so the test sees sessions drain on time. */
const GRACE_MS = 400;

interface Worker {
  readonly client: Client;
  readonly bridge: Bridge;
  readonly trusted: TrustedServerKeys;
  readonly done: Promise<void>;
  calls: number;
  failures: string[];
}

describe("key rotation under load", function () {
  this.timeout(120_000);
  let previousMetrics: PqguardMetrics;
  let metrics: PqguardMetrics;
  let proxy: Proxy;
  let keys: KeyringServer;
  let listener: HttpListener;
  let directory: string;
  const allowed = new Map<string, number>();

  before(async () => {
    previousMetrics = currentMetrics();
    metrics = useMetrics(new PqguardMetrics());
    directory = join(await mkdtemp(join(tmpdir(), "pqguard-rotation-")), "ring");
    await initKeyring(directory);
    keys = await KeyringServer.open({ directory, logger: silentLogger(), metrics });
    keys.watch();
    proxy = flakyProxy({
      upstreamMode: "shared",
      onDecision: (_tool, verdict) => {
        if (verdict.allowed) allowed.set(String(verdict.args.text), (allowed.get(String(verdict.args.text)) ?? 0) + 1);
      },
    });
    await proxy.start();
    listener = await listenHttp({ url: new URL("http://127.0.0.1:0/mcp"), core: proxy.core, keyring: keys, logger: silentLogger(), metrics, sessionMetrics: metrics });
  });

  after(async () => {
    await listener?.close();
    await proxy?.close();
    keys?.close();
    useMetrics(previousMetrics);
  });

  async function startWorker(index: number, pins: string[], stop: () => boolean): Promise<Worker> {
    const trusted = new TrustedServerKeys(pins);
    const [host, bridgeEnd] = InMemoryTransport.createLinkedPair();
    const bridge = new Bridge({
      host: bridgeEnd,
      connect: () => new PqcClientTransport(new StreamableHTTPClientTransport(listener.url, { fetch: requestScopedFetch }), { trust: { serverFingerprints: trusted }, metrics }),
      logger: silentLogger(),
      reconnectInitialMs: 20,
      reconnectMaxMs: 200,
    });
    await bridge.start();
    const client = new Client({ name: `worker-${index}`, version: "1" });
    await client.connect(host);
    const worker: Worker = { client, bridge, trusted, calls: 0, failures: [], done: Promise.resolve() };
    (worker as { done: Promise<void> }).done = (async () => {
      for (let n = 0; !stop(); n++) {
        const text = `w${index}-${n}`;
        try {
          const result = await client.callTool({ name: "echo", arguments: { text } });
          if (!JSON.stringify(result.content).includes(text)) worker.failures.push(`${text}: wrong answer ${JSON.stringify(result.content)}`);
        } catch (error) {
          worker.failures.push(`${text}: ${error instanceof Error ? error.message : String(error)}`);
        }
        worker.calls += 1;
      }
    })();
    return worker;
  }

  /** What every client does now and then: fetch the proxy's signed trust list and take in the keys it endorses. */
  async function refreshTrust(workers: readonly Worker[]): Promise<void> {
    const list = await readTrustList(new URL(TRUST_LIST_PATH, listener.url).href);
    for (const worker of workers) worker.trusted.apply(list);
  }

  it("loses and repeats no call while the key rotates three times and the active key is revoked", async () => {
    const initial = keys.currentKeyring!;
    const pins = [initial.active!.keyId, initial.next!.keyId];
    let stopping = false;
    const workers = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => startWorker(i, pins, () => stopping)));
    const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    const retired: string[] = [];
    await pause(300);
    for (let round = 0; round < 3; round++) {
      const before = keys.activeKey!.keyId;
      const rotation = await rotateKeyring(directory, { graceMs: GRACE_MS });
      // Picked up by the file watch: no restart, no signal.
      await until(() => keys.activeKey?.keyId === rotation.activated.keyId, 5000, "the proxy to load the rotated keyring");
      retired.push(before);
      await refreshTrust(workers);
      await pause(GRACE_MS + 400);
      await until(() => !keys.sessionsByKey().has(before), 10_000, `sessions on the retired key ${before} to drain`);
    }
    const revoked = keys.activeKey!.keyId;
    const revocation = await revokeKeyring(directory, revoked, { reason: "test: compromised" });
    await until(() => keys.activeKey?.keyId === revocation.active!.keyId, 5000, "the proxy to load the revocation");
    await refreshTrust(workers);
    await until(() => !keys.sessionsByKey().has(revoked), 10_000, "sessions on the revoked key to drain");
    await pause(500);
    stopping = true;
    await Promise.all(workers.map((w) => w.done));

    const failures = workers.flatMap((w) => w.failures);
    assert.deepEqual(failures, [], "no call failed");
    const total = workers.reduce((sum, w) => sum + w.calls, 0);
    assert.ok(total >= CLIENTS * 5, `calls made: ${total}`);
    const repeated = [...allowed].filter(([, count]) => count !== 1);
    assert.deepEqual(repeated, [], "no call ran twice");
    assert.equal(allowed.size, total, "every call ran once");

    const final = revocation.active!.keyId;
    assert.deepEqual([...keys.sessionsByKey().keys()], [final], "every session rests on the final active key");
    const reconnects = workers.reduce((sum, w) => sum + w.bridge.reconnects, 0);
    assert.ok(reconnects >= CLIENTS * 4, `every client reconnected after each rotation and the revocation (${reconnects})`);
    assert.ok((await metrics.value("pqguard_handshakes_total", { side: "server", outcome: "ok" })) >= CLIENTS * 5);
    assert.equal(await metrics.value("pqguard_sessions_open", { side: "server" }), CLIENTS);
    assert.ok((await metrics.value("pqguard_decisions_total", { policy: "flaky", decision: "allow" })) >= total);
    const exposition = await metrics.text();
    for (const keyId of [...retired, revoked]) assert.match(exposition, new RegExp(`pqguard_key_age_seconds\\{key_id="${keyId}"`));
    assert.match(exposition, new RegExp(`pqguard_key_age_seconds\\{key_id="${revoked}",algorithm="ML-DSA-65",state="revoked"\\}`));

    await Promise.all(workers.map(async (w) => {
      await w.client.close();
      await w.bridge.close();
    }));
  });
});
