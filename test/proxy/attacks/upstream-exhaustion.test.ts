// Review: in per-session mode an upstream MCP session (a server process for a stdio upstream) is opened for every
// downstream connection as it is attached, which over HTTP is the first request of a session: before its handshake
// finished, before its client authenticated, and even for a request the HTTP transport then refuses. The bound on
// upstream sessions (32) is far below the listener's session bound (256), and a connection attached at the bound is
// refused for good. Together: anyone who can send a session hello can lock every client out of the proxy.
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { silentLogger } from "../../../runtime/audit/index.js";
import { generateIdentity } from "../../../runtime/identity/index.js";
import { listenHttp, listenUrlOf, type HttpListener, type Proxy } from "../../../runtime/proxy/index.js";
import { PqcClientTransport } from "../../../runtime/transport/index.js";
import { until } from "../harness.js";
import { watchingSpawns, reviewProxy, sleep, SpawnLog } from "./support.js";

/** Sends a session hello and never the Finished: a network client that does not authenticate and does not go on. */
async function stalledHello(url: URL, fingerprint: string): Promise<StreamableHTTPClientTransport> {
  const inner = new StreamableHTTPClientTransport(url);
  const transport = new PqcClientTransport(inner, { trust: { serverFingerprints: [fingerprint] }, handshakeTimeoutMs: 60_000 });
  const hello = new Promise<void>((resolve) => {
    const send = inner.send.bind(inner);
    inner.send = async (message, options) => {
      await send(message, options);
      resolve();
    };
  });
  void transport.start().catch(() => undefined);
  await hello;
  inner.onmessage = () => undefined;
  return inner;
}

describe("attack: upstream sessions are opened before anyone authenticated, and the bound locks clients out", function () {
  this.timeout(30_000);
  let log: SpawnLog;
  let proxy: Proxy | undefined;
  let listener: HttpListener | undefined;
  const stalled: StreamableHTTPClientTransport[] = [];

  beforeEach(() => {
    log = new SpawnLog();
  });

  afterEach(async () => {
    await Promise.allSettled(stalled.splice(0).map((inner) => inner.close()));
    await listener?.close();
    await proxy?.close();
    listener = undefined;
    proxy = undefined;
    log.cleanUp();
  });

  it("starts no upstream server for a session hello whose handshake never finishes (client authentication required)", async () => {
    const identity = generateIdentity();
    proxy = reviewProxy(log);
    await proxy.start();
    assert.equal(log.pids().length, 1, "the initial upstream session");
    // A proxy that requires client certificates: nobody without one should cost it anything but the handshake.
    const issuer = generateIdentity().keyId;
    listener = await listenHttp({ url: listenUrlOf("http://127.0.0.1:0", true), core: proxy.core, identity, clientTrust: { issuers: [issuer], required: true }, logger: silentLogger() });
    for (let i = 0; i < 4; i++) stalled.push(await stalledHello(listener.url, identity.keyId));
    await sleep(1_000);
    assert.equal(
      log.pids().length,
      1,
      `${log.pids().length - 1} more upstream server processes were started for 4 hellos from a client that never authenticated (and ${proxy.core.upstreams.length} upstream sessions are held for them)`,
    );
  });

  it("serves a client that authenticates although unauthenticated hellos arrived first (maxUpstreams 2)", async () => {
    const identity = generateIdentity();
    proxy = reviewProxy(log, { maxUpstreams: 2 });
    await proxy.start();
    listener = await listenHttp({ url: listenUrlOf("http://127.0.0.1:0", true), core: proxy.core, identity, logger: silentLogger() });
    // Two hellos that never finish: no key, no certificate, not even the handshake's second message.
    for (let i = 0; i < 2; i++) stalled.push(await stalledHello(listener.url, identity.keyId));
    const client = new Client({ name: "legitimate", version: "1" });
    try {
      const served = await client
        .connect(new PqcClientTransport(new StreamableHTTPClientTransport(listener.url), { trust: { serverFingerprints: [identity.keyId] } }))
        .then(() => client.listTools())
        .then(
          (result) => `listed ${result.tools.length} tools`,
          (error: unknown) => `refused: ${String((error as Error).message)}`,
        );
      assert.match(served, /^listed/, "two stalled hellos took every upstream session, and the client that finished its handshake is refused");
    } finally {
      await client.close();
    }
  });

  it("starts no upstream server for a request the plain HTTP transport refuses (a browser's cross-origin text/plain POST)", async () => {
    proxy = reviewProxy(log);
    await proxy.start();
    listener = await listenHttp({ url: listenUrlOf("http://127.0.0.1:0", false), core: proxy.core, logger: silentLogger() });
    // What any web page can make a browser send to a loopback port without a preflight: the Host header is loopback.
    const initialize = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "web page", version: "1" } } });
    const url = listener.url;
    const spawned = await watchingSpawns(async (children) => {
      for (let i = 0; i < 4; i++) {
        const response = await fetch(url, { method: "POST", body: initialize, headers: { "content-type": "text/plain" } });
        await response.text();
        assert.equal(response.status, 406, "the transport refuses the request");
      }
      return children.length;
    });
    assert.equal(spawned, 0, `${spawned} upstream server processes were spawned (and killed at once) for 4 refused requests`);
    assert.equal(proxy.core.upstreams.length, 1, "only the start-up session, checked and unused, is open");
  });

  it("serves a client that connected at the bound once another client has left (maxUpstreams 1)", async () => {
    proxy = reviewProxy(log, { maxUpstreams: 1 });
    await proxy.start();
    const [firstEnd, firstProxyEnd] = InMemoryTransport.createLinkedPair();
    await proxy.core.attachPlain(firstProxyEnd);
    const first = new Client({ name: "first", version: "1" });
    await first.connect(firstEnd);
    // The second client speaks raw JSON-RPC: an SDK client gives up on its connection when `initialize` fails.
    const [secondEnd, secondProxyEnd] = InMemoryTransport.createLinkedPair();
    const replies = new Map<number, Record<string, unknown>>();
    secondEnd.onmessage = (message) => {
      const m = message as Record<string, unknown>;
      if (typeof m.id === "number") replies.set(m.id, m);
    };
    await secondEnd.start();
    await proxy.core.attachPlain(secondProxyEnd);
    const ask = async (id: number, method: string, params?: Record<string, unknown>): Promise<Record<string, unknown>> => {
      await secondEnd.send({ jsonrpc: "2.0", id, method, ...(params === undefined ? {} : { params }) });
      await until(() => replies.has(id), 5_000, `the answer to ${method}`);
      return replies.get(id)!;
    };
    const initialize = await ask(1, "initialize", { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "second", version: "1" } });
    assert.match(JSON.stringify(initialize.error), /most upstream sessions/, "refused at the bound, as documented");
    await first.close();
    await until(() => proxy!.core.upstreams.length === 0, 5_000, "the first client's upstream session to close");
    // docs/proxy.md: "a client past that bound is answered PQG8011 on every request until one leaves".
    const again = await ask(2, "initialize", { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "second", version: "1" } });
    assert.equal(again.error, undefined, `still refused after the other client left: ${JSON.stringify(again.error)}`);
    await secondEnd.close();
  });

  it("keeps at most maxUpstreams server processes alive while clients come and go (maxUpstreams 2, a server slow to stop)", async () => {
    proxy = reviewProxy(log, { maxUpstreams: 2 }, { REVIEW_IGNORE_SIGTERM: "1" });
    await proxy.start();
    let most = 0;
    for (let i = 0; i < 8; i++) {
      // At the bound a client is refused (PQG8011) until a session has stopped: a new one tries again, within bounds.
      const deadline = Date.now() + 10_000;
      let client: Client | undefined;
      while (client === undefined) {
        const [clientEnd, proxyEnd] = InMemoryTransport.createLinkedPair();
        await proxy.core.attachPlain(proxyEnd);
        const attempt = new Client({ name: "churn", version: "1" });
        const refused = await attempt.connect(clientEnd).then(() => undefined, (error: unknown) => String(error));
        if (refused === undefined) client = attempt;
        else {
          assert.match(refused, /PQG8011|most upstream sessions/);
          assert.ok(Date.now() < deadline, "no upstream slot came free within 10 s");
          await attempt.close();
          await sleep(100);
        }
        most = Math.max(most, log.alive());
      }
      await client.close();
      most = Math.max(most, log.alive());
    }
    await sleep(200);
    most = Math.max(most, log.alive());
    assert.ok(most <= 2, `${most} upstream server processes were alive at once: a session leaves the count when its close starts, not when its process is gone`);
  });
});
