// The upstream supervisor against a hand-written server: calls made while a health check runs are not stranded, and
// a malformed response is answered at once rather than at the call's timeout.
import assert from "node:assert/strict";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { silentLogger } from "../../runtime/audit/index.js";
import { ProxyError, UpstreamSupervisor } from "../../runtime/proxy/index.js";

const SCRIPTED_SERVER = fileURLToPath(new URL("./fixtures/scripted-server.ts", import.meta.url));

function scripted(callTimeoutMs: number): UpstreamSupervisor {
  return new UpstreamSupervisor(
    { command: process.execPath, args: ["--import", "tsx", SCRIPTED_SERVER], stderr: "ignore" },
    { logger: silentLogger(), callTimeoutMs },
  );
}

async function rejection(promise: Promise<unknown>): Promise<ProxyError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ProxyError, String(error));
    return error;
  }
  assert.fail("the request did not fail");
}

describe("upstream supervisor", function () {
  this.timeout(30_000);
  let upstream: UpstreamSupervisor;
  afterEach(async () => upstream.close());

  it("sends the calls held back during a health check once the server answers the ping, even with an error", async () => {
    upstream = scripted(400);
    await upstream.start();
    const timedOut = rejection(upstream.request("tools/call", { name: "slow", arguments: { ms: 2_000 } }));
    assert.equal((await timedOut).code, "PQG8003");
    // The ping is out now and is refused after 300 ms: a server that answers is alive, whatever it answers.
    const held = upstream.request("tools/call", { name: "slow", arguments: { ms: 0 } }, 3_000);
    assert.deepEqual(await held, { content: [], structuredContent: { slept: 0 } });
    assert.equal(upstream.restarts, 0);
  });

  it("tells an error answer (PQG8005, relayed), a cancelled call (PQG8013) and a malformed answer (PQG8014) apart", async () => {
    upstream = scripted(20_000);
    await upstream.start();
    const answered = await rejection(upstream.request("resources/list"));
    assert.deepEqual([answered.code, answered.rpcCode, answered.message], ["PQG8005", -32601, "method not found"]);
    const slow = upstream.call("tools/call", { name: "slow", arguments: { ms: 2_000 } });
    upstream.cancel(slow.id, "the client withdrew it");
    const cancelled = await rejection(slow.result);
    assert.deepEqual([cancelled.code, cancelled.message], ["PQG8013", "the request was cancelled"]);
    assert.equal((await rejection(upstream.request("tools/call", { name: "bad-reply", arguments: {} }))).code, "PQG8014");
  });

  it("fails a call at once when the server answers it with a malformed response, instead of at its timeout", async () => {
    upstream = scripted(20_000);
    await upstream.start();
    const started = Date.now();
    const error = await rejection(upstream.request("tools/call", { name: "bad-reply", arguments: {} }));
    assert.equal(error.code, "PQG8014");
    assert.match(error.message, /answered `tools\/call` with a malformed response/);
    assert.ok(Date.now() - started < 5_000, "answered long before the call timeout");
    assert.deepEqual(await upstream.request("tools/call", { name: "slow", arguments: { ms: 0 } }), { content: [], structuredContent: { slept: 0 } });
  });

  it("rejects its start (PQG8004), instead of leaving it pending for ever, when closed while the server is still starting", async () => {
    // A server that never answers `initialize`.
    const silent = new UpstreamSupervisor({ command: process.execPath, args: ["-e", "setInterval(() => undefined, 1000)"], stderr: "ignore" }, { logger: silentLogger() });
    const started = silent.start();
    const closing = silent.close();
    const error = await rejection(Promise.race([started, new Promise((_, reject) => setTimeout(() => reject(new Error("start still pending 5 s after close")), 5_000))]));
    assert.equal(error.code, "PQG8004");
    await closing;
    await assert.rejects(silent.whenStarted(), /closed before it finished starting/);
  });
});
