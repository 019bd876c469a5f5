// The sealed transports over real Streamable HTTP (node:http, the SDK's HTTP transports): calls, concurrency across
// rekeys with frames arriving out of order, several sessions, server notifications, and plain clients refused.
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport, type StreamableHTTPClientTransportOptions } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { ToolListChangedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { SessionError, SessionErrorCode } from "../../runtime/session/errors.js";
import { PlainHttpEndpoint, PqcClientTransport, SealedHttpEndpoint, type PqcClientTransportOptions, type SealedHttpEndpointOptions } from "../../runtime/transport/index.js";
import { T0, serverFixture } from "../session/fixtures.js";
import { echoServer } from "./harness.js";

const now = (): number => T0 + 1000;

interface Served {
  readonly url: URL;
  readonly endpoint: SealedHttpEndpoint;
  readonly servers: McpServer[];
  readonly handled: string[];
  close(): Promise<void>;
}

async function serve(options: Partial<SealedHttpEndpointOptions> = {}): Promise<Served> {
  const { credentials } = serverFixture();
  const servers: McpServer[] = [];
  const handled: string[] = [];
  const endpoint = new SealedHttpEndpoint({
    credentials,
    now,
    connect: (transport) => {
      const server = echoServer(handled);
      servers.push(server);
      return server.connect(transport);
    },
    ...options,
  });
  const http: Server = createServer((req, res) => void endpoint.handle(req, res));
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: new URL(`http://127.0.0.1:${port}/mcp`),
    endpoint,
    servers,
    handled,
    async close() {
      await endpoint.close();
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    },
  };
}

async function sealedClient(
  url: URL,
  options: Partial<PqcClientTransportOptions> = {},
  httpOptions: StreamableHTTPClientTransportOptions = {},
): Promise<{ client: Client; transport: PqcClientTransport }> {
  const { server } = serverFixture();
  const transport = new PqcClientTransport(new StreamableHTTPClientTransport(url, httpOptions), { trust: { serverFingerprints: [server.fingerprint] }, now, ...options });
  const client = new Client({ name: "http-test", version: "1.0.0" });
  await client.connect(transport);
  return { client, transport };
}

/** Sends a session hello and never its Finished (nor anything later): a client that stalls mid-handshake. */
async function stalledHello(url: URL): Promise<StreamableHTTPClientTransport> {
  let answered!: () => void;
  const hello = new Promise<void>((resolve) => (answered = resolve));
  const onlyTheHello: typeof fetch = async (input, init) => {
    if (init?.method !== "POST" || !String(init.body).includes('"pqguard/hello"')) return new Response(null, { status: 202 });
    const response = await fetch(input, init);
    answered();
    return response;
  };
  const inner = new StreamableHTTPClientTransport(url, { fetch: onlyTheHello });
  const transport = new PqcClientTransport(inner, { trust: { serverFingerprints: [serverFixture().server.fingerprint] }, now, handshakeTimeoutMs: 60_000 });
  void transport.start().catch(() => undefined);
  await hello;
  return inner;
}

/** A client's fetch that never opens the event stream: its GET is answered 405 (no stream) without reaching the server. */
const withoutEventStream: typeof fetch = (input, init) => (init?.method === "GET" ? Promise.resolve(new Response(null, { status: 405 })) : fetch(input, init));

const text = (result: unknown): string => ((result as { content: { text: string }[] }).content[0]!).text;

describe("sealed transport over Streamable HTTP", function () {
  this.timeout(30_000);

  it("carries tools/call and exposes the same session facts on both ends", async () => {
    const served = await serve();
    try {
      const { client, transport } = await sealedClient(served.url);
      assert.equal(text(await client.callTool({ name: "echo", arguments: { text: "over http" } })), "over http");
      assert.deepEqual(served.handled, ["over http"]);
      assert.equal(served.endpoint.size, 1);
      assert.equal(transport.sessionInfo?.suite.hybrid, true);
      await client.close();
    } finally {
      await served.close();
    }
  });

  it("answers 300 concurrent calls, each over its own HTTP request, across rekeys", async () => {
    const served = await serve({ rekeyAfterMessages: 16 });
    try {
      const { client, transport } = await sealedClient(served.url, { rekeyAfterMessages: 16 });
      const texts = Array.from({ length: 300 }, (_, i) => `call ${i}`);
      const results = await Promise.all(texts.map((t) => client.callTool({ name: "echo", arguments: { text: t } })));
      assert.deepEqual(results.map(text), texts);
      assert.deepEqual([...served.handled].sort(), [...texts].sort());
      assert.ok((transport.sessionInfo?.rekeys ?? 0) >= 2 * Math.floor(300 / 16) - 2, `rekeys: ${transport.sessionInfo?.rekeys}`);
      await client.close();
    } finally {
      await served.close();
    }
  });

  it("keeps concurrent clients in separate sessions, each with its own keys", async () => {
    const served = await serve();
    try {
      const clients = await Promise.all([sealedClient(served.url), sealedClient(served.url), sealedClient(served.url)]);
      const answers = await Promise.all(clients.map(({ client }, i) => client.callTool({ name: "echo", arguments: { text: `client ${i}` } })));
      assert.deepEqual(answers.map(text), ["client 0", "client 1", "client 2"]);
      const ids = new Set(clients.map(({ transport }) => transport.sessionInfo!.sessionId));
      assert.equal(ids.size, 3);
      assert.equal(served.endpoint.size, 3);
      await Promise.all(clients.map(({ client }) => client.close()));
    } finally {
      await served.close();
    }
  });

  it("delivers a server's list_changed notification sent before the client's event stream opened", async () => {
    const served = await serve();
    try {
      const { client, transport } = await sealedClient(served.url);
      let changed = 0;
      client.setNotificationHandler(ToolListChangedNotificationSchema, () => void (changed += 1));
      // At once, before the client's GET event stream can be open: the endpoint holds the announcement until it is.
      served.servers[0]!.registerTool("late", { description: "added later", inputSchema: { n: z.number() } }, async () => ({ content: [] }));
      for (let i = 0; i < 100 && changed === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(changed, 1, "the tools/list_changed notification arrived once");
      const { tools } = await client.listTools();
      assert.deepEqual(tools.map((t) => t.name).sort(), ["echo", "late"]);
      // Closing from the server's side is clean: its close frame and every frame before it reach the client.
      const clientErrors: unknown[] = [];
      transport.onerror = (error) => clientErrors.push(error);
      let clientClosed = false;
      void transport.closed.then(() => (clientClosed = true));
      await served.servers[0]!.close();
      for (let i = 0; i < 100 && !clientClosed; i++) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(clientClosed, true, "the client saw the server's sealed close");
      assert.deepEqual(clientErrors, []);
    } finally {
      await served.close();
    }
  });

  it("fails a session whose client never opens its event stream once the held messages pass their byte limit", async () => {
    const reported: Error[] = [];
    const served = await serve({ onSessionError: (error) => reported.push(error) });
    try {
      const { client } = await sealedClient(served.url, {}, { fetch: withoutEventStream });
      const server = served.servers[0]!.server.transport!;
      // Notifications of 1 MiB each: far below the count limit, they must still not pile up without bound.
      const big = { jsonrpc: "2.0" as const, method: "notifications/message", params: { level: "info", data: "x".repeat(1024 * 1024) } };
      const outcomes: unknown[] = [];
      for (let i = 0; i < 16; i++) outcomes.push(await server.send(big).then(() => "held", (error: unknown) => error));
      const refused = outcomes.find((outcome) => outcome !== "held");
      assert.ok(refused instanceof SessionError && refused.code === SessionErrorCode.EventStreamBacklog, `outcomes: ${outcomes.map(String).join(", ")}`);
      assert.ok(outcomes.indexOf(refused) < 8, `${outcomes.indexOf(refused)} messages of 1 MiB were held`);
      for (let i = 0; i < 50 && served.endpoint.size > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(served.endpoint.size, 0, "the session was closed and forgotten");
      assert.ok(reported.some((error) => error instanceof SessionError && error.code === SessionErrorCode.EventStreamBacklog));
      await client.close();
    } finally {
      await served.close();
    }
  });

  it("fails and forgets a session whose server factory throws instead of rejecting", async () => {
    const reported: Error[] = [];
    const broken = new Error("the server factory is broken");
    const served = await serve({
      connect: () => {
        throw broken;
      },
      onSessionError: (error) => reported.push(error),
    });
    try {
      await assert.rejects(sealedClient(served.url, { handshakeTimeoutMs: 2_000 }));
      assert.equal(served.endpoint.size, 0, "the session is not counted as still opening");
      assert.deepEqual(reported, [broken]);
    } finally {
      await served.close();
    }
  });

  it("forgets a session when its client closes", async () => {
    const served = await serve();
    try {
      const { client } = await sealedClient(served.url);
      assert.equal(served.endpoint.size, 1);
      await client.close();
      for (let i = 0; i < 50 && served.endpoint.size > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(served.endpoint.size, 0);
    } finally {
      await served.close();
    }
  });

  it("leaves no idle timer holding a session once it has closed", async () => {
    // Idle timers are unref'd, so a lingering one does not show in the process's active resources: it keeps the closed
    // session (and its MCP server) in memory until it fires. Watch the timers armed with this endpoint's idle time.
    const idleMs = 987_654;
    const armed = new Set<unknown>();
    const { setTimeout: realSet, clearTimeout: realClear } = globalThis;
    globalThis.setTimeout = ((callback: () => void, ms?: number) => {
      const timer = realSet(() => (armed.delete(timer), callback()), ms);
      if (ms === idleMs) armed.add(timer);
      return timer;
    }) as typeof setTimeout;
    globalThis.clearTimeout = ((timer: NodeJS.Timeout | undefined) => (armed.delete(timer), realClear(timer))) as typeof clearTimeout;
    try {
      const served = await serve({ idleTimeoutMs: idleMs });
      try {
        for (let i = 0; i < 3; i++) {
          const { client } = await sealedClient(served.url);
          await client.callTool({ name: "echo", arguments: { text: `call ${i}` } });
          await client.close();
        }
        for (let i = 0; i < 50 && served.endpoint.size > 0; i++) await new Promise((resolve) => realSet(resolve, 20));
        await new Promise((resolve) => realSet(resolve, 200));
        assert.equal(served.endpoint.size, 0);
        assert.equal(armed.size, 0, `${armed.size} idle timers still armed for closed sessions`);
      } finally {
        await served.close();
      }
    } finally {
      globalThis.setTimeout = realSet;
      globalThis.clearTimeout = realClear;
    }
  });

  it("tells a plain MCP client that the endpoint needs the post-quantum session", async () => {
    const served = await serve();
    try {
      const client = new Client({ name: "plain", version: "1.0.0" });
      await assert.rejects(client.connect(new StreamableHTTPClientTransport(served.url)), /requires the pqguard post-quantum session/);
      assert.equal(served.endpoint.size, 0);
      assert.deepEqual(served.handled, []);
    } finally {
      await served.close();
    }
  });

  it("answers an unknown session id with 404, a missing one with 400, and junk with a parse error", async () => {
    const served = await serve();
    try {
      const post = (body: string, headers: Record<string, string> = {}) =>
        fetch(served.url, { method: "POST", body, headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers } });
      const unknown = await post(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }), { "mcp-session-id": "no-such-session" });
      assert.equal(unknown.status, 404);
      const missing = await post(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }));
      assert.equal(missing.status, 400);
      const junk = await post("{not json");
      assert.equal(junk.status, 400);
      assert.equal(((await junk.json()) as { error: { code: number } }).error.code, -32700);
      const get = await fetch(served.url, { method: "GET", headers: { accept: "text/event-stream" } });
      assert.equal(get.status, 400);
      assert.equal(served.endpoint.size, 0);
    } finally {
      await served.close();
    }
  });

  it("answers a body over the size limit with 413, never a reset connection", async () => {
    const served = await serve({ maxBodyBytes: 64 * 1024 });
    try {
      // Over the limit for opening a session, and for a session's own requests (a sealed call too large to carry).
      // Destroying the request while its body still arrives reset the connection now and then, or left it hanging.
      const headers = { "content-type": "application/json", accept: "application/json, text/event-stream" };
      const statuses: (number | string)[] = [];
      for (const size of [200_000, 1_000_000]) {
        for (let i = 0; i < 10; i++) {
          const response = await fetch(served.url, { method: "POST", body: "x".repeat(size), headers, signal: AbortSignal.timeout(5_000) }).catch(
            (error: unknown) => `${(error as Error).message}: ${String((error as Error).cause)}`,
          );
          statuses.push(typeof response === "string" ? response : (await response.text(), response.status));
        }
      }
      assert.deepEqual(statuses, statuses.map(() => 413));
      const { client } = await sealedClient(served.url);
      for (let i = 0; i < 5; i++) {
        await assert.rejects(client.callTool({ name: "echo", arguments: { text: "x".repeat(256 * 1024) } }), /request body exceeds 65536 bytes/);
      }
      await client.close();
    } finally {
      await served.close();
    }
  });

  it("refuses a new session beyond the limit with 503, and a client that does not trust the server", async () => {
    const served = await serve({ maxSessions: 1 });
    try {
      const first = await sealedClient(served.url);
      const second = new PqcClientTransport(new StreamableHTTPClientTransport(served.url), { trust: { serverFingerprints: [serverFixture().server.fingerprint] }, now });
      await assert.rejects(new Client({ name: "second", version: "1" }).connect(second));
      await first.client.close();
    } finally {
      await served.close();
    }
  });

  it("serves plain MCP sessions from PlainHttpEndpoint, and forgets them on close", async () => {
    const handled: string[] = [];
    const endpoint = new PlainHttpEndpoint({ connect: (transport) => echoServer(handled).connect(transport) });
    const http = createServer((req, res) => void endpoint.handle(req, res));
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    const url = new URL(`http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`);
    try {
      const clients = [new Client({ name: "a", version: "1" }), new Client({ name: "b", version: "1" })];
      const transports = clients.map(() => new StreamableHTTPClientTransport(url));
      await Promise.all(clients.map((client, i) => client.connect(transports[i]!)));
      const answers = await Promise.all(clients.map((client, i) => client.callTool({ name: "echo", arguments: { text: `plain ${i}` } })));
      assert.deepEqual(answers.map(text), ["plain 0", "plain 1"]);
      assert.equal(endpoint.size, 2);
      await transports[0]!.terminateSession();
      assert.equal(endpoint.size, 1);
      await Promise.all(clients.map((client) => client.close()));
    } finally {
      await endpoint.close();
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    }
  });

  it("answers a call as one JSON body by default, and as events when so configured", async () => {
    const served = await serve();
    const types: string[] = [];
    /** Each answer's `content-length` and the bytes of its body: a complete answer says its length, and it holds. */
    const lengths: [string | null, number][] = [];
    const noting: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (init?.method === "POST" && response.status === 200) {
        types.push(response.headers.get("content-type") ?? "");
        lengths.push([response.headers.get("content-length"), Buffer.byteLength(await response.clone().text())]);
      }
      return response;
    };
    try {
      const { client } = await sealedClient(served.url, {}, { fetch: noting });
      assert.equal(text(await client.callTool({ name: "echo", arguments: { text: "as json" } })), "as json");
      assert.ok(types.length > 0 && types.every((type): boolean => type === "application/json"), types.join(", "));
      await client.close();
    } finally {
      await served.close();
    }
    const asEvents = await serve({ answers: "events" });
    types.length = 0;
    try {
      const { client } = await sealedClient(asEvents.url, {}, { fetch: noting });
      assert.equal(text(await client.callTool({ name: "echo", arguments: { text: "as events" } })), "as events");
      assert.ok(types.length > 0 && types.every((type) => type === "text/event-stream"), types.join(", "));
      assert.ok(lengths.length > 0 && lengths.every(([header, bytes]) => header === String(bytes)), JSON.stringify(lengths));
      await client.close();
    } finally {
      await asEvents.close();
    }
  });

  it("frees the slot of a session the HTTP transport refused to open, and of a plain one", async () => {
    const served = await serve();
    const plain = new PlainHttpEndpoint({ connect: (transport) => echoServer([]).connect(transport) });
    const http = createServer((req, res) => void plain.handle(req, res));
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    const plainUrl = new URL(`http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`);
    try {
      const initialize = { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "x", version: "1" } } };
      // A browser's "simple" cross-origin POST: text/plain, Accept */*. The SDK refuses it with 406.
      const simple = (url: URL, body: unknown) => fetch(url, { method: "POST", body: JSON.stringify(body), headers: { "content-type": "text/plain", accept: "*/*" } });
      for (let i = 0; i < 3; i++) assert.equal((await simple(plainUrl, initialize)).status, 406);
      assert.equal(plain.size, 0);
      const hello = { ...initialize, id: "pqguard/hello", params: { ...initialize.params, "pqguard/handshake": "AA" } };
      assert.equal((await simple(served.url, hello)).status, 406);
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(served.endpoint.size, 0);
      // A response-shaped message carrying handshake bytes does not open a session at all.
      const response = await fetch(served.url, { method: "POST", body: JSON.stringify({ jsonrpc: "2.0", id: "pqguard/hello", result: { "pqguard/handshake": "AA" } }), headers: { "content-type": "application/json", accept: "application/json, text/event-stream" } });
      assert.equal(response.status, 400);
      assert.equal(served.endpoint.size, 0);
    } finally {
      await plain.close();
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
      await served.close();
    }
  });

  it("evicts the oldest unfinished handshake rather than refusing a new client", async () => {
    const served = await serve({ maxOpeningSessions: 2 });
    try {
      const stalled: StreamableHTTPClientTransport[] = [];
      for (let i = 0; i < 3; i++) stalled.push(await stalledHello(served.url));
      assert.ok(served.endpoint.size <= 2, `size ${served.endpoint.size}`);
      const { client } = await sealedClient(served.url);
      assert.equal(text(await client.callTool({ name: "echo", arguments: { text: "still served" } })), "still served");
      await client.close();
      await Promise.all(stalled.map((inner) => inner.close()));
    } finally {
      await served.close();
    }
  });

  it("evicts an unfinished handshake for a new client even when the endpoint is full", async () => {
    const served = await serve({ maxSessions: 2, maxOpeningSessions: 2 });
    try {
      const stalled = [await stalledHello(served.url), await stalledHello(served.url)];
      assert.equal(served.endpoint.size, 2);
      const { client } = await sealedClient(served.url);
      assert.equal(text(await client.callTool({ name: "echo", arguments: { text: "let in" } })), "let in");
      await client.close();
      await Promise.all(stalled.map((inner) => inner.close()));
    } finally {
      await served.close();
    }
  });

  it("does not expire a session while a call is still running", async () => {
    const handled: string[] = [];
    const served = await serve({
      idleTimeoutMs: 300,
      connect: (transport) => {
        const server = echoServer(handled);
        server.registerTool("slow", { description: "takes its time", inputSchema: { ms: z.number() } }, async ({ ms }) => {
          await new Promise((resolve) => setTimeout(resolve, ms));
          return { content: [{ type: "text", text: `slept ${ms}` }] };
        });
        return server.connect(transport);
      },
    });
    try {
      const { client } = await sealedClient(served.url);
      assert.equal(text(await client.callTool({ name: "slow", arguments: { ms: 900 } })), "slept 900");
      await client.close();
    } finally {
      await served.close();
    }
  });
});
