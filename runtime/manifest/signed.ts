// Signed tool manifests (`pqguard-manifest/1`): a server's tool list with a SHA3-256 digest per tool, signed with
// ML-DSA under a domain-separation context, with issuer, issue time and expiry. Verification names a tampered tool.
import { createHash } from "node:crypto";
import { signature as signatureScheme } from "../crypto/registry.js";
import type { SignatureScheme } from "../crypto/types.js";
import { fingerprint } from "../identity/index.js";
import { canonicalJson, digestedToolView, toolDigest } from "./digest.js";
import { ManifestError, ManifestErrorCode } from "./errors.js";

export const MANIFEST_FORMAT = "pqguard-manifest/1";
/** FIPS 204 context: a manifest signature can never be mistaken for a signature made for another purpose. */
export const MANIFEST_SIGNATURE_CONTEXT = new TextEncoder().encode(MANIFEST_FORMAT);
export const DEFAULT_MANIFEST_ALGORITHM = "ML-DSA-65";
/** A reviewed tool list should be re-reviewed and re-signed at least this often. */
export const DEFAULT_MANIFEST_TTL_MS = 90 * 24 * 60 * 60 * 1000;
/** Tolerated clock difference between signer and verifier for `issuedAt`. */
export const MANIFEST_CLOCK_SKEW_MS = 5 * 60 * 1000;
/** Far above any real server; bounds the work an untrusted document can cause. */
export const MAX_MANIFEST_TOOLS = 10_000;
export const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;
export { MAX_TOOL_LIST_PAGES } from "./listing.js";

/** A tool definition as signed: only the digested fields (see digest.ts). */
export type ToolDefinition = Readonly<Record<string, unknown>> & { readonly name: string };

/** The document as stored in a `.json` file. */
export interface SignedManifest {
  readonly format: typeof MANIFEST_FORMAT;
  /** Fingerprint of the signing key, `mldsa65:...`. */
  readonly issuer: string;
  readonly algorithm: string;
  /** The signer's public key, base64; must hash to `issuer`. */
  readonly publicKey: string;
  readonly issuedAt: string;
  readonly expiresAt: string;
  readonly tools: readonly ToolDefinition[];
  /** Tool name → SHA3-256 (hex) of its canonical definition. */
  readonly digests: Readonly<Record<string, string>>;
  /**
   * The servers this tool list is for, under the signature: present only in a bound manifest. Enforcement then refuses
   * calls on a session whose server identity is not listed (PQG7315).
   */
  readonly server?: ServerBinding;
  /** Base64 ML-DSA signature over the canonical JSON of every other field. */
  readonly signature: string;
}

/**
 * A manifest's binding to server identities: a key lineage, not one key. List the server's current identity and the
 * successor it will rotate to (generated now, kept offline, as backup pins are): a rotation to a listed key keeps the
 * manifest valid, and the next signing names the next successor.
 */
export interface ServerBinding {
  /** Server identity fingerprints (`mldsa65:...`), sorted, without repeats. */
  readonly identities: readonly string[];
}

export interface VerifiedManifest {
  readonly issuer: string;
  readonly algorithm: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
  readonly tools: readonly ToolDefinition[];
  readonly digests: Readonly<Record<string, string>>;
  /** The server identities the manifest is bound to; undefined for an unbound manifest (valid for any server). */
  readonly server?: ServerBinding | undefined;
  /** SHA3-256 (hex) of the canonical signed document: what audit lines cite as the manifest. */
  readonly digest: string;
}

/** What signing needs: the algorithm and both halves of the key pair (the public half is embedded). */
export interface ManifestSigningKey {
  readonly algorithm: string;
  readonly publicKey: Uint8Array;
  readonly secretKey: Uint8Array;
}

export interface SignOptions {
  /** Epoch ms of issue; defaults to the current time. */
  readonly now?: number;
  readonly ttlMs?: number;
  /** Bind the manifest to these server identity fingerprints (the current key and its planned successors). */
  readonly bindServer?: readonly string[];
}

export interface VerifyOptions {
  /** Required issuer fingerprint; any issuer whose key verifies is accepted when absent. */
  readonly signer?: string;
  /** Epoch ms to check validity at; defaults to the current time. */
  readonly now?: number;
  /**
   * The keys that may sign (a keyring's entries): the issuer must be one of them, not revoked, and before its
   * not-after (a retired key's manifests verify until then; a revoked key's never).
   */
  readonly signerKeys?: readonly { readonly keyId: string; readonly state: string; readonly notAfter: string; readonly revokedAt?: string }[];
}

/** Accepts a tool array or a `tools/list` result (`{ tools: [...] }`). */
export function toolListOf(input: unknown): ToolDefinition[] {
  const list = Array.isArray(input) ? input : isObject(input) && Array.isArray(input.tools) ? input.tools : undefined;
  if (list === undefined) {
    throw new ManifestError(ManifestErrorCode.Malformed, "tool list must be an array of tools or a `tools/list` result with a `tools` array");
  }
  if (list.length > MAX_MANIFEST_TOOLS) {
    throw new ManifestError(ManifestErrorCode.TooLarge, `tool list holds ${list.length} tools, more than the limit of ${MAX_MANIFEST_TOOLS}`);
  }
  const seen = new Set<string>();
  return list.map((tool: unknown, index: number) => {
    if (!isObject(tool) || typeof tool.name !== "string" || tool.name.length === 0) {
      throw new ManifestError(ManifestErrorCode.Malformed, `tool ${index} has no \`name\` string`);
    }
    if (seen.has(tool.name)) {
      throw new ManifestError(ManifestErrorCode.ToolListMismatch, `tool \`${tool.name}\` is listed twice`, tool.name);
    }
    seen.add(tool.name);
    return digestedToolView(tool) as ToolDefinition;
  });
}

export function signManifest(tools: unknown, key: ManifestSigningKey, options: SignOptions = {}): SignedManifest {
  const scheme = schemeFor(key.algorithm);
  const definitions = toolListOf(tools);
  const now = options.now ?? Date.now();
  const ttl = options.ttlMs ?? DEFAULT_MANIFEST_TTL_MS;
  if (!(ttl > 0) || !Number.isFinite(now + ttl)) {
    throw new ManifestError(ManifestErrorCode.Malformed, `manifest lifetime \`${ttl}\` ms must be a positive number`);
  }
  // fromEntries defines own properties, so a tool named `__proto__` gets its digest (an assignment would set the prototype).
  const digests: Record<string, string> = Object.fromEntries(definitions.map((tool) => [tool.name, toolDigest(tool)]));
  const body = {
    format: MANIFEST_FORMAT,
    issuer: fingerprint(key.algorithm, key.publicKey),
    algorithm: key.algorithm,
    publicKey: Buffer.from(key.publicKey).toString("base64"),
    issuedAt: new Date(now).toISOString(),
    expiresAt: new Date(now + ttl).toISOString(),
    tools: definitions,
    digests,
    ...(options.bindServer === undefined ? {} : { server: bindingOf(options.bindServer) }),
  } as const;
  const sig = scheme.sign(signedBytes(body), key.secretKey, MANIFEST_SIGNATURE_CONTEXT);
  return { ...body, signature: Buffer.from(sig).toString("base64") };
}

/**
 * Checks, in order: shape, each tool against its digest (naming the tool), issuer against key, required signer,
 * signature, validity period. Throws a `ManifestError`; returns the verified content.
 */
export function verifySignedManifest(doc: unknown, options: VerifyOptions = {}): VerifiedManifest {
  const parsed = parseManifest(doc);
  for (const tool of parsed.tools) {
    const expected = Object.hasOwn(parsed.digests, tool.name) ? parsed.digests[tool.name] : undefined;
    if (expected === undefined) {
      throw new ManifestError(ManifestErrorCode.ToolListMismatch, `tool \`${tool.name}\` has no signed digest`, tool.name);
    }
    if (toolDigest(tool) !== expected) {
      throw new ManifestError(ManifestErrorCode.ToolTampered, `tool \`${tool.name}\` does not match its signed digest: its definition was changed after signing`, tool.name);
    }
  }
  const names = new Set(parsed.tools.map((tool) => tool.name));
  for (const name of Object.keys(parsed.digests)) {
    if (!names.has(name)) {
      throw new ManifestError(ManifestErrorCode.ToolListMismatch, `tool \`${name}\` has a signed digest but no definition: it was removed after signing`, name);
    }
  }
  const scheme = schemeFor(parsed.algorithm);
  const publicKey = decodeBase64(parsed.publicKey, "publicKey");
  if (publicKey.length !== scheme.publicKeyLength) {
    throw new ManifestError(ManifestErrorCode.Malformed, `\`publicKey\` must be ${scheme.publicKeyLength} bytes for ${parsed.algorithm}, got ${publicKey.length}`);
  }
  if (fingerprint(parsed.algorithm, publicKey) !== parsed.issuer) {
    throw new ManifestError(ManifestErrorCode.IssuerMismatch, `issuer \`${parsed.issuer}\` is not the fingerprint of the manifest's public key`);
  }
  if (options.signer !== undefined && options.signer !== parsed.issuer) {
    throw new ManifestError(ManifestErrorCode.WrongSigner, `manifest is signed by \`${parsed.issuer}\`, not by the required \`${options.signer}\``);
  }
  if (options.signerKeys !== undefined) checkSignerKey(parsed.issuer, options.signerKeys, options.now ?? Date.now());
  const sig = decodeBase64(parsed.signature, "signature");
  const { signature: _omitted, ...body } = parsed;
  let valid = false;
  if (sig.length === scheme.signatureLength) {
    try {
      valid = scheme.verify(sig, signedBytes(body), publicKey, MANIFEST_SIGNATURE_CONTEXT);
    } catch {
      valid = false;
    }
  }
  if (!valid) {
    throw new ManifestError(ManifestErrorCode.BadSignature, `manifest signature by \`${parsed.issuer}\` does not verify`);
  }
  const now = options.now ?? Date.now();
  // Every comparison with NaN is false, so an unusable clock would pass both checks below: refuse it instead.
  if (!Number.isFinite(now)) {
    throw new ManifestError(ManifestErrorCode.Expired, `the clock gave \`${now}\`, not a time: the manifest's validity cannot be checked`);
  }
  const issuedAt = Date.parse(parsed.issuedAt);
  const expiresAt = Date.parse(parsed.expiresAt);
  if (now < issuedAt - MANIFEST_CLOCK_SKEW_MS) {
    throw new ManifestError(ManifestErrorCode.NotYetValid, `manifest is not valid before ${parsed.issuedAt}`);
  }
  if (now >= expiresAt) {
    throw new ManifestError(ManifestErrorCode.Expired, `manifest expired at ${parsed.expiresAt}`);
  }
  return {
    issuer: parsed.issuer,
    algorithm: parsed.algorithm,
    issuedAt,
    expiresAt,
    tools: parsed.tools,
    digests: parsed.digests,
    ...(parsed.server === undefined ? {} : { server: parsed.server }),
    digest: manifestDigest(parsed),
  };
}

const FINGERPRINT = /^[a-z0-9-]+:[a-z2-7]{20,}$/;

function bindingOf(identities: readonly string[]): ServerBinding {
  if (identities.length === 0) throw malformed("a server binding must name at least one server identity");
  for (const identity of identities) {
    if (typeof identity !== "string" || !FINGERPRINT.test(identity)) throw malformed(`\`${String(identity).slice(0, 80)}\` is not a server identity fingerprint (\`mldsa65:...\`)`);
  }
  return { identities: [...new Set(identities)].sort() };
}

/**
 * Why a manifest must not be used with the server `peerFingerprint` (the session's server identity, as the client
 * verified it or as the server holds it), or undefined when it may: an unbound manifest fits any server.
 */
export function manifestBindingProblem(manifest: Pick<VerifiedManifest, "server" | "issuer"> | undefined, peerFingerprint: string | undefined): string | undefined {
  const identities = manifest?.server?.identities;
  if (identities === undefined) return undefined;
  if (peerFingerprint === undefined) return "the signed manifest is bound to a server identity, and this session has no authenticated server";
  if (identities.includes(peerFingerprint)) return undefined;
  return `the signed manifest is for server ${identities.map((i) => `\`${i}\``).join(", ")}, not this session's server \`${peerFingerprint}\`: a reviewed tool list of one server does not vouch for another`;
}

/** SHA3-256 (hex) of the canonical JSON of a whole signed manifest. */
export function manifestDigest(doc: SignedManifest): string {
  return hashHex(canonicalJson(doc));
}

function signedBytes(body: Omit<SignedManifest, "signature">): Uint8Array {
  return new TextEncoder().encode(canonicalJson(body));
}

function schemeFor(algorithm: string): SignatureScheme {
  try {
    return signatureScheme(algorithm);
  } catch {
    throw new ManifestError(ManifestErrorCode.UnsupportedAlgorithm, `manifest algorithm \`${algorithm}\` is not a supported signature algorithm`);
  }
}

function checkSignerKey(issuer: string, keys: NonNullable<VerifyOptions["signerKeys"]>, now: number): void {
  const key = keys.find((k) => k.keyId === issuer);
  if (key === undefined) throw new ManifestError(ManifestErrorCode.WrongSigner, `manifest is signed by \`${issuer}\`, which is not in the keyring`);
  if (key.state === "revoked") {
    throw new ManifestError(ManifestErrorCode.SignerNotAccepted, `manifest is signed by \`${issuer}\`, which was revoked${key.revokedAt === undefined ? "" : ` at ${key.revokedAt}`}`);
  }
  if (!(now < Date.parse(key.notAfter))) {
    throw new ManifestError(ManifestErrorCode.SignerNotAccepted, `manifest is signed by \`${issuer}\`, whose keyring entry ended at ${key.notAfter}: sign it again with the active key`);
  }
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;
const HEX_DIGEST = /^[0-9a-f]{64}$/;
const MANIFEST_FIELDS = ["format", "issuer", "algorithm", "publicKey", "issuedAt", "expiresAt", "tools", "digests", "server", "signature"];

function parseManifest(doc: unknown): SignedManifest {
  if (!isObject(doc)) throw malformed("manifest must be a JSON object");
  for (const key of Object.keys(doc)) {
    // An unsigned extra field would travel with a valid signature; refuse it rather than ignore it.
    if (!MANIFEST_FIELDS.includes(key)) throw malformed(`manifest has an unknown field \`${key}\``);
  }
  if (typeof doc.format === "string" && doc.format !== MANIFEST_FORMAT && doc.format.startsWith("pqguard-manifest/")) {
    throw new ManifestError(
      ManifestErrorCode.UnsupportedVersion,
      `manifest is \`${doc.format.slice(0, 80)}\`, a version this pqguard does not read (it reads \`${MANIFEST_FORMAT}\`); sign it again with this pqguard (docs/keys.md)`,
    );
  }
  if (doc.format !== MANIFEST_FORMAT) throw malformed(`manifest \`format\` must be \`${MANIFEST_FORMAT}\``);
  for (const field of ["issuer", "algorithm", "publicKey", "issuedAt", "expiresAt", "signature"] as const) {
    if (typeof doc[field] !== "string") throw malformed(`manifest field \`${field}\` must be a string`);
  }
  for (const field of ["issuedAt", "expiresAt"] as const) {
    const value = doc[field] as string;
    if (!ISO_TIME.test(value) || Number.isNaN(Date.parse(value))) throw malformed(`manifest \`${field}\` must be an ISO-8601 UTC time`);
  }
  if (Date.parse(doc.expiresAt as string) <= Date.parse(doc.issuedAt as string)) throw malformed("manifest expires before it is issued");
  const tools = toolListOf(Array.isArray(doc.tools) ? doc.tools : null);
  for (let i = 0; i < tools.length; i++) {
    const raw = (doc.tools as unknown[])[i] as Record<string, unknown>;
    if (Object.keys(raw).length !== Object.keys(tools[i]!).length) {
      const name = tools[i]!.name;
      throw new ManifestError(ManifestErrorCode.ToolTampered, `tool \`${name}\` has fields outside its signed definition`, name);
    }
  }
  if (!isObject(doc.digests)) throw malformed("manifest `digests` must be an object");
  const entries = Object.entries(doc.digests);
  if (entries.length > MAX_MANIFEST_TOOLS) {
    throw new ManifestError(ManifestErrorCode.TooLarge, `manifest holds ${entries.length} digests, more than the limit of ${MAX_MANIFEST_TOOLS}`);
  }
  for (const [name, digest] of entries) {
    if (typeof digest !== "string" || !HEX_DIGEST.test(digest)) throw malformed(`digest of tool \`${name}\` must be 64 lowercase hex digits`);
  }
  // Own properties for every name, `__proto__` included: an assigned `__proto__` would vanish from what is verified.
  const digests = Object.fromEntries(entries) as Record<string, string>;
  if (doc.server !== undefined) {
    const server = doc.server;
    if (!isObject(server) || Object.keys(server).join() !== "identities" || !Array.isArray(server.identities)) throw malformed("manifest `server` must be `{ identities: [...] }`");
    const binding = bindingOf(server.identities as string[]);
    // The signed form is sorted and without repeats; any other form was edited.
    if (canonicalJson(binding.identities) !== canonicalJson(server.identities)) throw malformed("manifest `server.identities` must be sorted and without repeats");
  }
  return { ...(doc as unknown as SignedManifest), tools, digests };
}

function malformed(message: string): ManifestError {
  return new ManifestError(ManifestErrorCode.Malformed, message);
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function decodeBase64(text: string, field: string): Uint8Array {
  if (!BASE64.test(text)) throw malformed(`manifest \`${field}\` is not valid base64`);
  return new Uint8Array(Buffer.from(text, "base64"));
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function hashHex(text: string): string {
  return createHash("sha3-256").update(text, "utf8").digest("hex");
}
