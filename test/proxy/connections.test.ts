// The HTTP listener's bounds on TCP connections, tried as an attacker holding sockets without opening sessions: one
// source past its share is cut off while another still gets in, connections it closes are given back, and a source
// named as a trusted proxy (a load balancer carrying everyone) is never cut off; a request body trickled in is cut off
// at the request time.
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { silentLogger } from "../../runtime/audit/index.js";
import { listenHttp, type HttpListener, type Proxy } from "../../runtime/proxy/index.js";
import { flakyProxy } from "./harness.js";

const PER_SOURCE = 4;

/** Opens a TCP connection and resolves once it is up; `closed` settles when the server (or we) end it. */
async function openSocket(url: URL): Promise<{ socket: Socket; closed: Promise<void> }> {
  const socket = connect(Number(url.port), url.hostname);
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  socket.on("error", () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  return { socket, closed };
}

/** Whether the server has closed the socket within `ms` (a refused socket is destroyed at once). */
async function closedWithin(closed: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([closed.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)))]);
  clearTimeout(timer);
  return result;
}

describe("proxy HTTP listener: connection bounds", function () {
  this.timeout(30_000);
  let proxy: Proxy;
  const listeners: HttpListener[] = [];

  before(async () => {
    proxy = flakyProxy();
    await proxy.start();
  });

  after(async () => {
    await Promise.all(listeners.map((listener) => listener.close()));
    await proxy.close();
  });

  it("closes a source's connections past its share, and takes new ones again once it lets some go", async () => {
    const listener = await listenHttp({ url: new URL("http://127.0.0.1:0/mcp"), core: proxy.core, logger: silentLogger(), maxConnectionsPerSource: PER_SOURCE, limitLoopback: true });
    listeners.push(listener);
    const held = await Promise.all(Array.from({ length: PER_SOURCE }, () => openSocket(listener.url)));
    const extra = await openSocket(listener.url);
    assert.equal(await closedWithin(extra.closed, 2000), true, "the connection past the share is closed");
    for (const { closed } of held) assert.equal(await closedWithin(closed, 50), false, "connections within the share stay open");
    held[0]!.socket.destroy();
    await held[0]!.closed;
    // The server counts the close asynchronously: a bounded retry until a new connection is kept.
    const deadline = Date.now() + 5000;
    for (;;) {
      const again = await openSocket(listener.url);
      if (!(await closedWithin(again.closed, 100))) {
        held.push(again);
        break;
      }
      assert.ok(Date.now() < deadline, "a connection is taken again after one closed");
    }
    for (const { socket } of held) socket.destroy();
  });

  it("leaves loopback unlimited by default: a local client is served while 80 sockets are held", async () => {
    const listener = await listenHttp({ url: new URL("http://127.0.0.1:0/mcp"), core: proxy.core, logger: silentLogger(), maxConnectionsPerSource: 64 });
    listeners.push(listener);
    // Loopback is exempt by default (every local client shares it): many held sockets do not stop a real client.
    const held = await Promise.all(Array.from({ length: 80 }, () => openSocket(listener.url)));
    const client = new Client({ name: "after-flood", version: "1" });
    await client.connect(new StreamableHTTPClientTransport(listener.url));
    const answer = await client.callTool({ name: "echo", arguments: { text: "still served" } });
    assert.match(JSON.stringify(answer.content), /still served/);
    await client.close();
    for (const { socket } of held) socket.destroy();
  });

  it("never limits a trusted proxy's address, which carries every client behind it", async () => {
    const listener = await listenHttp({
      url: new URL("http://127.0.0.1:0/mcp"),
      core: proxy.core,
      logger: silentLogger(),
      maxConnectionsPerSource: 2,
      limitLoopback: true,
      trustProxy: ["127.0.0.1"],
    });
    listeners.push(listener);
    const held = await Promise.all(Array.from({ length: 6 }, () => openSocket(listener.url)));
    for (const { closed } of held) assert.equal(await closedWithin(closed, 100), false);
    for (const { socket } of held) socket.destroy();
  });

  it("refuses a limit that is not a positive whole number", async () => {
    await assert.rejects(
      listenHttp({ url: new URL("http://127.0.0.1:0/mcp"), core: proxy.core, logger: silentLogger(), maxConnectionsPerSource: 0 }),
      (error: Error & { code?: string }) => error.code === "PQG8006" && /maxConnectionsPerSource/.test(error.message),
    );
    await assert.rejects(
      listenHttp({ url: new URL("http://127.0.0.1:0/mcp"), core: proxy.core, logger: silentLogger(), requestTimeoutMs: 0.5 }),
      (error: Error & { code?: string }) => error.code === "PQG8006" && /requestTimeoutMs/.test(error.message),
    );
  });

  it("answers 408 and closes a connection whose request body trickles in past the request time, and serves others meanwhile", async () => {
    const listener = await listenHttp({ url: new URL("http://127.0.0.1:0/mcp"), core: proxy.core, logger: silentLogger(), requestTimeoutMs: 1_000 });
    listeners.push(listener);
    const { socket, closed } = await openSocket(listener.url);
    let answer = "";
    socket.on("data", (chunk: Buffer) => (answer += chunk.toString("latin1")));
    const started = Date.now();
    // An opening request whose body claims 60,000 bytes and arrives a byte every 100 ms: it would take 100 minutes.
    socket.write(`POST /mcp HTTP/1.1\r\nHost: ${listener.url.host}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 60000\r\n\r\n{`);
    const trickle = setInterval(() => socket.write(" "), 100);
    try {
      const client = new Client({ name: "beside-the-trickle", version: "1" });
      await client.connect(new StreamableHTTPClientTransport(listener.url));
      assert.match(JSON.stringify((await client.callTool({ name: "echo", arguments: { text: "served" } })).content), /served/);
      await client.close();
      assert.equal(await closedWithin(closed, 10_000), true, "the trickling connection is closed");
    } finally {
      clearInterval(trickle);
      socket.destroy();
    }
    assert.match(answer, /^HTTP\/1\.1 408 /, answer);
    // The bound plus node:http's check interval (at most 1 s here), with room for a loaded machine.
    assert.ok(Date.now() - started < 6_000, `closed after ${Date.now() - started} ms`);
  });

  it("does not bound an answer that takes longer than the request time: only receiving the request is timed", async () => {
    const listener = await listenHttp({ url: new URL("http://127.0.0.1:0/mcp"), core: proxy.core, logger: silentLogger(), requestTimeoutMs: 300 });
    listeners.push(listener);
    const client = new Client({ name: "patient", version: "1" });
    await client.connect(new StreamableHTTPClientTransport(listener.url));
    try {
      assert.match(JSON.stringify((await client.callTool({ name: "slow", arguments: { ms: 900 } })).content), /900/);
    } finally {
      await client.close();
    }
  });
});
