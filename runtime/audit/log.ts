// The audit log writer: appends one hash-chained JSON line per decision. Lines are chained synchronously (so their
// order is the decision order) and written in batches off the hot path; `close()` writes every buffered line.
import type { KeyObject } from "node:crypto";
import { open, stat, type FileHandle } from "node:fs/promises";
import type { Logger } from "pino";
import { anchorOf, buildCheckpoint, readAnchor, writeAnchor, type AuditAnchor, type CheckpointKind } from "./checkpoint.js";
import { AuditError } from "./errors.js";
import { AUDIT_FORMAT, GENESIS, buildLine, lineHash, type AuditDecision, type AuditLine } from "./record.js";


/** Decisions queued above this are chained and written at once instead of waiting for the next turn of the loop. */
export const FLUSH_THRESHOLD_LINES = 256;
/** At most this long between a decision and its line reaching the file (a crash loses at most this much). */
export const FLUSH_INTERVAL_MS = 10;
/** How far back from the end of an existing log we look for its last line; a longer line is refused. */
export const MAX_LINE_BYTES = 4 * 1024 * 1024;
/**
 * With an anchor, at most this long between a line reaching the file and the anchor naming it. Only lines written
 * after the last anchor can be cut without the next open noticing (they read as lost in a crash): one fsync and one
 * small file replaced per second is cheap, and bounds that window to a second of decisions.
 */
export const ANCHOR_INTERVAL_MS = 1_000;

export { AUDIT_ERRORS, AuditError, AuditErrorCode } from "./errors.js";

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
  /**
   * The anchor file (keep it on other storage than the log: see docs/enforcement.md). With it, the log gets a
   * checkpoint line at each open and close (HMAC'd under `argumentsKey` when given), the anchor names the last line
   * known to be on disk (updated at open, at close and every `anchorIntervalMs`), and `open` refuses a log that was
   * cut (PQG7105) or whose anchor is missing or forged (PQG7106).
   */
  readonly anchor?: string;
  /** ANCHOR_INTERVAL_MS by default. */
  readonly anchorIntervalMs?: number;
  /** The clock for checkpoint lines and anchors, epoch ms. */
  readonly now?: () => number;
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

  /** The last line known to be in the file: what the anchor names when it is next written. */
  private written: { seq: number; hash: string };
  /** When the anchor was last written (epoch ms), and the timer that will write it for lines written since. */
  private anchoredAt = 0;
  private anchorTimer: NodeJS.Timeout | undefined;

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
    this.written = { seq: seq - 1, hash: prev };
  }

  /**
   * Opens (or creates, mode 0600) the log at `path` and continues its chain from its last line. With an anchor, the
   * log must first reach and hold the line the anchor names (see `AuditLogOptions.anchor`), and the new run starts
   * with a checkpoint: `open` after a clean close, `recovered` after a writer that never closed (a crash), `rotated`
   * when the file is new but the anchor names a previous one's last line.
   */
  static async open(path: string, options: AuditLogOptions = {}): Promise<AuditLog> {
    let tail: LastLine | undefined;
    try {
      tail = await readLastLine(path);
    } catch (error) {
      if (error instanceof AuditError) throw error;
      throw new AuditError("PQG7101", `cannot read audit log \`${path}\`: ${describe(error)}`);
    }
    const start = options.anchor === undefined ? undefined : await checkAgainstAnchor(path, options.anchor, options.argumentsKey, tail);
    let handle: FileHandle;
    let size: number;
    try {
      handle = await open(path, "a", 0o600);
      size = (await handle.stat()).size;
    } catch (error) {
      throw new AuditError("PQG7101", `cannot open audit log \`${path}\`: ${describe(error)}`);
    }
    const [seq, prev] = start?.kind === "rotated" ? [start.anchor!.seq + 1, start.anchor!.hash] : [tail === undefined ? 0 : tail.seq + 1, tail?.hash ?? GENESIS];
    const log = new AuditLog(path, handle, size, seq, prev, options);
    if (start !== undefined) {
      try {
        log.checkpoint(start.kind, start.kind === "recovered" ? start.anchor!.seq : undefined);
        await log.flush();
        await log.anchorQueued("open");
        if (log.failed !== undefined) throw log.failed;
      } catch (error) {
        await handle.close().catch(() => undefined);
        throw error instanceof AuditError ? error : new AuditError("PQG7101", `cannot start audit log \`${path}\`: ${describe(error)}`);
      }
    }
    return log;
  }

  /** Queues a checkpoint line, chained after every decision appended before it. */
  private checkpoint(kind: CheckpointKind, after?: number): void {
    this.bufferPending();
    const { hash, text } = buildCheckpoint(kind, this.seq, this.prev, this.clock(), this.options.argumentsKey, after);
    this.seq++;
    this.prev = hash;
    this.buffered.push({ text: `${text}\n`, lines: 1, seq: this.seq - 1, hash });
  }

  private clock(): number {
    return (this.options.now ?? Date.now)();
  }

  /**
   * Makes the file durable up to its last written line, then points the anchor at that line. Runs in the write queue,
   * so no write is in progress. A failure fails the log: calls are refused rather than recorded past what is anchored.
   */
  private async anchorNow(state: AuditAnchor["state"]): Promise<void> {
    const anchorPath = this.options.anchor;
    if (anchorPath === undefined || this.failed !== undefined) return;
    try {
      await this.handle.datasync();
      const { seq, hash } = this.written;
      await writeAnchor(anchorPath, anchorOf(state, seq, hash, this.size, this.clock(), this.options.argumentsKey));
      this.anchoredAt = this.clock();
    } catch (error) {
      this.failed = new AuditError("PQG7101", `cannot write audit anchor \`${anchorPath}\`: ${describe(error)}`);
      this.options.logger?.error({ path: this.path, code: this.failed.code }, this.failed.message);
    }
  }

  /** Writes the anchor in the write queue, after every write queued before it. */
  private anchorQueued(state: AuditAnchor["state"]): Promise<void> {
    const anchored = this.writing.then(() => this.anchorNow(state));
    this.writing = anchored;
    return anchored;
  }

  /** After a write: the anchor follows within the interval (now, or by a timer), so lines do not stay unanchored. */
  private anchorSoon(): void {
    if (this.options.anchor === undefined || this.closed || this.anchorTimer !== undefined) return;
    const interval = this.options.anchorIntervalMs ?? ANCHOR_INTERVAL_MS;
    const wait = Math.max(0, this.anchoredAt + interval - this.clock());
    this.anchorTimer = setTimeout(() => {
      this.anchorTimer = undefined;
      if (!this.closed) void this.anchorQueued("open");
    }, wait);
    this.anchorTimer.unref();
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
    this.bufferPending();
    return this.prev;
  }

  /** Chained lines not yet written, each chunk with its count of lines and the seq and hash of its last one. */
  private buffered: { text: string; lines: number; seq: number; hash: string }[] = [];

  private bufferPending(): void {
    if (this.pending.length === 0) return;
    const from = this.seq;
    const text = this.chain();
    if (text !== "") this.buffered.push({ text, lines: this.seq - from, seq: this.seq - 1, hash: this.prev });
  }

  /**
   * Queues one decision; its place in the chain is fixed now. With raw arguments the line is built at once, since
   * the handler that runs next may change the arguments object.
   */
  append(decision: AuditDecision): void {
    if (this.closed) throw new AuditError("PQG7101", `audit log \`${this.path}\` is closed`);
    this.pending.push(decision);
    if (this.options.includeArguments === true || this.pending.length >= FLUSH_THRESHOLD_LINES) {
      this.bufferPending();
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
    this.bufferPending();
    if (this.buffered.length > 0) {
      // Counted as built: counting newlines in the joined text would copy it once more.
      let lines = 0;
      for (const b of this.buffered) lines += b.lines;
      const chunk = this.buffered.map((b) => b.text).join("");
      const last = this.buffered[this.buffered.length - 1]!;
      this.buffered = [];
      this.writing = this.writing.then(() => this.write(chunk, lines, last));
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

  /** Flushes, syncs to disk and closes; with an anchor, after a `close` checkpoint, and the anchor then says closed. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.anchorTimer);
    try {
      if (this.options.anchor !== undefined && this.failed === undefined) this.checkpoint("close");
      await this.flush();
      await this.handle.sync();
      if (this.options.anchor !== undefined) {
        await this.anchorQueued("closed");
        if (this.failed !== undefined) throw this.failureSummary();
      }
    } finally {
      await this.handle.close();
    }
  }

  private async write(chunk: string, lines: number, last: { seq: number; hash: string }): Promise<void> {
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
      this.written = { seq: last.seq, hash: last.hash };
      this.anchorSoon();
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

interface LastLine {
  readonly seq: number;
  readonly hash: string;
  /** Bytes of the file (whole lines). */
  readonly size: number;
}

/** The seq and hash of the last line of an existing log, or undefined for a missing or empty file. */
async function readLastLine(path: string): Promise<LastLine | undefined> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  if (size === 0) return undefined;
  return { ...(await readLineEndingAt(path, size)), size };
}

/** The seq and hash of the whole line that ends at byte `end` of the log (the line's newline is the byte before `end`). */
async function readLineEndingAt(path: string, end: number): Promise<{ seq: number; hash: string }> {
  const length = Math.min(end, MAX_LINE_BYTES);
  const handle = await open(path, "r");
  let text: string;
  try {
    const bytes = Buffer.alloc(length);
    await handle.read(bytes, 0, length, end - length);
    text = bytes.toString("utf8");
  } finally {
    await handle.close();
  }
  if (!text.endsWith("\n")) {
    throw new AuditError("PQG7102", `audit log \`${path}\` ends in an unfinished line; verify it before appending`);
  }
  const lines = text.slice(0, -1).split("\n");
  const last = lines[lines.length - 1]!;
  if (lines.length === 1 && length < end) {
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

/**
 * How a run starts on a log with an anchor, or why it must not: the log must reach the anchored line (else lines
 * were cut: PQG7105) and hold it there (else the tail was replaced: PQG7105); after a clean close nothing may follow
 * it (PQG7105). A log with lines and no anchor is refused (PQG7106): the anchor may have been removed to hide a cut.
 */
async function checkAgainstAnchor(
  path: string,
  anchorPath: string,
  key: KeyObject | undefined,
  tail: LastLine | undefined,
): Promise<{ kind: CheckpointKind; anchor: AuditAnchor | undefined }> {
  const anchor = await readAnchor(anchorPath, key);
  if (anchor === undefined) {
    if (tail === undefined) return { kind: "open", anchor };
    throw new AuditError(
      "PQG7106",
      `audit log \`${path}\` has lines but its anchor \`${anchorPath}\` is missing: verify the log, then anchor its head with \`pqguard audit anchor\``,
    );
  }
  if (tail === undefined) return { kind: "rotated", anchor };
  if (tail.size < anchor.size) {
    throw new AuditError(
      "PQG7105",
      `audit log \`${path}\` was cut: it ends at seq ${tail.seq} (${tail.size} bytes) but its anchor names seq ${anchor.seq} at ${anchor.size} bytes`,
    );
  }
  let held: { seq: number; hash: string };
  try {
    held = await readLineEndingAt(path, anchor.size);
  } catch {
    held = { seq: -1, hash: "" };
  }
  if (held.seq !== anchor.seq || held.hash !== anchor.hash) {
    throw new AuditError("PQG7105", `audit log \`${path}\` does not hold the line its anchor names (seq ${anchor.seq}): its lines were replaced`);
  }
  if (anchor.state === "closed" && tail.size > anchor.size) {
    throw new AuditError("PQG7105", `audit log \`${path}\` has lines after its clean close (seq ${anchor.seq}): they were added while no writer had it open`);
  }
  return { kind: anchor.state === "closed" ? "open" : "recovered", anchor };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
