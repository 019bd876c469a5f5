// The sealed MCP transports with the real SDK Client and McpServer over InMemoryTransport: calls work, facts are
// exposed, 1,000 concurrent calls survive a rekey, an idle session rekeys on its timer, and every attack on the wire
// closes the session with its code.
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { CLOSE_NOTIFY_TIMEOUT_MS, INNER_CLOSE_TIMEOUT_MS } from "../../runtime/session/constants.js";
import { SessionError, SessionErrorCode } from "../../runtime/session/errors.js";
import { decodeClientHello, encodeClientHello } from "../../runtime/session/messages.js";
import { FrameType } from "../../runtime/session/record.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { PqcClientTransport, PqcServerTransport, envelopePayload, openEnvelope, withEnvelopePayload } from "../../runtime/transport/index.js";
import { T0, clientFixture, newIdentity, serverFixture } from "../session/fixtures.js";
import { raisedWhile } from "../support/uncaught.js";
import { connect, echoServer, isSealed, transports } from "./harness.js";
import type { Connected } from "./harness.js";

const call = (c: Connected, text: string) => c.client.callTool({ name: "echo", arguments: { text } });

function codeOf(error: unknown): string | undefined {
  return error instanceof SessionError ? error.code : undefined;
}

async function settle(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
}

function editFrame(message: JSONRPCMessage, change: (bytes: Buffer) => void): JSONRPCMessage {
  const bytes = Buffer.from(envelopePayload(message)!, "base64url");
  change(bytes);
  return withEnvelopePayload(message, bytes.toString("base64url"));
}

const isHandshake = (message: JSONRPCMessage): boolean => openEnvelope(message).kind === "handshake";

/**
 * Breaks the client's wire (every send rejects), runs `lose` (which makes the client send a rekey marker), then checks
 * the session failed with StreamTruncated caused by the broken send and closed, and nothing was left unhandled.
 */
async function assertMarkerLossFails(c: Connected, lose: () => Promise<void>, settleMs: number): Promise<void> {
  const errors: unknown[] = [];
  c.clientTransport.onerror = (error) => errors.push(error);
  c.serverTransport.onerror = () => undefined;
  const broken = new Error("the pipe is broken");
  c.clientWire.send = () => Promise.reject(broken);
  const unhandled: unknown[] = [];
  const collect = (reason: unknown): void => void unhandled.push(reason);
  process.on("unhandledRejection", collect);
  try {
    await lose();
    assert.ok(await eventually(() => errors.length > 0), "the lost marker is reported");
    assert.equal(codeOf(errors[0]), SessionErrorCode.StreamTruncated);
    assert.equal((errors[0] as Error).cause, broken);
    assert.equal(await within(c.clientTransport.closed, 1000), undefined);
    await assert.rejects(call(c, "after"));
    await sleep(settleMs);
    assert.deepEqual(unhandled, []);
  } finally {
    process.off("unhandledRejection", collect);
  }
}

/** Polls `done` until it holds or `ms` pass; returns whether it held. */
async function eventually(done: () => boolean, ms = 2000): Promise<boolean> {
  for (const start = Date.now(); !done(); await new Promise((resolve) => setTimeout(resolve, 10))) {
    if (Date.now() - start > ms) return false;
  }
  return true;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const frameType = (message: JSONRPCMessage): number | undefined => Buffer.from(envelopePayload(message)!, "base64url")[0];

const within = <T>(promise: Promise<T>, ms: number): Promise<T | "still pending"> =>
  Promise.race([promise, new Promise<"still pending">((resolve) => setTimeout(() => resolve("still pending"), ms))]);

describe("sealed MCP transport", () => {
  it("carries tools/call through the real SDK and exposes the same session facts on both ends", async () => {
    const c = await connect();
    const result = await call(c, "hello");
    assert.deepEqual(result.content, [{ type: "text", text: "hello" }]);
    const client = c.clientTransport.sessionInfo!;
    const server = c.serverTransport.sessionInfo!;
    assert.equal(client.sessionId, server.sessionId);
    // Without an AEAD choice the transports offer the faster record AEAD first (runtime/transport/defaults.ts).
    assert.deepEqual(client.suite, { kem: "X25519MLKEM768", signature: "ML-DSA-65", aead: "ChaCha20-Poly1305", hybrid: true, level: 3 });
    assert.equal(client.peerFingerprint, server.peerFingerprint);
    assert.equal(server.client, undefined);
    assert.equal(server.establishedAt, T0 + 1000);
    await c.client.close();
  });

  it("sends nothing in plaintext after the handshake", async () => {
    const seen: JSONRPCMessage[] = [];
    const parts = await connect();
    parts.setEdit((message) => (seen.push(message), [message]));
    await call(parts, "secret text");
    assert.ok(seen.length >= 2);
    assert.ok(seen.every(isSealed));
    assert.ok(!JSON.stringify(seen).includes("secret text"));
    await parts.client.close();
  });

  it("gives the server the client's verified identity and claims (mutual authentication)", async () => {
    const { issuer, client, certificate } = clientFixture();
    let established: unknown;
    const parts = transports({ clientIdentity: client, clientCertificate: certificate }, { clientTrust: { issuers: [issuer.fingerprint], required: true } });
    parts.serverTransport.onestablished = (info) => (established = info.client);
    const handled: string[] = [];
    const server = echoServer(handled);
    const mcp = new Client({ name: "c", version: "1" });
    await Promise.all([server.connect(parts.serverTransport), mcp.connect(parts.clientTransport)]);
    assert.deepEqual(established, { fingerprint: client.fingerprint, claims: { id: "agent-7", role: "billing-agent" }, notAfter: T0 + 24 * 3600_000 });
    assert.deepEqual(parts.serverTransport.sessionInfo?.client, established);
    await mcp.close();
  });

  it("answers 1,000 concurrent tools/call requests intact across rekeys", async () => {
    const c = await connect({ rekeyAfterMessages: 97 }, { rekeyAfterMessages: 89 });
    const texts = Array.from({ length: 1000 }, (_, i) => `request ${i} ${"x".repeat(i % 50)}`);
    const results = await Promise.all(texts.map((text) => call(c, text)));
    results.forEach((result, i) => assert.deepEqual(result.content, [{ type: "text", text: texts[i] }]));
    assert.equal(c.handled.length, 1000);
    assert.ok(c.clientTransport.sessionInfo!.rekeys >= 20, `rekeys: ${c.clientTransport.sessionInfo!.rekeys}`);
    assert.equal(c.clientTransport.sessionInfo!.rekeys, c.serverTransport.sessionInfo!.rekeys);
    assert.deepEqual(c.errors, { client: [], server: [] });
    await c.client.close();
  });

  it("uses the configured AEAD when one is chosen", async () => {
    const suites = { aead: ["AES-256-GCM"] };
    const c = await connect({ suites }, { suites });
    await call(c, "x");
    assert.equal(c.serverTransport.sessionInfo!.suite.aead, "AES-256-GCM");
    await c.client.close();
  });

  it("rekeys after the configured time", async () => {
    let now = T0 + 1000;
    const c = await connect({ now: () => now, rekeyAfterMs: 60_000 }, { now: () => now, rekeyAfterMs: 60_000 });
    await call(c, "a");
    assert.equal(c.clientTransport.sessionInfo!.rekeys, 0);
    now += 60_000;
    await call(c, "b");
    assert.equal(c.clientTransport.sessionInfo!.rekeys, 2);
    await c.client.close();
  });

  it("fails the session when a send's rekey marker is lost, even if the message itself was refused as too large", async () => {
    let now = T0 + 1000;
    const c = await connect({ now: () => now, rekeyAfterMs: 60_000, maxFrameBytes: 4096 }, { now: () => now, rekeyAfterMs: 60_000 });
    await call(c, "a");
    await assertMarkerLossFails(
      c,
      async () => {
        now += 60_000;
        // The marker's loss closes the session before the SDK hears of the refused frame: either way the call fails.
        await assert.rejects(call(c, "x".repeat(5000)));
      },
      20,
    );
  });

  it("sends nothing more when the rekey marker's send throws at once and fails the session", async () => {
    let now = T0 + 1000;
    const c = await connect({ now: () => now, rekeyAfterMs: 60_000 }, { now: () => now, rekeyAfterMs: 60_000 });
    await call(c, "a");
    const errors: unknown[] = [];
    c.clientTransport.onerror = (error) => errors.push(error);
    c.serverTransport.onerror = () => undefined;
    const after: JSONRPCMessage[] = [];
    let thrown = false;
    // Not async: the first send (the marker) throws inside the call, before the message itself is sealed.
    c.clientWire.send = (message) => {
      if (!thrown) {
        thrown = true;
        throw new Error("the pipe is broken");
      }
      after.push(message);
      return Promise.resolve();
    };
    now += 60_000;
    await assert.rejects(call(c, "SECRET-ARGUMENT"));
    assert.equal(codeOf(errors[0]), SessionErrorCode.StreamTruncated);
    assert.deepEqual(after, [], "nothing was handed to the inner transport after the session failed");
  });

  describe("idle sessions", () => {
    /** Rekey timers expire every 50 ms of real time; the age they check is the test's clock, moved by hand. */
    const REKEY_MS = 50;
    async function idleSession(options: { delivery?: "unordered" } = {}): Promise<{ c: Connected; clock: { now: number }; wire: JSONRPCMessage[] }> {
      const clock = { now: T0 + 1000 };
      const shared = { now: () => clock.now, rekeyAfterMs: REKEY_MS, ...options };
      const c = await connect(shared, shared);
      await call(c, "before");
      const wire: JSONRPCMessage[] = [];
      c.setEdit((message) => (wire.push(message), [message]));
      return { c, clock, wire };
    }
    const rekeys = (c: Connected): [number | undefined, number | undefined] => [c.clientTransport.sessionInfo?.rekeys, c.serverTransport.sessionInfo?.rekeys];

    it("sends a rekey marker from each end once the key is past its time, and calls still work after", async () => {
      const { c, clock, wire } = await idleSession();
      await sleep(3 * REKEY_MS);
      assert.deepEqual(rekeys(c), [0, 0], "timer expiries before the key is past its time change nothing");
      clock.now += REKEY_MS;
      assert.ok(await eventually(() => rekeys(c)[0] === 2 && rekeys(c)[1] === 2), `rekeys: ${rekeys(c)}`);
      assert.deepEqual(wire.map(frameType), [FrameType.rekey, FrameType.rekey], "one sealed rekey marker each way, nothing else");
      // Keys that sealed nothing since are kept, however long the session stays idle.
      clock.now += 10 * REKEY_MS;
      await sleep(3 * REKEY_MS);
      assert.deepEqual(rekeys(c), [2, 2]);
      assert.deepEqual((await call(c, "after")).content, [{ type: "text", text: "after" }]);
      assert.deepEqual(c.errors, { client: [], server: [] });
      await c.client.close();
    });

    it("ratchets silently over unordered delivery, and the peer follows the next frame", async () => {
      const { c, clock, wire } = await idleSession({ delivery: "unordered" });
      clock.now += REKEY_MS;
      assert.ok(await eventually(() => rekeys(c)[0] === 1 && rekeys(c)[1] === 1), `rekeys: ${rekeys(c)}`);
      assert.deepEqual(wire, [], "no marker on the wire");
      assert.deepEqual((await call(c, "after")).content, [{ type: "text", text: "after" }]);
      assert.deepEqual(rekeys(c), [2, 2]);
      assert.deepEqual(c.errors, { client: [], server: [] });
      await c.client.close();
    });

    it("keeps no timer that holds the process open, and stops it at close", async () => {
      // The timers the sessions arm, told apart by their delay (the tests' own waits use others).
      const armed: NodeJS.Timeout[] = [];
      const done = new Set<unknown>(); // expired or cleared
      const setTimeoutBefore = globalThis.setTimeout;
      const clearTimeoutBefore = globalThis.clearTimeout;
      globalThis.setTimeout = ((handler: () => void, delay?: number, ...rest: unknown[]) => {
        const timer: NodeJS.Timeout = (setTimeoutBefore as (...args: unknown[]) => NodeJS.Timeout)(
          (...args: unknown[]) => {
            done.add(timer);
            (handler as (...a: unknown[]) => void)(...args);
          },
          delay,
          ...rest,
        );
        if (delay === REKEY_MS) armed.push(timer);
        return timer;
      }) as typeof setTimeout;
      globalThis.clearTimeout = ((timer?: NodeJS.Timeout) => {
        done.add(timer);
        clearTimeoutBefore(timer);
      }) as typeof clearTimeout;
      try {
        const { c, clock, wire } = await idleSession();
        const errors: unknown[] = [];
        c.clientTransport.onerror = (error) => errors.push(error);
        c.serverTransport.onerror = (error) => errors.push(error);
        assert.ok(await eventually(() => armed.length >= 4), "each end re-arms its timer every period");
        assert.ok(armed.every((timer) => !timer.hasRef()), "no rekey timer keeps the process alive");
        await c.client.close();
        assert.deepEqual(armed.filter((timer) => !done.has(timer)), [], "close clears the timer each end had pending");
        const atClose = armed.length;
        wire.length = 0;
        clock.now += 10 * REKEY_MS;
        await sleep(3 * REKEY_MS);
        assert.equal(armed.length, atClose, "no timer expired and re-armed after close");
        assert.deepEqual(rekeys(c), [0, 0]);
        assert.deepEqual(wire, []);
        assert.deepEqual(errors, []);
      } finally {
        globalThis.setTimeout = setTimeoutBefore;
        globalThis.clearTimeout = clearTimeoutBefore;
      }
    });

    it("looks at most every 10 ms however short rekeyAfterMs is", async () => {
      const delays: number[] = [];
      const setTimeoutBefore = globalThis.setTimeout;
      globalThis.setTimeout = ((handler: () => void, delay?: number, ...rest: unknown[]) => {
        delays.push(delay ?? 0);
        return (setTimeoutBefore as (...args: unknown[]) => NodeJS.Timeout)(handler, delay, ...rest);
      }) as typeof setTimeout;
      let c: Connected | undefined;
      try {
        const shared = { rekeyAfterMs: 0.5 };
        c = await connect(shared, shared);
        await call(c, "a");
        await sleep(100);
      } finally {
        globalThis.setTimeout = setTimeoutBefore;
        await c?.client.close();
      }
      // Every timer the sessions arm while idle is the floor; nothing else in this process arms one below it.
      assert.ok(delays.filter((delay) => delay === 10).length >= 4, `delays: ${delays.slice(0, 20)}`);
      assert.deepEqual(delays.filter((delay) => delay < 10), [], "no timer below 10 ms");
    });

    it("fails the session with a typed error, and nothing unhandled, when the marker cannot be sent", async () => {
      const { c, clock } = await idleSession();
      await assertMarkerLossFails(c, async () => void (clock.now += REKEY_MS), 3 * REKEY_MS);
    });
  });

  describe("attacks on sealed frames", () => {
    /** `genuine`: the attack passes the real frame on first (a replay), so that one call is handled exactly once. */
    async function attacked(edit: (message: JSONRPCMessage) => JSONRPCMessage[], expected: string, genuine = 0): Promise<void> {
      const c = await connect();
      await call(c, "warm up");
      const serverErrors: unknown[] = [];
      c.serverTransport.onerror = (error) => serverErrors.push(error);
      let armed = true;
      c.setEdit((message, direction) => {
        if (!armed || direction !== "toServer" || !isSealed(message)) return [message];
        armed = false;
        return edit(message);
      });
      const before = c.handled.length;
      const outcome = await Promise.race([
        call(c, "attacked").then(() => "answered", (error: unknown) => `rejected: ${String(error)}`),
        new Promise((resolve) => setTimeout(() => resolve("pending"), 200)),
      ]);
      if (genuine === 0) assert.notEqual(outcome, "answered");
      assert.equal(c.handled.length, before + genuine, "no plaintext from the bad frame reached the handler");
      assert.equal(codeOf(serverErrors[0]), expected, String(serverErrors[0]));
      assert.equal(c.serverTransport.sessionInfo, undefined);
      await assert.rejects(c.serverTransport.send({ jsonrpc: "2.0", method: "x" }), (error: unknown) => codeOf(error) === SessionErrorCode.Closed);
      await c.client.close();
    }

    it("closes on a frame altered in transit (header, body and tag positions)", async () => {
      for (const position of [0, 2, 4, 8, 12, 13, 20, -16, -1]) {
        // The epoch and sequence number bytes (1 to 12) are checked before the MAC: a raised one reads as out of order.
        const expected = position >= 1 && position <= 12 ? SessionErrorCode.Reorder : SessionErrorCode.BadRecordMac;
        await attacked((m) => [editFrame(m, (b) => (b[position < 0 ? b.length + position : position]! ^= 0x40))], expected);
      }
    });

    it("closes on a replayed frame", async () => {
      await attacked((m) => [m, m], SessionErrorCode.Replay, 1);
    });

    it("closes on a dropped frame (the next one arrives out of order)", async () => {
      const c = await connect();
      const errors: unknown[] = [];
      c.serverTransport.onerror = (error) => errors.push(error);
      let dropped = false;
      c.setEdit((message, direction) => {
        if (direction === "toServer" && isSealed(message) && !dropped) return (dropped = true), [];
        return [message];
      });
      void call(c, "lost").catch(() => undefined);
      await call(c, "next").catch(() => undefined);
      assert.equal(codeOf(errors[0]), SessionErrorCode.Reorder);
      assert.deepEqual(c.handled, []);
      await c.client.close();
    });

    it("closes on a truncated frame", async () => {
      const cut = (m: JSONRPCMessage): JSONRPCMessage => withEnvelopePayload(m, envelopePayload(m)!.slice(0, 20));
      await attacked((m) => [cut(m)], SessionErrorCode.TruncatedFrame);
    });

    it("closes on a sealed request whose envelope id was rewritten (the routing must match what is sealed)", async () => {
      await attacked((m) => ["id" in m ? ({ ...m, id: 424242 } as JSONRPCMessage) : m], SessionErrorCode.UnexpectedMessage);
    });

    it("closes on a sealed request whose envelope was reshaped into a response with the same id", async () => {
      await attacked((m) => ["id" in m && "method" in m ? ({ jsonrpc: "2.0", id: m.id, result: { "pqguard/sealed": envelopePayload(m)! } } as JSONRPCMessage) : m], SessionErrorCode.UnexpectedMessage);
    });

    it("closes on a plaintext message injected into an established session", async () => {
      await attacked(() => [{ jsonrpc: "2.0", id: 999, method: "tools/call", params: { name: "echo", arguments: { text: "injected" } } }], SessionErrorCode.UnexpectedMessage);
    });

    it("reports a connection cut without the sealed close as truncation", async () => {
      const c = await connect();
      const errors: unknown[] = [];
      c.serverTransport.onerror = (error) => errors.push(error);
      await c.clientWire.close();
      await settle();
      assert.equal(codeOf(errors[0]), SessionErrorCode.StreamTruncated);
    });

    it("closes cleanly, without error, when the peer sends its sealed close", async () => {
      const c = await connect();
      const errors: unknown[] = [];
      let closed = 0;
      c.serverTransport.onerror = (error) => errors.push(error);
      const previous = c.serverTransport.onclose;
      c.serverTransport.onclose = () => (closed++, previous?.());
      await c.client.close();
      await settle();
      assert.deepEqual(errors, []);
      assert.equal(closed, 1);
    });
  });

  describe("unordered delivery (as over Streamable HTTP)", () => {
    const unordered = { delivery: "unordered" as const };

    it("delivers frames that overtake each other, and a close that overtakes frames waits for them", async () => {
      const c = await connect(unordered, unordered);
      const held: JSONRPCMessage[] = [];
      // Hold back the client's next two sealed frames, then let the client close: its close overtakes them.
      c.setEdit((message, direction) => (direction === "toServer" && isSealed(message) && held.length < 2 ? (held.push(message), []) : [message]));
      void call(c, "one").catch(() => undefined);
      void call(c, "two").catch(() => undefined);
      await settle();
      assert.equal(held.length, 2);
      const errors: unknown[] = [];
      c.serverTransport.onerror = (error) => errors.push(error);
      // Over HTTP the client's close does not close the server's end; keep the in-memory link open likewise.
      c.clientWire.close = async () => undefined;
      await c.clientTransport.close();
      await settle();
      assert.ok(c.serverTransport.sessionInfo !== undefined, "the server waits for the frames sent before the close");
      let closed = false;
      void c.serverTransport.closed.then(() => (closed = true));
      await settle();
      assert.equal(closed, false);
      for (const message of held.reverse()) c.serverWire.inject(message);
      await settle();
      await settle();
      assert.deepEqual([...c.handled].sort(), ["one", "two"]);
      assert.deepEqual(errors, []);
      assert.equal(closed, true, "the server closes once every frame sent before the close has arrived");
    });

    it("hands a frame that overtook the handshake's last message to the server with the request info it arrived with", async () => {
      const parts = transports(unordered, unordered);
      const held: JSONRPCMessage[] = [];
      parts.setEdit((message, direction) => (direction === "toServer" && isHandshake(message) && (message as { id?: unknown }).id === "pqguard/finished" ? (held.push(message), []) : [message]));
      const received: { message: JSONRPCMessage; extra: unknown }[] = [];
      parts.serverTransport.onmessage = (message, extra) => received.push({ message, extra });
      const serverStarted = parts.serverTransport.start();
      await parts.clientTransport.start();
      const authInfo = { token: "opaque", clientId: "agent-7", scopes: ["tools"] };
      await parts.clientTransport.send({ jsonrpc: "2.0", id: 1, method: "ping" }, { authInfo } as never);
      assert.equal(held.length, 1);
      assert.equal(received.length, 0, "held until the handshake completes");
      parts.serverWire.inject(held[0]!);
      await serverStarted;
      assert.deepEqual(received.map((r) => (r.message as { id?: unknown }).id), [1]);
      assert.deepEqual((received[0]!.extra as { authInfo?: unknown } | undefined)?.authInfo, authInfo);
      await parts.clientTransport.close();
    });

    it("reports truncation when frames sent before the close never arrive", async function () {
      this.timeout(10_000);
      const c = await connect(unordered, unordered);
      let dropped = false;
      c.setEdit((message, direction) => (direction === "toServer" && isSealed(message) && !dropped ? ((dropped = true), []) : [message]));
      void call(c, "lost").catch(() => undefined);
      await settle();
      const errors: unknown[] = [];
      c.serverTransport.onerror = (error) => errors.push(error);
      c.clientWire.close = async () => undefined;
      await c.clientTransport.close();
      for (let i = 0; i < 80 && errors.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(codeOf(errors[0]), SessionErrorCode.StreamTruncated);
      assert.match(String(errors[0]), /1 of the frames it sent before its close never arrived/);
      assert.deepEqual(c.handled, []);
    });
  });

  describe("talking to peers without the session", () => {
    it("answers a plain MCP client's initialize with an error that says what is required", async () => {
      const [a, b] = InMemoryTransport.createLinkedPair();
      const sealed = transports();
      const server = new PqcServerTransport(b, { credentials: serverFixture().credentials, now: () => T0 + 1000 });
      const errors: unknown[] = [];
      server.onerror = (error) => errors.push(error);
      void echoServer([]).connect(server).catch(() => undefined);
      const plain = new Client({ name: "plain", version: "1" });
      await assert.rejects(plain.connect(a), /requires the pqguard post-quantum session/);
      assert.equal(codeOf(errors[0]), SessionErrorCode.UnexpectedMessage);
      assert.equal(server.sessionInfo, undefined);
      await sealed.clientTransport.close();
    });

    it("names a plain MCP server that answers the hello as such", async () => {
      const [a, b] = InMemoryTransport.createLinkedPair();
      void echoServer([]).connect(b);
      const client = new PqcClientTransport(a, { trust: { serverFingerprints: [serverFixture().server.fingerprint] }, now: () => T0 + 1000 });
      await assert.rejects(new Client({ name: "c", version: "1" }).connect(client), /does not run the pqguard session/);
    });
  });

  describe("handshake refusals through the transports", () => {
    async function refused(parts: ReturnType<typeof transports>, expected: string): Promise<void> {
      const server = echoServer([]);
      const client = new Client({ name: "c", version: "1" });
      const results = await Promise.allSettled([server.connect(parts.serverTransport), client.connect(parts.clientTransport)]);
      const codes = results.flatMap((r) => (r.status === "rejected" ? [codeOf(r.reason)] : []));
      assert.ok(codes.includes(expected as never), `codes: ${codes.join(", ")}`);
      assert.equal(parts.clientTransport.sessionInfo, undefined);
      assert.equal(parts.serverTransport.sessionInfo, undefined);
    }

    it("refuses a server key the client does not trust", async () => {
      await refused(transports({ trust: { serverFingerprints: [newIdentity().fingerprint] } }), SessionErrorCode.UntrustedServerKey);
    });

    it("refuses an expired server certificate", async () => {
      await refused(transports({ now: () => T0 + 2 * 24 * 3600_000 }), SessionErrorCode.CertificateExpired);
    });

    it("refuses a downgrade by a man in the middle who edits the offer", async () => {
      const offer = { kem: ["X25519MLKEM768", "ML-KEM-768"], signature: ["ML-DSA-65"], aead: ["AES-256-GCM"] };
      const parts = transports({ suites: offer }, { suites: offer });
      parts.setEdit((message, direction) => {
        if (direction !== "toServer" || !isHandshake(message)) return [message];
        const bytes = new Uint8Array(Buffer.from(envelopePayload(message)!, "base64url"));
        if (bytes[0] !== 1) return [message];
        const hello = decodeClientHello(bytes);
        const stripped = encodeClientHello({ nonce: hello.nonce, offer: { ...hello.offer, kem: ["ML-KEM-768"] }, shares: [hello.shares[1]!] });
        return [withEnvelopePayload(message, Buffer.from(stripped).toString("base64url"))];
      });
      await refused(parts, SessionErrorCode.Downgrade);
    });

    it("refuses handshake messages altered in transit", async () => {
      for (const [type, position] of [[1, 40], [2, 100], [3, 500], [4, 5]] as const) {
        const parts = transports({ handshakeTimeoutMs: 2000 }, { handshakeTimeoutMs: 2000 });
        parts.setEdit((message) => {
          if (!isHandshake(message)) return [message];
          const bytes = Buffer.from(envelopePayload(message)!, "base64url");
          if (bytes[0] === type) bytes[position]! ^= 1;
          return [withEnvelopePayload(message, bytes.toString("base64url"))];
        });
        const server = echoServer([]);
        const client = new Client({ name: "c", version: "1" });
        const results = await Promise.allSettled([server.connect(parts.serverTransport), client.connect(parts.clientTransport)]);
        assert.ok(results.some((r) => r.status === "rejected"), `message type ${type} altered at ${position} was accepted`);
        assert.equal(parts.serverTransport.sessionInfo, undefined);
      }
    });

    it("times out when the server never answers", async () => {
      const parts = transports({ handshakeTimeoutMs: 50 });
      parts.setEdit((message, direction) => (direction === "toServer" ? [] : [message]));
      await assert.rejects(parts.clientTransport.start(), (error: unknown) => codeOf(error) === SessionErrorCode.Timeout);
    });

    it("times out when the inner transport never finishes sending the hello (start settles, nothing unhandled)", async () => {
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown): number => unhandled.push(reason);
      process.on("unhandledRejection", onUnhandled);
      try {
        const parts = transports({ handshakeTimeoutMs: 50 });
        // A peer that accepts the connection and never answers: an HTTP POST or a stdio write that never completes.
        parts.clientWire.send = () => new Promise<void>(() => undefined);
        const outcome = await Promise.race([
          parts.clientTransport.start().then(() => "resolved", (error: unknown) => codeOf(error) ?? String(error)),
          new Promise((resolve) => setTimeout(() => resolve("still pending"), 1000)),
        ]);
        assert.equal(outcome, SessionErrorCode.Timeout);
        await settle();
        assert.deepEqual(unhandled, []);
      } finally {
        process.off("unhandledRejection", onUnhandled);
      }
    });

    it("times out on the server when no client arrives", async () => {
      const parts = transports({}, { handshakeTimeoutMs: 50 });
      await assert.rejects(parts.serverTransport.start(), (error: unknown) => codeOf(error) === SessionErrorCode.Timeout);
    });
  });

  describe("lifecycle", () => {
    it("queues sends made before establishment and flushes them in order", async () => {
      const parts = transports();
      const received: JSONRPCMessage[] = [];
      parts.serverTransport.onmessage = (message) => received.push(message);
      const early = [1, 2, 3].map((id) => parts.clientTransport.send({ jsonrpc: "2.0", id, method: "ping" }));
      await Promise.all([parts.serverTransport.start(), parts.clientTransport.start(), ...early]);
      await settle();
      assert.deepEqual(received.map((m) => (m as { id: number }).id), [1, 2, 3]);
      await parts.clientTransport.close();
    });

    it("rejects queued sends when closed, and closes only once", async () => {
      const parts = transports();
      let closes = 0;
      parts.clientTransport.onclose = () => closes++;
      const queued = parts.clientTransport.send({ jsonrpc: "2.0", id: 1, method: "ping" });
      await Promise.all([parts.clientTransport.close(), parts.clientTransport.close()]);
      await assert.rejects(queued, (error: unknown) => codeOf(error) === SessionErrorCode.Closed);
      await assert.rejects(parts.clientTransport.send({ jsonrpc: "2.0", id: 2, method: "ping" }), (error: unknown) => codeOf(error) === SessionErrorCode.Closed);
      await parts.clientTransport.close();
      assert.equal(closes, 1);
    });

    it("finishes closing, and emits onclose, when the peer never takes the sealed close", async function () {
      this.timeout(10_000);
      const c = await connect();
      let closes = 0;
      const previous = c.clientTransport.onclose;
      c.clientTransport.onclose = () => (closes++, previous?.());
      // The peer stops reading: the close frame's send never completes (a full stdio pipe, an HTTP POST never answered).
      c.clientWire.send = () => new Promise<void>(() => undefined);
      const outcome = await Promise.race([
        c.clientTransport.close().then(() => "closed"),
        new Promise((resolve) => setTimeout(() => resolve("still pending"), CLOSE_NOTIFY_TIMEOUT_MS + 1000)),
      ]);
      assert.equal(outcome, "closed");
      assert.equal(closes, 1);
    });

    it("finishes closing, and emits onclose, when the inner transport's own close never settles", async function () {
      this.timeout(10_000);
      const never = (): Promise<void> => new Promise<void>(() => undefined);
      // One session closed by its owner, one failed by an attack; in both the inner close hangs.
      const [closedByOwner, failed] = await Promise.all([connect(), connect()]);
      let closes = 0;
      closedByOwner.clientTransport.onclose = () => void closes++;
      closedByOwner.clientWire.close = never;
      failed.serverWire.close = never;
      failed.serverTransport.onerror = () => undefined;
      failed.serverWire.inject({ jsonrpc: "2.0", id: 99, method: "tools/list" });
      const bound = INNER_CLOSE_TIMEOUT_MS + 1000;
      const [owner, afterFailure] = await Promise.all([within(closedByOwner.clientTransport.close(), bound), within(failed.serverTransport.close(), bound)]);
      assert.equal(owner, undefined);
      assert.equal(closes, 1);
      assert.equal(await within(closedByOwner.clientTransport.closed, 100), undefined);
      assert.equal(afterFailure, undefined, "close() after a failure settles too");
      await Promise.all([closedByOwner.serverTransport.close(), failed.clientTransport.close()]);
    });

    it("closes the inner transport and emits onclose when the onerror handler throws during a failure", async () => {
      const c = await connect();
      const bug = new Error("the onerror handler is broken");
      let innerCloses = 0;
      const closeInner = c.serverWire.close.bind(c.serverWire);
      c.serverWire.close = () => (innerCloses++, closeInner());
      let closes = 0;
      c.serverTransport.onclose = () => void closes++;
      c.serverTransport.onerror = () => {
        throw bug;
      };
      let thrownIntoWire: unknown;
      const raised = await raisedWhile(async () => {
        try {
          c.serverWire.inject({ jsonrpc: "2.0", id: 99, method: "tools/list" });
        } catch (error) {
          thrownIntoWire = error;
        }
        await settle();
      });
      assert.equal(thrownIntoWire, undefined, "the handler's error did not reach the transport that delivered the message");
      assert.equal(innerCloses, 1);
      assert.equal(closes, 1);
      assert.equal(await within(c.serverTransport.closed, 1000), undefined);
      // Nowhere else to report it: raised on a later turn rather than swallowed.
      assert.deepEqual(raised, [bug]);
    });

    it("finishes close() and reports the error when the onclose handler throws", async () => {
      const c = await connect();
      const bug = new Error("the onclose handler is broken");
      const errors: unknown[] = [];
      c.clientTransport.onerror = (error) => errors.push(error);
      c.clientTransport.onclose = () => {
        throw bug;
      };
      assert.equal(await within(c.clientTransport.close(), 1000), undefined);
      assert.equal(await within(c.clientTransport.closed, 1000), undefined);
      assert.equal(errors.length, 1);
      assert.equal(codeOf(errors[0]), SessionErrorCode.CallbackFailed);
      assert.equal((errors[0] as Error).cause, bug);
    });

    it("fails the session closed, with a typed error, when the onestablished handler throws", async () => {
      const parts = transports();
      const refusal = new Error("this client is not welcome");
      const errors: unknown[] = [];
      parts.serverTransport.onerror = (error) => errors.push(error);
      parts.serverTransport.onestablished = () => {
        throw refusal;
      };
      await Promise.allSettled([parts.serverTransport.start(), parts.clientTransport.start()]);
      await settle();
      assert.equal(codeOf(errors[0]), SessionErrorCode.CallbackFailed);
      assert.equal((errors[0] as Error).cause, refusal);
      assert.equal(parts.serverTransport.sessionInfo, undefined);
      assert.equal(await within(parts.serverTransport.closed, 1000), undefined);
      await parts.clientTransport.close();
    });

    for (const order of ["client connected first", "client hello queued before the server starts"] as const) {
      it(`keeps the session when the handshake completes while the server is still starting (${order})`, async () => {
        // The SDK's in-memory examples connect the client first; an in-memory link queues what arrives before start().
        const [a, b] = InMemoryTransport.createLinkedPair();
        const now = (): number => T0 + 1000;
        const clientTransport = new PqcClientTransport(a, { trust: { serverFingerprints: [serverFixture().server.fingerprint] }, now });
        const serverTransport = new PqcServerTransport(b, { credentials: serverFixture().credentials, now, handshakeTimeoutMs: 200 });
        const errors: unknown[] = [];
        const handled: string[] = [];
        const server = echoServer(handled);
        server.server.onerror = (error) => errors.push(error);
        const client = new Client({ name: "c", version: "1" });
        if (order === "client connected first") {
          await Promise.all([client.connect(clientTransport), server.connect(serverTransport)]);
        } else {
          const connecting = client.connect(clientTransport);
          await settle();
          await Promise.all([connecting, server.connect(serverTransport)]);
        }
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.deepEqual(errors, []);
        assert.ok(serverTransport.sessionInfo !== undefined, "the server's session outlived its handshake timer");
        assert.deepEqual((await client.callTool({ name: "echo", arguments: { text: "after" } })).content, [{ type: "text", text: "after" }]);
        await client.close();
      });
    }

    it("refuses to be started twice", async () => {
      const c = await connect();
      await assert.rejects(c.clientTransport.start(), (error: unknown) => codeOf(error) === SessionErrorCode.UnexpectedMessage);
      await c.client.close();
    });
  });
});
