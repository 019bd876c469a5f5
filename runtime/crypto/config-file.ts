// The deployment's cryptographic configuration as a file (`pqguard-crypto/1`): algorithm preference lists for the
// session, the lowest NIST level a deployment accepts and the longest a key may live. The proxy reads it with its
// keyring (and again on every reload); `pqguard inventory` reads the same file to judge what the deployment uses.
import { PqguardError, errorCatalogue } from "../errors.js";
import { readFile } from "node:fs/promises";
import { algorithmNames, type SuiteConfig } from "./registry.js";

export const CRYPTO_CONFIG_FORMAT = "pqguard-crypto/1";
const FAMILY = "pqguard-crypto/";
/** Without a configured floor: NIST category 3 (ML-KEM-768, ML-DSA-65), the project's default suite. */
export const DEFAULT_MINIMUM_LEVEL = 3;
/** Without a configured age: the keyring's default lifetime (90 days). */
export const DEFAULT_MAX_KEY_AGE_MS = 90 * 24 * 3600_000;

export interface CryptoConfig {
  readonly format: typeof CRYPTO_CONFIG_FORMAT;
  /** Preference lists; an absent one falls back to the environment (PQGUARD_KEM, ...), then the defaults. */
  readonly kem?: readonly string[];
  readonly signature?: readonly string[];
  readonly aead?: readonly string[];
  /** The lowest NIST post-quantum category accepted (1, 3 or 5); weaker or classical-only algorithms are flagged. */
  readonly minimumLevel?: number;
  /** The longest a key may be in use, in days, before `pqguard inventory` flags it. */
  readonly maxKeyAgeDays?: number;
}

export const CRYPTO_CONFIG_ERRORS = errorCatalogue("crypto configuration", "CryptoConfigFileError", [[5331, 5339]], {
  Inaccessible: ["PQG5331", "A crypto configuration file that cannot be read."],
  Malformed: ["PQG5332", "Not a well-formed `pqguard-crypto/1` document, another version of it, or an unknown algorithm."],
});

/** The codes by name, to throw with. */
export const CryptoConfigErrorCode = CRYPTO_CONFIG_ERRORS.codes;
export type CryptoConfigErrorCode = (typeof CryptoConfigErrorCode)[keyof typeof CryptoConfigErrorCode];

export class CryptoConfigFileError extends PqguardError {
  declare readonly code: CryptoConfigErrorCode;
  constructor(code: CryptoConfigErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = "CryptoConfigFileError";
  }
}

/** The suite lists a config sets (others left to the environment and defaults). */
export function suitesOf(config: CryptoConfig | undefined): Partial<SuiteConfig> | undefined {
  if (config === undefined) return undefined;
  const suites: { -readonly [K in keyof SuiteConfig]?: SuiteConfig[K] } = {};
  if (config.kem !== undefined) suites.kem = [...config.kem];
  if (config.signature !== undefined) suites.signature = [...config.signature];
  if (config.aead !== undefined) suites.aead = [...config.aead];
  return suites;
}

export function decodeCryptoConfig(text: string, source: string): CryptoConfig {
  const malformed = (why: string) => new CryptoConfigFileError(CryptoConfigErrorCode.Malformed, `\`${source}\` is not a ${CRYPTO_CONFIG_FORMAT} document: ${why}`);
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw malformed("it is not valid JSON");
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw malformed("expected a JSON object");
  if (doc.format !== CRYPTO_CONFIG_FORMAT) {
    const format = String(doc.format).slice(0, 80);
    throw malformed(format.startsWith(FAMILY) ? `\`${format}\` is a version this pqguard does not read` : `\`format\` is \`${format}\``);
  }
  const known = new Set(["format", "kem", "signature", "aead", "minimumLevel", "maxKeyAgeDays"]);
  const extra = Object.keys(doc).find((key) => !known.has(key));
  if (extra !== undefined) throw malformed(`unknown field \`${extra.slice(0, 40)}\``);
  for (const kind of ["kem", "signature", "aead"] as const) {
    const list = doc[kind];
    if (list === undefined) continue;
    if (!Array.isArray(list) || list.length === 0 || list.some((name) => typeof name !== "string")) throw malformed(`\`${kind}\` must be a non-empty list of names`);
    const valid = algorithmNames(kind);
    const unknown = (list as string[]).find((name) => !valid.includes(name));
    if (unknown !== undefined) throw malformed(`unknown ${kind} \`${unknown.slice(0, 40)}\`; valid names are ${valid.map((n) => `\`${n}\``).join(", ")}`);
  }
  if (doc.minimumLevel !== undefined && ![0, 1, 3, 5].includes(doc.minimumLevel as number)) throw malformed("`minimumLevel` is 1, 3 or 5 (0 accepts classical-only algorithms)");
  if (doc.maxKeyAgeDays !== undefined && !(Number.isFinite(doc.maxKeyAgeDays) && (doc.maxKeyAgeDays as number) > 0)) throw malformed("`maxKeyAgeDays` must be a positive number");
  return doc as unknown as CryptoConfig;
}

export async function loadCryptoConfig(path: string): Promise<CryptoConfig> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new CryptoConfigFileError(CryptoConfigErrorCode.Inaccessible, `cannot read \`${path}\`: ${(error as NodeJS.ErrnoException).code ?? "error"}`);
  }
  return decodeCryptoConfig(text, path);
}
