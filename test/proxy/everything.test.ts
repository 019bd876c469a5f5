// Several clients of one proxy in front of a real server nobody here wrote (@modelcontextprotocol/server-everything
// from npm): each client has its own upstream session, so it receives its own log messages and progress only, the
// roots the server sees are its own, and a client that leaves takes its server process with it.
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { ListRootsRequestSchema, LoggingMessageNotificationSchema, type Tool } from "@modelcontextprotocol/sdk/types.js";
import { silentLogger } from "../../runtime/audit/index.js";
import type { Decision, GuardModule } from "../../runtime/guard/types.js";
import { toolDigest } from "../../runtime/manifest/digest.js";
import { createProxy, listenHttp, type HttpListener, type Proxy, type UpstreamMode } from "../../runtime/proxy/index.js";
import { EVERYTHING_STDIO, everythingTools } from "../support/everything.js";
import { until } from "./harness.js";

const UPSTREAM = EVERYTHING_STDIO;

/** Allows every reviewed tool: these tests are about routing, not about decisions. */
function allowAll(tools: Tool[]): GuardModule {
  const allow: Decision = { decision: "allow", determining: ["everything.policy:1"], reason: "permitted", explain: [] };
  return {
    policyName: "everything",
    policyDigest: "0".repeat(64),
    toolDigests: Object.fromEntries(tools.map((tool) => [tool.name, toolDigest(tool as unknown as Record<string, unknown>)])),
    guard: () => allow,
    reachableTools: () => tools.map((tool) => tool.name),
  };
}

describe("proxy in front of server-everything, several clients", function () {
  this.timeout(60_000);
  let guard: GuardModule;
  let proxy: Proxy;
  let clients: Client[];

  before(async () => {
    guard = allowAll(await everythingTools());
  });

  async function open(upstreamMode: UpstreamMode = "per-session"): Promise<void> {
    proxy = createProxy({ upstream: UPSTREAM, guard, logger: silentLogger(), upstreamMode, toolRecheckMs: 0 });
    await proxy.start();
    clients = [];
  }

  afterEach(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await proxy.close();
  });

  /** A client on an in-memory link, with its own roots and a record of the log messages it receives. */
  async function client(name: string, roots: string[] = []): Promise<{ client: Client; logs: string[] }> {
    const [clientEnd, proxyEnd] = InMemoryTransport.createLinkedPair();
    await proxy.core.attachPlain(proxyEnd);
    const connected = new Client({ name, version: "1.0.0" }, { capabilities: { roots: { listChanged: true } } });
    const logs: string[] = [];
    connected.setNotificationHandler(LoggingMessageNotificationSchema, (notification) => void logs.push(String(notification.params.data)));
    connected.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: roots.map((uri) => ({ uri, name: uri })) }));
    await connected.connect(clientEnd);
    clients.push(connected);
    return { client: connected, logs };
  }

  it("gives each client an upstream session of its own, and ends it when the client leaves", async () => {
    await open();
    const a = await client("a");
    const b = await client("b");
    assert.equal(proxy.core.upstreams.length, 2);
    const pids = proxy.core.upstreams.map((u) => u.supervisor.pid);
    assert.equal(new Set(pids).size, 2, "two server processes");
    await b.client.close();
    await until(() => proxy.core.upstreams.length === 1, 5_000, "the second client's upstream session to end");
    assert.deepEqual((await a.client.callTool({ name: "get-sum", arguments: { a: 2, b: 3 } })).content, [{ type: "text", text: "The sum of 2 and 3 is 5." }]);
  });

  it("delivers a client's log messages to that client only", async () => {
    await open();
    const a = await client("a");
    const b = await client("b");
    await a.client.callTool({ name: "toggle-simulated-logging", arguments: {} });
    await until(() => a.logs.length > 0, 10_000, "a log message for the client that asked for them");
    // The server logs every 5 s once started; a message meant for a would have reached b by now in shared routing.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(b.logs, []);
  });

  it("shows the server each client's own roots", async () => {
    await open();
    const a = await client("a", ["file:///workspace/a"]);
    const b = await client("b", ["file:///workspace/b"]);
    const rootsOf = async (c: Client): Promise<string> => JSON.stringify((await c.callTool({ name: "get-roots-list", arguments: {} })).content);
    assert.match(await rootsOf(a.client), /file:\/\/\/workspace\/a/);
    assert.doesNotMatch(await rootsOf(a.client), /workspace\/b/);
    assert.match(await rootsOf(b.client), /file:\/\/\/workspace\/b/);
  });

  it("holds the server's start-up roots request until its client is ready, and passes the client's roots changes on", async () => {
    await open();
    const a = await client("a", ["file:///workspace/a"]);
    // server-everything asks for roots as it starts and logs what it received; without a client yet, that failed.
    await until(() => a.logs.some((log) => /Roots updated: 1 root\(s\) received/.test(log)), 10_000, "the server to receive the client's roots");
    const before = a.logs.length;
    await a.client.sendRootsListChanged();
    await until(() => a.logs.slice(before).some((log) => /Roots updated/.test(log)), 10_000, "the server to ask for roots again after the change");
  });

  it("delivers every progress notification, with the client's own token, before the result; none to another client", async () => {
    await open();
    const a = await client("a");
    const b = await client("b");
    const seen: number[] = [];
    const other: number[] = [];
    const running = b.client.callTool({ name: "trigger-long-running-operation", arguments: { duration: 0.3, steps: 3 } }, undefined, { onprogress: (p) => void other.push(p.progress) });
    const result = await a.client.callTool({ name: "trigger-long-running-operation", arguments: { duration: 0.5, steps: 5 } }, undefined, { onprogress: (p) => void seen.push(p.progress) });
    assert.deepEqual(seen, [1, 2, 3, 4, 5], "every step, in order, before the result resolved");
    assert.match(JSON.stringify(result.content), /Long running operation completed/);
    await running;
    assert.deepEqual(other, [1, 2, 3]);
  });

  it("refuses a client past the bound on upstream sessions with PQG8011, and serves one again once a client left", async () => {
    proxy = createProxy({ upstream: UPSTREAM, guard, logger: silentLogger(), maxUpstreams: 1, toolRecheckMs: 0 });
    await proxy.start();
    clients = [];
    const a = await client("a");
    await assert.rejects(client("b"), /PQG8011|most upstream sessions/);
    await a.client.close();
    await until(() => proxy.core.upstreams.length === 0, 5_000, "the first client's upstream session to end");
    const c = await client("c");
    assert.ok((await c.client.listTools()).tools.length > 0);
  });

  it("in shared mode sends log messages only while one client is connected: a log line names no request", async () => {
    await open("shared");
    const a = await client("a");
    assert.equal(proxy.core.upstreams.length, 1);
    await a.client.callTool({ name: "toggle-simulated-logging", arguments: {} });
    await until(() => a.logs.length > 0, 5_000, "the log message while a is the only client");
    const b = await client("b");
    const seen = a.logs.length;
    // The server logs every 5 s; with two clients none of it can be told apart, so neither gets it.
    await new Promise((resolve) => setTimeout(resolve, 5_500));
    assert.deepEqual(b.logs, []);
    assert.equal(a.logs.length, seen);
  });

  describe("over the proxy's Streamable HTTP listener", () => {
    let listener: HttpListener;

    afterEach(async () => {
      await listener.close();
    });

    it("delivers every progress notification before the result, on the request's own stream", async () => {
      await open();
      listener = await listenHttp({ url: new URL("http://127.0.0.1:0/mcp"), core: proxy.core, logger: silentLogger() });
      const c = new Client({ name: "http", version: "1.0.0" });
      await c.connect(new StreamableHTTPClientTransport(listener.url));
      clients.push(c);
      for (let run = 0; run < 3; run++) {
        const seen: number[] = [];
        await c.callTool({ name: "trigger-long-running-operation", arguments: { duration: 0.2, steps: 4 } }, undefined, { onprogress: (p) => void seen.push(p.progress) });
        assert.deepEqual(seen, [1, 2, 3, 4], `run ${run}: all progress before the result`);
      }
    });
  });
});
