// Verifies an audit log's hash chain in one streaming pass and names the first line that breaks it, saying whether
// a line was altered, removed or moved. A cut-off tail is only visible against an anchored head hash (`head`).
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import { AUDIT_FORMAT, GENESIS, lineHash } from "./record.js";

export type AuditProblem = "malformed" | "unsupported-version" | "altered" | "removed" | "reordered" | "truncated" | "unreadable";

export type AuditVerification =
  | { readonly ok: true; readonly lines: number; readonly head: string }
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
      const checked = checkLine(text, lineNo, expectedSeq, prev);
      if ("problem" in checked) {
        failure = checked;
        if (failure.missing === undefined) break;
        continue;
      }
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
  return { ok: true, lines: lineNo, head: prev };
}

function seqOf(text: string): number | undefined {
  try {
    const value = JSON.parse(text) as { seq?: unknown };
    return typeof value.seq === "number" ? value.seq : undefined;
  } catch {
    return undefined;
  }
}

function checkLine(text: string, n: number, expectedSeq: number, prev: string): Failure | { seq: number; hash: string } {
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
  return { seq: line.seq, hash: line.hash };
}
