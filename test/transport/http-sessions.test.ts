// The HTTP endpoint's session table under attack: anonymous clients that fill it and hold it with open event streams,
// one source that takes many seats, forged X-Forwarded-For headers, and an HTTP DELETE used to end a sealed session
// whose frames were cut. Each test plays the attacker against the real endpoint over node:http.
import assert from "node:assert/strict";
import { createServer, request, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { networkInterfaces } from "node:os";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { SessionError, SessionErrorCode } from "../../runtime/session/errors.js";
import { sourceOf, blockListOf } from "../../runtime/transport/http.js";
import { PqcClientTransport, SealedHttpEndpoint, openEnvelope, type PqcClientTransportOptions, type SealedHttpEndpointOptions } from "../../runtime/transport/index.js";
import { T0, clientFixture, serverFixture } from "../session/fixtures.js";
import { echoServer } from "./harness.js";

const now = (): number => T0 + 1000;
const text = (result: unknown): string => ((result as { content: { text: string }[] }).content[0]!).text;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Served {
  readonly url: URL;
  readonly endpoint: SealedHttpEndpoint;
  readonly reported: Error[];
  readonly serverErrors: Error[];
  close(): Promise<void>;
}

async function serve(options: Partial<SealedHttpEndpointOptions> = {}, host = "127.0.0.1"): Promise<Served> {
  const { credentials } = serverFixture();
  const reported: Error[] = [];
  const serverErrors: Error[] = [];
  const servers: McpServer[] = [];
  const endpoint = new SealedHttpEndpoint({
    credentials,
    now,
    onSessionError: (error) => reported.push(error),
    connect: (transport) => {
      transport.onerror = (error) => serverErrors.push(error);
      const server = echoServer([]);
      servers.push(server);
      return server.connect(transport);
    },
    ...options,
  });
  const http: Server = createServer((req, res) => void endpoint.handle(req, res));
  // Many clients at once: no keep-alive limit in the way of the test.
  http.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => http.listen(0, host, resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: new URL(`http://${host}:${port}/mcp`),
    endpoint,
    reported,
    serverErrors,
    async close() {
      await endpoint.close();
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    },
  };
}

const trustedIssuer = (): SealedHttpEndpointOptions["clientTrust"] => ({ issuers: [clientFixture().issuer.fingerprint] });
const authenticated = (): Partial<PqcClientTransportOptions> => ({ clientIdentity: clientFixture().client, clientCertificate: clientFixture().certificate });

/** A full MCP client over the sealed session, optionally sending X-Forwarded-For. */
async function sealedClient(url: URL, options: Partial<PqcClientTransportOptions> = {}, forwardedFor?: string): Promise<Client> {
  const headers = forwardedFor === undefined ? undefined : { "x-forwarded-for": forwardedFor };
  const inner = new StreamableHTTPClientTransport(url, headers === undefined ? {} : { requestInit: { headers } });
  const transport = new PqcClientTransport(inner, { trust: { serverFingerprints: [serverFixture().server.fingerprint] }, now, ...options });
  const client = new Client({ name: "http-sessions-test", version: "1.0.0" });
  await client.connect(transport);
  return client;
}

/** What an attacker holds: a finished anonymous handshake and an open event stream, and nothing else ever sent. */
interface Squatter {
  readonly transport: PqcClientTransport;
  readonly stream: IncomingMessage | undefined;
}

/** Completes the handshake without `initialize`, then opens the session's event stream and never reads a call's answer. */
async function squat(url: URL, forwardedFor: string): Promise<Squatter> {
  const headers = { "x-forwarded-for": forwardedFor };
  const inner = new StreamableHTTPClientTransport(url, { requestInit: { headers } });
  const transport = new PqcClientTransport(inner, { trust: { serverFingerprints: [serverFixture().server.fingerprint] }, now });
  await transport.start();
  // The client is sure of the server after its hello; the server seats the client when the Finished arrives.
  await sleep(5);
  const sessionId = inner.sessionId!;
  const stream = await new Promise<IncomingMessage | undefined>((resolve) => {
    const req = request(url, { method: "GET", headers: { ...headers, accept: "text/event-stream", "mcp-session-id": sessionId } }, (res) => resolve(res.statusCode === 200 ? res : (res.resume(), undefined)));
    req.on("error", () => resolve(undefined));
    req.end();
  });
  return { transport, stream };
}

/** Sends a session hello from `forwardedFor` and never its Finished: a handshake left hanging. */
async function stalledHello(url: URL, forwardedFor: string): Promise<void> {
  let answered!: () => void;
  const hello = new Promise<void>((resolve) => (answered = resolve));
  const onlyTheHello: typeof fetch = async (input, init) => {
    if (init?.method !== "POST" || !String(init.body).includes('"pqguard/hello"')) return new Response(null, { status: 202 });
    const response = await fetch(input, init);
    answered();
    return response;
  };
  const inner = new StreamableHTTPClientTransport(url, { fetch: onlyTheHello, requestInit: { headers: { "x-forwarded-for": forwardedFor } } });
  const transport = new PqcClientTransport(inner, { trust: { serverFingerprints: [serverFixture().server.fingerprint] }, now, handshakeTimeoutMs: 60_000 });
  void transport.start().catch(() => undefined);
  await hello;
}

async function release(squatters: readonly Squatter[]): Promise<void> {
  for (const squatter of squatters) squatter.stream?.destroy();
  await Promise.all(squatters.map((squatter) => squatter.transport.close().catch(() => undefined)));
}

const tableFull = (errors: readonly Error[]): number => errors.filter((error) => error instanceof SessionError && error.code === SessionErrorCode.SessionTableFull).length;

describe("HTTP endpoint session table under attack", function () {
  this.timeout(120_000);

  it("lets an authenticated client in after 260 anonymous clients from as many addresses hold event streams open", async () => {
    // Behind a load balancer on 127.0.0.1, each attacker arrives with an address of its own: per-source limits do
    // not stop them, only the unauthenticated budget does.
    // The idle clock stands still: no squatter ever becomes idle enough to evict (eviction is the next test's subject).
    const served = await serve({ clientTrust: trustedIssuer(), trustProxy: ["127.0.0.1"], idleClock: () => 0 });
    const squatters: Squatter[] = [];
    try {
      for (let i = 0; i < 260; i++) squatters.push(await squat(served.url, `10.1.${i >> 8}.${i & 255}`));
      assert.equal(served.endpoint.size, 64, "a quarter of the 256 seats for unauthenticated sessions");
      assert.ok(tableFull(served.reported) >= 260 - 64, `${tableFull(served.reported)} refusals reported`);
      const client = await sealedClient(served.url, authenticated(), "10.9.9.9");
      assert.equal(text(await client.callTool({ name: "echo", arguments: { text: "still served" } })), "still served");
      // A newcomer without a certificate is refused while every unauthenticated seat is held and none is idle.
      await assert.rejects(sealedClient(served.url, {}, "10.9.9.10").then((anonymous) => anonymous.callTool({ name: "echo", arguments: { text: "x" } })));
      await client.close();
    } finally {
      await release(squatters);
      await served.close();
    }
  });

  it("makes a source that floods hellos push out its own unfinished handshakes, not another source's", async () => {
    const served = await serve({ maxOpeningSessions: 4, trustProxy: ["127.0.0.1"] });
    try {
      await stalledHello(served.url, "10.0.0.2");
      for (let i = 0; i < 10; i++) await stalledHello(served.url, "10.0.0.1");
      assert.equal(served.endpoint.size, 4);
      const evicted = served.reported.map((error) => error.message);
      assert.equal(evicted.length, 7, evicted.join("\n"));
      assert.ok(evicted.every((message) => message.startsWith("a session from 10.0.0.1 was evicted")), evicted.join("\n"));
    } finally {
      await served.close();
    }
    // Below the limit a source opens as many handshakes at once as it likes: sixteen clients of one host at once.
    const busy = await serve();
    try {
      const clients = await Promise.all(Array.from({ length: 16 }, () => sealedClient(busy.url)));
      for (const client of clients) assert.equal(text(await client.callTool({ name: "echo", arguments: { text: "in" } })), "in");
      assert.equal(busy.reported.length, 0, busy.reported.map(String).join("\n"));
      await Promise.all(clients.map((client) => client.close()));
    } finally {
      await busy.close();
    }
  });

  it("closes a session whose only activity is an open event stream once it has been idle", async () => {
    const served = await serve({ idleTimeoutMs: 300 });
    try {
      const client = await sealedClient(served.url);
      assert.equal(text(await client.callTool({ name: "echo", arguments: { text: "once" } })), "once");
      assert.equal(served.endpoint.size, 1);
      // The SDK client keeps its event stream open all along.
      for (let i = 0; i < 50 && served.endpoint.size > 0; i++) await sleep(50);
      assert.equal(served.endpoint.size, 0, "the session outlived its idle time on the strength of its event stream");
      await client.close();
    } finally {
      await served.close();
    }
  });

  it("evicts the least recently used idle session for a newcomer when the table is full, and only an idle one", async () => {
    let clock = 0;
    const served = await serve({ maxSessions: 3, idleClock: () => clock });
    try {
      const a = await sealedClient(served.url);
      const b = await sealedClient(served.url);
      const c = await sealedClient(served.url);
      // Nobody is idle long enough yet: the newcomer is refused rather than anyone evicted.
      await assert.rejects(sealedClient(served.url).then((d) => d.callTool({ name: "echo", arguments: { text: "x" } })));
      assert.equal(tableFull(served.reported), 1);
      clock += 60_000;
      assert.equal(text(await a.callTool({ name: "echo", arguments: { text: "a" } })), "a");
      await c.callTool({ name: "echo", arguments: { text: "c" } });
      const d = await sealedClient(served.url);
      assert.equal(text(await d.callTool({ name: "echo", arguments: { text: "d" } })), "d");
      await assert.rejects(b.callTool({ name: "echo", arguments: { text: "b" } }), /Session not found|Not connected|closed/);
      assert.equal(text(await a.callTool({ name: "echo", arguments: { text: "a again" } })), "a again");
      assert.equal(text(await c.callTool({ name: "echo", arguments: { text: "c again" } })), "c again");
      await Promise.all([a, b, c, d].map((client) => client.close()));
    } finally {
      await served.close();
    }
  });

  it("evicts an idle unauthenticated session before an older idle authenticated one", async () => {
    let clock = 0;
    const served = await serve({ maxSessions: 2, maxAnonymousSessions: 1, clientTrust: trustedIssuer(), idleClock: () => clock });
    try {
      const older = await sealedClient(served.url, authenticated());
      clock += 1_000;
      const anonymous = await sealedClient(served.url);
      clock += 60_000;
      const newer = await sealedClient(served.url, authenticated());
      assert.equal(text(await newer.callTool({ name: "echo", arguments: { text: "in" } })), "in");
      await assert.rejects(anonymous.callTool({ name: "echo", arguments: { text: "gone" } }));
      assert.equal(text(await older.callTool({ name: "echo", arguments: { text: "kept" } })), "kept");
      await Promise.all([older, anonymous, newer].map((client) => client.close()));
    } finally {
      await served.close();
    }
  });

  it("limits the unauthenticated sessions of one source, and ignores X-Forwarded-For from an address that is no trusted proxy", async function () {
    // Loopback sources are exempt (every local client shares them): the clients must come from another address.
    const address = Object.values(networkInterfaces())
      .flat()
      .find((entry) => entry !== undefined && !entry.internal && entry.family === "IPv4")?.address;
    if (address === undefined) {
      console.warn("    SKIPPED: this machine has no non-loopback IPv4 address to be a client's source");
      this.skip();
    }
    const served = await serve({ maxSessionsPerSource: 2 }, address);
    try {
      const kept = [await sealedClient(served.url, {}, "10.0.0.1"), await sealedClient(served.url, {}, "10.0.0.2")];
      // Forged addresses do not make the third client a different source: it comes from the same address as the others.
      await assert.rejects(sealedClient(served.url, {}, "10.0.0.3").then((third) => third.callTool({ name: "echo", arguments: { text: "x" } })));
      assert.ok(served.reported.some((error) => error.message.includes(`source ${address} already holds 2`)), served.reported.map(String).join("\n"));
      for (const client of kept) assert.equal(text(await client.callTool({ name: "echo", arguments: { text: "kept" } })), "kept");
      await Promise.all(kept.map((client) => client.close()));
    } finally {
      await served.close();
    }
    const behindProxy = await serve({ maxSessionsPerSource: 2, trustProxy: [`${address}/32`] }, address);
    try {
      const clients = [];
      for (const forwarded of ["10.0.0.1", "10.0.0.2", "10.0.0.3"]) clients.push(await sealedClient(behindProxy.url, {}, forwarded));
      for (const client of clients) assert.equal(text(await client.callTool({ name: "echo", arguments: { text: "ok" } })), "ok");
      await Promise.all(clients.map((client) => client.close()));
    } finally {
      await behindProxy.close();
    }
    // Local clients are not limited per source: a third from loopback gets in.
    const local = await serve({ maxSessionsPerSource: 2 });
    try {
      const clients = [await sealedClient(local.url), await sealedClient(local.url), await sealedClient(local.url)];
      for (const client of clients) assert.equal(text(await client.callTool({ name: "echo", arguments: { text: "local" } })), "local");
      await Promise.all(clients.map((client) => client.close()));
    } finally {
      await local.close();
    }
  });

  it("believes X-Forwarded-For only up to the first hop that is not a trusted proxy", () => {
    const trusted = blockListOf(["10.0.0.0/8", "::1"]);
    const req = (remoteAddress: string, forwarded?: string) => ({ socket: { remoteAddress }, headers: forwarded === undefined ? {} : { "x-forwarded-for": forwarded } }) as unknown as IncomingMessage;
    assert.equal(sourceOf(req("203.0.113.7", "198.51.100.1"), trusted), "203.0.113.7", "a client that is no proxy cannot name its source");
    assert.equal(sourceOf(req("10.0.0.5", "198.51.100.1"), trusted), "198.51.100.1");
    // The client wrote the leftmost entry itself; the balancer appended the address it saw.
    assert.equal(sourceOf(req("10.0.0.5", "1.2.3.4, 198.51.100.1, 10.0.0.9"), trusted), "198.51.100.1");
    assert.equal(sourceOf(req("::ffff:10.0.0.5", "198.51.100.1"), trusted), "198.51.100.1");
    assert.equal(sourceOf(req("::1", "garbage, 198.51.100.2"), trusted), "198.51.100.2");
    assert.equal(sourceOf(req("10.0.0.5", "198.51.100.1, not-an-address"), trusted), "10.0.0.5");
    assert.equal(sourceOf(req("10.0.0.5"), trusted), "10.0.0.5");
    assert.equal(sourceOf(req("203.0.113.7", "198.51.100.1"), undefined), "203.0.113.7");
    assert.throws(() => blockListOf(["10.0.0.0/33"]), SessionError);
    assert.throws(() => blockListOf(["example.com"]), SessionError);
  });

  it("bounds the request bodies read at once across the endpoint: a client holding large POSTs half-sent gets 503", async () => {
    const served = await serve({ maxBodyBytes: 1024 * 1024, maxBodyBytesInFlight: 2 * 1024 * 1024 });
    let sessionId: string | undefined;
    const remember: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      sessionId ??= response.headers.get("mcp-session-id") ?? undefined;
      return response;
    };
    const transport = new PqcClientTransport(new StreamableHTTPClientTransport(served.url, { fetch: remember }), { trust: { serverFingerprints: [serverFixture().server.fingerprint] }, now });
    const client = new Client({ name: "bodies", version: "1" });
    const held: ReturnType<typeof request>[] = [];
    try {
      await client.connect(transport);
      const statuses: Promise<number>[] = [];
      for (let i = 0; i < 4; i++) {
        const req = request(served.url, { method: "POST", headers: { "content-type": "application/json", accept: "application/json, text/event-stream", "mcp-session-id": sessionId!, "content-length": 1_000_000 } });
        statuses.push(new Promise((resolve) => req.once("response", (res) => (res.resume(), resolve(res.statusCode ?? 0))).once("error", () => resolve(-1))));
        req.write("x".repeat(900_000));
        held.push(req);
        await sleep(100);
      }
      const refused = await Promise.race([Promise.any(statuses), sleep(5_000).then(() => 0)]);
      assert.equal(refused, 503, "no POST was refused while 3.6 MB of bodies were being read against a 2 MiB budget");
      for (const req of held) req.destroy();
      await sleep(100);
      // What the refused and abandoned bodies held is back in the budget: calls go through.
      assert.equal(text(await client.callTool({ name: "echo", arguments: { text: "y".repeat(500_000) } })).length, 500_000);
      await client.close();
    } finally {
      for (const req of held) req.destroy();
      await served.close();
    }
  });

  it("refuses an HTTP DELETE on a sealed session, so a dropped frame is still reported at the sealed close", async () => {
    const served = await serve();
    let sessionId: string | undefined;
    let dropNext = false;
    let dropped = 0;
    // The attacker on the path: drops one sealed frame on its way to the server, then tries to end the session cleanly.
    const onPath: typeof fetch = async (input, init) => {
      if (init?.method === "POST" && dropNext && openEnvelope(JSON.parse(String(init.body))).kind === "sealed") {
        dropNext = false;
        dropped += 1;
        return new Response(null, { status: 202 });
      }
      const response = await fetch(input, init);
      sessionId ??= response.headers.get("mcp-session-id") ?? undefined;
      return response;
    };
    try {
      const transport = new PqcClientTransport(new StreamableHTTPClientTransport(served.url, { fetch: onPath }), { trust: { serverFingerprints: [serverFixture().server.fingerprint] }, now });
      const client = new Client({ name: "cut", version: "1" }, { capabilities: { roots: { listChanged: true } } });
      await client.connect(transport);
      dropNext = true;
      await client.notification({ method: "notifications/roots/list_changed" });
      assert.equal(dropped, 1);
      const deleted = await fetch(served.url, { method: "DELETE", headers: { "mcp-session-id": sessionId! } });
      assert.equal(deleted.status, 405);
      assert.match(await deleted.text(), /ends only with its sealed close/);
      assert.equal(served.endpoint.size, 1, "the DELETE did not end the session");
      assert.equal(text(await client.callTool({ name: "echo", arguments: { text: "still open" } })), "still open");
      await client.close();
      for (let i = 0; i < 100 && !served.serverErrors.some((error) => error instanceof SessionError && error.code === SessionErrorCode.StreamTruncated); i++) await sleep(50);
      assert.ok(
        served.serverErrors.some((error) => error instanceof SessionError && error.code === SessionErrorCode.StreamTruncated),
        `the server saw: ${served.serverErrors.map(String).join("; ") || "a clean close"}`,
      );
    } finally {
      await served.close();
    }
  });
});
