// The Streamable HTTP clients' fetches (undici's, scoped; and nodeFetch over node:http): a request's abort listener on
// the transport's signal goes once its response arrived (the SDK's shared signal collected one per request, a warning
// per call past a few thousand), aborting the transport's signal still aborts a request in flight, and nodeFetch keeps
// its connections, reads bodies of known length whole and streams the others as they come.
import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { createServer, type RequestListener, type Server } from "node:http";
import { createServer as createTcpServer, type AddressInfo } from "node:net";
import { nodeFetch, requestScopedFetch } from "../../runtime/transport/fetch.js";

/** A loopback server for one suite: its URL, and a close that also ends the connections it still holds. */
async function serve(handler: RequestListener): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    server,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe("requestScopedFetch", () => {
  let served: Awaited<ReturnType<typeof serve>>;
  let url: string;

  before(async () => {
    served = await serve((req, res) => {
      if (req.url === "/hang") return; // never answers
      res.end("ok");
    });
    url = served.url;
  });

  after(() => served.close());

  it("leaves no listener on the transport's signal once a POST's response arrived", async () => {
    const shared = new AbortController();
    for (let i = 0; i < 50; i++) {
      const response = await requestScopedFetch(`${url}/post`, { method: "POST", body: "{}", signal: shared.signal });
      assert.equal(await response.text(), "ok");
    }
    assert.equal(getEventListeners(shared.signal, "abort").length, 0);
  });

  it("aborts a request in flight when the transport's signal aborts", async () => {
    const shared = new AbortController();
    const pending = requestScopedFetch(`${url}/hang`, { method: "POST", body: "{}", signal: shared.signal });
    setTimeout(() => shared.abort(new Error("transport closed")), 50);
    await assert.rejects(pending, /transport closed|aborted/);
  });
});

describe("nodeFetch", () => {
  let served: Awaited<ReturnType<typeof serve>>;
  let url: string;
  let connections = 0;
  /** Ends the event stream of `/events` when called. */
  let endEvents: (() => void) | undefined;

  before(async () => {
    served = await serve((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        if (req.url === "/hang") return; // never answers
        if (req.url === "/events") {
          res.writeHead(200, { "content-type": "text/event-stream" });
          res.write("event: message\ndata: first\n\n");
          endEvents = () => res.end("event: message\ndata: last\n\n");
          return;
        }
        if (req.url === "/cut") {
          res.writeHead(200, { "content-type": "application/json", "content-length": "100" });
          res.write('{"partial":');
          setTimeout(() => res.destroy(), 20);
          return;
        }
        if (req.url === "/empty") return void res.writeHead(202).end();
        const body = JSON.stringify({ method: req.method, header: req.headers["x-test"] ?? null, body: Buffer.concat(chunks).toString("utf8") });
        res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body), "set-cookie": ["a=1", "b=2"] }).end(body);
      });
    });
    served.server.on("connection", () => connections++);
    url = served.url;
  });

  after(() => served.close());

  it("sends the method, headers and body, answers status, headers and body, and keeps one connection for many requests", async () => {
    const fetch = nodeFetch();
    const before = connections;
    for (let i = 0; i < 20; i++) {
      const response = await fetch(`${url}/echo`, { method: "POST", headers: new Headers({ "x-test": `call ${i}`, "content-type": "application/json" }), body: `{"n":${i}}` });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("content-type"), "application/json");
      assert.deepEqual(response.headers.getSetCookie(), ["a=1", "b=2"]);
      assert.deepEqual(await response.json(), { method: "POST", header: `call ${i}`, body: `{"n":${i}}` });
    }
    assert.equal(connections - before, 1);
    const empty = await fetch(`${url}/empty`, { method: "POST", body: "{}" });
    assert.equal(empty.status, 202);
    assert.equal(await empty.text(), "");
  });

  it("streams a body of unknown length: the first event is readable while the server still holds the stream", async () => {
    const response = await nodeFetch()(`${url}/events`, { method: "GET" });
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    const first = await reader.read();
    assert.equal(first.value, "event: message\ndata: first\n\n");
    endEvents!();
    let rest = "";
    for (let part = await reader.read(); !part.done; part = await reader.read()) rest += part.value;
    assert.equal(rest, "event: message\ndata: last\n\n");
  });

  it("leaves no listener on the transport's signal once a POST's response arrived, nor once an event stream ended", async () => {
    const fetch = nodeFetch();
    const shared = new AbortController();
    for (let i = 0; i < 50; i++) await (await fetch(`${url}/post`, { method: "POST", body: "{}", signal: shared.signal })).text();
    assert.equal(getEventListeners(shared.signal, "abort").length, 0);
    const stream = await fetch(`${url}/events`, { method: "GET", signal: shared.signal });
    assert.equal(getEventListeners(shared.signal, "abort").length, 1, "an open event stream can still be aborted");
    endEvents!();
    await stream.text();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(getEventListeners(shared.signal, "abort").length, 0);
  });

  it("aborts a request in flight, and an event stream being read, when the transport's signal aborts", async () => {
    const fetch = nodeFetch();
    const shared = new AbortController();
    const pending = fetch(`${url}/hang`, { method: "POST", body: "{}", signal: shared.signal });
    setTimeout(() => shared.abort(new Error("transport closed")), 50);
    await assert.rejects(pending, /transport closed/);
    const streaming = new AbortController();
    const stream = await fetch(`${url}/events`, { method: "GET", signal: streaming.signal });
    const reading = stream.text();
    streaming.abort(new Error("stream closed"));
    await assert.rejects(reading);
    endEvents!();
    await assert.rejects(fetch(`${url}/post`, { method: "POST", body: "{}", signal: shared.signal }), /transport closed/);
  });

  it("rejects, and does not crash on, an answer no Response can carry: 205 with a body, a status out of range, a control character", async () => {
    // A raw server: each connection is answered with the status line of the request's path, whatever it is.
    const lines: Record<string, string> = {
      "/205": "HTTP/1.1 205 Reset Content\r\ncontent-length: 2\r\n\r\n{}",
      "/205-chunked": "HTTP/1.1 205 Reset Content\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
      "/600": "HTTP/1.1 600 Beyond\r\ncontent-length: 2\r\n\r\n{}",
      "/099": "HTTP/1.1 099 Below\r\ncontent-length: 0\r\n\r\n",
      "/reason": "HTTP/1.1 200 O\x01K\r\ncontent-length: 2\r\n\r\n{}",
    };
    const raw = createTcpServer((socket) => {
      socket.once("data", (data) => {
        const path = /^[A-Z]+ (\S+)/.exec(data.toString("latin1"))?.[1] ?? "";
        socket.end(lines[path] ?? "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
      });
      socket.on("error", () => undefined);
    });
    await new Promise<void>((resolve) => raw.listen(0, "127.0.0.1", resolve));
    const base = `http://127.0.0.1:${(raw.address() as AddressInfo).port}`;
    try {
      const fetch = nodeFetch();
      for (const path of Object.keys(lines)) {
        await assert.rejects(
          async () => (await fetch(`${base}${path}`, { method: "POST", body: "{}" })).text(),
          (error: unknown) => error instanceof Error,
          `${path} must be a rejected fetch`,
        );
      }
      // And the fetch still works for what comes next.
      const ok = await fetch(`${url}/echo`, { method: "POST", body: "{}" });
      assert.equal(ok.status, 200);
    } finally {
      await new Promise((resolve) => raw.close(resolve));
    }
  });

  it("rejects with the abort's reason when the signal aborts while a body of known length is being read", async () => {
    const slow = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "application/json", "content-length": "100" });
      res.write('{"partial":');
    });
    try {
      const shared = new AbortController();
      const pending = nodeFetch()(`${slow.url}/`, { method: "POST", body: "{}", signal: shared.signal });
      setTimeout(() => shared.abort(new Error("transport closed")), 50);
      await assert.rejects(pending, /transport closed/);
    } finally {
      await slow.close();
    }
  });

  it("refuses a URL with credentials, which would go out as a header in the clear", async () => {
    await assert.rejects(nodeFetch()(`http://user:secret@127.0.0.1:1/mcp`, { method: "POST", body: "{}" }), /credentials/);
  });

  it("rejects a body cut short by the server, a body it cannot send and a URL that is not http(s)", async () => {
    const fetch = nodeFetch();
    await assert.rejects(async () => (await fetch(`${url}/cut`, { method: "POST", body: "{}" })).text());
    await assert.rejects(fetch(`${url}/post`, { method: "POST", body: new Blob(["x"]) }), /text or byte bodies only/);
    await assert.rejects(fetch("file:///etc/passwd"), /unsupported protocol `file:`/);
  });
});
