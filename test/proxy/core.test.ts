// The proxy core with a real upstream process: forwarding, guarding, pinning, crash and hang recovery.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { PassThrough } from "node:stream";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { ToolListChangedNotificationSchema, type JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { CONTROL_FILE_ENV } from "../../policies/example-server.js";
import { GUARD_REFUSAL_ERROR } from "../../runtime/enforce/index.js";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { RPC_UPSTREAM_TIMEOUT, RPC_UPSTREAM_UNAVAILABLE, TolerantStdioTransport, type Proxy } from "../../runtime/proxy/index.js";
import { connectClient, failureOf, FLAKY_SERVER, flakyProxy, until } from "./harness.js";

function text(result: unknown): Record<string, unknown> {
  const content = (result as { content: { text: string }[] }).content;
  return JSON.parse(content[0]!.text) as Record<string, unknown>;
}

/**
 * The call timeout of these tests: a call made while the upstream restarts waits for it within this. A restart is a
 * new node process loading tsx, about a second on an idle machine and several on a loaded one; the product default
 * (30 s) is longer still, so this tests the waiting, not how fast a process starts.
 */
const RESTART_WAIT_MS = 15_000;

describe("proxy core", function () {
  this.timeout(30_000);
  let proxy: Proxy;
  let client: Client;

  beforeEach(async () => {
    proxy = flakyProxy({ callTimeoutMs: RESTART_WAIT_MS });
    await proxy.start();
    client = await connectClient(proxy);
  });

  afterEach(async () => {
    await client.close();
    await proxy.close();
  });

  it("forwards an allowed call and refuses a denied one with the rule and reason, without reaching the server", async () => {
    assert.equal(text(await client.callTool({ name: "echo", arguments: { text: "hi" } })).text, "hi");
    const denied = await failureOf(client.callTool({ name: "echo", arguments: { text: "deny-me" } }));
    assert.equal(denied.code, GUARD_REFUSAL_ERROR);
    assert.deepEqual(denied.data?.rules, ["flaky.policy:3"]);
    assert.equal(denied.data?.code, "PQG7301");
    assert.match(denied.message, /texts starting with `deny-` are refused/);
  });

  it("lists the reviewed tools some rule could permit, and hides the one no rule permits", async () => {
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), ["crash", "echo", "hang", "junk", "slow"]);
  });

  it("denies an `ask` when no approver is available, and asks the approver when there is one", async () => {
    const denied = await failureOf(client.callTool({ name: "slow", arguments: { ms: 2_000 } }));
    assert.equal(denied.data?.code, "PQG7305");
    await proxy.close();
    const asked: string[] = [];
    proxy = flakyProxy({ approver: async (request) => (asked.push(request.tool), true) });
    await proxy.start();
    client = await connectClient(proxy);
    assert.deepEqual(text(await client.callTool({ name: "slow", arguments: { ms: 1_001 } })), { slept: 1_001 });
    assert.deepEqual(asked, ["slow"]);
  });

  it("withholds and refuses a tool whose description changed after review (rug pull)", async () => {
    await client.close();
    await proxy.close();
    const dir = mkdtempSync(join(tmpdir(), "pqguard-proxy-"));
    const control = join(dir, "control");
    writeFileSync(control, "");
    proxy = flakyProxy({
      upstream: { command: process.execPath, args: ["--import", "tsx", FLAKY_SERVER], stderr: "ignore", env: { ...process.env, [CONTROL_FILE_ENV]: control } },
    });
    await proxy.start();
    client = await connectClient(proxy);
    assert.equal(text(await client.callTool({ name: "echo", arguments: { text: "before" } })).text, "before");
    const changed = new Promise<void>((resolve) => client.setNotificationHandler(ToolListChangedNotificationSchema, () => resolve()));
    writeFileSync(control, "rug-pull");
    await changed;
    const { tools } = await client.listTools();
    assert.ok(!tools.some((t) => t.name === "echo"));
    const refused = await failureOf(client.callTool({ name: "echo", arguments: { text: "after" } }));
    assert.equal(refused.code, GUARD_REFUSAL_ERROR);
    assert.equal(refused.data?.code, "PQG7303");
    assert.match(refused.message, /definition of tool `echo` changed/);
    rmSync(dir, { recursive: true, force: true });
  });

  it("answers the calls in flight when the upstream crashes, restarts it, and serves the next call", async () => {
    const before = text(await client.callTool({ name: "echo", arguments: { text: "a" } })).pid;
    const crashed = await failureOf(client.callTool({ name: "crash", arguments: {} }));
    assert.equal(crashed.code, RPC_UPSTREAM_UNAVAILABLE);
    assert.equal(proxy.upstream.ready, false, "the next call is made while the upstream restarts");
    const after = text(await client.callTool({ name: "echo", arguments: { text: "b" } }));
    assert.equal(after.text, "b");
    assert.notEqual(after.pid, before);
    assert.equal(proxy.upstream.restarts, 1);
  });

  it("times out a call to a hung upstream, kills it, and serves the next call from a restarted one", async () => {
    await client.close();
    await proxy.close();
    proxy = flakyProxy({ callTimeoutMs: 3_000, healthPingTimeoutMs: 300 });
    await proxy.start();
    client = await connectClient(proxy);
    const hung = await failureOf(client.callTool({ name: "hang", arguments: {} }));
    assert.equal(hung.code, RPC_UPSTREAM_TIMEOUT);
    // The 3 s call timeout makes the hang quick to see, and is too short to also cover a restart on a loaded machine:
    // the next call is made once the restart is observed (the crash test covers calls waiting for one).
    await until(() => proxy.upstream.restarts === 1 && proxy.upstream.ready, RESTART_WAIT_MS, "the hung upstream to be restarted");
    const after = text(await client.callTool({ name: "echo", arguments: { text: "alive" } }));
    assert.equal(after.text, "alive");
    assert.equal(proxy.upstream.restarts, 1);
  });

  it("sends no reply to a forwarded call the client cancelled, passes the cancellation on and forgets the call", async () => {
    const [clientEnd, proxyEnd] = InMemoryTransport.createLinkedPair();
    const replies: JSONRPCMessage[] = [];
    clientEnd.onmessage = (message) => replies.push(message);
    await clientEnd.start();
    const connection = await proxy.core.attachPlain(proxyEnd);
    const cancelledUpstream: number[] = [];
    await clientEnd.send({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "slow", arguments: { ms: 500 } } });
    await until(() => connection.busy, 5_000, "the call to be forwarded");
    // This connection has an upstream session of its own, bound at its first request.
    const supervisor = connection.upstream!.supervisor;
    const cancel = supervisor.cancel.bind(supervisor);
    supervisor.cancel = (id, reason) => {
      cancelledUpstream.push(id);
      cancel(id, reason);
    };
    await clientEnd.send({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 1, reason: "the agent gave up" } });
    await clientEnd.send({ jsonrpc: "2.0", id: 2, method: "ping" });
    // An equally slow call sent after the cancelled one: once it is answered, the cancelled one would have been too.
    await clientEnd.send({ jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "slow", arguments: { ms: 500 } } });
    await until(() => replies.some((r) => "id" in r && r.id === 3), 10_000, "the later slow call's answer");
    assert.deepEqual(replies.map((r) => ("id" in r ? r.id : undefined)).sort(), [2, 3]);
    assert.equal(cancelledUpstream.length, 1);
    assert.equal(connection.busy, false);
  });

  it("survives junk from the upstream and keeps serving", async () => {
    assert.deepEqual(text(await client.callTool({ name: "junk", arguments: {} })), { wrote: "junk" });
    assert.equal(text(await client.callTool({ name: "echo", arguments: { text: "still" } })).text, "still");
    assert.equal(proxy.upstream.restarts, 0);
  });

  it("answers junk on a stdio downstream with JSON-RPC errors and keeps serving that connection", async () => {
    const input = new PassThrough();
    const output = new PassThrough();
    const replies: Record<string, unknown>[] = [];
    let buffered = "";
    output.on("data", (chunk: Buffer) => {
      buffered += chunk.toString("utf8");
      const lines = buffered.split("\n");
      buffered = lines.pop()!;
      for (const line of lines) replies.push(JSON.parse(line) as Record<string, unknown>);
    });
    await proxy.core.attachPlain(new TolerantStdioTransport(input, output));
    // A malformed response is not answered: the client would take the error for the answer to its own request 6.
    input.write("garbage\n\u0000\u00ff binary\n[1,2]\n{\"jsonrpc\":\"2.0\",\"id\":6,\"result\":\"?\"}\n{\"jsonrpc\":\"2.0\",\"id\":7}\n");
    input.write(`${JSON.stringify({ jsonrpc: "2.0", id: 8, method: "tools/call", params: { name: "echo", arguments: { text: "ok" } } })}\n`);
    await until(() => replies.length >= 5, 10_000, "five replies");
    const codes = replies.slice(0, 4).map((r) => (r.error as { code: number }).code);
    assert.deepEqual(codes, [-32700, -32700, -32600, -32600]);
    assert.equal(replies[3]!.id, 7);
    assert.equal(replies[4]!.id, 8);
    assert.ok(replies[4]!.result);
    assert.ok(!replies.some((r) => r.id === 6));
  });
});
