// The inventory as a CycloneDX 1.6 Cryptographic Bill of Materials: components, dependencies and metadata built with
// the CycloneDX library; `cryptoProperties`, which its 10.x does not model, filled in here from the 1.6 schema.
import { Enums, Models, Serialize, Spec } from "@cyclonedx/cyclonedx-library";
import type { Implementation, Inventory, InventoryAlgorithm, InventoryKey } from "./inventory.js";

const ref = {
  deployment: "deployment",
  pqguard: "pkg/pqguard",
  protocol: "crypto/protocol/pqguard-session",
  algorithm: (name: string) => `crypto/algorithm/${name}`,
  key: (keyId: string) => `crypto/key/${keyId}`,
  signer: (keyId: string) => `crypto/manifest-signer/${keyId}`,
  manifest: (index: number) => `data/manifest/${index}`,
  implementation: (implementation: Implementation) => `lib/${implementation.name}`,
  openssl: "lib/openssl",
};

type CryptoProperties = Record<string, unknown>;

/** NIST SP 800-57 states, as CycloneDX names them, for pqguard's key states. */
function materialState(key: InventoryKey, now: number): string {
  switch (key.state) {
    case "next":
      return "pre-activation";
    case "active":
    case "static":
      return "active";
    case "retiring":
      // Still accepted (it verifies, it answers sessions) until its not-after; deactivated after.
      return key.notAfter !== undefined && now < Date.parse(key.notAfter) ? "active" : "deactivated";
    case "revoked":
      return /compromis/i.test(key.revocationReason ?? "") ? "compromised" : "deactivated";
  }
}

function algorithmProperties(algorithm: InventoryAlgorithm): CryptoProperties {
  const p = algorithm.profile;
  return {
    assetType: "algorithm",
    algorithmProperties: {
      primitive: p.primitive,
      parameterSetIdentifier: p.parameterSetIdentifier,
      ...(p.curve === undefined ? {} : { curve: p.curve }),
      ...(p.mode === undefined ? {} : { mode: p.mode }),
      executionEnvironment: "software-plain-ram",
      implementationPlatform: "generic",
      cryptoFunctions: [...p.cryptoFunctions],
      classicalSecurityLevel: p.classicalSecurityLevel,
      nistQuantumSecurityLevel: p.nistQuantumSecurityLevel,
    },
    ...(p.oid === undefined ? {} : { oid: p.oid }),
  };
}

function keyProperties(key: InventoryKey, now: number): CryptoProperties {
  return {
    assetType: "related-crypto-material",
    relatedCryptoMaterialProperties: {
      type: "private-key",
      id: key.keyId,
      state: materialState(key, now),
      algorithmRef: ref.algorithm(key.algorithm),
      creationDate: key.created,
      ...(key.notBefore === undefined || key.state === "next" ? {} : { activationDate: key.notBefore }),
      ...(key.notAfter === undefined ? {} : { expirationDate: key.notAfter }),
      ...(key.revokedAt === undefined ? {} : { updateDate: key.revokedAt }),
      format: "pqguard-key/1",
    },
  };
}

/** Serialises `inventory` as CycloneDX 1.6 JSON text. */
export function cyclonedxOf(inventory: Inventory): string {
  const now = Date.parse(inventory.generated);
  const bom = new Models.Bom();
  bom.metadata.timestamp = new Date(inventory.generated);
  const deployment = new Models.Component(Enums.ComponentType.Application, "pqguard deployment", { bomRef: ref.deployment });
  bom.metadata.component = deployment;
  const tool = new Models.Component(Enums.ComponentType.Application, "pqguard", { version: inventory.pqguardVersion });
  bom.metadata.tools.components.add(tool);

  const crypto = new Map<string, CryptoProperties>();
  const components = new Map<string, Models.Component>();
  const add = (component: Models.Component, properties?: CryptoProperties): Models.Component => {
    const key = component.bomRef.value!;
    if (components.has(key)) return components.get(key)!;
    components.set(key, component);
    bom.components.add(component);
    if (properties !== undefined) crypto.set(key, properties);
    return component;
  };
  // Dependencies name components by their BomRef objects; every target is added before anything depends on it.
  const bomRefOf = (key: string): Models.BomRef => {
    const component = components.get(key);
    if (component === undefined) throw new RangeError(`no component \`${key}\` in the bill of materials`);
    return component.bomRef;
  };
  const npm = (name: string, version: string) => `pkg:npm/${name.replace("@", "%40")}@${version}`;

  const pqguard = add(new Models.Component(Enums.ComponentType.Library, "pqguard", { bomRef: ref.pqguard, version: inventory.pqguardVersion }));
  deployment.dependencies.add(pqguard.bomRef);
  const implementation = (impl: Implementation): Models.Component => {
    const known = components.get(ref.implementation(impl));
    if (known !== undefined) return known;
    if (impl.name === "node:crypto") {
      const node = add(new Models.Component(Enums.ComponentType.Platform, "node:crypto", { bomRef: ref.implementation(impl), version: impl.version }));
      if (impl.openssl !== undefined) {
        const openssl = add(new Models.Component(Enums.ComponentType.Library, "openssl", { bomRef: ref.openssl, version: impl.openssl }));
        node.dependencies.add(openssl.bomRef);
      }
      pqguard.dependencies.add(node.bomRef);
      return node;
    }
    const library = add(new Models.Component(Enums.ComponentType.Library, impl.name, { bomRef: ref.implementation(impl), version: impl.version }));
    // A purl object needs packageurl-js, an optional peer of the CycloneDX library: the package is named as a property.
    library.properties.add(new Models.Property("pqguard:package", npm(impl.name, impl.version)));
    pqguard.dependencies.add(library.bomRef);
    return library;
  };

  for (const algorithm of inventory.algorithms) {
    const component = add(new Models.Component(Enums.ComponentType.CryptographicAsset, algorithm.name, { bomRef: ref.algorithm(algorithm.name) }), algorithmProperties(algorithm));
    component.properties.add(new Models.Property("pqguard:uses", algorithm.uses.join(",")));
    for (const impl of algorithm.implementations) {
      component.dependencies.add(implementation(impl).bomRef);
      component.properties.add(new Models.Property("pqguard:implementation", `${impl.name}@${impl.version}${impl.openssl === undefined ? "" : ` (OpenSSL ${impl.openssl})`}`));
    }
  }

  const protocol = add(new Models.Component(Enums.ComponentType.CryptographicAsset, inventory.protocol.name, { bomRef: ref.protocol, version: String(inventory.protocol.version) }), {
    assetType: "protocol",
    protocolProperties: {
      type: "other",
      version: String(inventory.protocol.version),
      cipherSuites: inventory.protocol.cipherSuites.map((suite) => ({
        name: `${suite.kem}_${suite.signature}_${suite.aead}`,
        algorithms: [suite.kem, suite.signature, suite.aead, inventory.protocol.kdf, inventory.protocol.hash].map(ref.algorithm),
      })),
      cryptoRefArray: [...new Set(inventory.algorithms.filter((a) => a.uses.some((u) => u.startsWith("session-"))).map((a) => ref.algorithm(a.name)))],
    },
  });
  deployment.dependencies.add(protocol.bomRef);
  for (const algorithm of inventory.algorithms) if (algorithm.uses.some((u) => u.startsWith("session-"))) protocol.dependencies.add(bomRefOf(ref.algorithm(algorithm.name)));

  for (const key of inventory.keys) {
    const component = add(new Models.Component(Enums.ComponentType.CryptographicAsset, key.keyId, { bomRef: ref.key(key.keyId) }), keyProperties(key, now));
    component.properties.add(new Models.Property("pqguard:state", key.state));
    component.properties.add(new Models.Property("pqguard:source", key.source));
    if (key.endorsedBy !== undefined) component.properties.add(new Models.Property("pqguard:endorsed-by", key.endorsedBy));
    if (key.revocationReason !== undefined) component.properties.add(new Models.Property("pqguard:revocation-reason", key.revocationReason));
    component.dependencies.add(bomRefOf(ref.algorithm(key.algorithm)));
    deployment.dependencies.add(component.bomRef);
  }

  inventory.manifests.forEach((manifest, index) => {
    const signerRef = components.has(ref.key(manifest.issuer)) ? ref.key(manifest.issuer) : ref.signer(manifest.issuer);
    if (!components.has(signerRef)) {
      const signer = add(new Models.Component(Enums.ComponentType.CryptographicAsset, manifest.issuer, { bomRef: signerRef }), {
        assetType: "related-crypto-material",
        relatedCryptoMaterialProperties: { type: "public-key", id: manifest.issuer, algorithmRef: ref.algorithm(manifest.algorithm), format: "pqguard-manifest/1 publicKey" },
      });
      signer.dependencies.add(bomRefOf(ref.algorithm(manifest.algorithm)));
    }
    const data = add(new Models.Component(Enums.ComponentType.Data, manifest.path, { bomRef: ref.manifest(index) }));
    data.properties.add(new Models.Property("pqguard:manifest-issuer", manifest.issuer));
    data.properties.add(new Models.Property("pqguard:manifest-issued-at", manifest.issuedAt));
    data.properties.add(new Models.Property("pqguard:manifest-expires-at", manifest.expiresAt));
    data.properties.add(new Models.Property("pqguard:manifest-tools", String(manifest.tools)));
    data.dependencies.add(bomRefOf(signerRef));
    data.dependencies.add(bomRefOf(ref.algorithm("SHA3-256")));
    deployment.dependencies.add(data.bomRef);
  });
  if (inventory.policy !== undefined) deployment.properties.add(new Models.Property("pqguard:policy", `${inventory.policy.name} sha3-256:${inventory.policy.digest}`));
  for (const finding of inventory.findings) deployment.properties.add(new Models.Property(`pqguard:finding:${finding.kind}`, finding.message));

  const serializer = new Serialize.JsonSerializer(new Serialize.JSON.Normalize.Factory(Spec.Spec1dot6));
  const document = JSON.parse(serializer.serialize(bom, { sortLists: false })) as { components?: Record<string, unknown>[]; dependencies?: { ref: string; dependsOn?: string[] }[] };
  for (const component of document.components ?? []) {
    const properties = crypto.get(component["bom-ref"] as string);
    if (properties !== undefined) component.cryptoProperties = properties;
  }
  return `${JSON.stringify(document, null, 2)}\n`;
}
