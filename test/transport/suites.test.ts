// Which signature algorithms a server transport accepts: its identity's by default, a configured list as given (and
// refused at construction when it leaves the identity's own algorithm out), and the transports' AEAD preference.
import assert from "node:assert/strict";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { ServerCredentials } from "../../runtime/session/certificate.js";
import { SessionError, SessionErrorCode } from "../../runtime/session/errors.js";
import { RECORD_AEAD_PREFERENCE, serverSuites } from "../../runtime/transport/defaults.js";
import { PqcClientTransport, PqcServerTransport } from "../../runtime/transport/index.js";
import { T0, newIdentity } from "../session/fixtures.js";
import { echoServer } from "./harness.js";

describe("transport suites", () => {
  it("accepts the identity's algorithm, then the defaults, when no signature list is configured", () => {
    assert.deepEqual(serverSuites(undefined, "ML-DSA-87", {}), { aead: [...RECORD_AEAD_PREFERENCE], signature: ["ML-DSA-87", "ML-DSA-65"] });
    assert.deepEqual(serverSuites(undefined, "ML-DSA-65", {}).signature, ["ML-DSA-65"]);
  });

  it("keeps a signature list configured in code or in PQGUARD_SIGNATURE as given", () => {
    assert.deepEqual(serverSuites({ signature: ["ML-DSA-44"] }, "ML-DSA-87", {}).signature, ["ML-DSA-44"]);
    assert.equal(serverSuites(undefined, "ML-DSA-87", { PQGUARD_SIGNATURE: "ML-DSA-44" }).signature, undefined);
  });

  it("serves with an ML-DSA-87 identity to a client that offers it, with nothing configured on the server", async () => {
    const identity = newIdentity("ML-DSA-87");
    const credentials = new ServerCredentials({ identity, now: () => T0 });
    const [a, b] = InMemoryTransport.createLinkedPair();
    const now = (): number => T0 + 1000;
    const clientTransport = new PqcClientTransport(a, { trust: { serverFingerprints: [identity.fingerprint] }, suites: { signature: ["ML-DSA-87"] }, now });
    const serverTransport = new PqcServerTransport(b, { credentials, now });
    const server = echoServer([]);
    const client = new Client({ name: "suites", version: "1.0.0" });
    await Promise.all([server.connect(serverTransport), client.connect(clientTransport)]);
    try {
      assert.equal(clientTransport.sessionInfo?.suite.signature, "ML-DSA-87");
      const result = await client.callTool({ name: "echo", arguments: { text: "level 5" } });
      assert.deepEqual(result.content, [{ type: "text", text: "level 5" }]);
    } finally {
      await client.close();
    }
  });

  it("refuses to construct a server whose configured signature list leaves out its identity's algorithm", () => {
    const identity = newIdentity("ML-DSA-87");
    const [, b] = InMemoryTransport.createLinkedPair();
    assert.throws(
      () => new PqcServerTransport(b, { identity, suites: { signature: ["ML-DSA-65"] } }),
      (error: unknown) => error instanceof SessionError && error.code === SessionErrorCode.InvalidConfiguration && /`ML-DSA-87`/.test(error.message),
    );
  });
});
