// The round-trip workload the transport and enforcement benchmarks share: an SDK echo server, a connected client over
// InMemoryTransport (optionally wrapped), and timed tools/call samples.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { z } from "zod";

export type TransportWrap = (client: Transport, server: Transport) => [Transport, Transport];

export function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function echoServer(): McpServer {
  const server = new McpServer({ name: "bench", version: "1.0.0" });
  server.registerTool("echo", { description: "echoes its text", inputSchema: { text: z.string() } }, async ({ text }) => ({
    content: [{ type: "text", text }],
  }));
  return server;
}

/** A client connected to `server` over a linked in-memory pair, each end optionally wrapped (e.g. sealed). */
export async function connectClient(server: McpServer, wrap?: TransportWrap): Promise<Client> {
  const client = new Client({ name: "bench", version: "1.0.0" });
  const [a, b] = InMemoryTransport.createLinkedPair();
  const [clientTransport, serverTransport] = wrap ? wrap(a, b) : [a, b];
  await Promise.all([server.connect(serverTransport), client.connect(clientTransport)]);
  return client;
}

/** Times `calls` sequential echo calls, pushing each round trip in microseconds. */
export async function sample(client: Client, calls: number, into: number[]): Promise<void> {
  for (let i = 0; i < calls; i++) {
    const start = performance.now();
    await client.callTool({ name: "echo", arguments: { text: "hello from the benchmark" } });
    into.push((performance.now() - start) * 1000);
  }
}
