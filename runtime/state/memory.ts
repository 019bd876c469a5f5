// The default StateStore: call history in process memory, bounded in entries, sessions and age, failing closed
// (a `StateError`) wherever a bound would otherwise make a count silently too low.
import type { AggregateFunction, CallHistory, LimitScope } from "../guard/types.js";
import { DEFAULT_MAX_FOLDED_VALUES, foldResult, foldStep, keptValues, tooManyToFold, type RecordedValues } from "./values.js";
import { StateError, type CallRecord, type HistoryKey, type HistorySnapshot, type StateStore, type SyncStateOperations } from "./store.js";

/**
 * How long calls are kept at the least; it must cover the longest window a policy uses (`per 1d` fits). `enforce()`
 * and `guardClient` check that at set-up, and create their default store with the policy's longest window if longer.
 */
export const DEFAULT_RETENTION_MS = 24 * 60 * 60 * 1000;
/**
 * Calls are expired this long after the retention period, so that `retentionMs` is a minimum a count can rely on.
 * A decision reads its clock before it awaits the tool pin (which may re-read a tool list); meanwhile a decision with
 * a later reading (another connection sharing the store) may expire calls, and a clock may step back a little. Without
 * this slack the delayed decision's window, exactly as long as the retention, would reach a call just expired and be
 * refused although every call in it was known. It is far more than the expiry granularity below plus such a wait.
 */
export const EXPIRY_SLACK_MS = 5 * 60 * 1000;
/** Expiry walks every key, so it runs at most once per this much decision time (and once when the clock steps back). */
const EXPIRY_INTERVAL_MS = 1000;
/** Per key (global, one client, one session): a client calling faster than this per retention period is refused. */
export const DEFAULT_MAX_ENTRIES_PER_KEY = 100_000;
/** Over all keys: about 50 MB of history at most before new calls are refused. */
export const DEFAULT_MAX_ENTRIES = 1_000_000;
/** Sessions held at once; a session is let go when it ends, or when idle past the retention period (and slack). */
export const DEFAULT_MAX_SESSIONS = 100_000;
/** Distinct tools one session may have called; far above any manifest, so reaching it means abuse. */
export const MAX_CALLED_TOOLS_PER_SESSION = 4096;
/** Distinct `seen` labels one session may carry; a policy names a handful, so reaching it means abuse. */
export const MAX_SEEN_LABELS_PER_SESSION = 256;

export interface MemoryStateStoreOptions {
  readonly retentionMs?: number;
  readonly maxEntriesPerKey?: number;
  readonly maxEntries?: number;
  readonly maxSessions?: number;
  /** The most calls one `sum()`, `max()` or `min()` folds (DEFAULT_MAX_FOLDED_VALUES); more refuse the call. */
  readonly maxFoldedValues?: number;
}

interface Entry {
  readonly tool: string;
  readonly at: number;
  readonly seq: number;
  /** The numbers the policy aggregates, shared by the call's entries in every log; absent when it has none. */
  readonly values?: RecordedValues | undefined;
}

/** Time-ordered entries; `start` skips expired ones so that expiring is not an O(n) shift each time. */
class Run {
  entries: Entry[] = [];
  start = 0;
  /** The time of the latest entry expired from this run. */
  expiredThrough = -Infinity;

  get size(): number {
    return this.entries.length - this.start;
  }

  push(entry: Entry): void {
    this.entries.push(entry);
  }

  /** Drops entries before `before`; returns how many. */
  expire(before: number): number {
    let dropped = 0;
    while (this.start < this.entries.length && this.entries[this.start]!.at < before) {
      this.expiredThrough = this.entries[this.start]!.at;
      this.start++;
      dropped++;
    }
    this.compact();
    return dropped;
  }

  shift(): Entry {
    const entry = this.entries[this.start++]!;
    this.compact();
    return entry;
  }

  /** Lets go of skipped entries once they are most of the array: until then the array keeps them from being freed. */
  private compact(): void {
    if (this.start > 1024 && this.start * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.start);
      this.start = 0;
    }
  }

  /** Entries at or after `since` with a sequence number below `seqLimit`: a binary search, then the unseen tail. */
  countSince(since: number, seqLimit: number): number {
    const [lo, end] = this.rangeSince(since, seqLimit);
    return end - lo;
  }

  /**
   * Folds the values at `pointer` of the entries `countSince` counts, oldest (lowest sequence number) first, as
   * `aggregateValues` folds them (0 over none); a plain loop, since it runs on every decision that reads an aggregate.
   */
  foldSince(fn: AggregateFunction, pointer: string, since: number, seqLimit: number, max: number): number {
    const [lo, end] = this.rangeSince(since, seqLimit);
    let result: number | undefined;
    let folded = 0;
    for (let i = lo; i < end; i++) {
      const v = this.entries[i]!.values?.[pointer];
      if (v === undefined) continue;
      if (++folded > max) throw tooManyToFold(max);
      result = foldStep(fn, result, v);
    }
    return foldResult(result);
  }

  private rangeSince(since: number, seqLimit: number): [number, number] {
    let lo = this.start;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.entries[mid]!.at < since) lo = mid + 1;
      else hi = mid;
    }
    let end = this.entries.length;
    while (end > lo && this.entries[end - 1]!.seq >= seqLimit) end--;
    return [lo, end];
  }
}

/** How a log came to miss calls: the refusal says which, so that an operator knows which bound to raise. */
type Loss = "bound" | "expiry";

/** The history of one key (global, a client, a session): all calls, and the same calls by tool for fast counts. */
class EntryLog {
  readonly all = new Run();
  readonly byTool = new Map<string, Run>();
  /**
   * Calls at or before this time may be missing: dropped by the per-key bound, expired after the retention period
   * (or by a clock that jumped forward), or held by a forgotten log of the same key (expired). A count reaching back
   * that far is refused, never answered too low; this is the store's one record of incomplete history.
   */
  incompleteThrough = -Infinity;
  lostBy: Loss = "expiry";
  lastAt = -Infinity;
  /** Every entry ever appended, expired or not: `session.calls`. */
  appended = 0;

  get size(): number {
    return this.all.size;
  }

  /**
   * The latest call this key may have had: held, dropped, or carried over from a forgotten log. With a clock that
   * stepped back, a carried-over call can be later than any held one; forgetting the log must cover that call too.
   */
  get through(): number {
    return Math.max(this.lastAt, this.incompleteThrough);
  }

  push(entry: Entry): void {
    this.all.push(entry);
    let run = this.byTool.get(entry.tool);
    if (run === undefined) {
      run = new Run();
      this.byTool.set(entry.tool, run);
    }
    run.push(entry);
    this.appended++;
  }

  markIncomplete(through: number, by: Loss): void {
    if (through <= this.incompleteThrough) return;
    this.incompleteThrough = through;
    this.lostBy = by;
  }

  /** Drops expired entries; returns how many. */
  expire(before: number): number {
    const dropped = this.all.expire(before);
    if (dropped > 0) {
      this.markIncomplete(this.all.expiredThrough, "expiry");
      for (const [tool, run] of this.byTool) {
        run.expire(before);
        if (run.size === 0) this.byTool.delete(tool);
      }
    }
    return dropped;
  }

  dropOldest(): void {
    const oldest = this.all.shift();
    const run = this.byTool.get(oldest.tool);
    if (run !== undefined) {
      run.shift();
      if (run.size === 0) this.byTool.delete(oldest.tool);
    }
    this.markIncomplete(oldest.at, "bound");
  }

  /** Calls to `tools` at or after `since` with a sequence number below `seqLimit`; the caller checks completeness. */
  count(tools: readonly string[] | "*", since: number, seqLimit: number): number {
    if (tools === "*") return this.all.countSince(since, seqLimit);
    // One tool, as `calls(tool, ...)` and most limits ask, needs no set to count it once.
    if (tools.length === 1) return this.byTool.get(tools[0]!)?.countSince(since, seqLimit) ?? 0;
    let n = 0;
    for (const tool of new Set(tools)) n += this.byTool.get(tool)?.countSince(since, seqLimit) ?? 0;
    return n;
  }
}

interface SessionState {
  readonly log: EntryLog;
  /** Tool → sequence number of the first call, so a snapshot sees only calls made before it. */
  readonly called: Map<string, number>;
}

/** A time that is not finite would stick to every later entry of a log (clamping keeps the latest) and never expire. */
function finiteTime(at: number): void {
  if (!Number.isFinite(at)) throw new StateError("PQG7203", `the clock reads \`${at}\`, which is not a time, so the call history cannot be used`);
}

export class MemoryStateStore implements StateStore {
  readonly retentionMs: number;
  /** The most values one aggregate folds; a window holding more refuses the call (`PQG7201`). */
  readonly maxFoldedValues: number;
  private readonly maxEntriesPerKey: number;
  private readonly maxEntries: number;
  private readonly maxSessions: number;
  private readonly global = new EntryLog();
  private readonly clients = new Map<string, EntryLog>();
  private readonly sessions = new Map<string, SessionState>();
  /**
   * Session id → its `seen` labels. Kept apart from the call log, which expires with the retention period: a mark
   * says what the session holds, and lasts until the session ends.
   */
  private readonly seenMarks = new Map<string, Set<string>>();
  private seq = 0;
  private total = 0;
  private lastExpiry = -Infinity;
  /**
   * The log read for a key the store holds none for: empty, and incomplete through the last call of any log forgotten
   * after it expired, since that key may have been one of them. A new log starts out as incomplete as this one.
   */
  private readonly forgotten = new EntryLog();

  constructor(options: MemoryStateStoreOptions = {}) {
    this.retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
    this.maxEntriesPerKey = options.maxEntriesPerKey ?? DEFAULT_MAX_ENTRIES_PER_KEY;
    this.maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
    this.maxSessions = options.maxSessions ?? DEFAULT_MAX_SESSIONS;
    this.maxFoldedValues = options.maxFoldedValues ?? DEFAULT_MAX_FOLDED_VALUES;
  }

  readonly sync: SyncStateOperations = {
    record: (call) => this.recordNow(call),
    snapshot: (key, now) => this.snapshotNow(key, now),
  };

  /** Entries held over all keys: each call once per key (global, client, session). */
  get size(): number {
    return this.total;
  }

  async record(call: CallRecord): Promise<void> {
    this.recordNow(call);
  }

  async snapshot(key: HistoryKey, now: number): Promise<HistorySnapshot> {
    return this.snapshotNow(key, now);
  }

  /**
   * Lets go of everything the store holds for a session (its log, `session.calls` and `called()` facts); its calls
   * still count for its client and globally. It is called once no decision for the session is in flight or will come
   * (see `StateStore.endSession`), so nothing reads the session again and nothing of it need be kept: its id would
   * read as a new session's. It is not put in the store-wide `forgotten` record either: that one would make every new
   * session's counts incomplete for a window.
   */
  async markSeen(sessionId: string, label: string): Promise<void> {
    let marks = this.seenMarks.get(sessionId);
    if (marks === undefined) {
      if (this.seenMarks.size >= this.maxSessions) throw new StateError("PQG7201", `the store holds \`seen\` marks for ${this.maxSessions} sessions, the limit`);
      marks = new Set();
      this.seenMarks.set(sessionId, marks);
    }
    if (!marks.has(label) && marks.size >= MAX_SEEN_LABELS_PER_SESSION) {
      throw new StateError("PQG7201", `session carries ${MAX_SEEN_LABELS_PER_SESSION} \`seen\` labels, the limit`);
    }
    marks.add(label);
  }

  async endSession(sessionId: string): Promise<void> {
    this.seenMarks.delete(sessionId);
    const session = this.sessions.get(sessionId);
    if (session === undefined) return;
    this.total -= session.log.size;
    this.sessions.delete(sessionId);
  }

  private recordNow(call: CallRecord): void {
    finiteTime(call.at);
    // Expiring walks every key: a full store must not do it for each call it refuses, or refusing becomes the attack.
    this.expireIfDue(call.at);
    let session = this.sessions.get(call.sessionId);
    if (session === undefined && this.sessions.size >= this.maxSessions) {
      throw new StateError("PQG7201", `state store holds ${this.maxSessions} sessions, its limit; the call is refused`);
    }
    if (this.total + 3 > this.maxEntries) {
      throw new StateError("PQG7201", `state store holds ${this.total} entries, its limit; the call is refused`);
    }
    if (session === undefined) {
      session = { log: this.newLog(), called: new Map() };
      this.sessions.set(call.sessionId, session);
    }
    if (!session.called.has(call.tool) && session.called.size >= MAX_CALLED_TOOLS_PER_SESSION) {
      throw new StateError("PQG7201", `session called ${MAX_CALLED_TOOLS_PER_SESSION} distinct tools, the limit; the call is refused`);
    }
    let client = this.clients.get(call.clientId);
    if (client === undefined) {
      client = this.newLog();
      this.clients.set(call.clientId, client);
    }
    const seq = this.seq++;
    if (!session.called.has(call.tool)) session.called.set(call.tool, seq);
    // Only the numbers the policy aggregates, copied: the caller's object is not kept, nor anything else it holds.
    const values = keptValues(call.values);
    for (const log of [this.global, client, session.log]) this.append(log, call.tool, call.at, seq, values);
  }

  private append(log: EntryLog, tool: string, at: number, seq: number, values: RecordedValues | undefined): void {
    // A clock that steps back is clamped, so every log stays sorted and counts can stop at the window's start.
    const clamped = Math.max(at, log.lastAt);
    log.lastAt = clamped;
    if (log.size >= this.maxEntriesPerKey) {
      log.dropOldest();
      this.total--;
    }
    log.push(values === undefined ? { tool, at: clamped, seq } : { tool, at: clamped, seq, values });
    this.total++;
  }

  private snapshotNow(key: HistoryKey, now: number): HistorySnapshot {
    finiteTime(now);
    this.expireIfDue(now);
    const seqLimit = this.seq;
    const session = this.sessions.get(key.sessionId);
    const sessionLog = session?.log ?? this.forgotten;
    const called = session?.called;
    const clientLog = this.clients.get(key.clientId) ?? this.forgotten;
    const global = this.global;
    const marks = this.seenMarks.get(key.sessionId);
    const sessionCalls = sessionLog.appended;
    const store = this;
    const history: CallHistory = {
      count(tools: readonly string[] | "*", since: number, scope: LimitScope): number {
        const log = scope === "session" ? sessionLog : scope === "client" ? clientLog : global;
        if (since <= log.incompleteThrough) store.refuseIncomplete(log, scope, key);
        return log.count(tools, since, seqLimit);
      },
      aggregate(fn: AggregateFunction, tool: string, pointer: string, since: number, scope: LimitScope): number {
        const log = scope === "session" ? sessionLog : scope === "client" ? clientLog : global;
        if (since <= log.incompleteThrough) store.refuseIncomplete(log, scope, key);
        const run = log.byTool.get(tool);
        return run === undefined ? 0 : run.foldSince(fn, pointer, since, seqLimit, store.maxFoldedValues);
      },
      called(tool: string): boolean {
        if (called === undefined) return false;
        if (tool === "*") {
          for (const seq of called.values()) if (seq < seqLimit) return true;
          return false;
        }
        const first = called.get(tool);
        return first !== undefined && first < seqLimit;
      },
      seen(label: string): boolean {
        return marks?.has(label) ?? store.seenMarks.get(key.sessionId)?.has(label) ?? false;
      },
    };
    return { history, sessionCalls };
  }

  /** A log for a new key: it may have been forgotten before, so it is as incomplete as a key without a log. */
  private newLog(): EntryLog {
    const log = new EntryLog();
    log.markIncomplete(this.forgotten.incompleteThrough, this.forgotten.lostBy);
    return log;
  }

  /**
   * Lets go of a key whose calls all expired: counts for it then read `forgotten`, incomplete through its last call.
   * That call is past the retention period, so no window the store serves reaches it.
   */
  private forget(lastCall: number): void {
    this.forgotten.markIncomplete(lastCall, "expiry");
  }

  private refuseIncomplete(log: EntryLog, scope: LimitScope, key: HistoryKey): never {
    const who = scope === "session" ? `session \`${key.sessionId}\`` : scope === "client" ? `client \`${key.clientId}\`` : "all clients";
    const why =
      log.lostBy === "bound"
        ? `older calls were dropped at the bound of ${this.maxEntriesPerKey} entries per key`
        : `calls expired after the retention period of ${this.retentionMs} ms and ${EXPIRY_SLACK_MS} ms of slack (or when the clock jumped forward)`;
    throw new StateError("PQG7202", `the call history of ${who} is incomplete for the requested window: ${why}, so a limit cannot be checked`);
  }

  /**
   * Expiry runs at most once a second of decision time, so that the hot path does not walk every key per call. A
   * reading further back than the slack runs it too: one reading far ahead (a clock that jumped, then was corrected)
   * would otherwise stop expiry until real time caught up, and the store would fill until it refused every call.
   * Readings back by less than the slack are the late decisions the slack is for: expiring for them would walk every
   * key twice per late decision, and the pause they leave is at most the slack, which the bounds already allow for.
   */
  private expireIfDue(now: number): void {
    const elapsed = now - this.lastExpiry;
    if (elapsed >= EXPIRY_INTERVAL_MS || elapsed < -EXPIRY_SLACK_MS) this.expire(now);
  }

  private expire(now: number): void {
    this.lastExpiry = now;
    const before = now - this.retentionMs - EXPIRY_SLACK_MS;
    this.total -= this.global.expire(before);
    for (const [id, log] of this.clients) {
      this.total -= log.expire(before);
      if (log.size === 0) {
        this.forget(log.through);
        this.clients.delete(id);
      }
    }
    for (const [id, session] of this.sessions) {
      this.total -= session.log.expire(before);
      // Idle past the retention period: every call it had, and any its log carries from a forgotten one, has expired.
      if (session.log.through < before) {
        this.total -= session.log.size;
        this.forget(session.log.through);
        this.sessions.delete(id);
      }
    }
  }
}
