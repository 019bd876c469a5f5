// The call-history store behind rate limits, `calls()` and `called()`: an async interface, so that a shared store
// (a database, a cache) can stand behind it, answered as a synchronous `CallHistory` snapshot for the guard.
import type { CallHistory } from "../guard/types.js";
import type { RecordedValues } from "./values.js";
import { PqguardError, errorCatalogue } from "../errors.js";

/** One call that was let through: recorded after the decision allowed it, before its handler runs. */
export interface CallRecord {
  readonly tool: string;
  /** Epoch ms of the decision. */
  readonly at: number;
  readonly sessionId: string;
  /** The client the `per client` scope counts by: its fingerprint when authenticated. */
  readonly clientId: string;
  /**
   * The numeric arguments the policy aggregates (`GuardModule.aggregatedValues`), by JSON Pointer; no other argument
   * of the call is ever part of its record.
   */
  readonly values?: RecordedValues | undefined;
}

/** Whose history a guard reads: the session and the client of the call being decided. */
export interface HistoryKey {
  readonly sessionId: string;
  readonly clientId: string;
}

/** A history snapshot: what the guard reads, and the session's call count for `session.calls`. */
export interface HistorySnapshot {
  readonly history: CallHistory;
  readonly sessionCalls: number;
}

/** The same operations, synchronous: a store in process memory offers them so that deciding needs no lock. */
export interface SyncStateOperations {
  record(call: CallRecord): void;
  snapshot(key: HistoryKey, now: number): HistorySnapshot;
}

/**
 * What a judge made of a call on one snapshot: whether the call is recorded, what the caller gets, and a text equal
 * for two judgements the caller treats alike (the decision and its rules), which a store compares across snapshots.
 */
export interface Judgement<T> {
  readonly record: boolean;
  readonly verdict: string;
  readonly outcome: T;
}

/** Decides one call on a history snapshot; pure, so that a store may run it on more than one snapshot. */
export type Judge<T> = (snapshot: HistorySnapshot) => Judgement<T>;

export interface StateStore {
  /**
   * Present when the store can answer synchronously: snapshot → guard → record then run without yielding, which is
   * atomic in one process and saves the lock that an asynchronous store needs to keep limits exact.
   */
  readonly sync?: SyncStateOperations;
  /**
   * How far back, in ms, the store answers counts at the least: a count reaching back this far from a snapshot's `now`
   * is answered, not refused for expired calls, even when an operation with a clock a few minutes later came first (a
   * decision reads its clock before it awaits the tool pin and the store, so such readings reach the store out of
   * order). Absent when unknown or unbounded. Enforcement refuses at set-up a store whose minimum is shorter than the
   * policy's longest window.
   */
  readonly retentionMs?: number;
  /**
   * Present on a store shared by several processes: snapshot → judge → record as one step that is atomic for every
   * process sharing the store, so that limits are exact across them without a lock in each. The store reserves the
   * call, runs `judge` on the history as of `call.at` (the call itself not counted), keeps the reservation when the
   * returned judgement says `record` and takes it back otherwise, and answers that judgement's outcome. `judge` may run
   * more than once, on different snapshots; the outcome answered is of a judgement that holds whatever calls still
   * being decided elsewhere turn out to be. Rejects with a `StateError` when it cannot decide (the call is then refused).
   */
  transact?<T>(call: CallRecord, judge: Judge<T>): Promise<T>;
  /** Records an allowed call. Rejects with a `StateError` when it cannot: the call is then denied. */
  record(call: CallRecord): Promise<void>;
  /**
   * The history as of now, for one session and client. Counting on the returned history may throw a `StateError`
   * (for example when the window asked for reaches past what the store still holds): the guard then fails closed.
   */
  snapshot(key: HistoryKey, now: number): Promise<HistorySnapshot>;
  /**
   * A session has ended: called once no decision for it is in flight or will come (enforcement waits for decisions
   * still running at close, such as an approval, to finish first). The store may then forget everything about the
   * session (its log, `session.calls`, `called()` facts); its calls still count for the client and globally.
   */
  endSession(sessionId: string): Promise<void>;
  /**
   * Records that a result rule marked the session with `label` (`mark ... as seen "label"`): only the label, never the
   * content. Snapshots taken after it answer `seen(label)` true for the session. Absent on a store that keeps no marks:
   * enforcement then refuses at set-up a policy that reads or records them (PQG7704).
   */
  markSeen?(sessionId: string, label: string): Promise<void>;
}

export const STATE_ERRORS = errorCatalogue("state stores", "StateError", [[7201, 7299]], {
  Full: ["PQG7201", "The store holds as many entries as it may, even after expiring old ones."],
  WindowIncomplete: ["PQG7202", "Entries inside the asked window were dropped (a bound, the retention period, a clock jump): a count would be too low."],
  StoreFailed: ["PQG7203", "Any other failure of a store (I/O, a remote store, a clock that gives no time)."],
  StoreTimeout: ["PQG7204", "An asynchronous store did not answer an operation within its time limit."],
});

/** The codes by name. */
export const StateErrorCode = STATE_ERRORS.codes;
export type StateErrorCode = (typeof StateErrorCode)[keyof typeof StateErrorCode];

export class StateError extends PqguardError {
  declare readonly code: StateErrorCode;
  constructor(code: StateErrorCode, message: string) {
    super(code, message);
    this.name = "StateError";
  }
}
