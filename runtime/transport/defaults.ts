// Transport defaults that differ from the registry's: the record layer is the hot path, so when neither code nor
// PQGUARD_AEAD chooses the AEAD, the transports offer the one that measured fastest per frame first; and a server
// that chooses no signature algorithms accepts its own identity's first.
import process from "node:process";
import { DEFAULT_SUITE_CONFIG, type SuiteConfig } from "../crypto/registry.js";

/**
 * Measured here for one seal+open of a 130-byte frame: ChaCha20-Poly1305 through the registry (libsodium) ~4.7 µs,
 * AES-256-GCM through node:crypto ~16 µs (docs/performance.md). Both have 256-bit keys, so preferring the faster one
 * costs no security; AES-256-GCM stays offered for peers that only accept it.
 */
export const RECORD_AEAD_PREFERENCE: readonly string[] = ["ChaCha20-Poly1305", "AES-256-GCM"];

/** Suite options with the transport's AEAD preference filled in when nothing else chose one. */
export function transportSuites(options: Partial<SuiteConfig> | undefined, env: NodeJS.ProcessEnv = process.env): Partial<SuiteConfig> {
  const chosen = options?.aead !== undefined || (env.PQGUARD_AEAD ?? "").trim() !== "";
  return chosen ? { ...options } : { ...options, aead: [...RECORD_AEAD_PREFERENCE] };
}

/**
 * A server's suite options: the transport's AEAD preference, and when neither code nor PQGUARD_SIGNATURE lists the
 * signature algorithms it accepts, its identity's algorithm followed by the registry's defaults. A list that was
 * configured is kept as is: the handshake refuses to start when it leaves out the identity's own algorithm.
 */
export function serverSuites(
  options: Partial<SuiteConfig> | undefined,
  identityAlgorithm: string,
  env: NodeJS.ProcessEnv = process.env,
): Partial<SuiteConfig> {
  const suites = transportSuites(options, env);
  const chosen = options?.signature !== undefined || (env.PQGUARD_SIGNATURE ?? "").trim() !== "";
  return chosen ? suites : { ...suites, signature: [...new Set([identityAlgorithm, ...DEFAULT_SUITE_CONFIG.signature])] };
}
