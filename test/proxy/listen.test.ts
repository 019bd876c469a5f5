// The proxy's Streamable HTTP listener as a library: plain sessions on a loopback address, each a proxy connection
// decided by the guard; requests off the MCP path, and foreign Host headers, are refused.
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { silentLogger } from "../../runtime/audit/index.js";
import { listenHttp, listenUrlOf, type HttpListener, type Proxy } from "../../runtime/proxy/index.js";
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
