// The algorithm names policies may compare, with their NIST security category: the one table that checker,
// interpreter and compiled guards share, so that `transport.kem >= "ML-KEM-768"` means the same everywhere.

export type AlgorithmFamily = "kem" | "signature" | "aead";

export interface AlgorithmFacts {
  readonly family: AlgorithmFamily;
  /** NIST post-quantum security category; 0 for classical-only algorithms. */
  readonly level: number;
  /** The name it counts as in `==` and `in`: a hybrid counts as its post-quantum component. */
  readonly canonical: string;
  readonly hybrid: boolean;
}

function entry(family: AlgorithmFamily, level: number, canonical: string, hybrid = false): AlgorithmFacts {
  return Object.freeze({ family, level, canonical, hybrid });
}

export const ALGORITHMS: Readonly<Record<string, AlgorithmFacts>> = Object.freeze({
  "ML-KEM-512": entry("kem", 1, "ML-KEM-512"),
  "ML-KEM-768": entry("kem", 3, "ML-KEM-768"),
  "ML-KEM-1024": entry("kem", 5, "ML-KEM-1024"),
  X25519MLKEM768: entry("kem", 3, "ML-KEM-768", true),
  SecP384r1MLKEM1024: entry("kem", 5, "ML-KEM-1024", true),
  "X-Wing": entry("kem", 3, "ML-KEM-768", true),
  X25519: entry("kem", 0, "X25519"),
  "ML-DSA-44": entry("signature", 2, "ML-DSA-44"),
  "ML-DSA-65": entry("signature", 3, "ML-DSA-65"),
  "ML-DSA-87": entry("signature", 5, "ML-DSA-87"),
  Ed25519: entry("signature", 0, "Ed25519"),
  "AES-256-GCM": entry("aead", 5, "AES-256-GCM"),
  "ChaCha20-Poly1305": entry("aead", 5, "ChaCha20-Poly1305"),
  "AES-128-GCM": entry("aead", 1, "AES-128-GCM"),
});

/** Facts for a known name, or undefined. Lookup is exact: names are case-sensitive registry names. */
export function algorithmFacts(name: string): AlgorithmFacts | undefined {
  return Object.hasOwn(ALGORITHMS, name) ? ALGORITHMS[name] : undefined;
}

export function algorithmNames(family: AlgorithmFamily): string[] {
  return Object.keys(ALGORITHMS).filter((name) => ALGORITHMS[name]!.family === family);
}
