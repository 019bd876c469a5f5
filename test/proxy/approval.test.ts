// Approval through the proxy: an approved `ask` is decided again on the current call history before it is forwarded.
import assert from "node:assert/strict";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { DEFAULT_REQUEST_TIMEOUT_MSEC } from "@modelcontextprotocol/sdk/shared/protocol.js";
import { GUARD_REFUSAL_ERROR } from "../../runtime/enforce/index.js";
import type { GuardModule } from "../../runtime/guard/types.js";
import { APPROVAL_TIMEOUT_MS, DEFAULT_CALL_TIMEOUT_MS, type Proxy } from "../../runtime/proxy/index.js";
import { connectClient, failureOf, flakyProxy, rpcError, testGuard, until } from "./harness.js";

/** The test policy plus: `echo` of "ask" needs approval, and `echo` is limited to 2 calls per minute per client. */
const limitedGuard: GuardModule = {
  ...testGuard,
  guard(request, context) {
    if (request.tool === "echo") {
      if (context.history.count(["echo"], context.now - 60_000, "client") >= 2) {
        return { decision: "deny", determining: ["flaky.policy:11"], reason: "echo is limited to 2 calls per minute", explain: [] };
      }
      if (request.args.text === "ask") return { decision: "ask", determining: ["flaky.policy:12"], reason: "asking echoes need a human", explain: [] };
    }
    return testGuard.guard(request, context);
  },
};

/** Time a call needs besides the approval and the upstream's answer, generously: pin, decisions, audit, transport. */
const CALL_OVERHEAD_MS = 5_000;

describe("proxy approval", function () {
  this.timeout(30_000);
  let proxy: Proxy;
  let clients: Client[] = [];

  afterEach(async () => {
    await Promise.all(clients.map((c) => c.close()));
    clients = [];
    await proxy.close();
  });

  it("decides an approved call again before forwarding it: calls made while the human decided used the quota", async () => {
    let other: Client | undefined;
    const meanwhile: unknown[] = [];
    proxy = flakyProxy({
      guard: limitedGuard,
      approver: async () => {
        meanwhile.push(await other!.callTool({ name: "echo", arguments: { text: "one" } }));
        meanwhile.push(await other!.callTool({ name: "echo", arguments: { text: "two" } }));
        return true;
      },
    });
    await proxy.start();
    const asking = await connectClient(proxy);
    other = await connectClient(proxy);
    clients = [asking, other];
    const refused = await failureOf(asking.callTool({ name: "echo", arguments: { text: "ask" } }));
    assert.equal(meanwhile.length, 2, "both calls made during the approval went through");
    assert.equal(refused.code, GUARD_REFUSAL_ERROR);
    assert.equal(refused.data?.code, "PQG7301");
    assert.deepEqual(refused.data?.rules, ["flaky.policy:11"]);
    assert.equal(refused.data?.reason, "echo is limited to 2 calls per minute (checked again after the approval)");
  });

  it("forwards an approved call when the limit still holds, counting it once", async () => {
    proxy = flakyProxy({ guard: limitedGuard, approver: async () => true });
    await proxy.start();
    const client = await connectClient(proxy);
    clients = [client];
    const result = (await client.callTool({ name: "echo", arguments: { text: "ask" } })) as unknown as { structuredContent: { text: string } };
    assert.equal(result.structuredContent.text, "ask");
    await client.callTool({ name: "echo", arguments: { text: "second" } });
    await assert.rejects(client.callTool({ name: "echo", arguments: { text: "third" } }), (error) => rpcError(error).data?.code === "PQG7301");
  });

  it("never forwards a call the client cancelled while it waited for approval, even when the approval comes after", async () => {
    let asked: AbortSignal | undefined;
    let answer!: (approved: boolean) => void;
    const outcomes: boolean[] = [];
    proxy = flakyProxy({
      guard: limitedGuard,
      approver: (request) => {
        asked = request.signal;
        return new Promise((resolve) => (answer = resolve));
      },
      onDecision: (_tool, verdict) => outcomes.push(verdict.allowed),
    });
    await proxy.start();
    const forwarded: unknown[] = [];
    const call = proxy.upstream.call.bind(proxy.upstream);
    proxy.upstream.call = (method, params, timeoutMs) => {
      forwarded.push(params?.name);
      return call(method, params, timeoutMs);
    };
    const client = await connectClient(proxy);
    clients = [client];
    const protocolErrors: Error[] = [];
    client.onerror = (error) => protocolErrors.push(error);
    const cancel = new AbortController();
    const calling = client.callTool({ name: "echo", arguments: { text: "ask" } }, undefined, { signal: cancel.signal }).catch((error: unknown) => error);
    await until(() => asked !== undefined, 5_000, "the approval question");
    cancel.abort("the agent gave up");
    await calling;
    await until(() => asked!.aborted, 5_000, "the cancellation to withdraw the approval question");
    answer(true);
    await until(() => outcomes.length === 1, 5_000, "the decision");
    assert.deepEqual(outcomes, [false]);
    await client.callTool({ name: "echo", arguments: { text: "after" } });
    assert.deepEqual(forwarded, ["echo"], "only the call made after the cancellation reached the upstream");
    // A cancelled request gets no response (MCP): the client would read it as an answer to an id it no longer knows.
    assert.deepEqual(protocolErrors.map((e) => e.message), []);
  });
});

describe("proxy timeouts", () => {
  it("answers an approved call before an MCP SDK client with its default timeout gives up: approval, then the upstream", () => {
    // Both waits run one after the other; what is left covers the pin, the decisions and the transport.
    assert.ok(
      APPROVAL_TIMEOUT_MS + DEFAULT_CALL_TIMEOUT_MS + CALL_OVERHEAD_MS <= DEFAULT_REQUEST_TIMEOUT_MSEC,
      `${APPROVAL_TIMEOUT_MS} ms approval + ${DEFAULT_CALL_TIMEOUT_MS} ms upstream is not inside the client's ${DEFAULT_REQUEST_TIMEOUT_MSEC} ms`,
    );
  });
});
