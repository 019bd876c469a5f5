// The inventory of a deployment's cryptography, from the configuration the proxy reads (crypto configuration file,
// environment, keyring or key, signed manifests, policy): what it can negotiate, with which implementation, which keys
// it holds and since when, who signed its manifests, and what of it falls short of the deployment's own policy.
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { readFileSync } from "node:fs";
import process from "node:process";
import { DEFAULT_MAX_KEY_AGE_MS, DEFAULT_MINIMUM_LEVEL, suitesOf, type CryptoConfig } from "../crypto/config-file.js";
import { providerReport, resolveSuiteConfig, type SuiteConfig } from "../crypto/registry.js";
import type { GuardContext } from "../guard/types.js";
import type { KeyringEntry } from "../identity/keyring.js";
import type { VerifiedManifest } from "../manifest/signed.js";
import { PROTOCOL_KDF, PROTOCOL_VERSION, TRANSCRIPT_HASH } from "../session/constants.js";
import { serverSuites } from "../transport/defaults.js";
import { profileOf, type AlgorithmProfile } from "./algorithms.js";

/** Where an algorithm is used in the deployment. */
export type AlgorithmUse = "session-kem" | "session-signature" | "session-aead" | "session-kdf" | "session-hash" | "key" | "manifest-signature" | "manifest-digest";

export interface InventoryAlgorithm {
  readonly name: string;
  readonly profile: AlgorithmProfile;
  /** The library that serves it here, as `name@version` parts (`libsodium-wrappers@0.8.4+node:crypto@…`). */
  readonly implementations: readonly Implementation[];
  readonly uses: readonly AlgorithmUse[];
}

export interface Implementation {
  readonly name: string;
  readonly version: string;
  /** node:crypto: the OpenSSL it is built on. */
  readonly openssl?: string;
}

export interface InventoryKey {
  readonly keyId: string;
  readonly algorithm: string;
  readonly state: KeyringEntry["state"] | "static";
  readonly created: string;
  readonly notBefore?: string;
  readonly notAfter?: string;
  readonly revokedAt?: string;
  readonly revocationReason?: string;
  readonly endorsedBy?: string;
  /** Where it came from: `keyring DIR` or `key FILE`. */
  readonly source: string;
}

export interface InventoryManifest {
  readonly path: string;
  readonly issuer: string;
  readonly algorithm: string;
  readonly issuedAt: string;
  readonly expiresAt: string;
  readonly tools: number;
}

export interface CipherSuite {
  readonly kem: string;
  readonly signature: string;
  readonly aead: string;
}

export type FindingKind = "classical-only" | "below-policy" | "key-age" | "key-expired" | "key-algorithm-refused" | "suite-refused-by-policy";

export interface Finding {
  readonly kind: FindingKind;
  /** The algorithm name or key id it is about. */
  readonly subject: string;
  readonly message: string;
}

export interface Inventory {
  readonly generated: string;
  readonly pqguardVersion: string;
  readonly protocol: { readonly name: string; readonly version: number; readonly cipherSuites: readonly CipherSuite[]; readonly kdf: string; readonly hash: string };
  readonly suites: SuiteConfig;
  readonly algorithms: readonly InventoryAlgorithm[];
  readonly keys: readonly InventoryKey[];
  readonly manifests: readonly InventoryManifest[];
  readonly policy: { readonly name: string; readonly digest: string } | undefined;
  readonly minimumLevel: number;
  readonly maxKeyAgeMs: number;
  readonly findings: readonly Finding[];
}

export interface InventoryInputs {
  readonly config?: CryptoConfig;
  readonly env?: NodeJS.ProcessEnv;
  /** The identity's algorithm when there is no keyring (a `--key` file), with its key. */
  readonly staticKey?: { readonly keyId: string; readonly algorithm: string; readonly created: string; readonly path: string };
  readonly keyring?: { readonly directory: string; readonly keys: readonly KeyringEntry[] };
  readonly manifests?: readonly { readonly path: string; readonly manifest: VerifiedManifest }[];
  /** The policy the deployment enforces, and its verdict on a suite: why it refuses every call over it, or undefined. */
  readonly policy?: { readonly name: string; readonly digest: string; refuses(suite: CipherSuite, context: GuardContext): string | undefined };
  readonly now?: number;
}

function packageVersion(name: string): string {
  const require = createRequire(import.meta.url);
  // Walk up from the resolved entry to the package's own package.json: export maps may hide `name/package.json`.
  let directory = dirname(require.resolve(name));
  for (let i = 0; i < 6; i++) {
    try {
      const manifest = JSON.parse(readFileSync(join(directory, "package.json"), "utf8")) as { name?: string; version?: string };
      if (manifest.name === name && manifest.version !== undefined) return manifest.version;
    } catch {
      // not at this level: go up
    }
    directory = dirname(directory);
  }
  return "unknown";
}

/** The implementations behind each registry provider name, with versions as installed. */
function implementationsOf(provider: string): Implementation[] {
  return provider.split("+").map((part): Implementation => {
    if (part === "node:crypto") return { name: "node:crypto", version: process.versions.node, openssl: process.versions.openssl };
    return { name: part, version: packageVersion(part) };
  });
}

function ownVersion(): string {
  try {
    return (createRequire(import.meta.url)("pqguard/package.json") as { version: string }).version;
  } catch {
    return "unknown";
  }
}

/** A context in which only the transport's suite varies: what the policy's transport requirements say of an algorithm. */
function suiteContext(suite: CipherSuite, now: number): GuardContext {
  const kemLevel = profileOf(suite.kem).nistQuantumSecurityLevel;
  const sigLevel = profileOf(suite.signature).nistQuantumSecurityLevel;
  return {
    client: { authenticated: true, fingerprint: "inventory", claims: {} },
    peer: { fingerprint: undefined, label: undefined },
    transport: { kem: suite.kem, signature: suite.signature, aead: suite.aead, hybrid: profileOf(suite.kem).combines !== undefined, level: Math.min(kemLevel, sigLevel) },
    session: { id: "inventory", ageMs: 0, calls: 0 },
    now,
    history: { count: () => 0, called: () => false },
  };
}

/** Builds the inventory; pure apart from reading installed package versions and the registry's provider choice. */
export function buildInventory(inputs: InventoryInputs): Inventory {
  const now = inputs.now ?? Date.now();
  const env = inputs.env ?? process.env;
  const identityAlgorithm = inputs.keyring?.keys.find((k) => k.state === "active")?.algorithm ?? inputs.staticKey?.algorithm ?? "ML-DSA-65";
  const suites = resolveSuiteConfig(serverSuites(suitesOf(inputs.config), identityAlgorithm, env), env);
  const minimumLevel = inputs.config?.minimumLevel ?? DEFAULT_MINIMUM_LEVEL;
  const maxKeyAgeMs = inputs.config?.maxKeyAgeDays === undefined ? DEFAULT_MAX_KEY_AGE_MS : inputs.config.maxKeyAgeDays * 86_400_000;

  const uses = new Map<string, Set<AlgorithmUse>>();
  const use = (name: string, how: AlgorithmUse): void => {
    if (!uses.has(name)) uses.set(name, new Set());
    uses.get(name)!.add(how);
  };
  // The server signs with its identity only: the signature list beyond it names what client certificates may use.
  for (const name of suites.kem) use(name, "session-kem");
  for (const name of suites.signature) use(name, "session-signature");
  for (const name of suites.aead) use(name, "session-aead");
  use(PROTOCOL_KDF, "session-kdf");
  use(TRANSCRIPT_HASH, "session-hash");

  const keys: InventoryKey[] = [];
  for (const entry of inputs.keyring?.keys ?? []) {
    keys.push({
      keyId: entry.keyId,
      algorithm: entry.algorithm,
      state: entry.state,
      created: entry.created,
      notBefore: entry.notBefore,
      notAfter: entry.notAfter,
      ...(entry.revokedAt === undefined ? {} : { revokedAt: entry.revokedAt }),
      ...(entry.revocationReason === undefined ? {} : { revocationReason: entry.revocationReason }),
      ...(entry.endorsedBy === undefined ? {} : { endorsedBy: entry.endorsedBy }),
      source: `keyring ${inputs.keyring!.directory}`,
    });
    use(entry.algorithm, "key");
  }
  if (inputs.staticKey !== undefined) {
    keys.push({ keyId: inputs.staticKey.keyId, algorithm: inputs.staticKey.algorithm, state: "static", created: inputs.staticKey.created, source: `key ${inputs.staticKey.path}` });
    use(inputs.staticKey.algorithm, "key");
  }
  const manifests = (inputs.manifests ?? []).map(({ path, manifest }): InventoryManifest => {
    use(manifest.algorithm, "manifest-signature");
    use("SHA3-256", "manifest-digest");
    return { path, issuer: manifest.issuer, algorithm: manifest.algorithm, issuedAt: new Date(manifest.issuedAt).toISOString(), expiresAt: new Date(manifest.expiresAt).toISOString(), tools: manifest.tools.length };
  });

  const providers = providerReport();
  const algorithms = [...uses].map(([name, how]): InventoryAlgorithm => ({
    name,
    profile: profileOf(name),
    implementations: implementationsOf(providers[name] ?? "unknown"),
    uses: [...how],
  }));

  const cipherSuites: CipherSuite[] = [];
  for (const kem of suites.kem) for (const aead of suites.aead) cipherSuites.push({ kem, signature: identityAlgorithm, aead });

  const findings: Finding[] = [];
  for (const algorithm of algorithms) {
    const level = algorithm.profile.nistQuantumSecurityLevel;
    if (level === 0) findings.push({ kind: "classical-only", subject: algorithm.name, message: `\`${algorithm.name}\` is classical-only: a quantum computer breaks it` });
    else if (level < minimumLevel && algorithm.profile.primitive !== "hash" && algorithm.profile.primitive !== "kdf") {
      findings.push({ kind: "below-policy", subject: algorithm.name, message: `\`${algorithm.name}\` is NIST category ${level}, below the configured minimum ${minimumLevel}` });
    }
  }
  const configured = inputs.config?.signature ?? suites.signature;
  for (const key of keys) {
    if (key.state === "revoked") continue;
    const created = Date.parse(key.created);
    const inUseSince = key.notBefore === undefined ? created : Date.parse(key.notBefore);
    if ((key.state === "active" || key.state === "static") && now - inUseSince > maxKeyAgeMs) {
      findings.push({ kind: "key-age", subject: key.keyId, message: `key \`${key.keyId}\` has been in use for ${Math.floor((now - inUseSince) / 86_400_000)} days, more than ${Math.round(maxKeyAgeMs / 86_400_000)}: rotate it` });
    }
    if (key.notAfter !== undefined && key.state === "active" && !(now < Date.parse(key.notAfter))) {
      findings.push({ kind: "key-expired", subject: key.keyId, message: `the active key \`${key.keyId}\` is past its not-after (${key.notAfter}): rotate it` });
    }
    const level = profileOf(key.algorithm).nistQuantumSecurityLevel;
    if (!configured.includes(key.algorithm) || level < minimumLevel) {
      findings.push({
        kind: "key-algorithm-refused",
        subject: key.keyId,
        message: `key \`${key.keyId}\` is \`${key.algorithm}\`, which the configuration refuses (${!configured.includes(key.algorithm) ? `signature algorithms ${configured.join(", ")}` : `minimum category ${minimumLevel}`})`,
      });
    }
  }
  const policy = inputs.policy;
  for (const suite of policy === undefined ? [] : cipherSuites) {
    const why = policy!.refuses(suite, suiteContext(suite, now));
    if (why === undefined) continue;
    findings.push({
      kind: "suite-refused-by-policy",
      subject: `${suite.kem}/${suite.signature}/${suite.aead}`,
      message: `policy \`${policy!.name}\` refuses every call over ${suite.kem} with ${suite.signature} and ${suite.aead}, which the configuration still negotiates: ${why}`,
    });
  }
  return {
    generated: new Date(now).toISOString(),
    pqguardVersion: ownVersion(),
    protocol: { name: "pqguard-session", version: PROTOCOL_VERSION, cipherSuites, kdf: PROTOCOL_KDF, hash: TRANSCRIPT_HASH },
    suites,
    algorithms,
    keys,
    manifests,
    policy: policy === undefined ? undefined : { name: policy.name, digest: policy.digest },
    minimumLevel,
    maxKeyAgeMs,
    findings,
  };
}
