// An algorithm change by configuration and rotation alone: a proxy serving ML-KEM-768 with an ML-DSA-65 key moves to
// ML-KEM-1024 and ML-DSA-87 while it runs (the crypto configuration file changes, the keyring rotates), and a client
// process that is never restarted keeps calling, its next session on the new algorithms.
import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { silentLogger } from "../../runtime/audit/index.js";
import { Bridge } from "../../runtime/connect/bridge.js";
import { initKeyring, rotateKeyring } from "../../runtime/identity/keyring.js";
import { TrustedServerKeys, readTrustList } from "../../runtime/identity/trust-list.js";
import { PqguardMetrics } from "../../runtime/metrics/index.js";
import { TRUST_LIST_PATH, listenHttp, type HttpListener, type Proxy } from "../../runtime/proxy/index.js";
import { PqcClientTransport } from "../../runtime/transport/client.js";
import { requestScopedFetch } from "../../runtime/transport/fetch.js";
import { KeyringServer } from "../../runtime/transport/keyring-server.js";
import { flakyProxy, until } from "./harness.js";

describe("algorithm migration by configuration and rotation", function () {
  this.timeout(60_000);
  let proxy: Proxy;
  let keys: KeyringServer;
  let listener: HttpListener;

  after(async () => {
    await listener?.close();
    await proxy?.close();
    keys?.close();
  });

  it("moves a running proxy from ML-KEM-768/ML-DSA-65 to ML-KEM-1024/ML-DSA-87 under a client that never restarts", async () => {
    const dir = await mkdtemp(join(tmpdir(), "pqguard-migration-"));
    const directory = join(dir, "ring");
    const config = join(dir, "crypto.json");
    const writeConfig = (kem: string[], signature: string[]) => writeFile(config, JSON.stringify({ format: "pqguard-crypto/1", kem, signature, aead: ["AES-256-GCM"] }));
    await writeConfig(["ML-KEM-768"], ["ML-DSA-65"]);
    const first = await initKeyring(directory, { algorithm: "ML-DSA-65" });
    const metrics = new PqguardMetrics();
    keys = await KeyringServer.open({ directory, cryptoConfig: config, logger: silentLogger(), metrics });
    keys.watch();
    proxy = flakyProxy({ upstreamMode: "shared" });
    await proxy.start();
    listener = await listenHttp({ url: new URL("http://127.0.0.1:0/mcp"), core: proxy.core, keyring: keys, logger: silentLogger(), sessionMetrics: metrics });

    // The client's own configuration accepts both generations; which one is used is the server's choice.
    const trusted = new TrustedServerKeys([first.active!.keyId, first.next!.keyId]);
    const sessions: PqcClientTransport[] = [];
    const [host, bridgeEnd] = InMemoryTransport.createLinkedPair();
    const bridge = new Bridge({
      host: bridgeEnd,
      connect: () => {
        const transport = new PqcClientTransport(new StreamableHTTPClientTransport(listener.url, { fetch: requestScopedFetch }), {
          trust: { serverFingerprints: trusted },
          suites: { kem: ["ML-KEM-768", "ML-KEM-1024"], signature: ["ML-DSA-65", "ML-DSA-87"], aead: ["AES-256-GCM"] },
        });
        sessions.push(transport);
        return transport;
      },
      logger: silentLogger(),
      reconnectInitialMs: 20,
    });
    await bridge.start();
    const client = new Client({ name: "never-restarted", version: "1" });
    await client.connect(host);
    const call = async (text: string) => assert.match(JSON.stringify((await client.callTool({ name: "echo", arguments: { text } })).content), new RegExp(text));

    await call("before");
    assert.deepEqual(pick(sessions.at(-1)!.sessionInfo!.suite), { kem: "ML-KEM-768", signature: "ML-DSA-65" });

    // The operator's change: the configuration first (both generations allowed), then the rotation to ML-DSA-87.
    await writeConfig(["ML-KEM-1024", "ML-KEM-768"], ["ML-DSA-87", "ML-DSA-65"]);
    const rotation = await rotateKeyring(directory, { algorithm: "ML-DSA-87", graceMs: 300 });
    await until(() => keys.activeKey?.keyId === rotation.activated.keyId && keys.suites()?.kem?.[0] === "ML-KEM-1024", 5000, "the proxy to reload");
    trusted.apply(await readTrustList(new URL(TRUST_LIST_PATH, listener.url).href));
    await call("during");
    await until(() => sessions.length >= 2 && sessions.at(-1)!.sessionInfo !== undefined, 10_000, "the session on the retired key to be replaced");
    await call("after");
    assert.deepEqual(pick(sessions.at(-1)!.sessionInfo!.suite), { kem: "ML-KEM-1024", signature: "ML-DSA-87" });
    assert.equal(sessions.at(-1)!.sessionInfo!.peerFingerprint, rotation.activated.keyId);

    // The old generation can now be dropped from the configuration: a new session still works, on the new suite only.
    await writeConfig(["ML-KEM-1024"], ["ML-DSA-87"]);
    await until(() => keys.suites()?.kem?.length === 1, 5000, "the proxy to reload the configuration");
    assert.equal(await metrics.value("pqguard_handshakes_total", { side: "server", kem: "ML-KEM-1024", signature: "ML-DSA-87", outcome: "ok" }) >= 1, true);
    assert.equal(await metrics.value("pqguard_handshakes_total", { side: "server", kem: "ML-KEM-768", signature: "ML-DSA-65", outcome: "ok" }), 1);
    await client.close();
    await bridge.close();
  });
});

function pick(suite: { kem: string; signature: string }): { kem: string; signature: string } {
  return { kem: suite.kem, signature: suite.signature };
}
