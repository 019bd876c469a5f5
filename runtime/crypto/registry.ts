// The algorithm registry: the one place that maps an algorithm name to an implementation, chooses the provider
// (node:crypto native where the running Node has it, @noble/post-quantum otherwise) and reads the suite configuration.
import { type ProviderKem, type ProviderSignatureScheme } from "./define.js";
import { CryptoConfigError, CryptoErrorCode } from "./errors.js";
import { secP384r1MlKem1024, x25519Kem, x25519MlKem768 } from "./hybrid.js";
import { nativeCapabilities, nativeMlDsa, nativeMlKem } from "./native.js";
import { HASH_NAMES, KDF_NAMES, nodeAes256Gcm, nodeChaCha20Poly1305, nodeHash, nodeHkdf } from "./node.js";
import { sodiumChaCha20Poly1305, sodiumMlKem768 } from "./sodium.js";
import { nobleMlDsa, nobleMlKem, nobleXWing, type MlDsaName, type MlKemName } from "./noble.js";
import type { Aead, Hash, Kdf, Kem, SignatureScheme } from "./types.js";

export { CryptoConfigError, CryptoError, CryptoErrorCode } from "./errors.js";
export { constantTimeEqual, randomBytes } from "./bytes.js";

export type AlgorithmKind = "kem" | "signature" | "aead" | "kdf" | "hash";

/** Which implementation serves ML-KEM and ML-DSA: chosen by capability (`auto`) or forced for tests. */
export type PqProviderMode = "auto" | "noble" | "native";
const PQ_PROVIDER_MODES: readonly PqProviderMode[] = ["auto", "noble", "native"];

/** Which implementation serves the AEADs, where more than one exists. */
export type AeadProviderMode = "auto" | "node" | "libsodium";
const AEAD_PROVIDER_MODES: readonly AeadProviderMode[] = ["auto", "node", "libsodium"];

/** The ML-KEM and ML-DSA factories of one provider; the registry composes hybrids from them. */
export interface PqProvider {
  readonly name: string;
  mlKem(name: MlKemName): ProviderKem;
  mlDsa(name: MlDsaName): ProviderSignatureScheme;
}

const NOBLE: PqProvider = { name: "@noble/post-quantum", mlKem: nobleMlKem, mlDsa: nobleMlDsa };

const KEMS: Record<string, (pq: PqProvider) => ProviderKem> = {
  X25519MLKEM768: (pq) => x25519MlKem768(pq.mlKem("ML-KEM-768")),
  "ML-KEM-768": (pq) => pq.mlKem("ML-KEM-768"),
  "ML-KEM-1024": (pq) => pq.mlKem("ML-KEM-1024"),
  "ML-KEM-512": (pq) => pq.mlKem("ML-KEM-512"),
  SecP384r1MLKEM1024: (pq) => secP384r1MlKem1024(pq.mlKem("ML-KEM-1024")),
  // noble is the only X-Wing implementation; its combiner is not in node:crypto.
  "X-Wing": () => nobleXWing(),
  X25519: () => x25519Kem(),
};

const SIGNATURES: Record<string, (pq: PqProvider) => ProviderSignatureScheme> = {
  "ML-DSA-65": (pq) => pq.mlDsa("ML-DSA-65"),
  "ML-DSA-44": (pq) => pq.mlDsa("ML-DSA-44"),
  "ML-DSA-87": (pq) => pq.mlDsa("ML-DSA-87"),
};

// Measured (docs/performance.md, "Crypto providers"): libsodium's ChaCha20-Poly1305 seals and opens a 130-byte record
// 3-10x faster than node:crypto's AEADs. libsodium's WebAssembly build has no AES-GCM, so node:crypto serves AES-256-GCM.
const AEADS: Record<string, (mode: AeadProviderMode) => Aead> = {
  "AES-256-GCM": (mode) => {
    if (mode === "libsodium") {
      throw new CryptoConfigError(
        CryptoErrorCode.ProviderUnavailable,
        "PQGUARD_AEAD_PROVIDER is `libsodium` but libsodium-wrappers has no `AES-256-GCM`; use `auto` or `node`",
      );
    }
    return nodeAes256Gcm();
  },
  "ChaCha20-Poly1305": (mode) => (mode === "node" ? nodeChaCha20Poly1305() : sodiumChaCha20Poly1305()),
};

const NAMES: Record<AlgorithmKind, readonly string[]> = {
  kem: Object.keys(KEMS),
  signature: Object.keys(SIGNATURES),
  aead: Object.keys(AEADS),
  kdf: KDF_NAMES,
  hash: HASH_NAMES,
};

const KIND_LABEL: Record<AlgorithmKind, string> = {
  kem: "key encapsulation mechanism",
  signature: "signature scheme",
  aead: "aead",
  kdf: "key derivation function",
  hash: "hash",
};

/** Registry names of every algorithm of `kind`, most preferred first. */
export function algorithmNames(kind: AlgorithmKind): string[] {
  return [...NAMES[kind]];
}

function quoteList(names: readonly string[]): string {
  return names.map((n) => `\`${n}\``).join(", ");
}

function kindOf(name: string): AlgorithmKind | undefined {
  return (Object.keys(NAMES) as AlgorithmKind[]).find((kind) => NAMES[kind].includes(name));
}

function unknownName(kind: AlgorithmKind, name: string, where?: string): CryptoConfigError {
  const other = kindOf(name);
  const place = where === undefined ? "" : ` in ${where}`;
  const hint = other === undefined ? "" : ` (\`${name}\` is a ${KIND_LABEL[other]})`;
  return new CryptoConfigError(
    CryptoErrorCode.UnknownAlgorithm,
    `unknown ${KIND_LABEL[kind]} \`${name}\`${place}${hint}; valid names are ${quoteList(NAMES[kind])}`,
  );
}

function readMode<T extends string>(variable: string, allowed: readonly T[], env: NodeJS.ProcessEnv): T {
  const raw = env[variable]?.trim();
  if (raw === undefined || raw === "") return allowed[0]!;
  if ((allowed as readonly string[]).includes(raw)) return raw as T;
  throw new CryptoConfigError(
    CryptoErrorCode.InvalidConfiguration,
    `unknown provider \`${raw}\` in ${variable}; valid values are ${quoteList(allowed)}`,
  );
}

/** The ML-KEM/ML-DSA provider mode from PQGUARD_PROVIDER (`auto` when unset). */
export function pqProviderMode(env: NodeJS.ProcessEnv = process.env): PqProviderMode {
  return readMode("PQGUARD_PROVIDER", PQ_PROVIDER_MODES, env);
}

/** The AEAD provider mode from PQGUARD_AEAD_PROVIDER (`auto` when unset). */
export function aeadProviderMode(env: NodeJS.ProcessEnv = process.env): AeadProviderMode {
  return readMode("PQGUARD_AEAD_PROVIDER", AEAD_PROVIDER_MODES, env);
}

function pqProvider(mode: PqProviderMode): PqProvider {
  if (mode === "noble") return NOBLE;
  const caps = nativeCapabilities();
  if (mode === "native" && !(caps.mlKem && caps.mlDsa)) {
    throw new CryptoConfigError(
      CryptoErrorCode.ProviderUnavailable,
      `PQGUARD_PROVIDER is \`native\` but node:crypto in Node ${process.versions.node} has no ML-KEM/ML-DSA`,
    );
  }
  // Each family independently: a Node with ML-KEM but without ML-DSA contexts still gets native ML-KEM. Without native
  // ML-KEM, ML-KEM-768 (the hybrid default's) comes from libsodium's WebAssembly, measured 1.4-5x faster than noble's
  // JavaScript per operation (docs/performance.md, "Crypto providers"); libsodium has no ML-KEM-512 or -1024.
  const mlKem = caps.mlKem ? nativeMlKem : (name: MlKemName) => (name === "ML-KEM-768" ? sodiumMlKem768() : nobleMlKem(name));
  const names = [caps.mlKem ? "node:crypto" : "libsodium-wrappers", caps.mlDsa ? "node:crypto" : NOBLE.name];
  return { name: [...new Set(names)].join("+"), mlKem, mlDsa: caps.mlDsa ? nativeMlDsa : nobleMlDsa };
}

// Instances are stateless apart from key caches, so one per (provider, name) serves every caller.
const instances = new Map<string, Kem | SignatureScheme | Aead | Kdf | Hash>();

function memo<T extends Kem | SignatureScheme | Aead | Kdf | Hash>(key: string, make: () => T): T {
  const found = instances.get(key);
  if (found !== undefined) return found as T;
  const made = make();
  instances.set(key, made);
  return made;
}

function lookup<F>(table: Record<string, F>, kind: AlgorithmKind, name: string): F {
  const factory = Object.hasOwn(table, name) ? table[name] : undefined;
  if (factory === undefined) throw unknownName(kind, name);
  return factory;
}

export function kem(name: string): Kem {
  const factory = lookup(KEMS, "kem", name);
  const mode = pqProviderMode();
  return memo(`kem:${mode}:${name}`, () => factory(pqProvider(mode)));
}

export function signature(name: string): SignatureScheme {
  const factory = lookup(SIGNATURES, "signature", name);
  const mode = pqProviderMode();
  return memo(`signature:${mode}:${name}`, () => factory(pqProvider(mode)));
}

export function aead(name: string): Aead {
  const factory = lookup(AEADS, "aead", name);
  const mode = aeadProviderMode();
  return memo(`aead:${mode}:${name}`, () => factory(mode));
}

export function kdf(name: string): Kdf {
  if (!KDF_NAMES.includes(name)) throw unknownName("kdf", name);
  return memo(`kdf:${name}`, () => nodeHkdf(name));
}

export function hash(name: string): Hash {
  if (!HASH_NAMES.includes(name)) throw unknownName("hash", name);
  return memo(`hash:${name}`, () => nodeHash(name));
}

/** The algorithms a peer may use, each list in order of preference. */
export interface SuiteConfig {
  kem: string[];
  signature: string[];
  aead: string[];
}

export const DEFAULT_SUITE_CONFIG: Readonly<SuiteConfig> = Object.freeze({
  kem: ["X25519MLKEM768"],
  signature: ["ML-DSA-65"],
  aead: ["AES-256-GCM"],
});

const SUITE_FIELDS = [
  { field: "kem", kind: "kem", variable: "PQGUARD_KEM" },
  { field: "signature", kind: "signature", variable: "PQGUARD_SIGNATURE" },
  { field: "aead", kind: "aead", variable: "PQGUARD_AEAD" },
] as const;

/**
 * The suite to offer or accept: options given in code, else the environment (PQGUARD_KEM, PQGUARD_SIGNATURE,
 * PQGUARD_AEAD as comma lists), else the defaults. Any unknown name is a CryptoConfigError naming the valid ones.
 */
export function resolveSuiteConfig(options: Partial<SuiteConfig> = {}, env: NodeJS.ProcessEnv = process.env): SuiteConfig {
  const resolved: SuiteConfig = { kem: [], signature: [], aead: [] };
  for (const { field, kind, variable } of SUITE_FIELDS) {
    const fromCode = options[field];
    const fromEnv = env[variable];
    const where = fromCode !== undefined ? `the ${field} option` : fromEnv !== undefined && fromEnv.trim() !== "" ? variable : undefined;
    const names =
      fromCode !== undefined
        ? [...fromCode]
        : where === variable
          ? fromEnv!.split(",").map((n) => n.trim()).filter((n) => n !== "")
          : [...DEFAULT_SUITE_CONFIG[field]];
    if (names.length === 0) {
      throw new CryptoConfigError(
        CryptoErrorCode.InvalidConfiguration,
        `no ${KIND_LABEL[kind]} configured in ${where ?? field}; valid names are ${quoteList(NAMES[kind])}`,
      );
    }
    for (const name of names) {
      if (!NAMES[kind].includes(name)) throw unknownName(kind, name, where);
    }
    resolved[field] = [...new Set(names)];
  }
  return resolved;
}

/** Which implementation serves each algorithm under the current provider settings, for logs, docs and benchmarks. */
export function providerReport(): Record<string, string> {
  const report: Record<string, string> = {};
  for (const name of NAMES.kem) report[name] = kem(name).provider;
  for (const name of NAMES.signature) report[name] = signature(name).provider;
  for (const name of NAMES.aead) report[name] = aead(name).provider;
  for (const name of NAMES.kdf) report[name] = kdf(name).provider;
  for (const name of NAMES.hash) report[name] = hash(name).provider;
  return report;
}
