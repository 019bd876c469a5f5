// SDK v2 clients through the proxy: the default (2025, initialize) and `auto` negotiation modes are served and decided
// as any client. A client pinned to revision 2026-07-28 (stateless: server/discover, no initialize) is passed through
// to an SDK v2 upstream that speaks it (stdio, and createMcpHandler over HTTP), every call still decided by the proxy;
// against an upstream that does not (SDK v1) it is refused with a clear typed error (PQG8020) before anything is
// decided or forwarded, as is any request naming that revision.
import assert from "node:assert/strict";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { Client, InMemoryTransport } from "@modelcontextprotocol/client";
import { createMcpHandler } from "@modelcontextprotocol/server";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { silentLogger, type AuditDecision } from "../../runtime/audit/index.js";
import { createProxy, type Proxy, type UpstreamTarget } from "../../runtime/proxy/index.js";
import { echoDigests, echoGuard, echoServer } from "../enforce/fixtures-v2.js";
import { serveMcpHandler } from "./fixtures/mcp-handler.js";
import { failureOf, flakyProxy, until } from "./harness.js";

const V2_STDIO_SERVER = fileURLToPath(new URL("./fixtures/v2-echo-server.ts", import.meta.url));
const PINNED = { mode: { pin: "2026-07-28" } } as const;

type Negotiation = ConstructorParameters<typeof Client>[1] extends infer O ? (O extends { versionNegotiation?: infer N } ? N : never) : never;

async function v2Client(proxy: Proxy, versionNegotiation?: Negotiation): Promise<Client> {
  const [clientEnd, proxyEnd] = InMemoryTransport.createLinkedPair();
  await proxy.core.attachPlain(proxyEnd as unknown as Transport);
  const client = new Client({ name: "v2-client", version: "1.0.0" }, versionNegotiation === undefined ? {} : { versionNegotiation });
  await client.connect(clientEnd);
  return client;
}

describe("SDK v2 clients through the proxy", function () {
  this.timeout(30_000);
  let proxy: Proxy;
  const lines: AuditDecision[] = [];
  before(async () => {
    proxy = flakyProxy({}, { failure: undefined, append: (line) => void lines.push(line) });
    await proxy.start();
  });
  after(async () => {
    await proxy.close();
  });

  for (const [mode, negotiation] of [["default", undefined], ["auto", { mode: "auto" }]] as const) {
    it(`serves a client in ${mode} negotiation mode: lists the pinned tools and decides its calls`, async () => {
      const client = await v2Client(proxy, negotiation as Negotiation);
      const names = (await client.listTools()).tools.map((tool) => tool.name);
      assert.ok(names.includes("echo") && !names.includes("secret"), String(names));
      const result = (await client.callTool({ name: "echo", arguments: { text: "hello" } })) as { content: { text: string }[] };
      assert.match(result.content[0]!.text, /hello/);
      const denied = await failureOf(client.callTool({ name: "echo", arguments: { text: "deny-this" } }));
      assert.equal((denied.data as { code?: string } | undefined)?.code, "PQG7301");
      await client.close();
    });
  }

  it("refuses a client pinned to 2026-07-28 with PQG8020 at connect when the upstream (SDK v1) does not speak it", async () => {
    const before = lines.length;
    const [clientEnd, proxyEnd] = InMemoryTransport.createLinkedPair();
    await proxy.core.attachPlain(proxyEnd as unknown as Transport);
    const client = new Client({ name: "pinned", version: "1.0.0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
    const failure = await failureOf(client.connect(clientEnd));
    assert.match(failure.message, /2026-07-28.*server\/discover|server\/discover.*2026-07-28/, failure.message);
    // Closing may take a moment (the server's process exits), but the session is marked closed at once.
    assert.equal(proxy.core.upstreams.filter((session) => session.supervisor.modern !== undefined && !session.closed).length, 0, "the probing session was closed");
    assert.equal(lines.length, before, "nothing was decided");
    await clientEnd.close();
  });

  it("refuses, undecided and unforwarded, a tools/call naming revision 2026-07-28 that the upstream does not speak", async () => {
    const before = lines.length;
    const [clientEnd, proxyEnd] = InMemoryTransport.createLinkedPair();
    await proxy.core.attachPlain(proxyEnd as unknown as Transport);
    const replies: Record<string, unknown>[] = [];
    clientEnd.onmessage = (message) => void replies.push(message as Record<string, unknown>);
    await clientEnd.start();
    await clientEnd.send({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: { name: "echo", arguments: { text: "hi" }, _meta: { "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {} } },
    });
    // The refusal comes once the upstream's answer to `server/discover` does: a server process to start, under load too.
    await until(() => replies.length > 0, 20_000, "the refusal");
    const error = replies[0]?.error as { code: number; data: { code: string; supported: string[]; requested: string } } | undefined;
    assert.equal(error?.code, -32022);
    assert.equal(error?.data.code, "PQG8020");
    assert.equal(error?.data.requested, "2026-07-28");
    assert.ok(error?.data.supported.includes("2025-11-25"));
    assert.match(String((error?.data as { reason?: unknown } | undefined)?.reason), /upstream server does not speak it/);
    assert.equal(lines.length, before, "nothing was decided or forwarded");
    await clientEnd.close();
  });
});

const textOf = (result: unknown): string => ((result as { content: { text: string }[] }).content[0]?.text ?? "");

for (const kind of ["stdio", "Streamable HTTP (createMcpHandler)"] as const) {
  describe(`a client pinned to 2026-07-28 through the proxy to an SDK v2 upstream over ${kind}`, function () {
    this.timeout(60_000);
    const lines: AuditDecision[] = [];
    const ran: string[] = [];
    let proxy: Proxy;
    let http: Awaited<ReturnType<typeof serveMcpHandler>> | undefined;

    before(async () => {
      let upstream: UpstreamTarget;
      if (kind === "stdio") upstream = { command: process.execPath, args: ["--import", "tsx", V2_STDIO_SERVER], stderr: "ignore" };
      else {
        http = await serveMcpHandler(createMcpHandler(() => echoServer(ran).server));
        upstream = { url: http.url };
      }
      proxy = createProxy({ upstream, guard: echoGuard(await echoDigests(), { limit: 2 }), logger: silentLogger(), audit: { failure: undefined, append: (line) => void lines.push(line) } });
      await proxy.start();
    });
    after(async () => {
      await proxy?.close();
      await http?.close();
    });

    async function pinnedClient(): Promise<Client> {
      const [clientEnd, proxyEnd] = InMemoryTransport.createLinkedPair();
      await proxy.core.attachPlain(proxyEnd as unknown as Transport);
      const client = new Client({ name: "pinned", version: "1.0.0" }, { versionNegotiation: PINNED });
      await client.connect(clientEnd);
      return client;
    }

    it("discovers through the proxy, lists the policy's tools, runs an allowed call, refuses a denied one, and limits calls", async () => {
      const client = await pinnedClient();
      assert.equal(client.getNegotiatedProtocolVersion?.() ?? "2026-07-28", "2026-07-28");
      const modern = proxy.core.upstreams.filter((session) => session.supervisor.modern === "2026-07-28");
      assert.equal(modern.length, 1, "a session speaking the revision was opened for the client");
      assert.deepEqual((await client.listTools()).tools.map((tool) => tool.name), ["echo"]);
      assert.equal(textOf(await client.callTool({ name: "echo", arguments: { text: "one" } })), "one");
      const denied = await failureOf(client.callTool({ name: "echo", arguments: { text: "far too long for the policy" } }));
      assert.equal((denied.data as { code?: string } | undefined)?.code, "PQG7301");
      const hidden = await failureOf(client.callTool({ name: "secret", arguments: {} }));
      assert.ok(["PQG7303", "PQG7304"].includes(String((hidden.data as { code?: string } | undefined)?.code)), JSON.stringify(hidden.data));
      assert.equal(textOf(await client.callTool({ name: "echo", arguments: { text: "two" } })), "two");
      const limited = await failureOf(client.callTool({ name: "echo", arguments: { text: "three" } }));
      assert.match(String((limited.data as { reason?: string } | undefined)?.reason), /rate limit/);
      if (kind !== "stdio") assert.deepEqual(ran, ["one", "two"], "only the allowed calls reached the server");
      const decided = lines.filter((line) => line.tool === "echo" || line.tool === "secret");
      assert.equal(decided.length, 5, "every call was decided by the proxy");
      assert.equal(new Set(decided.map((line) => line.sessionId)).size, 1, "the client's calls share one state key");
      await client.close();
    });

    it("serves a 2025 client (initialize) beside it, keyed as the same unauthenticated client for `per client` limits", async () => {
      const [clientEnd, proxyEnd] = InMemoryTransport.createLinkedPair();
      await proxy.core.attachPlain(proxyEnd as unknown as Transport);
      const client = new Client({ name: "legacy", version: "1.0.0" });
      await client.connect(clientEnd);
      assert.deepEqual((await client.listTools()).tools.map((tool) => tool.name), ["echo"]);
      const limited = await failureOf(client.callTool({ name: "echo", arguments: { text: "old" } }));
      assert.match(String((limited.data as { reason?: string } | undefined)?.reason), /rate limit of 2 calls per 1h per client/);
      const sessions = new Set(lines.filter((line) => line.tool === "echo").map((line) => line.sessionId));
      assert.equal(sessions.size, 2, "each connection is its own session");
      await client.close();
    });

    it("refuses, unforwarded, a request without its envelope on a connection of the revision: the proxy lends no identity", async () => {
      const before = lines.length;
      const [clientEnd, proxyEnd] = InMemoryTransport.createLinkedPair();
      await proxy.core.attachPlain(proxyEnd as unknown as Transport);
      const replies: Record<string, unknown>[] = [];
      clientEnd.onmessage = (message) => void replies.push(message as Record<string, unknown>);
      await clientEnd.start();
      const envelope = { "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}, "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1" } };
      await clientEnd.send({ jsonrpc: "2.0", id: 1, method: "server/discover", params: { _meta: envelope } });
      await clientEnd.send({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "echo", arguments: { text: "bare" } } });
      await clientEnd.send({ jsonrpc: "2.0", id: 3, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "raw", version: "1" } } });
      await until(() => replies.length >= 3, 20_000, "three answers");
      const byId = new Map(replies.map((reply) => [reply.id, reply]));
      assert.deepEqual((byId.get(1)?.result as { supportedVersions?: string[] } | undefined)?.supportedVersions, ["2026-07-28"]);
      for (const id of [2, 3]) {
        const error = byId.get(id)?.error as { code?: number; message?: string } | undefined;
        assert.equal(error?.code, -32602, JSON.stringify(error));
        assert.match(String(error?.message), /must carry the revision's `_meta` envelope/);
      }
      assert.equal(lines.length, before, "nothing was decided");
      assert.ok(!ran.includes("bare"), "nothing was forwarded");
      await clientEnd.close();
    });

    it("refuses a request naming a revision the proxy does not know, opening nothing for it", async () => {
      const before = proxy.core.upstreams.length;
      const [clientEnd, proxyEnd] = InMemoryTransport.createLinkedPair();
      await proxy.core.attachPlain(proxyEnd as unknown as Transport);
      const replies: Record<string, unknown>[] = [];
      clientEnd.onmessage = (message) => void replies.push(message as Record<string, unknown>);
      await clientEnd.start();
      await clientEnd.send({ jsonrpc: "2.0", id: 1, method: "tools/list", params: { _meta: { "io.modelcontextprotocol/protocolVersion": "2099-01-01", "io.modelcontextprotocol/clientCapabilities": {} } } });
      for (let i = 0; i < 100 && replies.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      const error = replies[0]?.error as { code: number; data: { code: string } } | undefined;
      assert.equal(error?.code, -32022);
      assert.equal(error?.data.code, "PQG8020");
      assert.equal(proxy.core.upstreams.length, before);
      await clientEnd.close();
    });
  });
}

describe("clients pinned to 2026-07-28 in shared upstream mode", function () {
  this.timeout(60_000);
  it("serves them all on one upstream session that speaks the revision, beside the shared 2025 one", async () => {
    const proxy = createProxy({
      upstream: { command: process.execPath, args: ["--import", "tsx", V2_STDIO_SERVER], stderr: "ignore" },
      guard: echoGuard(await echoDigests()),
      logger: silentLogger(),
      upstreamMode: "shared",
    });
    await proxy.start();
    try {
      const clients: Client[] = [];
      for (const name of ["a", "b"]) {
        const [clientEnd, proxyEnd] = InMemoryTransport.createLinkedPair();
        await proxy.core.attachPlain(proxyEnd as unknown as Transport);
        const client = new Client({ name, version: "1.0.0" }, { versionNegotiation: PINNED });
        await client.connect(clientEnd);
        clients.push(client);
      }
      for (const [i, client] of clients.entries()) assert.equal(textOf(await client.callTool({ name: "echo", arguments: { text: `c${i}` } })), `c${i}`);
      assert.deepEqual(proxy.core.upstreams.map((session) => session.supervisor.modern ?? "2025"), ["2025", "2026-07-28"]);
      for (const client of clients) await client.close();
    } finally {
      await proxy.close();
    }
  });
});
