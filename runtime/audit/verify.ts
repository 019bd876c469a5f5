// Verifies an audit log's hash chain in one streaming pass and names the first line that breaks it, saying whether
// a line was altered, removed or moved. A cut-off tail is only visible against something kept elsewhere: an anchored
// head hash (`head`), the anchor file (`anchor`) or intermediate anchors (`anchors`). With the audit key, checkpoint
// lines must carry its MAC, so that a cut cannot be dressed up as a clean close.
import type { KeyObject } from "node:crypto";
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import { checkpointMacValid, isCheckpoint, type AuditAnchor, type CheckpointKind } from "./checkpoint.js";
import { AUDIT_FORMAT, GENESIS, lineHash } from "./record.js";

export type AuditProblem = "malformed" | "unsupported-version" | "altered" | "removed" | "reordered" | "truncated" | "unreadable";

export type AuditVerification =
  | {
      readonly ok: true;
      readonly lines: number;
      readonly head: string;
      /** How many checkpoint lines of each kind: each `recovered` is a restart after a writer that never closed. */
      readonly checkpoints: Readonly<Record<CheckpointKind, number>>;
      /** The file starts with a `rotated` checkpoint: it continues the chain of a file that ended at this line. */
      readonly follows?: { readonly seq: number; readonly hash: string };
      /** The last line is a `close` checkpoint. */
      readonly closed: boolean;
    }
  | {
      readonly ok: false;
      /** 1-based line number of the first bad line (0 when the file itself could not be read). */
      readonly line: number;
      readonly problem: AuditProblem;
      /** One lowercase sentence naming the line. */
      readonly message: string;
    };

export interface VerifyAuditOptions {
  /** The head hash recorded elsewhere (e.g. `AuditLog.head` at shutdown): detects lines cut off the end. */
  readonly head?: string;
  /** The anchor file's content: the log must hold its line, and end there when it says `closed`. */
  readonly anchor?: AuditAnchor;
  /** Lines known elsewhere (copied out of an anchor over time, or a head recorded at some point): each must be there. */
  readonly anchors?: readonly { readonly seq: number; readonly hash: string }[];
  /** The audit key: every checkpoint line must carry a valid MAC under it. */
  readonly key?: KeyObject;
  /** For a rotated file: the head of the file before it, which its first line must continue. */
  readonly previousHead?: string;
}

interface Failure {
  line: number;
  problem: AuditProblem;
  message: string;
  /** For a jump in seq: the seqs that went missing, looked for in the rest of the file to tell moved from removed. */
  missing?: { from: number; to: number };
}

export async function verifyAuditLog(path: string, options: VerifyAuditOptions = {}): Promise<AuditVerification> {
  let lineNo = 0;
  let expectedSeq = 0;
  let prev = GENESIS;
  let failure: Failure | undefined;
  let movedTo: { line: number; seq: number } | undefined;
  let follows: { seq: number; hash: string } | undefined;
  let closed = false;
  const checkpoints: Record<CheckpointKind, number> = { open: 0, recovered: 0, rotated: 0, close: 0 };
  const anchored = new Map<number, string>((options.anchors ?? []).map((a) => [a.seq, a.hash]));
  if (options.anchor !== undefined) anchored.set(options.anchor.seq, options.anchor.hash);
  try {
    const lines = createInterface({ input: createReadStream(path, { encoding: "utf8" }), crlfDelay: Infinity });
    for await (const text of lines) {
      lineNo++;
      if (failure !== undefined) {
        // Keep reading only to find where the missing lines went.
        const seq = seqOf(text);
        if (failure.missing !== undefined && seq !== undefined && seq >= failure.missing.from && seq < failure.missing.to) {
          movedTo = { line: lineNo, seq };
          break;
        }
        continue;
      }
      if (lineNo === 1) {
        const start = rotationStart(text, options.previousHead);
        if (start !== undefined && "problem" in start) {
          failure = start;
          break;
        }
        if (start !== undefined) {
          follows = { seq: start.seq - 1, hash: start.prev };
          expectedSeq = start.seq;
          prev = start.prev;
        }
      }
      const checked = checkLine(text, lineNo, expectedSeq, prev);
      if ("problem" in checked) {
        failure = checked;
        if (failure.missing === undefined) break;
        continue;
      }
      const unfit = checkpointProblem(checked.line, lineNo, options.key) ?? anchorProblem(anchored, checked, lineNo);
      if (unfit !== undefined) {
        failure = unfit;
        break;
      }
      const kind = checked.line.checkpoint as CheckpointKind | undefined;
      if (kind !== undefined && kind in checkpoints) checkpoints[kind]++;
      closed = kind === "close";
      expectedSeq = checked.seq + 1;
      prev = checked.hash;
    }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { ok: false, line: 0, problem: "unreadable", message: `cannot read audit log \`${path}\`: ${message}` };
  }
  if (failure !== undefined) {
    if (failure.missing !== undefined && movedTo !== undefined) {
      return {
        ok: false,
        line: failure.line,
        problem: "reordered",
        message: `line ${failure.line} is out of order: line ${movedTo.line} holds seq ${movedTo.seq}, which belongs before it`,
      };
    }
    return { ok: false, line: failure.line, problem: failure.problem, message: failure.message };
  }
  if (options.head !== undefined && options.head !== prev) {
    return {
      ok: false,
      line: lineNo + 1,
      problem: "truncated",
      message: `the log ends at line ${lineNo} but its anchored head is not that line's hash: lines were removed from the end`,
    };
  }
  const beyond = [...anchored.keys()].filter((seq) => seq >= expectedSeq).sort((a, b) => a - b)[0];
  if (beyond !== undefined) {
    return {
      ok: false,
      line: lineNo + 1,
      problem: "truncated",
      message: `the log ends at seq ${expectedSeq - 1} (line ${lineNo}) but an anchor names seq ${beyond}: lines were removed from the end`,
    };
  }
  if (options.anchor?.state === "closed" && options.anchor.seq !== expectedSeq - 1) {
    return {
      ok: false,
      line: lineNo,
      problem: "altered",
      message: `the anchor says the log was closed at seq ${options.anchor.seq}, but ${expectedSeq - 1 - options.anchor.seq} lines follow it`,
    };
  }
  return { ok: true, lines: lineNo, head: prev, checkpoints, closed, ...(follows === undefined ? {} : { follows }) };
}

/** A first line that is a `rotated` checkpoint starts the chain where the previous file ended; else undefined. */
function rotationStart(text: string, previousHead: string | undefined): { seq: number; prev: string } | Failure | undefined {
  let line: Record<string, unknown>;
  try {
    line = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (line === null || typeof line !== "object" || line.checkpoint !== "rotated" || typeof line.seq !== "number" || typeof line.prev !== "string") {
    return undefined;
  }
  if (previousHead !== undefined && line.prev !== previousHead) {
    return { line: 1, problem: "altered", message: "line 1 does not continue the previous file: its `prev` is not that file's head" };
  }
  return { seq: line.seq, prev: line.prev };
}

/** With the audit key, a checkpoint must carry its MAC: a cut dressed up with a forged `close` is refused. */
function checkpointProblem(line: Readonly<Record<string, unknown>>, n: number, key: KeyObject | undefined): Failure | undefined {
  if (!isCheckpoint(line)) return undefined;
  if (!["open", "recovered", "rotated", "close"].includes(line.checkpoint as string)) {
    return { line: n, problem: "malformed", message: `line ${n} is a checkpoint of unknown kind \`${String(line.checkpoint).slice(0, 40)}\`` };
  }
  if (key !== undefined && !checkpointMacValid(line, key)) {
    return { line: n, problem: "altered", message: `line ${n} is a checkpoint without a valid MAC under the audit key: it was forged` };
  }
  return undefined;
}

function anchorProblem(anchored: ReadonlyMap<number, string>, line: { seq: number; hash: string }, n: number): Failure | undefined {
  const want = anchored.get(line.seq);
  if (want === undefined || want === line.hash) return undefined;
  return { line: n, problem: "altered", message: `line ${n} (seq ${line.seq}) is not the line its anchor names: the log was rewritten from there` };
}

function seqOf(text: string): number | undefined {
  try {
    const value = JSON.parse(text) as { seq?: unknown };
    return typeof value.seq === "number" ? value.seq : undefined;
  } catch {
    return undefined;
  }
}

function checkLine(text: string, n: number, expectedSeq: number, prev: string): Failure | { seq: number; hash: string; line: Record<string, unknown> } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { line: n, problem: "malformed", message: `line ${n} is not valid JSON` };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { line: n, problem: "malformed", message: `line ${n} is not a JSON object` };
  }
  const line = value as Record<string, unknown>;
  if (typeof line.format === "string" && line.format !== AUDIT_FORMAT && line.format.startsWith("pqguard-audit/")) {
    return {
      line: n,
      problem: "unsupported-version",
      message: `line ${n} is \`${line.format.slice(0, 80)}\`, a version this pqguard does not read (it reads \`${AUDIT_FORMAT}\`); verify it with the pqguard that wrote it`,
    };
  }
  if (line.format !== AUDIT_FORMAT || typeof line.seq !== "number" || typeof line.hash !== "string" || typeof line.prev !== "string") {
    return { line: n, problem: "malformed", message: `line ${n} is not a \`${AUDIT_FORMAT}\` line` };
  }
  if (lineHash(line) !== line.hash) {
    return { line: n, problem: "altered", message: `line ${n} was altered: its hash does not match its content` };
  }
  // The hash covers what JSON.parse reads, which keeps the last of a repeated key; a reader keeping the first would
  // see other values. The writer emits JSON.stringify's text, so any other text for the same value was edited.
  if (JSON.stringify(value) !== text) {
    return { line: n, problem: "altered", message: `line ${n} was altered: its text is not as the log wrote it (a repeated key, or changed spacing or escapes)` };
  }
  if (line.seq > expectedSeq) {
    const count = line.seq - expectedSeq;
    return {
      line: n,
      problem: "removed",
      message: `${count === 1 ? "1 line was" : `${count} lines were`} removed before line ${n} (seq ${expectedSeq} expected, found ${line.seq})`,
      missing: { from: expectedSeq, to: line.seq },
    };
  }
  if (line.seq < expectedSeq) {
    return { line: n, problem: "reordered", message: `line ${n} is out of order (seq ${line.seq} after seq ${expectedSeq - 1})` };
  }
  if (line.prev !== prev) {
    const what = n === 1 ? "the genesis value" : `line ${n - 1}`;
    return { line: n, problem: "altered", message: `line ${n} does not chain to ${what}: a line before it was altered or replaced` };
  }
  return { seq: line.seq, hash: line.hash, line };
}
