// Only MCP client requests pass the proxy: a method name that is not one exactly, however close (case, whitespace,
// control characters, a prefix), is refused with -32601 and never reaches the upstream, where a server that
// normalises method names would otherwise run a tool with no decision.
import assert from "node:assert/strict";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { silentLogger } from "../../runtime/audit/index.js";
import { CLIENT_REQUEST_METHODS, createProxy, isClientRequestMethod, type Proxy } from "../../runtime/proxy/index.js";
import { startHttpUpstream, type HttpUpstream } from "./fixtures/http-server.js";
import { httpGuard, until } from "./harness.js";

const LOOKALIKES = [
  "Tools/Call",
  "TOOLS/CALL",
  "tools/call ",
  " tools/call",
  "tools/call\u0000",
  "tools/call\n",
  "tools\\call",
  "tools//call",
  "tools/call/",
  "tools/\u0441all", // Cyrillic es
  "tools/callx",
  "tools.call",
  "rpc.discover",
  "",
  "x".repeat(10_000),
];

describe("proxy: only MCP client requests are forwarded", function () {
  this.timeout(30_000);
  let upstream: HttpUpstream;
  let proxy: Proxy;

  beforeEach(async () => {
    upstream = await startHttpUpstream();
    proxy = createProxy({ upstream: { url: upstream.url }, guard: httpGuard, logger: silentLogger() });
    await proxy.start();
  });

  afterEach(async () => {
    await proxy.close();
    await upstream.stop();
  });

  /** Sends raw JSON-RPC requests to the proxy as a plain client and collects the replies by id. */
  async function exchange(requests: readonly { method: string; params?: Record<string, unknown> }[]): Promise<Map<number, JSONRPCMessage>> {
    const [clientEnd, proxyEnd] = InMemoryTransport.createLinkedPair();
    const replies = new Map<number, JSONRPCMessage>();
    clientEnd.onmessage = (message) => {
      if ("id" in message && typeof message.id === "number") replies.set(message.id, message);
    };
    await clientEnd.start();
    await proxy.core.attachPlain(proxyEnd);
    await clientEnd.send({ jsonrpc: "2.0", id: 0, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "1" } } });
    await until(() => replies.has(0), 5_000, "the initialize reply");
    await clientEnd.send({ jsonrpc: "2.0", method: "notifications/initialized" });
    for (const [index, request] of requests.entries()) await clientEnd.send({ jsonrpc: "2.0", id: index + 1, ...request });
    await until(() => replies.size === requests.length + 1, 10_000, "every reply");
    await clientEnd.close();
    return replies;
  }

  it("refuses look-alikes of tools/call with -32601 and PQG8010, and the upstream never sees them", async () => {
    const params = { name: "secret", arguments: {} };
    const replies = await exchange(LOOKALIKES.map((method) => ({ method, params })));
    LOOKALIKES.forEach((method, index) => {
      const reply = replies.get(index + 1) as { error?: { code: number; message: string } };
      assert.equal(reply.error?.code, -32601, `\`${JSON.stringify(method).slice(0, 40)}\` is refused`);
      assert.match(reply.error.message, /is not an MCP client request the proxy forwards/);
    });
    assert.deepEqual(upstream.unknownMethods, []);
    assert.deepEqual(upstream.calls, []);
  });

  it("still forwards the MCP methods it does not decide itself, and decides tools/call", async () => {
    const replies = await exchange([{ method: "prompts/list" }, { method: "tools/call", params: { name: "secret", arguments: {} } }, { method: "tools/call", params: { name: "echo", arguments: { text: "hi" } } }]);
    const prompts = replies.get(1) as { error?: { code: number; message: string } };
    // The fixture server has no prompts: its own -32601 comes back, which shows the request reached it.
    assert.match(prompts.error?.message ?? "", /prompts\/list/);
    assert.doesNotMatch(prompts.error?.message ?? "", /not an MCP client request/);
    assert.match(JSON.stringify(replies.get(2)), /secrets never leave/);
    assert.ok("result" in replies.get(3)!);
    assert.deepEqual(upstream.calls, [{ tool: "echo", args: { text: "hi" } }]);
  });

  it("knows exactly the client requests of the specification, spelled as it spells them", () => {
    for (const method of CLIENT_REQUEST_METHODS) assert.match(method, /^[a-z]+(\/[a-z]+([A-Z][a-z]+)*)*(\/[a-z]+)?$/);
    assert.ok(isClientRequestMethod("tools/call") && isClientRequestMethod("resources/templates/list") && isClientRequestMethod("logging/setLevel"));
    assert.ok(!isClientRequestMethod("sampling/createMessage"), "a server-to-client request is not forwarded from a client");
    assert.ok(!isClientRequestMethod("roots/list"));
  });
});
