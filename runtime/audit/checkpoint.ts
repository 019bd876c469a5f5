// Checkpoints and anchors against truncation across restarts: a checkpoint line in the chain at each open and close
// (HMAC'd under the audit key when there is one), and an anchor file, kept elsewhere, naming the last line known to
// be on disk, so that a log cut while its writer was stopped is refused at the next open and by `audit verify`.
import { createHmac, type KeyObject } from "node:crypto";
import { open, readFile, rename, unlink } from "node:fs/promises";
import { dirname } from "node:path";
import { canonicalJson } from "../manifest/digest.js";
import { AuditError } from "./errors.js";
import { AUDIT_FORMAT, sha3Hex } from "./record.js";

/** The `format` of an anchor file. */
export const AUDIT_ANCHOR_FORMAT = "pqguard-audit-anchor/1";

/**
 * `open`: a writer started on a log it found closed (or empty, first run); `recovered`: it found the log left open by
 * a writer that did not close it (a crash: lines written after the last anchor may be missing, and that is all that
 * may be); `rotated`: the first line of a new file that continues the chain of the file before it; `close`: the
 * writer closed the log cleanly, nothing follows.
 */
export type CheckpointKind = "open" | "recovered" | "rotated" | "close";

// A checkpoint line is `{"checkpoint":KIND,"format":…,"mac"?:…,"after"?:SEQ,"prev":…,"seq":…,"time":…,"hash":…}`,
// canonical JSON like a decision line and chained with them; `after` (in `recovered`) names the last anchored line.

/** Keyed MACs are separated from argument digests by this prefix, so neither can stand for the other. */
const CHECKPOINT_MAC_CONTEXT = "pqguard-audit checkpoint/1\n";
const ANCHOR_MAC_CONTEXT = "pqguard-audit anchor/1\n";

function mac(key: KeyObject, context: string, text: string): string {
  return createHmac("sha3-256", key).update(context + text, "utf8").digest("hex");
}

/** Builds a checkpoint line and its text (canonical JSON with `hash` last, as decision lines are written). */
export function buildCheckpoint(
  kind: CheckpointKind,
  seq: number,
  prev: string,
  time: number,
  key: KeyObject | undefined,
  after?: number,
): { hash: string; text: string } {
  const body: Record<string, unknown> = { checkpoint: kind, format: AUDIT_FORMAT, prev, seq, time: new Date(time).toISOString() };
  if (after !== undefined) body.after = after;
  if (key !== undefined) body.mac = mac(key, CHECKPOINT_MAC_CONTEXT, canonicalJson(body));
  const canonical = canonicalJson(body);
  const hash = sha3Hex(canonical);
  return { hash, text: `${canonical.slice(0, -1)},"hash":"${hash}"}` };
}

/** Whether a parsed line is a checkpoint (decision lines have no `checkpoint` key). */
export function isCheckpoint(line: Readonly<Record<string, unknown>>): boolean {
  return typeof line.checkpoint === "string";
}

/** Whether a checkpoint line's MAC is the one the key gives; false when it has none. */
export function checkpointMacValid(line: Readonly<Record<string, unknown>>, key: KeyObject): boolean {
  const { mac: given, hash: _hash, ...body } = line;
  return typeof given === "string" && given === mac(key, CHECKPOINT_MAC_CONTEXT, canonicalJson(body));
}

/** The anchor: the last line known to have reached the log's disk, kept on other storage. */
export interface AuditAnchor {
  /** Always AUDIT_ANCHOR_FORMAT. */
  readonly format: typeof AUDIT_ANCHOR_FORMAT;
  /** `open` while a writer has the log open (a crash leaves it so), `closed` after a clean close. */
  readonly state: "open" | "closed";
  /** The anchored line: its seq, hash, and the byte length of the file up to and including it. */
  readonly seq: number;
  /** The anchored line's hash. */
  readonly hash: string;
  /** Bytes of the log up to and including the anchored line. */
  readonly size: number;
  /** When the anchor was written, ISO 8601. */
  readonly time: string;
  /** HMAC-SHA3-256 under the audit key; absent without a key. */
  readonly mac?: string;
}

export function anchorOf(state: AuditAnchor["state"], seq: number, hash: string, size: number, time: number, key: KeyObject | undefined): AuditAnchor {
  const body = { format: AUDIT_ANCHOR_FORMAT, hash, seq, size, state, time: new Date(time).toISOString() } as const;
  return key === undefined ? body : { ...body, mac: mac(key, ANCHOR_MAC_CONTEXT, canonicalJson(body)) };
}

/**
 * Reads an anchor file; undefined when there is none. With a key, an anchor without a valid MAC is refused (PQG7106):
 * whoever can write the anchor's storage but not hold the key cannot move it back.
 */
export async function readAnchor(path: string, key: KeyObject | undefined): Promise<AuditAnchor | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new AuditError("PQG7106", `cannot read audit anchor \`${path}\`: ${(error as Error).message}`);
  }
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new AuditError("PQG7106", `audit anchor \`${path}\` is not JSON`);
  }
  const { mac: given, ...body } = doc ?? {};
  if (
    doc === null ||
    typeof doc !== "object" ||
    body.format !== AUDIT_ANCHOR_FORMAT ||
    (body.state !== "open" && body.state !== "closed") ||
    !Number.isSafeInteger(body.seq) ||
    !Number.isSafeInteger(body.size) ||
    typeof body.hash !== "string" ||
    typeof body.time !== "string"
  ) {
    throw new AuditError("PQG7106", `audit anchor \`${path}\` is not a \`${AUDIT_ANCHOR_FORMAT}\` document`);
  }
  if (key !== undefined && given !== mac(key, ANCHOR_MAC_CONTEXT, canonicalJson(body))) {
    throw new AuditError("PQG7106", `audit anchor \`${path}\` does not carry a valid MAC under the audit key: it was forged or belongs to another key`);
  }
  return doc as unknown as AuditAnchor;
}

let anchorWrites = 0;

/**
 * Replaces the anchor atomically and durably: written to a temporary file beside it, synced, renamed over it, and the
 * directory synced, so that a crash leaves the old anchor or the new one, never a torn one.
 */
export async function writeAnchor(path: string, anchor: AuditAnchor): Promise<void> {
  const temporary = `${path}.${process.pid}.${++anchorWrites}.tmp`;
  const handle = await open(temporary, "w", 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(anchor)}\n`, "utf8");
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temporary, path);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
  const directory = await open(dirname(path), "r");
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
}
