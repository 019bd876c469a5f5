// The proxy in front of a Streamable HTTP upstream (a real SDK server on node:http): forwarding, guarding, pinning,
// and what happens when that server stops, hangs and comes back.
import assert from "node:assert/strict";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { ListRootsRequestSchema, ToolListChangedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { silentLogger } from "../../runtime/audit/index.js";
import { GUARD_REFUSAL_ERROR } from "../../runtime/enforce/index.js";
import { createProxy, RPC_UPSTREAM_TIMEOUT, RPC_UPSTREAM_UNAVAILABLE, type Proxy, type ProxyOptions } from "../../runtime/proxy/index.js";
import { SERVER_STREAM_WAIT_MS } from "../../runtime/proxy/upstream-link.js";
import { startHttpUpstream, type HttpUpstream, type HttpUpstreamOptions } from "./fixtures/http-server.js";
import { connectClient, failureOf, httpGuard, rpcError, until } from "./harness.js";

function structured(result: unknown): Record<string, unknown> {
  return (result as { structuredContent: Record<string, unknown> }).structuredContent;
}

describe("proxy with a Streamable HTTP upstream", function () {
  this.timeout(30_000);
  let upstream: HttpUpstream;
  let proxy: Proxy;
  let client: Client;

  async function open(overrides: Partial<ProxyOptions> = {}): Promise<void> {
    proxy = createProxy({ upstream: { url: upstream.url }, guard: httpGuard, logger: silentLogger(), callTimeoutMs: 1_500, healthPingTimeoutMs: 300, ...overrides });
    await proxy.start();
    client = await connectClient(proxy);
  }

  beforeEach(async () => {
    upstream = await startHttpUpstream();
  });

  afterEach(async () => {
    await client?.close();
    await proxy?.close();
    await upstream.stop();
  });

  it("forwards an allowed call to the HTTP server and refuses denied ones, which never reach it", async () => {
    await open();
    assert.equal(proxy.upstream.pid, undefined);
    assert.deepEqual(structured(await client.callTool({ name: "echo", arguments: { text: "hi" } })), { text: "hi", via: "http" });
    const denied = await failureOf(client.callTool({ name: "echo", arguments: { text: "deny-me" } }));
    assert.equal(denied.code, GUARD_REFUSAL_ERROR);
    assert.equal(denied.data?.code, "PQG7301");
    assert.equal((await failureOf(client.callTool({ name: "secret", arguments: {} }))).data?.code, "PQG7301");
    assert.deepEqual(upstream.calls, [{ tool: "echo", args: { text: "hi" } }]);
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), ["ask_name", "echo", "hang", "list_roots", "slow"]);
  });

  it("serves calls once the server's own event stream is open, so a request it sends there during the first call arrives", async () => {
    // A server whose GET stream is slow to open, and which asks for roots on that stream (no related request): the SDK's
    // server drops such a request while the stream is not open, so a first call forwarded before it would hang.
    await upstream.stop();
    upstream = await startHttpUpstream({ streamDelayMs: 300, asksUnrelated: true });
    proxy = createProxy({ upstream: { url: upstream.url }, guard: httpGuard, logger: silentLogger(), callTimeoutMs: 1_500, healthPingTimeoutMs: 300 });
    await proxy.start();
    client = await connectClient(proxy, { roots: {} });
    client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [{ uri: "file:///workspace", name: "workspace" }] }));
    assert.deepEqual(structured(await client.callTool({ name: "list_roots", arguments: {} })), { roots: [{ uri: "file:///workspace", name: "workspace" }] });
    assert.equal(upstream.streams >= 1, true);
  });

  /** Milliseconds from starting a proxy in front of a server so configured to its first answered echo. */
  async function firstEchoAgainst(options: HttpUpstreamOptions): Promise<number> {
    await upstream.stop();
    upstream = await startHttpUpstream(options);
    proxy = createProxy({ upstream: { url: upstream.url }, guard: httpGuard, logger: silentLogger(), callTimeoutMs: 1_500, healthPingTimeoutMs: 300 });
    const started = Date.now();
    await proxy.start();
    client = await connectClient(proxy);
    assert.deepEqual(structured(await client.callTool({ name: "echo", arguments: { text: "hi" } })), { text: "hi", via: "http" });
    return Date.now() - started;
  }

  it("does not take a redirect of `initialized` or of the stream for their answers: it waits for the followed requests", async () => {
    // A server that redirects every request (a slash added) and opens its stream late: a 307 is neither the non-202
    // answer after which no stream comes nor the stream's answer, so a request the server sends on that stream during
    // the first call still arrives.
    await upstream.stop();
    upstream = await startHttpUpstream({ redirects: true, streamDelayMs: 300, asksUnrelated: true });
    proxy = createProxy({ upstream: { url: upstream.url }, guard: httpGuard, logger: silentLogger(), callTimeoutMs: 1_500, healthPingTimeoutMs: 300 });
    await proxy.start();
    client = await connectClient(proxy, { roots: {} });
    client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [{ uri: "file:///workspace", name: "workspace" }] }));
    assert.deepEqual(structured(await client.callTool({ name: "list_roots", arguments: {} })), { roots: [{ uri: "file:///workspace", name: "workspace" }] });
  });

  it("serves calls after a bounded wait when the server's own event stream is not answered at all", async () => {
    const waited = await firstEchoAgainst({ streamDelayMs: 60_000 });
    assert.ok(waited >= SERVER_STREAM_WAIT_MS - 100 && waited < SERVER_STREAM_WAIT_MS + 5_000, `served after ${waited} ms`);
  });

  it("serves at once a server that answers `initialized` with something other than 202, for which no event stream comes", async () => {
    const waited = await firstEchoAgainst({ initializedAnswer200: true });
    assert.ok(waited < SERVER_STREAM_WAIT_MS - 500, `served after ${waited} ms: it waited for a stream the client never opens`);
    assert.equal(upstream.streams, 0, "no event stream was opened");
  });

  it("refuses to start when nothing answers at the URL", async () => {
    await upstream.stop();
    proxy = createProxy({ upstream: { url: upstream.url }, guard: httpGuard, logger: silentLogger() });
    await assert.rejects(proxy.start(), (error: { code?: string; message: string }) => error.code === "PQG8001" && /could not be reached/.test(error.message));
  });

  it("answers pending and new calls with errors while the server is down, stays up, and serves again once it is back", async () => {
    await open();
    const pending = client.callTool({ name: "hang", arguments: {} });
    await until(() => upstream.calls.some((c) => c.tool === "hang"), 5_000, "the call to reach the server");
    const stoppedAt = Date.now();
    await upstream.stop();
    const lost = await failureOf(pending);
    assert.equal(lost.code, RPC_UPSTREAM_UNAVAILABLE);
    assert.ok(Date.now() - stoppedAt < 1_500, "the pending call failed before its timeout");
    const refused = await failureOf(client.callTool({ name: "echo", arguments: { text: "while down" } }));
    assert.equal(refused.code, RPC_UPSTREAM_UNAVAILABLE);
    await client.ping(); // the proxy itself still answers
    await upstream.start();
    await until(() => proxy.upstream.ready, 10_000, "the proxy to reconnect");
    assert.deepEqual(structured(await client.callTool({ name: "echo", arguments: { text: "back" } })), { text: "back", via: "http" });
    assert.ok(proxy.upstream.restarts >= 1);
    assert.ok(!upstream.calls.some((c) => c.args.text === "while down"));
  });

  it("ends the connections of a session it replaced instead of leaving them open until the server's idle timeout", async () => {
    await open();
    assert.deepEqual(structured(await client.callTool({ name: "echo", arguments: { text: "first" } })), { text: "first", via: "http" });
    const before = proxy.upstream.restarts;
    const old = upstream.forgetSessions();
    assert.ok(old.length > 0);
    // The next call meets a 404 for the forgotten session: the proxy starts a new one, and the call may fail meanwhile.
    await client.callTool({ name: "echo", arguments: { text: "meets the 404" } }).catch(() => undefined);
    await until(() => proxy.upstream.restarts > before && proxy.upstream.ready, 10_000, "the proxy to start a new session");
    assert.deepEqual(structured(await client.callTool({ name: "echo", arguments: { text: "second" } })), { text: "second", via: "http" });
    // The server would keep an idle one for 60 s: these are closed by the proxy's side.
    await until(() => old.every((socket) => socket.destroyed), 3_000, "the old session's connections to close");
  });

  it("starts a new session when the server restarted and forgot the old one", async () => {
    await open();
    const before = proxy.upstream.restarts;
    await upstream.stop();
    await upstream.start(); // at once: the proxy may find the server up again, answering 404 to the old session
    await until(() => proxy.upstream.restarts > before && proxy.upstream.ready, 10_000, "the proxy to start a new session");
    assert.deepEqual(structured(await client.callTool({ name: "echo", arguments: { text: "new session" } })), { text: "new session", via: "http" });
  });

  it("times out a call the HTTP server never answers, and keeps serving when the server still answers pings", async () => {
    // A ping the server answers must not be taken for a dead server on a loaded machine: a generous bound here.
    await open({ healthPingTimeoutMs: 3_000 });
    const hung = await failureOf(client.callTool({ name: "hang", arguments: {} }));
    assert.equal(hung.code, RPC_UPSTREAM_TIMEOUT);
    assert.deepEqual(structured(await client.callTool({ name: "echo", arguments: { text: "alive" } })), { text: "alive", via: "http" });
    assert.equal(proxy.upstream.restarts, 0);
  });

  it("withholds and refuses a tool whose description changed when the server announces list_changed (rug pull)", async () => {
    await open();
    await until(() => upstream.streams > 0, 5_000, "the notification stream");
    const changed = new Promise<void>((resolve) => client.setNotificationHandler(ToolListChangedNotificationSchema, () => resolve()));
    upstream.rugPull();
    await changed;
    assert.ok(!(await client.listTools()).tools.some((t) => t.name === "echo"));
    const refused = await failureOf(client.callTool({ name: "echo", arguments: { text: "after" } }));
    assert.equal(refused.data?.code, "PQG7303");
    assert.equal(upstream.calls.length, 0);
  });

  it("refuses a tool changed without a notice within the recheck interval, and never forwards a call to it", async () => {
    await open({ toolRecheckMs: 200 });
    assert.deepEqual(structured(await client.callTool({ name: "echo", arguments: { text: "before" } })), { text: "before", via: "http" });
    upstream.rugPull({ silent: true });
    const deadline = Date.now() + 5_000;
    let refused: ReturnType<typeof rpcError> | undefined;
    while (refused === undefined && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      refused = await client.callTool({ name: "echo", arguments: { text: "probe" } }).then(() => undefined, rpcError);
    }
    assert.equal(refused?.data?.code, "PQG7303", "the silent change was caught within the bound");
    const forwarded = upstream.calls.length;
    await failureOf(client.callTool({ name: "echo", arguments: { text: "after" } }));
    assert.equal(upstream.calls.length, forwarded, "no call reaches the changed tool once it is caught");
  });

  it("reads the tool list again when a client lists tools, so a silent change is caught before the client sees it", async () => {
    await open({ toolRecheckMs: 0 });
    upstream.rugPull({ silent: true });
    assert.ok(!(await client.listTools()).tools.some((t) => t.name === "echo"));
    const refused = await failureOf(client.callTool({ name: "echo", arguments: { text: "after" } }));
    assert.equal(refused.data?.code, "PQG7303");
    assert.equal(upstream.calls.length, 0);
  });

  it("refuses a negative or non-numeric recheck interval at set-up", () => {
    assert.throws(() => createProxy({ upstream: { url: upstream.url }, guard: httpGuard, logger: silentLogger(), toolRecheckMs: -1 }), /PQG8006|recheck interval/);
  });

  it("finishes starting even when a client that connected during the start leaves at once (its own upstream session, not the checked one)", async () => {
    proxy = createProxy({ upstream: { url: upstream.url }, guard: httpGuard, logger: silentLogger(), toolRecheckMs: 0 });
    const starting = proxy.start();
    const early = await connectClient(proxy);
    await early.close();
    await Promise.race([starting, new Promise((_, reject) => setTimeout(() => reject(new Error("the proxy did not finish starting within 5 s")), 5_000))]);
    client = await connectClient(proxy);
    assert.deepEqual(structured(await client.callTool({ name: "echo", arguments: { text: "served" } })), { text: "served", via: "http" });
  });
});
