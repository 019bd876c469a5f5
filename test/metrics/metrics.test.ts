// Metrics and the handshake alarm, read after real attacks: a tampered MAC, a bad signature, an untrusted certificate,
// a downgrade and a timeout each counted under its reason; a burst from one peer alerts (a pino line) and blocks it.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { pino } from "pino";
import { HandshakeAlarm, PqguardMetrics, listenMetrics } from "../../runtime/metrics/index.js";
import { decodeClientHello, encodeClientHello } from "../../runtime/session/messages.js";
import { SealedHttpEndpoint, envelopePayload, openEnvelope, withEnvelopePayload } from "../../runtime/transport/index.js";
import { clientFixture, serverFixture } from "../session/fixtures.js";
import { newIdentity } from "../session/fixtures.js";
import { echoServer, transports, type WireEdit } from "../transport/harness.js";

const isHandshake = (message: JSONRPCMessage): boolean => openEnvelope(message).kind === "handshake";

/** Edits handshake messages of one type (1 hello, 2 server hello, 3 client finished) in flight. */
function editHandshake(type: number, change: (bytes: Uint8Array) => Uint8Array): WireEdit {
  return (message) => {
    if (!isHandshake(message)) return [message];
    const bytes = new Uint8Array(Buffer.from(envelopePayload(message)!, "base64url"));
    if (bytes[0] !== type) return [message];
    return [withEnvelopePayload(message, Buffer.from(change(bytes)).toString("base64url"))];
  };
}

async function attempt(parts: ReturnType<typeof transports>): Promise<void> {
  const results = await Promise.allSettled([echoServer([]).connect(parts.serverTransport), new Client({ name: "c", version: "1" }).connect(parts.clientTransport)]);
  assert.ok(results.some((r) => r.status === "rejected"), "the handshake was expected to fail");
}

const downgrade: WireEdit = editHandshake(1, (bytes) => {
  const hello = decodeClientHello(bytes);
  return encodeClientHello({ nonce: hello.nonce, offer: { ...hello.offer, kem: ["ML-KEM-768"] }, shares: [hello.shares[1]!] });
});
const offer = { kem: ["X25519MLKEM768", "ML-KEM-768"], signature: ["ML-DSA-65"], aead: ["AES-256-GCM"] };

function capturedLogger(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString("utf8").split("\n")) if (line !== "") lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: "info" }, sink), lines };
}

describe("metrics", () => {
  it("counts a completed handshake by its suite, and the open session until it closes", async () => {
    const metrics = new PqguardMetrics();
    const parts = transports({ metrics }, { metrics });
    const client = new Client({ name: "c", version: "1" });
    await Promise.all([echoServer([]).connect(parts.serverTransport), client.connect(parts.clientTransport)]);
    assert.equal(await metrics.value("pqguard_handshakes_total", { side: "server", outcome: "ok", kem: "X25519MLKEM768" }), 1);
    assert.equal(await metrics.value("pqguard_handshakes_total", { side: "client", outcome: "ok" }), 1);
    assert.equal(await metrics.value("pqguard_handshake_duration_seconds", { side: "client" }), 1);
    assert.equal(await metrics.value("pqguard_sessions_open", { side: "server" }), 1);
    await client.close();
    await parts.serverTransport.closed;
    assert.equal(await metrics.value("pqguard_sessions_open", { side: "server" }), 0);
    assert.equal(await metrics.value("pqguard_sessions_open", { side: "client" }), 0);
  });

  it("counts a tampered Finished MAC as mac_failure", async () => {
    const metrics = new PqguardMetrics();
    const parts = transports({ metrics, handshakeTimeoutMs: 2000 }, { metrics, handshakeTimeoutMs: 2000 });
    parts.setEdit(
      editHandshake(3, (bytes) => {
        bytes[bytes.length - 1]! ^= 1;
        return bytes;
      }),
    );
    await attempt(parts);
    assert.equal(await metrics.value("pqguard_handshake_failures_total", { side: "server", reason: "mac_failure" }), 1);
  });

  it("counts a client certificate whose signature was altered as bad_signature", async () => {
    const metrics = new PqguardMetrics();
    const { issuer, client, certificate } = clientFixture();
    const altered = Uint8Array.from(certificate);
    altered[altered.length - 1]! ^= 1;
    const parts = transports({ metrics, clientIdentity: client, clientCertificate: altered }, { metrics, clientTrust: { issuers: [issuer.fingerprint] } });
    await attempt(parts);
    assert.equal(await metrics.value("pqguard_handshake_failures_total", { side: "server", reason: "bad_signature" }), 1);
  });

  it("counts a server the client does not trust, and a client whose issuer the server does not trust, as untrusted_certificate", async () => {
    const metrics = new PqguardMetrics();
    await attempt(transports({ metrics, trust: { serverFingerprints: [newIdentity().fingerprint] } }, { metrics, handshakeTimeoutMs: 500 }));
    assert.equal(await metrics.value("pqguard_handshake_failures_total", { side: "client", reason: "untrusted_certificate" }), 1);
    const { client, certificate } = clientFixture();
    await attempt(transports({ metrics, clientIdentity: client, clientCertificate: certificate }, { metrics, clientTrust: { issuers: [newIdentity().fingerprint] } }));
    assert.equal(await metrics.value("pqguard_handshake_failures_total", { side: "server", reason: "untrusted_certificate" }), 1);
  });

  it("counts a stripped offer as a downgrade attempt", async () => {
    const metrics = new PqguardMetrics();
    const parts = transports({ metrics, suites: offer }, { metrics, suites: offer, handshakeTimeoutMs: 500 });
    parts.setEdit(downgrade);
    await attempt(parts);
    assert.equal(await metrics.value("pqguard_handshake_failures_total", { side: "client", reason: "downgrade" }), 1);
  });

  it("counts a server that never answers as timeout", async () => {
    const metrics = new PqguardMetrics();
    const parts = transports({ metrics, handshakeTimeoutMs: 50 });
    parts.setEdit((message, direction) => (direction === "toServer" ? [] : [message]));
    await assert.rejects(parts.clientTransport.start());
    assert.equal(await metrics.value("pqguard_handshake_failures_total", { side: "client", reason: "timeout" }), 1);
  });

  it("counts rekeys", async () => {
    const metrics = new PqguardMetrics();
    const parts = transports({ metrics, rekeyAfterMessages: 2 }, { metrics, rekeyAfterMessages: 2 });
    const client = new Client({ name: "c", version: "1" });
    await Promise.all([echoServer([]).connect(parts.serverTransport), client.connect(parts.clientTransport)]);
    for (let i = 0; i < 4; i++) await client.callTool({ name: "echo", arguments: { text: `x${i}` } });
    assert.ok((await metrics.value("pqguard_rekeys_total", { side: "client" })) >= 2);
    await client.close();
  });

  it("exposes the Prometheus text format on a listener of its own", async () => {
    const metrics = new PqguardMetrics();
    metrics.decision("payments", ["refund_cap"], "deny", "PQG7001");
    metrics.watchKeys(() => [{ keyId: "mldsa65:abc", algorithm: "ML-DSA-65", state: "active", created: Date.now() - 10_000 }]);
    const listener = await listenMetrics(new URL("http://127.0.0.1:0"), metrics);
    try {
      const response = await fetch(listener.url);
      assert.equal(response.status, 200);
      assert.match(response.headers.get("content-type") ?? "", /text\/plain/);
      const text = await response.text();
      assert.match(text, /pqguard_decisions_total\{policy="payments",rule="refund_cap",decision="deny",code="PQG7001"\} 1/);
      assert.match(text, /pqguard_key_age_seconds\{key_id="mldsa65:abc",algorithm="ML-DSA-65",state="active"\} (9|10|11)\.?\d*/);
      assert.equal((await fetch(new URL("/other", listener.url))).status, 404);
    } finally {
      await listener.close();
    }
  });

  it("registers in an application's own registry", async () => {
    const { Registry } = await import("prom-client");
    const registry = new Registry();
    const metrics = new PqguardMetrics({ registry });
    metrics.rekey("server");
    assert.match(await registry.metrics(), /pqguard_rekeys_total\{side="server"\} 1/);
  });
});

describe("handshake alarm", () => {
  it("raises one structured alert and blocks a peer after repeated downgrade attempts", async () => {
    const metrics = new PqguardMetrics();
    const { logger, lines } = capturedLogger();
    const alarm = new HandshakeAlarm(metrics, logger, { downgrades: 3, failures: 50, windowMs: 60_000, blockMs: 60_000 });
    try {
      for (let i = 0; i < 4; i++) {
        const parts = transports({ metrics, suites: offer, peer: "203.0.113.9" }, { metrics, suites: offer, handshakeTimeoutMs: 500 });
        parts.setEdit(downgrade);
        await attempt(parts);
        assert.equal(alarm.blocked("203.0.113.9"), i >= 2, `after attempt ${i + 1}`);
      }
      const alerts = lines.filter((line) => line.alert !== undefined);
      assert.equal(alerts.length, 1, "one alert per window, not one per failure");
      assert.equal(alerts[0]!.alert, "downgrade_attempts");
      assert.equal(alerts[0]!.peer, "203.0.113.9");
      assert.equal(alerts[0]!.downgrades, 3);
      assert.equal(typeof alerts[0]!.blockedUntil, "string");
      assert.equal(await metrics.value("pqguard_alerts_total", { kind: "downgrade_attempts" }), 1);
      assert.equal(await metrics.value("pqguard_peers_blocked"), 1);
      assert.equal(alarm.blocked("198.51.100.1"), false, "another peer is not blocked");
    } finally {
      alarm.close();
    }
  });

  it("alerts without blocking when no block time is configured, and forgets failures outside the window", () => {
    const metrics = new PqguardMetrics();
    const { logger, lines } = capturedLogger();
    let now = 0;
    const alarm = new HandshakeAlarm(metrics, logger, { failures: 3, windowMs: 1000 }, () => now);
    const fail = (): void => metrics.handshakeFailed({ side: "server", reason: "mac_failure", peer: "p", code: "PQG6007" });
    fail();
    fail();
    now = 2000; // the first two fall out of the window
    fail();
    assert.equal(lines.length, 0);
    fail();
    fail();
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.alert, "handshake_failures");
    assert.equal(alarm.blocked("p"), false);
    alarm.close();
  });

  it("refuses thresholds that are not positive whole numbers", () => {
    assert.throws(() => new HandshakeAlarm(new PqguardMetrics(), pino({ enabled: false }), { failures: 0 }), RangeError);
  });

  it("an HTTP endpoint refuses new sessions from a blocked address with 429", async () => {
    const { credentials } = serverFixture();
    const endpoint = new SealedHttpEndpoint({ credentials, connect: async () => undefined, refusePeer: (address) => address.endsWith("127.0.0.1") });
    const server = createServer((req, res) => void endpoint.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: {} }),
      });
      assert.equal(response.status, 429);
    } finally {
      await endpoint.close();
      server.close();
    }
  });
});
