// Requests the upstream makes of its client while serving a call (elicitation, roots) go to the downstream client
// that made the call, when it declared the capability, and its answer goes back; otherwise the upstream hears why not.
import assert from "node:assert/strict";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { ElicitRequestSchema, ListRootsRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { silentLogger } from "../../runtime/audit/index.js";
import { createProxy, type Proxy } from "../../runtime/proxy/index.js";
import { startHttpUpstream, type HttpUpstream } from "./fixtures/http-server.js";
import { connectClient, httpGuard, until } from "./harness.js";

interface ToolOutcome {
  readonly isError?: boolean;
  readonly structuredContent?: Record<string, unknown>;
  readonly content: { text: string }[];
}

describe("proxy forwarding the upstream's requests to its client", function () {
  this.timeout(30_000);
  let upstream: HttpUpstream;
  let proxy: Proxy;
  let clients: Client[];

  beforeEach(async () => {
    upstream = await startHttpUpstream();
    proxy = createProxy({ upstream: { url: upstream.url }, guard: httpGuard, logger: silentLogger(), clientRequestTimeoutMs: 300 });
    await proxy.start();
    clients = [];
  });

  afterEach(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await proxy.close();
    await upstream.stop();
  });

  async function client(capabilities: Parameters<typeof connectClient>[1] = {}): Promise<Client> {
    const connected = await connectClient(proxy, capabilities);
    clients.push(connected);
    return connected;
  }

  const call = async (c: Client, name: string): Promise<ToolOutcome> => (await c.callTool({ name, arguments: {} })) as unknown as ToolOutcome;

  it("relays an elicitation made during a tool call to the client that made it, and the answer back", async () => {
    const c = await client({ elicitation: { form: {} } });
    const asked: string[] = [];
    c.setRequestHandler(ElicitRequestSchema, async (request) => {
      asked.push(request.params.message);
      return { action: "accept", content: { name: "Ada" } };
    });
    const outcome = await call(c, "ask_name");
    assert.deepEqual(outcome.structuredContent, { greeting: "hello Ada" });
    assert.deepEqual(asked, ["What is your name?"]);
  });

  it("relays roots/list to a client that declared roots", async () => {
    const c = await client({ roots: {} });
    c.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [{ uri: "file:///workspace", name: "workspace" }] }));
    assert.deepEqual((await call(c, "list_roots")).structuredContent, { roots: [{ uri: "file:///workspace", name: "workspace" }] });
  });

  it("answers the upstream with a clear error when the client did not declare the capability", async () => {
    const c = await client();
    const outcome = await call(c, "ask_name");
    assert.equal(outcome.isError, true);
    assert.match(outcome.content[0]!.text, /-32601.*the client did not declare the `elicitation.form` capability, so `elicitation\/create` cannot be forwarded/);
  });

  it("gives up on a client that does not answer in time, and tells it so", async () => {
    const c = await client({ elicitation: { form: {} } });
    let withdrawn = false;
    c.setRequestHandler(ElicitRequestSchema, (_request, extra) => {
      return new Promise(() => extra.signal.addEventListener("abort", () => (withdrawn = true)));
    });
    const outcome = await call(c, "ask_name");
    assert.equal(outcome.isError, true);
    assert.match(outcome.content[0]!.text, /-32001.*the client did not answer `elicitation\/create` within 300 ms/);
    await until(() => withdrawn, 2_000, "the client to hear the request was cancelled");
  });

  it("relays the client's own error", async () => {
    const declining = await client({ elicitation: { form: {} } });
    declining.setRequestHandler(ElicitRequestSchema, async () => {
      throw new Error("no human here");
    });
    assert.match((await call(declining, "ask_name")).content[0]!.text, /no human here/);
  });

  it("asks each client's own question of that client while another has calls in flight (an upstream session each)", async () => {
    const asking = await client({ elicitation: { form: {} } });
    asking.setRequestHandler(ElicitRequestSchema, async () => ({ action: "accept", content: { name: "Grace" } }));
    const other = await client({ elicitation: { form: {} } });
    let otherAsked = false;
    other.setRequestHandler(ElicitRequestSchema, async () => {
      otherAsked = true;
      return { action: "decline" };
    });
    const slow = other.callTool({ name: "slow", arguments: { ms: 500 } });
    await until(() => upstream.calls.some((c) => c.tool === "slow"), 5_000, "the slow call to reach the server");
    assert.deepEqual((await call(asking, "ask_name")).structuredContent, { greeting: "hello Grace" });
    assert.equal(otherAsked, false);
    await slow;
  });

  it("in shared mode refuses to guess when several clients have calls in flight", async () => {
    await proxy.close();
    proxy = createProxy({ upstream: { url: upstream.url }, guard: httpGuard, logger: silentLogger(), clientRequestTimeoutMs: 300, upstreamMode: "shared" });
    await proxy.start();
    const declining = await client({ elicitation: { form: {} } });
    declining.setRequestHandler(ElicitRequestSchema, async () => ({ action: "decline" }));
    const other = await client({ elicitation: { form: {} } });
    const slow = other.callTool({ name: "slow", arguments: { ms: 500 } });
    await until(() => upstream.calls.some((c) => c.tool === "slow"), 5_000, "the slow call to reach the server");
    const outcome = await call(declining, "ask_name");
    assert.equal(outcome.isError, true);
    assert.match(outcome.content[0]!.text, /2 clients have calls in flight, so the proxy cannot tell which one `elicitation\/create` is for/);
    await slow;
  });
});
