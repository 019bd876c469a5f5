// What a Cryptographic Bill of Materials says about each algorithm pqguard can use: its primitive, parameter set,
// NIST post-quantum category, classical strength in bits, the functions the deployment uses and, where one is
// assigned, its OID. One table, read by `pqguard inventory`; an algorithm missing here is an error, not a guess.
import { InventoryError, InventoryErrorCode } from "./errors.js";

export type Primitive = "kem" | "signature" | "ae" | "kdf" | "hash" | "key-agree";
export type CryptoFunction = "keygen" | "encapsulate" | "decapsulate" | "sign" | "verify" | "encrypt" | "decrypt" | "keyderive" | "digest";

export interface AlgorithmProfile {
  readonly primitive: Primitive;
  readonly parameterSetIdentifier: string;
  /**
   * NIST's categories: 1 = AES-128 key search, 2 = SHA-256 collision, 3 = AES-192, 4 = SHA-384 collision, 5 = AES-256;
   * 0 for an algorithm a quantum computer breaks (X25519 alone).
   */
  readonly nistQuantumSecurityLevel: number;
  /** Bits of security against classical attack. */
  readonly classicalSecurityLevel: number;
  readonly cryptoFunctions: readonly CryptoFunction[];
  readonly oid?: string;
  readonly curve?: string;
  readonly mode?: "gcm";
  /** For hybrids: the components it combines. */
  readonly combines?: readonly string[];
}

const KEM_FUNCTIONS: readonly CryptoFunction[] = ["keygen", "encapsulate", "decapsulate"];
const SIGNATURE_FUNCTIONS: readonly CryptoFunction[] = ["keygen", "sign", "verify"];
const AE_FUNCTIONS: readonly CryptoFunction[] = ["encrypt", "decrypt"];

export const ALGORITHM_PROFILES: Readonly<Record<string, AlgorithmProfile>> = Object.freeze({
  // FIPS 203; OIDs from NIST's Computer Security Objects Register.
  "ML-KEM-512": { primitive: "kem", parameterSetIdentifier: "512", nistQuantumSecurityLevel: 1, classicalSecurityLevel: 128, cryptoFunctions: KEM_FUNCTIONS, oid: "2.16.840.1.101.3.4.4.1" },
  "ML-KEM-768": { primitive: "kem", parameterSetIdentifier: "768", nistQuantumSecurityLevel: 3, classicalSecurityLevel: 192, cryptoFunctions: KEM_FUNCTIONS, oid: "2.16.840.1.101.3.4.4.2" },
  "ML-KEM-1024": { primitive: "kem", parameterSetIdentifier: "1024", nistQuantumSecurityLevel: 5, classicalSecurityLevel: 256, cryptoFunctions: KEM_FUNCTIONS, oid: "2.16.840.1.101.3.4.4.3" },
  // Hybrids: as strong as their post-quantum part against a quantum attacker, as the stronger part classically.
  X25519MLKEM768: { primitive: "kem", parameterSetIdentifier: "768", nistQuantumSecurityLevel: 3, classicalSecurityLevel: 192, cryptoFunctions: KEM_FUNCTIONS, curve: "x25519", combines: ["X25519", "ML-KEM-768"] },
  SecP384r1MLKEM1024: { primitive: "kem", parameterSetIdentifier: "1024", nistQuantumSecurityLevel: 5, classicalSecurityLevel: 256, cryptoFunctions: KEM_FUNCTIONS, curve: "secp384r1", combines: ["P-384", "ML-KEM-1024"] },
  "X-Wing": { primitive: "kem", parameterSetIdentifier: "768", nistQuantumSecurityLevel: 3, classicalSecurityLevel: 192, cryptoFunctions: KEM_FUNCTIONS, curve: "x25519", combines: ["X25519", "ML-KEM-768"] },
  X25519: { primitive: "kem", parameterSetIdentifier: "255", nistQuantumSecurityLevel: 0, classicalSecurityLevel: 128, cryptoFunctions: KEM_FUNCTIONS, oid: "1.3.101.110", curve: "x25519" },
  // FIPS 204.
  "ML-DSA-44": { primitive: "signature", parameterSetIdentifier: "44", nistQuantumSecurityLevel: 2, classicalSecurityLevel: 128, cryptoFunctions: SIGNATURE_FUNCTIONS, oid: "2.16.840.1.101.3.4.3.17" },
  "ML-DSA-65": { primitive: "signature", parameterSetIdentifier: "65", nistQuantumSecurityLevel: 3, classicalSecurityLevel: 192, cryptoFunctions: SIGNATURE_FUNCTIONS, oid: "2.16.840.1.101.3.4.3.18" },
  "ML-DSA-87": { primitive: "signature", parameterSetIdentifier: "87", nistQuantumSecurityLevel: 5, classicalSecurityLevel: 256, cryptoFunctions: SIGNATURE_FUNCTIONS, oid: "2.16.840.1.101.3.4.3.19" },
  "AES-256-GCM": { primitive: "ae", parameterSetIdentifier: "256", nistQuantumSecurityLevel: 5, classicalSecurityLevel: 256, cryptoFunctions: AE_FUNCTIONS, oid: "2.16.840.1.101.3.4.1.46", mode: "gcm" },
  "ChaCha20-Poly1305": { primitive: "ae", parameterSetIdentifier: "256", nistQuantumSecurityLevel: 5, classicalSecurityLevel: 256, cryptoFunctions: AE_FUNCTIONS, oid: "1.2.840.113549.1.9.16.3.18" },
  // The session's key schedule and transcript hash, fixed by the protocol (docs/protocol.md).
  "HKDF-SHA256": { primitive: "kdf", parameterSetIdentifier: "256", nistQuantumSecurityLevel: 2, classicalSecurityLevel: 128, cryptoFunctions: ["keyderive"] },
  "HKDF-SHA3-256": { primitive: "kdf", parameterSetIdentifier: "256", nistQuantumSecurityLevel: 2, classicalSecurityLevel: 128, cryptoFunctions: ["keyderive"] },
  "SHA-256": { primitive: "hash", parameterSetIdentifier: "256", nistQuantumSecurityLevel: 2, classicalSecurityLevel: 128, cryptoFunctions: ["digest"], oid: "2.16.840.1.101.3.4.2.1" },
  "SHA3-256": { primitive: "hash", parameterSetIdentifier: "256", nistQuantumSecurityLevel: 2, classicalSecurityLevel: 128, cryptoFunctions: ["digest"], oid: "2.16.840.1.101.3.4.2.8" },
});

export function profileOf(name: string): AlgorithmProfile {
  const profile = Object.hasOwn(ALGORITHM_PROFILES, name) ? ALGORITHM_PROFILES[name] : undefined;
  if (profile === undefined) {
    throw new InventoryError(InventoryErrorCode.UnprofiledAlgorithm, `algorithm \`${name}\` has no inventory profile: add it to runtime/inventory/algorithms.ts`);
  }
  return profile;
}
