// Manifests bound to a server: a reviewer's signature on server A's tool list must not authorise calls on server B.
// The binding is signed, names a key lineage (the current identity and its successors), and guardClient, enforce and
// the proxy refuse calls on a session whose server identity is not in it (PQG7315).
import { strict as assert } from "node:assert";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { main } from "../../bin/cli.js";
import { silentLogger } from "../../runtime/audit/index.js";
import { signature } from "../../runtime/crypto/registry.js";
import { enforce, guardClient, refusalOf } from "../../runtime/enforce/index.js";
import { fingerprint, generateIdentity, writeIdentity } from "../../runtime/identity/index.js";
import { toolDigest } from "../../runtime/manifest/digest.js";
import { ManifestError } from "../../runtime/manifest/errors.js";
import { signManifest, verifySignedManifest } from "../../runtime/manifest/signed.js";
import { connect, paymentsGuard, paymentsServer, paymentsTools, sessionInfo } from "../enforce/fixtures.js";

const scheme = signature("ML-DSA-65");
const identityOf = () => fingerprint("ML-DSA-65", scheme.keygen().publicKey);

async function refusalCode(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof McpError, String(error));
    return refusalOf(error)?.code;
  }
  return undefined;
}

describe("manifests bound to a server", () => {
  const serverA = identityOf();
  const successorA = identityOf();
  const serverB = identityOf();
  const reviewer = { algorithm: "ML-DSA-65", ...scheme.keygen() };
  let tools: Record<string, unknown>[];
  let digests: Record<string, string>;
  before(async () => {
    tools = await paymentsTools();
    digests = Object.fromEntries(tools.map((t) => [t.name as string, toolDigest(t)]));
  });

  it("signs the binding: it is verified, and editing it breaks the signature", () => {
    const signed = signManifest(tools, reviewer, { bindServer: [successorA, serverA] });
    const verified = verifySignedManifest(signed);
    assert.deepEqual(verified.server?.identities, [serverA, successorA].sort());
    const moved = { ...signed, server: { identities: [serverB] } };
    assert.throws(() => verifySignedManifest(moved), (e: unknown) => e instanceof ManifestError && e.code === "PQG7004");
    const dropped: Record<string, unknown> = { ...signed };
    delete dropped.server;
    assert.throws(() => verifySignedManifest(dropped), (e: unknown) => e instanceof ManifestError && e.code === "PQG7004");
    assert.throws(() => signManifest(tools, reviewer, { bindServer: ["not a fingerprint"] }), (e: unknown) => e instanceof ManifestError && e.code === "PQG7001");
  });

  it("guardClient: a manifest for A refuses calls on B (PQG7315) and allows them on A and on A's successor", async () => {
    const manifest = verifySignedManifest(signManifest(tools, reviewer, { bindServer: [serverA, successorA] }));
    for (const [peer, expected] of [[serverB, "PQG7315"], [serverA, undefined], [successorA, undefined]] as const) {
      const payments = paymentsServer();
      const { client, close } = await connect(payments.server);
      guardClient(client, paymentsGuard(digests), { manifest, session: () => sessionInfo({ peerFingerprint: peer }), logger: silentLogger() });
      try {
        assert.equal(await refusalCode(client.callTool({ name: "get_balance", arguments: { customer_id: "c" } })), expected, `peer ${peer}`);
        assert.equal(payments.runs.count("get_balance"), expected === undefined ? 1 : 0);
      } finally {
        await close();
      }
    }
  });

  it("enforce: a server holding identity B refuses calls under a manifest bound to A", async () => {
    const manifest = verifySignedManifest(signManifest(tools, reviewer, { bindServer: [serverA] }));
    const payments = paymentsServer();
    enforce(payments.server, paymentsGuard(digests), { manifest, session: () => sessionInfo({ peerFingerprint: serverB }), logger: silentLogger() });
    const { client, close } = await connect(payments.server);
    try {
      assert.equal(await refusalCode(client.callTool({ name: "get_balance", arguments: { customer_id: "c" } })), "PQG7315");
      assert.equal(payments.runs.count("get_balance"), 0);
    } finally {
      await close();
    }
  });

  it("an unbound manifest still fits any server", async () => {
    const manifest = verifySignedManifest(signManifest(tools, reviewer));
    assert.equal(manifest.server, undefined);
    const payments = paymentsServer();
    const { client, close } = await connect(payments.server);
    guardClient(client, paymentsGuard(digests), { manifest, session: () => sessionInfo({ peerFingerprint: serverB }), logger: silentLogger() });
    try {
      assert.equal(await refusalCode(client.callTool({ name: "get_balance", arguments: { customer_id: "c" } })), undefined);
    } finally {
      await close();
    }
  });

  it("`pqguard manifest sign --bind-server` binds; `pqguard proxy` with another identity refuses to start (PQG7315)", async function () {
    this.timeout(60_000);
    const dir = await mkdtemp(join(tmpdir(), "pqguard-binding-"));
    try {
      const signer = generateIdentity();
      await writeIdentity(signer, join(dir, "reviewer"));
      const proxyKey = generateIdentity();
      await writeIdentity(proxyKey, join(dir, "proxy"));
      await writeFile(join(dir, "tools.json"), JSON.stringify({ tools }));
      let out = "";
      let err = "";
      const io = { cwd: dir, out: (t: string) => void (out += t), err: (t: string) => void (err += t) };
      const signed = await main(["manifest", "sign", "--key", "reviewer.key", "tools.json", "--out", "m.json", "--bind-server", serverA], io);
      assert.equal(signed, 0, err);
      assert.match(out, /bound to server/);
      const doc = JSON.parse(await readFile(join(dir, "m.json"), "utf8")) as { server?: { identities: string[] } };
      assert.deepEqual(doc.server?.identities, [serverA]);
      err = "";
      const code = await main(
        ["proxy", "--policy", join(process.cwd(), "test/proxy/fixtures/flaky.policy"), "--upstream", "true", "--manifest", "m.json", "--key", "proxy.key"],
        io,
      );
      assert.notEqual(code, 0);
      assert.match(err, /PQG7315/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("a manifest that expires while the process runs", () => {
  it("refuses calls after its expiry (PQG7316), as a session after its certificate's", async () => {
    const tools = await paymentsTools();
    const digests = Object.fromEntries(tools.map((t) => [t.name as string, toolDigest(t)]));
    const reviewer = { algorithm: "ML-DSA-65", ...scheme.keygen() };
    const issued = Date.now();
    const manifest = verifySignedManifest(signManifest(tools, reviewer, { now: issued, ttlMs: 60_000 }), { now: issued });
    const clock = { now: issued + 1_000 };
    const payments = paymentsServer();
    const { client, close } = await connect(payments.server);
    guardClient(client, paymentsGuard(digests), { manifest, now: () => clock.now, session: () => sessionInfo(), logger: silentLogger() });
    try {
      assert.equal(await refusalCode(client.callTool({ name: "get_balance", arguments: { customer_id: "c" } })), undefined);
      clock.now = issued + 60_000;
      assert.equal(await refusalCode(client.callTool({ name: "get_balance", arguments: { customer_id: "c" } })), "PQG7316");
    } finally {
      await close();
    }
  });
});
