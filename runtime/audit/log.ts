// The audit log writer: appends one hash-chained JSON line per decision. Lines are chained synchronously (so their
// order is the decision order) and written in batches off the hot path; `close()` writes every buffered line.
import type { KeyObject } from "node:crypto";
import { open, stat, type FileHandle } from "node:fs/promises";
import type { Logger } from "pino";
import { PqguardError, errorCatalogue } from "../errors.js";
import { AUDIT_FORMAT, GENESIS, buildLine, lineHash, type AuditDecision, type AuditLine } from "./record.js";


/** Decisions queued above this are chained and written at once instead of waiting for the next turn of the loop. */
export const FLUSH_THRESHOLD_LINES = 256;
/** At most this long between a decision and its line reaching the file (a crash loses at most this much). */
export const FLUSH_INTERVAL_MS = 10;
/** How far back from the end of an existing log we look for its last line; a longer line is refused. */
export const MAX_LINE_BYTES = 4 * 1024 * 1024;

export const AUDIT_ERRORS = errorCatalogue("audit log", "AuditError", [[7101, 7199]], {
  Unwritable: ["PQG7101", "The log file cannot be opened, read or written."],
  BadLastLine: ["PQG7102", "An existing log ends in a line that is not a valid audit line, so the chain cannot be continued."],
  ChainBroken: ["PQG7103", "`pqguard audit verify` found the chain broken (the verifier names the line)."],
  KeyUnusable: ["PQG7104", "The audit key (file) is missing, unreadable, too short, malformed or readable by others."],
});

/** The codes by name. */
export const AuditErrorCode = AUDIT_ERRORS.codes;
export type AuditErrorCode = (typeof AuditErrorCode)[keyof typeof AuditErrorCode];

export class AuditError extends PqguardError {
  declare readonly code: AuditErrorCode;
  constructor(code: AuditErrorCode, message: string) {
    super(code, message);
    this.name = "AuditError";
  }
}

export interface AuditLogOptions {
  /** Write the raw arguments into each line (off by default: they may hold personal data or secrets). */
  readonly includeArguments?: boolean;
  /** Operational messages (write failures); never receives arguments. */
  readonly logger?: Logger;
  /**
   * The audit key (`auditKey`, `loadAuditKey`): each line's `argsDigest` is then an HMAC-SHA3-256 under it, written
   * `hmac-sha3-256:<hex>`, so that guessable arguments cannot be recovered from the log. Without it the digest is
   * a plain SHA3-256, which anyone can recompute for a guess.
   */
  readonly argumentsKey?: KeyObject;
}

/** The sink enforcement writes to; `AuditLog` is the file-backed one. */
export interface AuditSink {
  append(decision: AuditDecision): void;
  /** Set once a write failed: from then on enforcement denies every call, because it can no longer record them. */
  readonly failure: AuditError | undefined;
}

export class AuditLog implements AuditSink {
  /** Decisions not yet chained: hashing waits for the flush so that it stays off the decision's critical path. */
  private pending: AuditDecision[] = [];
  private writing: Promise<void> = Promise.resolve();
  private scheduled = false;
  private closed = false;
  private failed: AuditError | undefined;
  /** The seq of the next line to reach the file. */
  private unwrittenFrom: number;
  /** Decisions appended since the failure (or in the chunk that failed) that no line records. */
  private lost = 0;

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    /** Bytes in the file that hold whole lines: a failed write is cut back to this. */
    private size: number,
    private seq: number,
    private prev: string,
    private readonly options: AuditLogOptions,
  ) {
    this.unwrittenFrom = seq;
  }

  /** Opens (or creates, mode 0600) the log at `path` and continues its chain from its last line. */
  static async open(path: string, options: AuditLogOptions = {}): Promise<AuditLog> {
    let tail: { seq: number; hash: string } | undefined;
    try {
      tail = await readLastLine(path);
    } catch (error) {
      if (error instanceof AuditError) throw error;
      throw new AuditError("PQG7101", `cannot read audit log \`${path}\`: ${describe(error)}`);
    }
    let handle: FileHandle;
    let size: number;
    try {
      handle = await open(path, "a", 0o600);
      size = (await handle.stat()).size;
    } catch (error) {
      throw new AuditError("PQG7101", `cannot open audit log \`${path}\`: ${describe(error)}`);
    }
    return new AuditLog(path, handle, size, tail === undefined ? 0 : tail.seq + 1, tail?.hash ?? GENESIS, options);
  }

  get failure(): AuditError | undefined {
    return this.failed;
  }

  /** How many decisions appended so far no line records, because a write (or building a line) failed. */
  get unrecorded(): number {
    return this.lost + (this.failed === undefined ? 0 : this.pending.length);
  }

  /** The hash of the last line appended: an operator can anchor it elsewhere to detect truncation. */
  get head(): string {
    if (this.pending.length > 0) this.buffered.push(this.chain());
    return this.prev;
  }

  private buffered: string[] = [];

  /**
   * Queues one decision; its place in the chain is fixed now. With raw arguments the line is built at once, since
   * the handler that runs next may change the arguments object.
   */
  append(decision: AuditDecision): void {
    if (this.closed) throw new AuditError("PQG7101", `audit log \`${this.path}\` is closed`);
    this.pending.push(decision);
    if (this.options.includeArguments === true || this.pending.length >= FLUSH_THRESHOLD_LINES) {
      this.buffered.push(this.chain());
      if (this.buffered.length >= FLUSH_THRESHOLD_LINES) void this.flush().catch(() => undefined);
    }
    if (!this.scheduled) {
      this.scheduled = true;
      // Group commit: lines appended within one interval are chained and written together; unref'd, because
      // close() writes whatever is left and the timer must not keep a finished process alive.
      setTimeout(() => {
        this.scheduled = false;
        void this.flush().catch(() => undefined);
      }, FLUSH_INTERVAL_MS).unref();
    }
  }

  /** Builds the text of every pending decision, in order, extending the chain. */
  private chain(): string {
    let text = "";
    const pending = this.pending;
    this.pending = [];
    for (const [index, decision] of pending.entries()) {
      try {
        const { hash, text: lineText } = buildLine(decision, this.seq, this.prev, this.options.includeArguments === true, this.options.argumentsKey);
        this.seq++;
        this.prev = hash;
        text += lineText + "\n";
      } catch (error) {
        // A line that cannot be built would leave a gap: stop, so that enforcement denies from now on.
        this.failed ??= new AuditError("PQG7101", `cannot build an audit line for \`${decision.tool}\`: ${describe(error)}`);
        this.options.logger?.error({ path: this.path, code: this.failed.code }, this.failed.message);
        this.lost += pending.length - index;
        break;
      }
    }
    return text;
  }

  /** Writes every line appended so far; resolves once they reached the file (or rejects with the write error). */
  flush(): Promise<void> {
    if (this.pending.length > 0) this.buffered.push(this.chain());
    if (this.buffered.length > 0) {
      const chunk = this.buffered.join("");
      this.buffered = [];
      this.writing = this.writing.then(() => this.write(chunk));
    }
    return this.writing.then(() => {
      if (this.failed !== undefined) throw this.failureSummary();
    });
  }

  /** The failure, with how many decisions it has cost so far. */
  private failureSummary(): AuditError {
    const failed = this.failed!;
    const lost = this.unrecorded;
    if (lost === 0) return failed;
    return new AuditError(failed.code, `${failed.message}; ${lost} decision${lost === 1 ? " is" : "s are"} not recorded so far`);
  }

  /** Flushes, syncs to disk and closes. Appending afterwards throws. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.flush();
      await this.handle.sync();
    } finally {
      await this.handle.close();
    }
  }

  private async write(chunk: string): Promise<void> {
    const lines = countLines(chunk);
    if (this.failed !== undefined) {
      this.lost += lines;
      return;
    }
    const bytes = Buffer.from(chunk, "utf8");
    let done = 0;
    try {
      // A write may take less than all of it (a full disk, a signal): continue where it stopped.
      while (done < bytes.length) done += (await this.handle.write(bytes, done, bytes.length - done)).bytesWritten;
      this.size += bytes.length;
      this.unwrittenFrom += lines;
    } catch (error) {
      this.lost += lines;
      // Cut a partly written line off, so the log still ends in a whole line and can be verified and continued.
      const cut = done === 0 || (await this.handle.truncate(this.size).then(() => true, () => false));
      const tail = cut ? "" : "; its last line is incomplete";
      this.failed = new AuditError("PQG7101", `cannot write audit log \`${this.path}\` from line ${this.unwrittenFrom} on: ${describe(error)}${tail}`);
      this.options.logger?.error({ path: this.path, code: this.failed.code, lines }, this.failed.message);
    }
  }
}

function countLines(chunk: string): number {
  let lines = 0;
  for (let at = chunk.indexOf("\n"); at !== -1; at = chunk.indexOf("\n", at + 1)) lines++;
  return lines;
}

/** The seq and hash of the last line of an existing log, or undefined for a missing or empty file. */
async function readLastLine(path: string): Promise<{ seq: number; hash: string } | undefined> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  if (size === 0) return undefined;
  const length = Math.min(size, MAX_LINE_BYTES);
  const handle = await open(path, "r");
  let text: string;
  try {
    const bytes = Buffer.alloc(length);
    await handle.read(bytes, 0, length, size - length);
    text = bytes.toString("utf8");
  } finally {
    await handle.close();
  }
  if (!text.endsWith("\n")) {
    throw new AuditError("PQG7102", `audit log \`${path}\` ends in an unfinished line; verify it before appending`);
  }
  const lines = text.slice(0, -1).split("\n");
  const last = lines[lines.length - 1]!;
  if (lines.length === 1 && length < size) {
    throw new AuditError("PQG7102", `the last line of audit log \`${path}\` is longer than ${MAX_LINE_BYTES} bytes`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(last);
  } catch {
    throw new AuditError("PQG7102", `the last line of audit log \`${path}\` is not JSON; verify it before appending`);
  }
  const line = parsed as Partial<AuditLine> & Record<string, unknown>;
  if (
    line.format !== AUDIT_FORMAT ||
    typeof line.seq !== "number" ||
    typeof line.hash !== "string" ||
    lineHash(line) !== line.hash
  ) {
    throw new AuditError("PQG7102", `the last line of audit log \`${path}\` does not verify; verify the log before appending`);
  }
  return { seq: line.seq, hash: line.hash };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
