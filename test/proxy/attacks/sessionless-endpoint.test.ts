// The HTTP endpoints against a client without a session: a POST naming an unknown session id may not make the endpoint
// read a call-sized body (the budget for bodies in flight is everyone's), a peer refused new sessions is refused
// sessionless requests too, and a body with duplicate keys is delivered as the headers mirror it, or not at all.
import assert from "node:assert/strict";
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { PlainHttpEndpoint, SealedHttpEndpoint, type SessionlessExchangeTransport } from "../../../runtime/transport/index.js";
import { serverFixture } from "../../session/fixtures.js";

const REVISION = "2026-07-28";
const ENVELOPE = { "io.modelcontextprotocol/protocolVersion": REVISION, "io.modelcontextprotocol/clientCapabilities": {}, "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1" } };
const HEADERS = { "content-type": "application/json", accept: "application/json, text/event-stream", "mcp-protocol-version": REVISION };

/** What the tests need of an endpoint. */
interface Served {
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
  close(): Promise<void>;
}

async function serve(endpoint: Served): Promise<{ url: URL; close(): Promise<void> }> {
  const http: Server = createServer((req, res) => void endpoint.handle(req, res));
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: new URL(`http://127.0.0.1:${port}/mcp`),
    async close() {
      await endpoint.close();
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    },
  };
}

/**
 * Sends the headers of a 2 MiB POST and its first 64 KiB, never the rest: the status the endpoint answers with within
 * `withinMs`, or undefined when it is still waiting for the body.
 */
function slowPost(url: URL, headers: Record<string, string>, withinMs: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = request(url, { method: "POST", headers: { ...HEADERS, ...headers, "content-length": String(2 * 1024 * 1024) } });
    const timer = setTimeout(() => {
      req.destroy();
      resolve(undefined);
    }, withinMs);
    req.on("response", (res) => {
      clearTimeout(timer);
      res.resume();
      req.destroy();
      resolve(res.statusCode);
    });
    req.on("error", () => undefined);
    req.write(Buffer.alloc(64 * 1024, 0x20));
  });
}

async function post(url: URL, body: string, headers: Record<string, string>): Promise<{ status: number; json: Record<string, unknown> | undefined }> {
  const response = await fetch(url, { method: "POST", headers: { ...HEADERS, ...headers }, body });
  const text = await response.text();
  return { status: response.status, json: text === "" ? undefined : (JSON.parse(text) as Record<string, unknown>) };
}

/** A sessionless server that records what it was delivered and answers each request with an empty result. */
function recordingServer(delivered: JSONRPCMessage[]): (transport: SessionlessExchangeTransport) => Promise<void> {
  return (transport) => {
    transport.onmessage = (message) => {
      delivered.push(message);
      void transport.send({ jsonrpc: "2.0", id: (message as { id: number }).id, result: {} });
    };
    return transport.start();
  };
}

describe("attacks: HTTP endpoints and requests without a session", function () {
  this.timeout(30_000);

  it("refuses a POST naming an unknown session before reading its body, sealed or plain without sessionless requests", async () => {
    const { credentials } = serverFixture();
    const endpoints: (SealedHttpEndpoint | PlainHttpEndpoint)[] = [
      new SealedHttpEndpoint({ credentials, connect: () => Promise.resolve() }),
      new PlainHttpEndpoint({ connect: () => Promise.resolve() }),
    ];
    for (const endpoint of endpoints) {
      const served = await serve(endpoint);
      try {
        assert.equal(await slowPost(served.url, { "mcp-session-id": "no-such-session" }, 3_000), 404, endpoint.constructor.name);
      } finally {
        await served.close();
      }
    }
  });

  it("refuses sessionless requests from a peer that is refused new sessions (429), before they reach the server", async () => {
    const delivered: JSONRPCMessage[] = [];
    const refused: string[] = [];
    const endpoint = new PlainHttpEndpoint({
      connect: () => Promise.resolve(),
      connectSessionless: recordingServer(delivered),
      refusePeer: (address) => (refused.push(address), true),
    });
    const served = await serve(endpoint);
    try {
      const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list", params: { _meta: ENVELOPE } });
      const reply = await post(served.url, body, { "mcp-method": "tools/list" });
      assert.equal(reply.status, 429);
      assert.deepEqual(delivered, []);
      assert.deepEqual(refused, ["127.0.0.1"]);
    } finally {
      await served.close();
    }
  });

  it("delivers a body with a duplicate `method` as the last key says only when the headers mirror that one", async () => {
    const delivered: JSONRPCMessage[] = [];
    const endpoint = new PlainHttpEndpoint({ connect: () => Promise.resolve(), connectSessionless: recordingServer(delivered) });
    const served = await serve(endpoint);
    try {
      const meta = JSON.stringify({ _meta: ENVELOPE, name: "secret", arguments: {} });
      // A first-key parser in front (a gateway, a WAF) reads `tools/call`; JSON.parse reads the last key, `tools/list`.
      const body = `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":${meta},"method":"tools/list"}`;
      const mirroredFirst = await post(served.url, body, { "mcp-method": "tools/call", "mcp-name": "secret" });
      assert.equal(mirroredFirst.status, 400);
      assert.equal((mirroredFirst.json?.error as { code: number }).code, -32020);
      assert.deepEqual(delivered, [], "a request whose headers name another method is never delivered");
      const mirroredLast = await post(served.url, body, { "mcp-method": "tools/list" });
      assert.equal(mirroredLast.status, 200);
      assert.deepEqual(delivered.map((m) => (m as { method: string }).method), ["tools/list"], "what the headers named is what the server got");
    } finally {
      await served.close();
    }
  });
});
