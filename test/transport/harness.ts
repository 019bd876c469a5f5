// A real SDK Client and McpServer joined by PqcClientTransport/PqcServerTransport over InMemoryTransport, with an
// optional man in the middle on the wire who may edit, drop, duplicate or inject messages in either direction.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import type { Transport, TransportSendOptions } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage, MessageExtraInfo } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { PqcClientTransport, PqcServerTransport, openEnvelope } from "../../runtime/transport/index.js";
import type { PqcClientTransportOptions, PqcServerTransportOptions } from "../../runtime/transport/index.js";
import { T0, serverFixture } from "../session/fixtures.js";

export type Direction = "toServer" | "toClient";
/** Returns the messages to deliver instead of `message` (empty to drop it). */
export type WireEdit = (message: JSONRPCMessage, direction: Direction) => JSONRPCMessage[];

/** An inner transport whose sends pass through `edit` first: the attacker's position on the wire. */
export class Wire implements Transport {
  onclose?: (() => void) | undefined;
  onerror?: ((error: Error) => void) | undefined;
  onmessage?: ((message: JSONRPCMessage, extra?: MessageExtraInfo) => void) | undefined;

  constructor(
    private readonly inner: InMemoryTransport,
    private readonly direction: Direction,
    private readonly edit: () => WireEdit | undefined,
  ) {
    inner.onmessage = (message, extra) => this.onmessage?.(message, extra);
    inner.onclose = () => this.onclose?.();
    inner.onerror = (error) => this.onerror?.(error);
  }

  start(): Promise<void> {
    return this.inner.start();
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    const edit = this.edit();
    const out = edit ? edit(structuredClone(message), this.direction) : [message];
    for (const item of out) await this.inner.send(item, options);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /** Delivers a message to this end as if the peer had sent it. */
  inject(message: JSONRPCMessage, extra?: MessageExtraInfo): void {
    this.onmessage?.(message, extra);
  }
}

export interface Connected {
  readonly client: Client;
  readonly server: McpServer;
  readonly clientTransport: PqcClientTransport;
  readonly serverTransport: PqcServerTransport;
  readonly clientWire: Wire;
  readonly serverWire: Wire;
  readonly errors: { client: Error[]; server: Error[] };
  /** Tool calls the server's handler actually ran. */
  readonly handled: string[];
  setEdit(edit: WireEdit | undefined): void;
}

export function echoServer(handled: string[]): McpServer {
  const server = new McpServer({ name: "echo", version: "1.0.0" });
  server.registerTool("echo", { description: "echoes its text", inputSchema: { text: z.string() } }, async ({ text }) => {
    handled.push(text);
    return { content: [{ type: "text", text }] };
  });
  return server;
}

export function transports(
  clientOptions: Partial<PqcClientTransportOptions> = {},
  serverOptions: Partial<PqcServerTransportOptions> = {},
): { clientTransport: PqcClientTransport; serverTransport: PqcServerTransport; clientWire: Wire; serverWire: Wire; setEdit(edit: WireEdit | undefined): void } {
  const { server, credentials } = serverFixture();
  let edit: WireEdit | undefined;
  const [a, b] = InMemoryTransport.createLinkedPair();
  const clientWire = new Wire(a, "toServer", () => edit);
  const serverWire = new Wire(b, "toClient", () => edit);
  const now = (): number => T0 + 1000;
  const clientTransport = new PqcClientTransport(clientWire, { trust: { serverFingerprints: [server.fingerprint] }, now, ...clientOptions });
  const serverTransport = new PqcServerTransport(serverWire, { credentials, now, ...serverOptions });
  return { clientTransport, serverTransport, clientWire, serverWire, setEdit: (next) => (edit = next) };
}

/** Connects a real Client and McpServer through sealed transports (both connected concurrently, as the SDK expects). */
export async function connect(
  clientOptions: Partial<PqcClientTransportOptions> = {},
  serverOptions: Partial<PqcServerTransportOptions> = {},
): Promise<Connected> {
  const handled: string[] = [];
  const server = echoServer(handled);
  const client = new Client({ name: "test-client", version: "1.0.0" });
  const parts = transports(clientOptions, serverOptions);
  const errors = { client: [] as Error[], server: [] as Error[] };
  client.onerror = (error) => errors.client.push(error);
  server.server.onerror = (error) => errors.server.push(error);
  await Promise.all([server.connect(parts.serverTransport), client.connect(parts.clientTransport)]);
  return { client, server, ...parts, errors, handled };
}

export function isSealed(message: JSONRPCMessage): boolean {
  return openEnvelope(message).kind === "sealed";
}
