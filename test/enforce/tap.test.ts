// tapTransport: the guard sees every message once, before the endpoint, however the SDK chains the handlers it reads
// when it connects; its close hook runs once, before the endpoint's own, and a hook that throws stops no teardown.
import { strict as assert } from "node:assert";
import process from "node:process";
import { tapTransport, type TransportHooks, type WireMessage } from "../../runtime/enforce/tap.js";
import type { GuardModule } from "../../runtime/guard/types.js";
import { raisedWhile } from "../support/uncaught.js";

type FakeTransport = {
  onmessage?: ((message: WireMessage, extra?: unknown) => void) | undefined;
  onclose?: (() => void) | undefined;
  send(message: WireMessage): Promise<void>;
  sent: WireMessage[];
};

function fakeTransport(): FakeTransport {
  const sent: WireMessage[] = [];
  return { sent, send: async (message) => void sent.push(message) };
}

/** Connects as the SDK's Protocol does: chains the handlers it reads to its own. */
function connectLikeTheSdk(transport: FakeTransport, seen: WireMessage[], closes: string[]): void {
  const previousMessage = transport.onmessage;
  transport.onmessage = (message, extra) => {
    previousMessage?.(message, extra);
    seen.push(message);
  };
  const previousClose = transport.onclose;
  transport.onclose = () => {
    previousClose?.();
    closes.push("endpoint");
  };
}

const passThrough = (log: string[]): TransportHooks => ({
  incoming: (message, extra, deliver) => {
    log.push(`guard ${String(message.method)}`);
    deliver(message, extra);
  },
  outgoing: (message, options, send) => {
    log.push(`guard out ${String(message.method)}`);
    return send(message, options);
  },
  closed: () => void log.push("guard closed"),
});

describe("tapTransport", () => {
  it("passes each message through the guard once when the SDK chains the handler it read at connect", () => {
    const transport = fakeTransport();
    const log: string[] = [];
    tapTransport(transport, passThrough(log));
    const seen: WireMessage[] = [];
    connectLikeTheSdk(transport, seen, []);
    transport.onmessage!({ jsonrpc: "2.0", id: 1, method: "tools/call", params: {} });
    assert.deepEqual(log, ["guard tools/call"]);
    assert.equal(seen.length, 1);
  });

  it("guards a transport the endpoint is already connected to", () => {
    const transport = fakeTransport();
    const seen: WireMessage[] = [];
    connectLikeTheSdk(transport, seen, []);
    const log: string[] = [];
    tapTransport(transport, passThrough(log));
    transport.onmessage!({ jsonrpc: "2.0", id: 1, method: "ping" });
    assert.deepEqual(log, ["guard ping"]);
    assert.equal(seen.length, 1);
  });

  it("keeps back a message the guard does not deliver, and sends past the guard what it answers itself", async () => {
    const transport = fakeTransport();
    const tap = tapTransport(transport, {
      incoming: (message) => void tap.send({ jsonrpc: "2.0", id: message.id, error: { code: -32010, message: "refused" } }),
      outgoing: () => Promise.resolve(),
      closed: () => undefined,
    });
    const seen: WireMessage[] = [];
    connectLikeTheSdk(transport, seen, []);
    transport.onmessage!({ jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: "x" } });
    await transport.send({ jsonrpc: "2.0", id: 8, result: {} }); // the endpoint's own send meets the guard, which drops it
    assert.equal(seen.length, 0, "the endpoint never saw the call");
    assert.deepEqual(transport.sent, [{ jsonrpc: "2.0", id: 7, error: { code: -32010, message: "refused" } }]);
  });

  it("runs the close hook once, before the endpoint's handler, set before or after the tap and chained", () => {
    const transport = fakeTransport();
    const closes: string[] = [];
    transport.onclose = () => void closes.push("set before");
    tapTransport(transport, { ...passThrough(closes), closed: () => void closes.push("guard") });
    connectLikeTheSdk(transport, [], closes);
    transport.onclose!();
    assert.deepEqual(closes, ["guard", "set before", "endpoint"]);
    transport.onclose!(); // InMemoryTransport reports its close twice
    assert.deepEqual(closes, ["guard", "set before", "endpoint", "set before", "endpoint"]);
  });

  it("runs the endpoint's close handler when the guard's hook throws, and reports it as a warning", async () => {
    const transport = fakeTransport();
    const closes: string[] = [];
    tapTransport(transport, {
      ...passThrough([]),
      closed: () => {
        throw new Error("a hook failed");
      },
    });
    connectLikeTheSdk(transport, [], closes);
    const warnings: string[] = [];
    const collect = (warning: Error): void => void warnings.push(warning.message);
    process.on("warning", collect);
    try {
      assert.deepEqual(await raisedWhile(() => transport.onclose!()), [], "nothing thrown");
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off("warning", collect);
    }
    assert.deepEqual(closes, ["endpoint"]);
    assert.ok(warnings.some((message) => /a pqguard close hook failed: a hook failed/.test(message)), String(warnings));
  });
});

describe("attaching to an SDK endpoint", () => {
  it("refuses (PQG7310) an object that is not an SDK Client or Server", async () => {
    const { enforce } = await import("../../runtime/enforce/index.js");
    const guard: GuardModule = { policyName: "p", policyDigest: "0".repeat(64), toolDigests: {}, guard: () => ({ decision: "deny", determining: [], reason: "no", explain: [] }) };
    assert.throws(() => enforce({ name: "not a server" } as never, guard), (error: unknown) => (error as { code?: unknown }).code === "PQG7310");
  });
});
