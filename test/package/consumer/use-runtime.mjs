// Consumer fixture (plain ESM): a server that runs a compiled guard and a sealed session, from the installed package.
// Prints one JSON line with what it saw; the test reads it. Run from the scratch project, never from the repository.
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { generateIdentity, MemoryStateStore, PqcClientTransport, PqcServerTransport, verifyAuditLog } from "pqguard";
import { isJsonObject } from "pqguard/guard";

const guard = (await import(process.argv[2])).default;

const identity = generateIdentity("ML-DSA-65");
const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
const server = new PqcServerTransport(serverSide, { identity, label: "consumer" });
const client = new PqcClientTransport(clientSide, { trust: { serverFingerprints: [identity.keyId] } });
const received = new Promise((resolve) => {
  server.onmessage = (message) => resolve(message);
});
await Promise.all([server.start(), client.start()]);
await client.send({ jsonrpc: "2.0", id: 1, method: "ping" });
const message = await received;
const suite = client.sessionInfo.suite;

const context = {
  client: { authenticated: false, id: "anonymous", claims: {} },
  peer: {},
  transport: { kem: suite.kem, signature: suite.signature, aead: suite.aead, hybrid: suite.hybrid, level: suite.level },
  session: { id: client.sessionInfo.sessionId, ageMs: 0, calls: 0 },
  now: Date.parse("2025-11-18T09:15:00Z"),
  history: { count: () => 0, called: () => false },
};
const decision = guard.guard({ tool: "get_balance", args: {} }, context);
await client.close();
await server.close();

console.log(JSON.stringify({
  received: message.method,
  suite,
  decision: decision.decision,
  reason: decision.reason,
  exports: [typeof MemoryStateStore, typeof verifyAuditLog, typeof isJsonObject],
}));
