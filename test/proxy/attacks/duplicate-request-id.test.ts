// A client reusing the id of one of its requests still in flight: the request in flight keeps its cancellation (its
// change subscription ends, its slot is freed, when the client goes away), and the second is refused (PQG8022), so
// neither the per-connection bound on requests in flight nor the proxy's change subscriptions can be exhausted by it.
import assert from "node:assert/strict";
import { InMemoryTransport } from "@modelcontextprotocol/client";
import { createMcpHandler } from "@modelcontextprotocol/server";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { silentLogger } from "../../../runtime/audit/index.js";
import { createProxy, MAX_LISTEN_SUBSCRIPTIONS, type Proxy } from "../../../runtime/proxy/index.js";
import { echoDigests, echoGuard, echoServer } from "../../enforce/fixtures-v2.js";
import { serveMcpHandler } from "../fixtures/mcp-handler.js";
import { until } from "../harness.js";

const REVISION = "2026-07-28";
const ENVELOPE = { "io.modelcontextprotocol/protocolVersion": REVISION, "io.modelcontextprotocol/clientCapabilities": {}, "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1" } };

describe("attacks: a request id reused while the request is in flight", function () {
  this.timeout(60_000);
  let upstream: Awaited<ReturnType<typeof serveMcpHandler>>;
  let proxy: Proxy;

  before(async () => {
    upstream = await serveMcpHandler(createMcpHandler(() => echoServer().server));
    proxy = createProxy({ upstream: { url: upstream.url }, guard: echoGuard(await echoDigests()), logger: silentLogger() });
    await proxy.start();
  });
  after(async () => {
    await proxy?.close();
    await upstream?.close();
  });

  /** A raw client on a connection of its own: what it sent, what it got. */
  async function connection(): Promise<{ send(id: number, method: string, params?: Record<string, unknown>): Promise<void>; replies: Record<string, unknown>[]; close(): Promise<void> }> {
    const [clientEnd, proxyEnd] = InMemoryTransport.createLinkedPair();
    await proxy.core.attachPlain(proxyEnd as unknown as Transport);
    const replies: Record<string, unknown>[] = [];
    clientEnd.onmessage = (message) => void replies.push(message as Record<string, unknown>);
    await clientEnd.start();
    return {
      replies,
      send: (id, method, params = {}) => clientEnd.send({ jsonrpc: "2.0", id, method, params: { ...params, _meta: ENVELOPE } }),
      close: () => clientEnd.close(),
    };
  }

  const acknowledged = (replies: Record<string, unknown>[], id: number): boolean =>
    replies.some((m) => m.method === "notifications/subscriptions/acknowledged" && (m.params as { _meta: Record<string, unknown> })._meta["io.modelcontextprotocol/subscriptionId"] === id);

  it("refuses the second request with PQG8022, and frees the first one's subscription when the client goes away", async () => {
    const first = await connection();
    await first.send(1, "subscriptions/listen", { notifications: { toolsListChanged: true } });
    await until(() => acknowledged(first.replies, 1), 10_000, "the first subscription");
    await first.send(1, "subscriptions/listen", { notifications: { toolsListChanged: true } });
    await until(() => first.replies.some((m) => m.id === 1 && m.error !== undefined), 5_000, "the refusal of the reused id");
    const refused = first.replies.find((m) => m.id === 1 && m.error !== undefined)!.error as { code: number; data?: { code?: string } };
    assert.equal(refused.code, -32600);
    assert.equal(refused.data?.code, "PQG8022");
    await first.close();

    // Every subscription slot is free again: a new client opens all of them.
    const next = await connection();
    for (let id = 1; id <= MAX_LISTEN_SUBSCRIPTIONS; id++) await next.send(id, "subscriptions/listen", { notifications: { toolsListChanged: true } });
    await until(() => acknowledged(next.replies, MAX_LISTEN_SUBSCRIPTIONS) || next.replies.some((m) => m.error !== undefined), 10_000, "the subscriptions");
    assert.deepEqual(next.replies.filter((m) => m.error !== undefined), [], "no subscription slot was left taken");
    await next.close();
  });

  it("keeps a reused id from going past the bound on requests in flight: the one in flight is still the one answered", async () => {
    const client = await connection();
    await client.send(5, "subscriptions/listen", { notifications: { toolsListChanged: true } });
    await until(() => acknowledged(client.replies, 5), 10_000, "the subscription");
    for (let i = 0; i < 3; i++) await client.send(5, "tools/list");
    await until(() => client.replies.filter((m) => m.id === 5).length === 3, 5_000, "three refusals");
    assert.ok(client.replies.filter((m) => m.id === 5).every((m) => (m.error as { data?: { code?: string } } | undefined)?.data?.code === "PQG8022"));
    await client.close();
  });
});
