// The round-trip workload the transport and enforcement benchmarks share: an SDK echo server, a connected client over
// InMemoryTransport or a stdio-framed in-memory link (optionally wrapped), and timed tools/call samples.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { ReadBuffer, serializeMessage } from "@modelcontextprotocol/sdk/shared/stdio.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
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

/**
 * One end of an in-memory link that frames messages exactly as the SDK's stdio transports do (`serializeMessage`
 * to a UTF-8 line, `ReadBuffer` to parse and schema-check it), delivered synchronously: stdio without the pipe.
 */
class StdioFramedTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  peer: StdioFramedTransport | undefined;
  private readonly buffer = new ReadBuffer();

  async start(): Promise<void> {}

  async send(message: JSONRPCMessage): Promise<void> {
    if (this.peer === undefined) throw new Error("Not connected");
    this.peer.receive(Buffer.from(serializeMessage(message), "utf8"));
  }

  private receive(chunk: Buffer): void {
    this.buffer.append(chunk);
    for (let message = this.buffer.readMessage(); message !== null; message = this.buffer.readMessage()) this.onmessage?.(message);
  }

  async close(): Promise<void> {
    const peer = this.peer;
    this.peer = undefined;
    if (peer !== undefined) await peer.close();
    this.onclose?.();
  }

  static pair(): [StdioFramedTransport, StdioFramedTransport] {
    const a = new StdioFramedTransport();
    const b = new StdioFramedTransport();
    a.peer = b;
    b.peer = a;
    return [a, b];
  }
}

/** `memory`: the SDK's InMemoryTransport (objects passed as is); `stdio-framed`: serialised as stdio does, no pipe. */
export type Link = "memory" | "stdio-framed";

/** A client connected to `server` over a linked in-memory pair, each end optionally wrapped (e.g. sealed). */
export async function connectClient(server: McpServer, wrap?: TransportWrap, link: Link = "memory"): Promise<Client> {
  const client = new Client({ name: "bench", version: "1.0.0" });
  const [a, b]: [Transport, Transport] = link === "memory" ? InMemoryTransport.createLinkedPair() : StdioFramedTransport.pair();
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
