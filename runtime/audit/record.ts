// The audit line: what one decision records, and how a line is hashed into the chain.
// A line's `hash` is SHA3-256 over the RFC 8785 canonical JSON of the line without `hash`; `prev` is the previous
// line's hash, or GENESIS for the first line, so removing, altering or reordering a line breaks the chain.
import { createHash, createHmac, hash, type KeyObject } from "node:crypto";
import type { DecisionKind } from "../guard/types.js";
import { canonicalJson } from "../manifest/digest.js";

export const AUDIT_FORMAT = "pqguard-audit/1";
/** The `prev` of the first line: a fixed value, so a log with its first lines cut off does not verify. */
export const GENESIS = createHash("sha3-256").update(`${AUDIT_FORMAT} genesis`, "utf8").digest("hex");

export interface AuditSuite {
  readonly kem: string | null;
  readonly signature: string | null;
  readonly aead: string | null;
  readonly hybrid: boolean;
  readonly level: number;
}

/** What the enforcement layer reports for one decision. */
export interface AuditDecision {
  /** Epoch ms of the decision. */
  readonly time: number;
  /** Which end decided: the enforcing server (or proxy), or a guarded client. */
  readonly side: "server" | "client";
  readonly tool: string;
  /** What the guard decided, or `deny` when the call was refused before the guard ran. */
  readonly decision: DecisionKind;
  /** What happened to the call in the end (an `ask` becomes one of these after approval). */
  readonly outcome: "allowed" | "denied";
  readonly approval?: "approved" | "refused" | "timeout" | "unavailable" | "withdrawn" | undefined;
  /**
   * Monitor mode: the guard denied the call (`would-deny`) or asked for an approval (`would-ask`), and the call went
   * through anyway, unasked. Absent when decisions are enforced.
   */
  readonly monitor?: "would-deny" | "would-ask" | undefined;
  /** The PQG code of a refusal, e.g. `PQG7301` (policy deny) or `PQG7302` (no session). */
  readonly code?: string | undefined;
  readonly rules: readonly string[];
  readonly reason: string;
  readonly sessionId?: string | undefined;
  readonly peerFingerprint?: string | undefined;
  readonly clientFingerprint?: string | undefined;
  readonly suite?: AuditSuite | undefined;
  /** Digest of the signed manifest (or of the guard's tool digests when no signed manifest is in use). */
  readonly manifestDigest?: string | undefined;
  readonly policyDigest?: string | undefined;
  readonly args: unknown;
  /** SHA3-256 of the canonical arguments, when the caller already computed it. */
  readonly argsDigest?: string | undefined;
  /**
   * The arguments' JSON text (`JSON.stringify`) as they were when the call was decided. The digest is then computed
   * from it when the line is built, off the call's path, and a handler that changes the arguments object afterwards
   * cannot change what the line records.
   */
  readonly argsText?: string | undefined;
}

/** One line of the log, as written. */
export interface AuditLine {
  readonly format: typeof AUDIT_FORMAT;
  /** 0 for the first line, then one more per line: tells a removed line from a reordered one. */
  readonly seq: number;
  readonly time: string;
  readonly side: "server" | "client";
  readonly tool: string;
  readonly decision: DecisionKind;
  readonly outcome: "allowed" | "denied";
  readonly approval: string | null;
  readonly code: string | null;
  readonly rules: readonly string[];
  readonly reason: string;
  readonly session: string | null;
  readonly peer: string | null;
  readonly client: string | null;
  readonly suite: AuditSuite | null;
  readonly manifest: string | null;
  readonly policy: string | null;
  /** SHA3-256 (hex) of the canonical JSON of the arguments, or `hmac-sha3-256:<hex>` under the audit key. */
  readonly argsDigest: string;
  /** The arguments themselves, only when the operator turned that on. */
  readonly args?: unknown;
  readonly prev: string;
  readonly hash: string;
}

export function sha3Hex(text: string): string {
  // One-shot `hash` (Node ≥ 20.12) skips the Hash object: about 0.4 µs less per digest, two digests per decision.
  return hash("sha3-256", text, "hex");
}

/** The prefix of a keyed argument digest: HMAC-SHA3-256 under the audit key. */
export const KEYED_DIGEST_PREFIX = "hmac-sha3-256:";

/** The canonical JSON of arguments; `{}` stands for absent ones, `null` for arguments without a JSON form. */
function canonicalArguments(args: unknown): string {
  try {
    return canonicalJson(args ?? {});
  } catch {
    // Arguments without a JSON form were refused before any rule read them; the line still records that they came.
    return "null";
  }
}

/**
 * The `argsDigest` a line records for these arguments: SHA3-256 of their canonical JSON, or with an audit key
 * `hmac-sha3-256:` and the HMAC-SHA3-256 of it. Who holds the key can look a known call up in a log with it.
 */
export function argumentsDigest(args: unknown, key?: KeyObject): string {
  const text = canonicalArguments(args);
  return key === undefined ? sha3Hex(text) : KEYED_DIGEST_PREFIX + createHmac("sha3-256", key).update(text, "utf8").digest("hex");
}

/** The same digest for arguments given as their JSON text (what a decision keeps). */
export function argumentsTextDigest(text: string, key?: KeyObject): string {
  const args: unknown = JSON.parse(text);
  // Arguments whose keys are already in canonical order (most are: few tools have more than a handful, and clients
  // often write them sorted) have JSON.stringify's text as their canonical text: no general canonicaliser, with its
  // Set, key arrays and string parts, for each line. Anything else takes the canonicaliser as before.
  let canonical: string | undefined;
  try {
    // Absent arguments (`null`) stand for `{}`: that is argumentsDigest's to say.
    if (typeof args === "object" && args !== null && inCanonicalOrder(args)) canonical = JSON.stringify(args);
  } catch {
    canonical = undefined; // too deep to walk here: the canonicaliser decides
  }
  if (canonical === undefined) return argumentsDigest(args, key);
  return key === undefined ? sha3Hex(canonical) : KEYED_DIGEST_PREFIX + createHmac("sha3-256", key).update(canonical, "utf8").digest("hex");
}

/**
 * Whether JSON.stringify writes this parsed JSON value as RFC 8785 does: every object's keys, in the order it writes
 * them, strictly ascending by UTF-16 code units (the order RFC 8785 sorts by), and every key and string well-formed
 * Unicode (the canonicaliser refuses a lone surrogate, and the digest is then that of `null`). Numbers parsed from JSON
 * are finite, and both write them as ECMAScript does.
 */
function inCanonicalOrder(value: unknown): boolean {
  if (typeof value === "string") return isWellFormed(value);
  if (typeof value !== "object" || value === null) return true;
  if (Array.isArray(value)) {
    for (const item of value) if (!inCanonicalOrder(item)) return false;
    return true;
  }
  let previous: string | undefined;
  for (const key of Object.keys(value)) {
    if ((previous !== undefined && !(previous < key)) || !isWellFormed(key)) return false;
    if (!inCanonicalOrder((value as Record<string, unknown>)[key])) return false;
    previous = key;
  }
  return true;
}

/** `String.prototype.isWellFormed` (ES2024, Node ≥ 20), typed here because the project's lib is ES2023. */
function isWellFormed(text: string): boolean {
  return (text as string & { isWellFormed(): boolean }).isWellFormed();
}

/** The hash a line must carry: over its canonical JSON with `hash` left out. */
export function lineHash(line: Readonly<Record<string, unknown>>): string {
  const { hash: _ignored, ...rest } = line;
  return sha3Hex(canonicalJson(rest));
}

/**
 * Builds a line and its text. Without raw arguments every key is inserted in RFC 8785 order and every value is a
 * string, integer, boolean, null or such an object, so JSON.stringify already yields the canonical text: the hot
 * path skips the general canonicaliser (the verifier still uses it, and the tests hold the two equal).
 */
export function buildLine(
  decision: AuditDecision,
  seq: number,
  prev: string,
  includeArguments: boolean,
  argumentsKey?: KeyObject,
): { hash: string; text: string } {
  const suite = decision.suite;
  const body = {
    approval: decision.approval ?? null,
    argsDigest:
      decision.argsDigest ??
      (decision.argsText === undefined ? argumentsDigest(decision.args, argumentsKey) : argumentsTextDigest(decision.argsText, argumentsKey)),
    client: decision.clientFingerprint ?? null,
    code: decision.code ?? null,
    decision: decision.decision,
    format: AUDIT_FORMAT,
    manifest: decision.manifestDigest ?? null,
    // Only in monitor mode, so that lines of enforced decisions stay as they were; keys stay in RFC 8785 order.
    ...(decision.monitor === undefined ? {} : { monitor: decision.monitor }),
    outcome: decision.outcome,
    peer: decision.peerFingerprint ?? null,
    policy: decision.policyDigest ?? null,
    prev,
    reason: decision.reason,
    rules: decision.rules,
    seq,
    session: decision.sessionId ?? null,
    side: decision.side,
    suite: suite === undefined ? null : { aead: suite.aead, hybrid: suite.hybrid, kem: suite.kem, level: suite.level, signature: suite.signature },
    time: new Date(decision.time).toISOString(),
    tool: decision.tool,
  } as const;
  // Raw arguments as decided: parsed back from their JSON text when the decision kept it (a client's argument object
  // may read differently now).
  const args = includeArguments ? (decision.argsText === undefined ? (decision.args ?? {}) : JSON.parse(decision.argsText)) : undefined;
  const canonical = includeArguments ? canonicalJson({ ...body, args }) : JSON.stringify(body);
  const hash = sha3Hex(canonical);
  // The written line is the canonical text with `hash` appended last: what JSON.stringify({ ...body, hash }) writes.
  return { hash, text: `${canonical.slice(0, -1)},"hash":"${hash}"}` };
}
