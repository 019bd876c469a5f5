// The proxy's Streamable HTTP listener as a library: plain sessions on a loopback address, each a proxy connection
// decided by the guard; requests off the MCP path, and foreign Host headers, are refused.
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { silentLogger } from "../../runtime/audit/index.js";
import { allowedHostsOf, listenHttp, listenPortOf, listenUrlOf, type HttpListener, type Proxy } from "../../runtime/proxy/index.js";
import { failureOf, flakyProxy, until } from "./harness.js";

describe("proxy HTTP listener", function () {
  this.timeout(30_000);
  let proxy: Proxy;
  let listener: HttpListener;

  before(async () => {
    proxy = flakyProxy();
    await proxy.start();
    listener = await listenHttp({ url: listenUrlOf("http://127.0.0.1:0", false), core: proxy.core, logger: silentLogger() });
  });

  after(async () => {
    await listener.close();
    await proxy.close();
  });

  it("serves plain MCP sessions at /mcp, each decided by the guard, and forgets them when they end", async () => {
    assert.equal(listener.url.pathname, "/mcp");
    const clients = [new Client({ name: "a", version: "1" }), new Client({ name: "b", version: "1" })];
    const transports = clients.map(() => new StreamableHTTPClientTransport(listener.url));
    await Promise.all(clients.map((client, i) => client.connect(transports[i]!)));
    assert.equal(listener.sessions, 2);
    const allowed = await clients[0]!.callTool({ name: "echo", arguments: { text: "via http" } });
    assert.match(JSON.stringify(allowed.content), /via http/);
    const denied = await failureOf(clients[1]!.callTool({ name: "echo", arguments: { text: "deny-this" } }));
    assert.equal(denied.data?.code, "PQG7301");
    await Promise.all(transports.map((transport) => transport.terminateSession()));
    await until(() => listener.sessions === 0, 2000, "sessions to be forgotten");
    await Promise.all(clients.map((client) => client.close()));
  });

  it("answers requests off the MCP path with 404 and a foreign Host header with 403", async () => {
    const off = await fetch(new URL("/other", listener.url), { method: "POST", body: "{}", headers: { "content-type": "application/json" } });
    assert.equal(off.status, 404);
    const initialize = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "x", version: "1" } } });
    const response = await new Promise<number>((resolve, reject) => {
      import("node:http").then(({ request }) => {
        const req = request(listener.url, { method: "POST", headers: { host: "evil.example:80", "content-type": "application/json", accept: "application/json, text/event-stream" } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on("error", reject);
        req.end(initialize);
      }, reject);
    });
    assert.equal(response, 403);
    assert.equal(listener.sessions, 0);
  });
});

describe("proxy HTTP listen URL", () => {
  it("accepts an explicit default port (80), which URL parsing drops, and listens on it, not on a free port", () => {
    const url = listenUrlOf("http://127.0.0.1:80", false);
    assert.equal(listenPortOf(url), 80);
    assert.equal(url.href, "http://127.0.0.1/mcp");
    assert.equal(listenPortOf(listenUrlOf("http://127.0.0.1:0", false)), 0);
    assert.equal(listenPortOf(listenUrlOf("http://127.0.0.1:8808/x", false)), 8808);
    assert.throws(() => listenUrlOf("http://127.0.0.1", false), /needs a port/);
    assert.throws(() => listenUrlOf("http://127.0.0.1/:80", false), /needs a port/);
  });

  it("accepts a loopback Host header without a port when listening on port 80, and only then", () => {
    const on80 = allowedHostsOf(new URL("http://127.0.0.1/mcp"), 80)!;
    assert.ok(on80.includes("127.0.0.1") && on80.includes("127.0.0.1:80") && on80.includes("localhost") && on80.includes("[::1]"));
    const on8808 = allowedHostsOf(new URL("http://127.0.0.1:8808/mcp"), 8808)!;
    assert.ok(on8808.includes("127.0.0.1:8808") && !on8808.includes("127.0.0.1") && !on8808.includes("127.0.0.1:80"));
    assert.equal(allowedHostsOf(new URL("http://10.0.0.1:8808/mcp"), 8808), undefined);
  });
});
