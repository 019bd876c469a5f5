// `pqguard inventory` of the example deployment (the payments policy, a keyring, a signed manifest, a crypto
// configuration): a CycloneDX 1.6 CBOM valid against the official schema that lists exactly what the deployment
// uses, and findings (classical-only, refused by the policy, keys past their age or of a refused algorithm) with --strict.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { mkdtemp, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Ajv } from "ajv";
import formatsModule from "ajv-formats";
import { nativeCapabilities } from "../../runtime/crypto/native.js";
import { initKeyring, type Keyring } from "../../runtime/identity/keyring.js";
import { signManifest } from "../../runtime/manifest/signed.js";
import { cli } from "../manifest/run-cli.js";

const addFormats = (formatsModule as unknown as { default: (ajv: Ajv) => void }).default;
const PAYMENTS = fileURLToPath(new URL("../../policies/payments/", import.meta.url));
const SCHEMAS = join(dirname(createRequire(import.meta.url).resolve("@cyclonedx/cyclonedx-library/package.json")), "res", "schema");

function cyclonedxValidator() {
  const ajv = new Ajv({ strict: false, allErrors: true, logger: false });
  addFormats(ajv);
  const load = (file: string) => JSON.parse(readFileSync(join(SCHEMAS, file), "utf8")) as Record<string, unknown>;
  // The BOM schema names its neighbours by their SNAPSHOT file names, relative to its own $id.
  for (const file of ["spdx.SNAPSHOT.schema.json", "jsf-0.82.SNAPSHOT.schema.json"]) ajv.addSchema({ ...load(file), $id: `http://cyclonedx.org/schema/${file}` });
  return ajv.compile(load("bom-1.6.SNAPSHOT.schema.json"));
}

interface CbomComponent {
  type: string;
  name: string;
  "bom-ref": string;
  cryptoProperties?: Record<string, any>;
  properties?: { name: string; value: string }[];
}

describe("pqguard inventory", function () {
  this.timeout(60_000);
  let dir: string;
  let keyring: Keyring;
  const validate = cyclonedxValidator();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "pqguard-inventory-"));
    keyring = await initKeyring(join(dir, "ring"));
    const tools = JSON.parse(readFileSync(join(PAYMENTS, "payments.tools.json"), "utf8"));
    const manifest = signManifest(tools, await keyring.loadSecret(keyring.active!));
    await writeFile(join(dir, "payments.manifest.json"), JSON.stringify(manifest));
    await writeFile(
      join(dir, "crypto.json"),
      JSON.stringify({ format: "pqguard-crypto/1", kem: ["X25519MLKEM768"], signature: ["ML-DSA-65"], aead: ["AES-256-GCM", "ChaCha20-Poly1305"], minimumLevel: 3, maxKeyAgeDays: 90 }),
    );
  });

  const deployment = (config = "crypto.json", ring = "ring") => [
    "--policy",
    join(PAYMENTS, "payments.policy"),
    "--keyring",
    ring,
    "--crypto-config",
    config,
    "--manifest",
    "payments.manifest.json",
  ];

  it("writes a CycloneDX 1.6 CBOM, valid against the official schema, of exactly what the deployment uses", async () => {
    const run = await cli(["inventory", ...deployment(), "--format", "cyclonedx", "--strict"], dir);
    assert.equal(run.code, 0, run.err);
    const bom = JSON.parse(run.out) as { specVersion: string; components: CbomComponent[]; dependencies: { ref: string; dependsOn?: string[] }[] };
    assert.ok(validate(bom), JSON.stringify(validate.errors, null, 2));
    assert.equal(bom.specVersion, "1.6");

    const algorithms = bom.components.filter((c) => c.cryptoProperties?.assetType === "algorithm");
    assert.deepEqual(algorithms.map((c) => c.name).sort(), ["AES-256-GCM", "ChaCha20-Poly1305", "HKDF-SHA256", "ML-DSA-65", "SHA3-256", "X25519MLKEM768"]);
    const mlkem = algorithms.find((c) => c.name === "X25519MLKEM768")!.cryptoProperties!.algorithmProperties;
    assert.deepEqual([mlkem.primitive, mlkem.parameterSetIdentifier, mlkem.nistQuantumSecurityLevel], ["kem", "768", 3]);
    assert.deepEqual(mlkem.cryptoFunctions, ["keygen", "encapsulate", "decapsulate"]);
    const mldsa = algorithms.find((c) => c.name === "ML-DSA-65")!;
    assert.equal(mldsa.cryptoProperties!.oid, "2.16.840.1.101.3.4.3.18");
    // The implementation that serves it on this runtime: node:crypto where it has ML-DSA (Node >= 24.7), noble elsewhere.
    const mldsaImplementation = nativeCapabilities().mlDsa ? /^node:crypto@\S+ \(OpenSSL \d/ : /^@noble\/post-quantum@\d/;
    assert.match(mldsa.properties!.find((p) => p.name === "pqguard:implementation")!.value, mldsaImplementation);
    const aes = algorithms.find((c) => c.name === "AES-256-GCM")!;
    assert.match(aes.properties!.find((p) => p.name === "pqguard:implementation")!.value, /^node:crypto@.* \(OpenSSL \d/);

    const protocol = bom.components.find((c) => c.cryptoProperties?.assetType === "protocol")!;
    assert.deepEqual(
      protocol.cryptoProperties!.protocolProperties.cipherSuites.map((s: { name: string }) => s.name).sort(),
      ["X25519MLKEM768_ML-DSA-65_AES-256-GCM", "X25519MLKEM768_ML-DSA-65_ChaCha20-Poly1305"],
    );

    const keys = bom.components.filter((c) => c.cryptoProperties?.relatedCryptoMaterialProperties?.type === "private-key");
    assert.deepEqual(
      keys.map((c) => [c.name, c.cryptoProperties!.relatedCryptoMaterialProperties.state]).sort(),
      [
        [keyring.active!.keyId, "active"],
        [keyring.next!.keyId, "pre-activation"],
      ].sort(),
    );
    assert.equal(keys[0]!.cryptoProperties!.relatedCryptoMaterialProperties.algorithmRef, "crypto/algorithm/ML-DSA-65");

    const manifest = bom.components.find((c) => c.type === "data")!;
    assert.equal(manifest.properties!.find((p) => p.name === "pqguard:manifest-issuer")!.value, keyring.active!.keyId);
    const manifestDeps = bom.dependencies.find((d) => d.ref === manifest["bom-ref"])!.dependsOn!;
    assert.ok(manifestDeps.includes(`crypto/key/${keyring.active!.keyId}`), "the manifest depends on the keyring key that signed it");
    const libraries = bom.components.filter((c) => c.type === "library").map((c) => c.name).sort();
    // noble is listed only where it serves something: where node:crypto has both ML-KEM and ML-DSA, it serves nothing.
    const native = nativeCapabilities();
    const noble = native.mlKem && native.mlDsa ? [] : ["@noble/post-quantum"];
    assert.deepEqual(libraries, [...noble, "libsodium-wrappers", "openssl", "pqguard"]);
  });

  it("prints a table by default and flags nothing for the example deployment", async () => {
    const run = await cli(["inventory", ...deployment()], dir);
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, /ALGORITHMS\n/);
    assert.match(run.out, new RegExp(`active +${keyring.active!.keyId}`));
    assert.match(run.out, /FINDINGS .*\n {2}none/);
  });

  it("flags a classical-only KEM and a KEM the policy refuses, and exits 1 with --strict", async () => {
    await writeFile(join(dir, "weak.json"), JSON.stringify({ format: "pqguard-crypto/1", kem: ["X25519MLKEM768", "ML-KEM-1024", "X25519"], signature: ["ML-DSA-65"] }));
    const run = await cli(["inventory", ...deployment("weak.json"), "--format", "json", "--strict"], dir);
    assert.equal(run.code, 1);
    const inventory = JSON.parse(run.out) as { findings: { kind: string; subject: string }[] };
    const findings = inventory.findings.map((f) => `${f.kind} ${f.subject}`).sort();
    assert.ok(findings.includes("classical-only X25519"), findings.join("\n"));
    // The payments policy requires a hybrid KEM: ML-KEM-1024 alone is negotiable but every call over it is refused.
    assert.ok(findings.some((f) => f.startsWith("suite-refused-by-policy ML-KEM-1024/")), findings.join("\n"));
    assert.match(run.err, /warning classical-only/);
  });

  it("flags keys past their age and their not-after, and keys of an algorithm the configuration refuses", async () => {
    const old = Date.now() - 200 * 86_400_000;
    const stale = await initKeyring(join(dir, "old-ring"), { now: () => old });
    await writeFile(join(dir, "strong.json"), JSON.stringify({ format: "pqguard-crypto/1", signature: ["ML-DSA-87"], minimumLevel: 5 }));
    const run = await cli(["inventory", "--keyring", "old-ring", "--crypto-config", "strong.json", "--format", "json", "--strict"], dir);
    assert.equal(run.code, 1);
    const findings = (JSON.parse(run.out) as { findings: { kind: string; subject: string }[] }).findings.map((f) => `${f.kind} ${f.subject}`);
    assert.ok(findings.includes(`key-age ${stale.active!.keyId}`), findings.join("\n"));
    assert.ok(findings.includes(`key-expired ${stale.active!.keyId}`), findings.join("\n"));
    assert.ok(findings.includes(`key-algorithm-refused ${stale.active!.keyId}`), findings.join("\n"));
  });
});
