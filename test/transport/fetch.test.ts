// The Streamable HTTP clients' fetch: a request's abort listener on the transport's signal goes once its response
// arrived (the SDK's shared signal collected one per request, a warning per call past a few thousand), and aborting
// the transport's signal still aborts a request in flight.
import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { requestScopedFetch } from "../../runtime/transport/fetch.js";

describe("requestScopedFetch", () => {
  let server: Server;
  let url: string;

  before(async () => {
    server = createServer((req, res) => {
      if (req.url === "/hang") return; // never answers
      res.end("ok");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

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
