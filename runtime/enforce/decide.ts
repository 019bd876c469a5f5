// The decision pipeline shared by server and client enforcement: arguments, session, audit health and tool pinning
// first, then history snapshot → guard → record under one lock per store, approval for `ask` (after which all of it
// runs again on the current state and clock), and one audit line.
// Anything that goes wrong on the way denies, and the refusal says what went wrong.
import type { Logger } from "pino";
import type { AuditSink } from "../audit/log.js";
import type { AuditDecision } from "../audit/record.js";
import type { Decision, GuardContext, GuardModule } from "../guard/types.js";
import { DEFAULT_RETENTION_MS, MemoryStateStore } from "../state/memory.js";
import { StateError, type Judge, type StateStore, type SyncStateOperations } from "../state/store.js";
import { auditSuiteOf, callRecordOf, guardContextOf, historyKeyOf, SessionlessStateError, type SessionView } from "./context.js";
import { EnforceError, EnforceErrorCode, refusalError, type RefusalData } from "./errors.js";
import { hasResultRules, ResultRules } from "./results.js";
import { ANY_TOOL, asResult, fromResult, notificationTexts, type NotificationTexts, type ReturningCall } from "./notifications.js";
import { CHECKED_AGAIN, decisionStages, RESULT_STAGES, type CallState, type DecisionSteps, type ResultStage, type Stage, type StageAllow, type StageOutcome, type StageRefusal, type ToolResult } from "./stages.js";
import { argumentsText } from "./checks/arguments.js";
import { staleFacts } from "./checks/facts.js";
import type { VerifiedManifest } from "../manifest/signed.js";
import { currentMetrics, type PqguardMetrics } from "../metrics/metrics.js";

/** Arguments larger than this (canonical JSON) are refused before any rule reads them. */
export const DEFAULT_MAX_ARGUMENT_BYTES = 1024 * 1024;
/** An asynchronous state store operation that takes longer than this refuses the call (the store's lock is freed). */
export const DEFAULT_STORE_TIMEOUT_MS = 5_000;
/** A human approving a call has this long; then the call is denied. */
export const DEFAULT_APPROVAL_TIMEOUT_MS = 60_000;

export interface ApprovalRequest {
  readonly tool: string;
  readonly args: Readonly<Record<string, unknown>>;
  /** The guard's `ask` decision: its reason and rule ids are what the approver should see. */
  readonly decision: Decision;
  readonly context: GuardContext;
  /** Aborted when the approval timed out, or the request was cancelled or its connection closed: stop asking then. */
  readonly signal: AbortSignal;
}

/** How an approval question ended. */
export type ApprovalAnswer = "approved" | "refused" | "timeout" | "unavailable";

/** Resolves true to let the call through; false, a rejection or the timeout deny it. */
export type ApprovalCallback = (request: ApprovalRequest) => Promise<boolean>;

/** Options shared by `enforce` and `guardClient`. */
export interface DecisionOptions {
  /**
   * Call history; defaults to a fresh MemoryStateStore that keeps calls for the policy's longest window, or 24 h if
   * longer (pass one store to share limits across connections). A store whose `retentionMs` (the minimum it answers
   * counts for) is shorter than that window is refused at set-up (PQG7311).
   */
  readonly store?: StateStore;
  /** Where each decision is recorded; no audit line is written when absent. */
  readonly audit?: AuditSink;
  /** The clock, epoch ms. */
  readonly now?: () => number;
  readonly logger?: Logger;
  readonly approvalTimeoutMs?: number;
  readonly maxArgumentBytes?: number;
  /** How long an asynchronous state store may take per operation before the call is refused (PQG7307). */
  readonly storeTimeoutMs?: number;
  /**
   * Monitor mode, for trying a policy on live traffic: every call is decided and audited as usual, but one the guard
   * denies or would ask about goes through, unasked, its audit line marked `monitor`. Such a call is not counted in
   * the call history, as under enforcement, so later decisions are the ones enforcement would make. Everything that is
   * not the policy's decision still refuses: no session, bad arguments, a changed tool, an unwritable audit log.
   */
  readonly monitor?: boolean;
  /**
   * The signed manifest calls are pinned to: when it is bound to server identities, a session whose server identity
   * (the client's verified peer, or the server's own) is not one of them refuses every call (PQG7315).
   */
  readonly manifest?: VerifiedManifest | undefined;
  /** Where decisions are counted (`pqguard_decisions_total`); the process's current metrics by default. */
  readonly metrics?: PqguardMetrics;
}

/** Whether the tool's definition is the one the policy and the manifest pinned; computed by the caller. */
export type PinVerdict = { readonly ok: true } | { readonly ok: false; readonly code: RefusalData["code"]; readonly reason: string };

export type Verdict =
  /**
   * `args`: a plain copy parsed back from `argsText`, the arguments' JSON text; this copy, not the caller's object, is
   * what goes on (a client sends it, the proxy forwards it, `enforce` hands it to the handler), so the guard's input
   * and the tool's are one JSON value.
   */
  | { readonly allowed: true; readonly decision: Decision; readonly args: Readonly<Record<string, unknown>>; readonly argsText: string | undefined }
  | { readonly allowed: false; readonly refusal: RefusalData; readonly error: ReturnType<typeof refusalError> };

export interface CallToDecide {
  readonly tool: string;
  readonly args: unknown;
  readonly session: SessionView | undefined;
  readonly pin: () => PinVerdict | Promise<PinVerdict>;
  readonly approve: ApprovalCallback | undefined;
  /** Aborted when the request is cancelled or its connection closes: the call is then refused, before or after approval. */
  readonly signal?: CancelSignal | undefined;
  /**
   * What the tool's handler will make of the arguments, when that differs from the JSON value (an SDK server validates
   * them against the tool's schema first: defaults applied, unknown keys stripped, values coerced). The guard then
   * decides on that view. A view that throws is a refusal: the handler would have refused the arguments too.
   */
  readonly handlerView?: ((args: Readonly<Record<string, unknown>>) => Promise<Readonly<Record<string, unknown>>>) | undefined;
  /**
   * Whether the call asks to run as an MCP task: its result then comes back later through `tasks/result`, where no
   * result rule would see it, so under result rules it is refused before anything is recorded.
   */
  readonly task?: boolean | undefined;
}

/**
 * What the decision reads of a call's cancellation: an AbortSignal, or anything as small that says whether the call
 * was cancelled and tells listeners when (enforcement's transports use one that costs less than an AbortController).
 */
export interface CancelSignal {
  readonly aborted: boolean;
  addEventListener(type: "abort", listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: "abort", listener: () => void): void;
}

/** A function, not an inline test: the compiler would take a signal checked once as unaborted after every await. */
const aborted = (signal: CancelSignal | undefined): boolean => signal?.aborted === true;

const CANCELLED_BEFORE = "the request was cancelled or its connection closed before the call was decided";
const CANCELLED_DURING = "the request was cancelled or its connection closed while the approval was pending";

/**
 * The store a guard decides with: the one given, if it keeps calls for the guard's longest window, else a refusal
 * (PQG7311); without one, a MemoryStateStore that keeps them long enough. Checked at set-up because a store that
 * forgets calls a window still counts refuses every call that window decides from the first expiry on (PQG7202), a
 * day or more into production. A retention equal to the window suffices: `retentionMs` is a minimum that holds for a
 * decision whose clock reading reaches the store after a later one (MemoryStateStore keeps calls `EXPIRY_SLACK_MS`
 * longer for that).
 */
export function stateStoreFor(guard: GuardModule, store: StateStore | undefined): StateStore {
  const window = guard.longestWindowMs ?? 0;
  if (typeof window !== "number" || !(window >= 0)) {
    throw new EnforceError(EnforceErrorCode.RetentionTooShort, `the guard reports its longest window as \`${String(window)}\`, which is not a duration: recompile the policy`);
  }
  if (store === undefined) {
    if (window === Number.POSITIVE_INFINITY) throw retentionTooShort(window, "the default state store", DEFAULT_RETENTION_MS);
    return new MemoryStateStore({ retentionMs: Math.max(DEFAULT_RETENTION_MS, window) });
  }
  const retention = store.retentionMs;
  // Written so that a retention that is not a number (NaN) is refused too: it cannot be shown to cover the window.
  if (retention === undefined || window === 0 || retention >= window) return store;
  throw retentionTooShort(window, "the state store", retention);
}

function retentionTooShort(window: number, whose: string, retention: number): EnforceError {
  const kept = `${whose} keeps them for ${durationText(retention)}`;
  return new EnforceError(
    EnforceErrorCode.RetentionTooShort,
    window === Number.POSITIVE_INFINITY
      ? `the policy counts calls over a window that grows with \`session.age\` without bound, but ${kept}: require \`session.age < DURATION\` before counting over it, or pass a store whose \`retentionMs\` is \`Infinity\``
      : `the policy counts calls over ${durationText(window)} but ${kept}: create the store with \`retentionMs\` of at least ${window} (${durationText(window)})`,
  );
}

/** Milliseconds as a person reads them: `2 h`, `90 min`, `1 d`, `1500 ms`. */
function durationText(ms: number): string {
  if (!Number.isFinite(ms) || ms <= 0) return `\`${String(ms)}\` ms`;
  for (const [unit, size] of [["d", 86_400_000], ["h", 3_600_000], ["min", 60_000], ["s", 1000]] as const) {
    if (ms % size === 0) return `${ms / size} ${unit}`;
  }
  return `${ms} ms`;
}

/** One lock per store: rate limits stay exact when connections sharing a store decide at the same time. */
const storeLocks = new WeakMap<StateStore, Promise<unknown>>();

function withStoreLock<T>(store: StateStore, task: () => Promise<T>): Promise<T> {
  const previous = storeLocks.get(store) ?? Promise.resolve();
  const run = previous.then(task, task);
  storeLocks.set(
    store,
    run.catch(() => undefined),
  );
  return run;
}

export class DecisionPoint {
  readonly store: StateStore;
  readonly now: () => number;
  private readonly manifestDigest: string;
  private readonly storeTimeoutMs: number;
  private readonly metrics: PqguardMetrics;
  /** Decisions in flight per session id: its history must outlive them (an approval pending at close is judged again). */
  private readonly deciding = new Map<string, number>();
  /** Sessions asked to end while decisions for them were in flight: ended when the last of those finishes. */
  private readonly ending = new Set<string>();
  /** The stages every call passes, in order (stages.ts). */
  private readonly stages: readonly Stage[];
  /** The stages every result passes on its way back. */
  private readonly resultStages: readonly ResultStage[];
  /** Whether any result stage is configured: when none is, enforcement points need not keep track of running calls. */
  readonly inspectsResults: boolean;

  constructor(
    readonly guard: GuardModule,
    private readonly side: "server" | "client",
    private readonly options: DecisionOptions,
    manifestDigest: string,
  ) {
    this.store = stateStoreFor(guard, options.store);
    this.now = options.now ?? Date.now;
    this.manifestDigest = manifestDigest;
    this.storeTimeoutMs = options.storeTimeoutMs ?? DEFAULT_STORE_TIMEOUT_MS;
    this.stages = decisionStages();
    this.resultStages = hasResultRules(guard)
      ? [...RESULT_STAGES, new ResultRules(guard, side, { store: this.store, now: this.now, audit: options.audit, logger: options.logger, policyDigest: guard.policyDigest })]
      : RESULT_STAGES;
    this.inspectsResults = this.resultStages.length > 0;
    this.metrics = options.metrics ?? currentMetrics();
  }

  /**
   * Tells the store that a session has ended, once nothing more will be decided for it: at once when no decision for
   * it is in flight, else when the last one finishes. Decisions still running (an approval pending when the connection
   * closed is judged again after it) then read the session's whole history, not a forgotten one. Call it only when no
   * new call will come for the session. A store that fails to end it is logged, never thrown: the session is then
   * only held until it expires.
   */
  endSession(sessionId: string): void {
    if (this.deciding.has(sessionId)) this.ending.add(sessionId);
    else this.endInStore(sessionId);
  }

  private decided(sessionId: string): void {
    const left = this.deciding.get(sessionId)! - 1;
    if (left > 0) {
      this.deciding.set(sessionId, left);
      return;
    }
    this.deciding.delete(sessionId);
    if (this.ending.delete(sessionId)) this.endInStore(sessionId);
  }

  private endInStore(sessionId: string): void {
    let ended: Promise<void>;
    try {
      ended = Promise.resolve(this.store.endSession(sessionId));
    } catch (error) {
      ended = Promise.reject(error);
    }
    ended.catch((error: unknown) => {
      this.options.logger?.warn({ code: EnforceErrorCode.StateFailed }, `the state store could not end a session, which it holds until it expires: ${describe(error)}`);
    });
  }

  /**
   * Decides one call by running the stages in order (see stages.ts): each may refuse, the last of a pass allows, and
   * whatever ends the decision is written to the audit log in one place (`conclude`). While it runs, its session counts
   * as in flight, so that `endSession` waits for it: a Map get and set in this frame, no closure or extra async frame
   * per call (this runs on every call). A stage that returns a value is not awaited: the common path (a kept pin, an
   * in-memory store, no approval) waits for nothing. A call whose request was cancelled or whose connection closed is
   * refused, not decided.
   */
  async decide(call: CallToDecide): Promise<Verdict> {
    const sessionId = aborted(call.signal) ? undefined : call.session?.sessionId;
    if (sessionId !== undefined) this.deciding.set(sessionId, (this.deciding.get(sessionId) ?? 0) + 1);
    try {
      const state: CallState = {
        call,
        steps: this.steps,
        now: 0,
        args: NO_ARGUMENTS,
        sent: NO_ARGUMENTS,
        argsText: undefined,
        viewText: undefined,
        session: undefined,
        decision: undefined,
        latest: undefined,
        context: undefined,
        answer: undefined,
        again: false,
      };
      const stages = this.stages;
      for (let index = 0; index < stages.length; index++) {
        // The one cancellation check, between every two stages: after every wait, and before anything is recorded or
        // allowed. Nobody waits for a cancelled call.
        if (index > 0 && aborted(call.signal)) return this.conclude(state, cancelled(state));
        let outcome = stages[index]!.run(state);
        if (outcome instanceof Promise) outcome = await outcome;
        if (outcome !== undefined) return this.conclude(state, outcome);
      }
      return this.conclude(state, { code: EnforceErrorCode.GuardFailed, reason: "no stage decided the call" });
    } finally {
      if (sessionId !== undefined) this.decided(sessionId);
    }
  }

  /**
   * Inspects what a tool sent back through the result stages, in order: each may let it through, change it (the policy's
   * redactions and marks) or withhold it, the refusal then written to the audit log. Answers the result to send on.
   */
  async inspectResult(result: ToolResult): Promise<{ readonly withheld: Extract<Verdict, { allowed: false }> } | { readonly result: Readonly<Record<string, unknown>> }> {
    let current = result;
    for (const stage of this.resultStages) {
      let outcome = stage.run(current);
      if (outcome instanceof Promise) outcome = await outcome;
      if (outcome === undefined) continue;
      if ("replace" in outcome) {
        current = { ...current, result: outcome.replace };
        continue;
      }
      const call: CallToDecide = { tool: result.tool, args: result.args, session: result.session, pin: allowedPin, approve: undefined };
      return { withheld: this.refuse(call, this.now(), outcome.code, outcome.reason, undefined, outcome.rules ?? [], outcome.audit ?? {}) as Extract<Verdict, { allowed: false }> };
    }
    return { result: current.result };
  }

  /**
   * Inspects a notification the server sent (a progress message, a log message) through the result stages, as a result
   * of each call in `owners` in turn (the calls in flight, a progress token's own call first: ReturningCalls.owners),
   * or, when there is none, of a tool no rule names, which only `result of *` rules reach. Redactions of one owner's
   * rules apply before the next owner's rules read the text. Answers the notification to pass
   * on, redacted and marked as a result would be, or undefined when a stage withheld it: it is then dropped, the call
   * goes on, and the audit line (and the log) says why. Any other notification, or one with no text, passes as it is.
   */
  async inspectNotification(notification: Readonly<Record<string, unknown>>, owners: readonly ReturningCall[], session: SessionView | undefined): Promise<Readonly<Record<string, unknown>> | undefined> {
    try {
      const found = this.resultStages.length === 0 ? undefined : notificationTexts(notification["method"], notification["params"]);
      return found === undefined ? notification : await this.inspectTexts(notification, found, owners, session);
    } catch (error) {
      // A value too deep to walk, say: what cannot be read is not passed on.
      this.options.logger?.warn({ code: EnforceErrorCode.GuardFailed }, `a notification could not be inspected, so it is dropped: ${describe(error)}`);
      return undefined;
    }
  }

  private async inspectTexts(notification: Readonly<Record<string, unknown>>, found: NotificationTexts, owners: readonly ReturningCall[], session: SessionView | undefined): Promise<Readonly<Record<string, unknown>> | undefined> {
    const calls: readonly ReturningCall[] = owners.length > 0 ? owners : [{ tool: ANY_TOOL, args: NO_ARGUMENTS, session }];
    let texts = found.texts;
    const marks: string[] = [];
    for (const owner of calls) {
      let current: ToolResult = { tool: owner.tool, args: owner.args, session: owner.session ?? session, result: asResult(texts), notification: found.what };
      for (const stage of this.resultStages) {
        let outcome;
        try {
          outcome = stage.run(current);
          if (outcome instanceof Promise) outcome = await outcome;
        } catch (error) {
          outcome = { code: EnforceErrorCode.GuardFailed, reason: `the ${found.what} could not be inspected: ${describe(error)}` } satisfies StageRefusal;
        }
        if (outcome === undefined) continue;
        if ("replace" in outcome) {
          current = { ...current, result: outcome.replace };
          continue;
        }
        const reason = `${found.what} of \`${owner.tool}\` dropped: ${outcome.reason}`;
        this.options.logger?.warn({ tool: owner.tool, code: outcome.code, rules: outcome.rules }, reason);
        const call: CallToDecide = { tool: owner.tool, args: owner.args, session: current.session, pin: allowedPin, approve: undefined };
        this.refuse(call, this.now(), outcome.code, reason, undefined, outcome.rules ?? [], outcome.audit ?? {});
        return undefined;
      }
      const back = fromResult(current.result, texts.length);
      texts = back.texts;
      for (const mark of back.marks) if (!marks.includes(mark)) marks.push(mark);
    }
    return { ...notification, params: found.rebuild(texts, marks) };
  }

  /** The one place a decision ends: the audit line is written, and the verdict returned. */
  private conclude(state: CallState, outcome: StageRefusal | StageAllow): Verdict {
    // What goes on is `sent`, the plain copy of the arguments; the guard may have read the handler's view of them.
    if ("allow" in outcome) return this.allow(state.call, state.now, state.decision!, outcome.approval, state.sent, state.argsText, outcome.monitor);
    const reason = state.again ? `${outcome.reason}${CHECKED_AGAIN}` : outcome.reason;
    const audit = state.again ? { ...APPROVED, ...outcome.audit } : (outcome.audit ?? {});
    return this.refuse(state.call, outcome.at ?? state.now, outcome.code, reason, state.argsText, outcome.rules ?? [], audit);
  }

  /** The steps the stages call, bound to this decision point; built once, not per call. */
  private readonly steps: DecisionSteps = {
    readClock: () => this.readClock(),
    checkArguments: (tool, raw) => this.checkArguments(tool, raw),
    viewOf: (view, tool, args) => this.viewOf(view, tool, args),
    staleFacts: (session, now) => staleFacts(session, this.options.manifest, now),
    auditFailure: () => this.options.audit?.failure,
    inspectsResults: () => this.inspectsResults,
    checkPin: (call) => this.checkPin(call),
    judge: (state) => this.judgeStep(state),
    verdict: (state) => this.verdictOf(state),
    askApproval: (call, args, decision, context) => this.askApproval(call, args, decision, context),
  };

  /** The tool pin: synchronous when the pin is kept. */
  private checkPin(call: CallToDecide): StageRefusal | undefined | Promise<StageRefusal | undefined> {
    let pinned: PinVerdict | Promise<PinVerdict>;
    try {
      pinned = call.pin();
    } catch (error) {
      return unreadablePin(call.tool, error);
    }
    if (pinned instanceof Promise) return pinned.then(unfitOf, (error: unknown) => unreadablePin(call.tool, error));
    return unfitOf(pinned);
  }

  /**
   * Snapshot → guard → record for one pass. The first records the call only when the guard allows it outright; the
   * one after an approval records it when the approval covers what the guard now decides.
   */
  private judgeStep(state: CallState): StageRefusal | undefined | Promise<StageRefusal | undefined> {
    const recordIf = state.again ? coveredBy(state.decision!) : allowedNow;
    let judged: Judged | Promise<Judged>;
    try {
      judged = this.judge(state.call.tool, state.args, state.session!, state.now, recordIf, state.call.signal);
    } catch (error) {
      return judgeFailure(error, state);
    }
    if (judged instanceof Promise) return judged.then((done) => judgedInto(state, done), (error: unknown) => judgeFailure(error, state));
    return judgedInto(state, judged);
  }

  /** What the guard's decision in this pass means: allow ends the decision, deny refuses, ask goes on to the approval. */
  private verdictOf(state: CallState): StageOutcome {
    const decision = state.latest!;
    if (state.again) {
      if (decision.decision === "deny") return { code: EnforceErrorCode.PolicyDenied, reason: decision.reason, rules: decision.determining };
      // The approval covers the rules it was asked for; a call that now needs other rules' approval is not covered.
      if (!coveredBy(state.decision!)(decision)) {
        return { code: EnforceErrorCode.ApprovalRefused, reason: `the call now needs another approval: ${decision.reason}`, rules: decision.determining };
      }
      return APPROVED_ALLOW;
    }
    if (this.options.monitor === true && decision.decision !== "allow") {
      this.options.logger?.warn({ tool: state.call.tool, decision: decision.decision, rules: decision.determining }, `monitor mode: let through a call the policy would ${decision.decision === "deny" ? "refuse" : "ask about"}: ${decision.reason}`);
      return decision.decision === "deny" ? MONITOR_DENY : MONITOR_ASK;
    }
    if (decision.decision === "deny") return { code: EnforceErrorCode.PolicyDenied, reason: decision.reason, rules: decision.determining };
    return decision.decision === "allow" ? ALLOW : undefined;
  }

  /** The injected clock's reading, or why it is unusable (it threw, or gave no finite time): then nothing is decided. */
  private readClock(): number | string {
    let now: number;
    try {
      now = this.now();
    } catch (error) {
      return describe(error);
    }
    return Number.isFinite(now) ? now : `it read ${String(now)}, not a time`;
  }

  /** A refusal: recorded (best effort), and the error the caller answers with. */
  private refuse(
    call: CallToDecide,
    at: number,
    code: RefusalData["code"],
    reason: string,
    argsText: string | undefined,
    rules: readonly string[] = [],
    extra: Partial<AuditDecision> = {},
  ): Verdict {
    const refusal: RefusalData = { code, decision: "deny", tool: call.tool, reason, rules };
    this.metrics.decision(this.guard.policyName, rules, "deny", code);
    this.record(call, at, { decision: "deny", outcome: "denied", code, rules, reason, argsText, ...extra });
    return { allowed: false, refusal, error: refusalError(refusal) };
  }

  /**
   * Snapshot → guard → record (when `recordIf` says the call goes ahead), atomically: without yielding for an
   * in-memory store, under the store's lock otherwise, so that concurrent calls cannot both slip under a limit.
   */
  private judge(
    tool: string,
    args: Readonly<Record<string, unknown>>,
    session: SessionView,
    now: number,
    recordIf: (decision: Decision) => boolean,
    signal: CancelSignal | undefined,
  ): Judged | Promise<Judged> {
    // A synchronous store decides in place (and throws); any other under the store's lock (and rejects).
    const sync = this.store.sync;
    if (sync !== undefined) return this.decideWith(sync, tool, args, session, now, recordIf, signal);
    // A store shared by several processes decides atomically itself: a process-local lock would not make it exact.
    if (this.store.transact !== undefined) return this.decideShared(tool, args, session, now, recordIf, signal);
    return withStoreLock(this.store, async () => this.decideAsync(tool, args, session, now, recordIf, signal));
  }

  /** Snapshot → guard → record without yielding: nothing else can decide in between. */
  private decideWith(
    sync: SyncStateOperations,
    tool: string,
    args: Readonly<Record<string, unknown>>,
    session: SessionView,
    now: number,
    recordIf: (decision: Decision) => boolean,
    signal: CancelSignal | undefined,
  ) {
    const context = guardContextOf(session, storeStep(() => sync.snapshot(historyKeyOf(session), now), this.storeTimeoutMs), now);
    const decision = this.runGuard(tool, args, context);
    // A call cancelled meanwhile does not run, so it is not counted.
    if (recordIf(decision) && !aborted(signal)) storeStep(() => sync.record(callRecordOf(tool, now, session, args, this.guard.aggregatedValues)), this.storeTimeoutMs);
    return { decision, context };
  }

  private async decideAsync(
    tool: string,
    args: Readonly<Record<string, unknown>>,
    session: SessionView,
    now: number,
    recordIf: (decision: Decision) => boolean,
    signal: CancelSignal | undefined,
  ) {
    const context = guardContextOf(session, await storeStep(() => this.store.snapshot(historyKeyOf(session), now), this.storeTimeoutMs), now);
    const decision = this.runGuard(tool, args, context);
    if (recordIf(decision) && !aborted(signal)) await storeStep(() => this.store.record(callRecordOf(tool, now, session, args, this.guard.aggregatedValues)), this.storeTimeoutMs);
    return { decision, context };
  }

  /**
   * Snapshot → guard → record through the store's own atomic step. The guard may run on more than one snapshot; what
   * it throws is carried out of the store and thrown here, so that a failing guard is not taken for a failing store.
   */
  private async decideShared(
    tool: string,
    args: Readonly<Record<string, unknown>>,
    session: SessionView,
    now: number,
    recordIf: (decision: Decision) => boolean,
    signal: CancelSignal | undefined,
  ): Promise<Judged> {
    const call = callRecordOf(tool, now, session, args, this.guard.aggregatedValues);
    const judge: Judge<Judged | { failed: unknown }> = (snapshot) => {
      try {
        const context = guardContextOf(session, snapshot, now);
        const decision = this.runGuard(tool, args, context);
        return { record: recordIf(decision) && !aborted(signal), verdict: `${decision.decision} ${decision.determining.join(" ")}`, outcome: { decision, context } };
      } catch (failed) {
        return { record: false, verdict: "failed", outcome: { failed } };
      }
    };
    const judged = await storeStep(() => this.store.transact!(call, judge), this.storeTimeoutMs);
    if ("failed" in judged) throw judged.failed;
    return judged;
  }

  private runGuard(tool: string, args: Readonly<Record<string, unknown>>, context: GuardContext): Decision {
    const decision = this.guard.guard({ tool, args }, context);
    if (!isDecision(decision)) throw new TypeError("the guard returned something that is not a decision");
    return decision;
  }

  private allow(
    call: CallToDecide,
    now: number,
    decision: Decision,
    approval: "approved" | undefined,
    args: Readonly<Record<string, unknown>>,
    argsText: string | undefined,
    monitor?: AuditDecision["monitor"],
  ): Verdict {
    try {
      const outcome = { decision: decision.decision, outcome: "allowed", rules: decision.determining, reason: decision.reason, approval, argsText, monitor } as const;
      this.record(call, now, outcome, true);
      this.metrics.decision(this.guard.policyName, decision.determining, monitor === undefined ? decision.decision : `monitor-${monitor}`, "");
    } catch (error) {
      const refusal: RefusalData = {
        code: EnforceErrorCode.AuditFailed,
        decision: "deny",
        tool: call.tool,
        reason: `the decision could not be recorded in the audit log, so the call is refused: ${describe(error)}`,
        rules: [],
      };
      return { allowed: false, refusal, error: refusalError(refusal) };
    }
    return { allowed: true, decision, args, argsText };
  }

  /** Appends the audit line. A refusal is recorded best effort; an allowed call whose line fails is refused. */
  private record(call: CallToDecide, now: number, outcome: Omit<AuditDecision, "time" | "side" | "tool" | "args">, mustSucceed = false): void {
    const audit = this.options.audit;
    if (audit === undefined) return;
    const info = call.session?.info;
    const line: AuditDecision = {
      time: now,
      side: this.side,
      tool: call.tool,
      args: call.args,
      sessionId: call.session?.sessionId,
      peerFingerprint: info?.peerFingerprint,
      clientFingerprint: info?.client?.fingerprint,
      suite: auditSuiteOf(call.session),
      manifestDigest: this.manifestDigest,
      policyDigest: this.guard.policyDigest,
      ...outcome,
    };
    try {
      audit.append(line);
    } catch (error) {
      this.options.logger?.error({ tool: call.tool, code: EnforceErrorCode.AuditFailed }, `audit line could not be appended: ${describe(error)}`);
      if (mustSucceed) throw error;
      return;
    }
    // A sink may take the line and fail to build or write it (a failure it reports, not throws): then no line records it.
    if (mustSucceed && audit.failure !== undefined) throw audit.failure;
  }

  /**
   * The arguments as a plain object parsed back from their JSON text (the audit line's digest is computed from that
   * text, at the log's flush), or why they are refused. Both sides decide on the parsed copy: a client's arguments come
   * from application code and may be any object (getters, toJSON, later changes); a server's were parsed from the wire
   * and may hold what JSON cannot carry on (see argumentsText). Canonical and plain JSON text have the same length, so
   * the size check needs no canonicaliser.
   */
  private checkArguments(tool: string, raw: unknown): { args: Readonly<Record<string, unknown>>; text: string } | string {
    const args = raw ?? {};
    if (typeof args !== "object" || args === null || Array.isArray(args)) return `arguments of \`${tool}\` must be a JSON object`;
    const limit = this.options.maxArgumentBytes ?? DEFAULT_MAX_ARGUMENT_BYTES;
    // A server's arguments were parsed from the wire; a client's come from application code.
    const json = argumentsText(args, this.side === "server" ? "wire" : "application");
    if ("problem" in json) return `arguments of \`${tool}\` are refused: ${json.problem}`;
    const size = Buffer.byteLength(json.text, "utf8");
    if (size > limit) return `arguments of \`${tool}\` are ${size} bytes, more than the limit of ${limit}`;
    const parsed = JSON.parse(json.text) as unknown;
    // A toJSON may turn the object into something else.
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return `arguments of \`${tool}\` must be a JSON object`;
    return { args: parsed as Readonly<Record<string, unknown>>, text: json.text };
  }

  /** The handler's view of the arguments, checked as the arguments are, or why the call is refused. */
  private async viewOf(
    view: NonNullable<CallToDecide["handlerView"]>,
    tool: string,
    args: Readonly<Record<string, unknown>>,
  ): Promise<Readonly<Record<string, unknown>> | string> {
    let seen: unknown;
    try {
      seen = await view(args);
    } catch (error) {
      return `arguments of \`${tool}\` do not fit the tool's schema: ${describe(error)}`;
    }
    if (typeof seen !== "object" || seen === null || Array.isArray(seen)) return `the handler of \`${tool}\` would not read its arguments as an object`;
    // What a schema produced may hold anything a transform returns: read once, as an application's object.
    const json = argumentsText(seen, "application");
    if ("problem" in json) return `arguments of \`${tool}\`, as the handler would read them, are refused: ${json.problem}`;
    return seen as Readonly<Record<string, unknown>>;
  }

  private async askApproval(call: CallToDecide, args: Readonly<Record<string, unknown>>, decision: Decision, context: GuardContext): Promise<ApprovalAnswer> {
    if (call.approve === undefined) return "unavailable";
    const timeoutMs = this.options.approvalTimeoutMs ?? DEFAULT_APPROVAL_TIMEOUT_MS;
    const controller = new AbortController();
    // A cancelled request (or closed connection) withdraws the question, as the timeout does.
    const withdraw = (): void => controller.abort();
    call.signal?.addEventListener("abort", withdraw, { once: true });
    // A listener added after the abort would never fire.
    if (aborted(call.signal)) controller.abort();
    // An approver that throws, or answers without a promise, is treated like one that rejects.
    let answer: Promise<boolean>;
    try {
      answer = Promise.resolve(call.approve({ tool: call.tool, args, decision, context, signal: controller.signal }));
    } catch (error) {
      answer = Promise.reject(error);
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    const asked = answer
      .then((ok): "approved" | "refused" => (ok === true ? "approved" : "refused"))
      .catch((error: unknown): "refused" => {
        this.options.logger?.warn({ tool: call.tool }, `approval failed: ${describe(error)}`);
        return "refused";
      });
    try {
      const cancelled = call.signal === undefined ? undefined : new Promise<"refused">((resolve) => controller.signal.addEventListener("abort", () => resolve("refused"), { once: true }));
      const result = await Promise.race(cancelled === undefined ? [asked, timeout] : [asked, timeout, cancelled]);
      if (result === "timeout") {
        controller.abort();
        this.options.logger?.warn({ tool: call.tool, timeoutMs }, "approval timed out; the call is denied");
      }
      return result;
    } finally {
      clearTimeout(timer);
      call.signal?.removeEventListener("abort", withdraw);
    }
  }
}

type Judged = { decision: Decision; context: GuardContext };

const NO_ARGUMENTS: Readonly<Record<string, unknown>> = Object.freeze({});
const ALLOW: StageAllow = { allow: true };
const APPROVED_ALLOW: StageAllow = { allow: true, approval: "approved" };
const MONITOR_DENY: StageAllow = { allow: true, monitor: "would-deny" };
const MONITOR_ASK: StageAllow = { allow: true, monitor: "would-ask" };
const APPROVED = { decision: "ask", approval: "approved" } as const;
const allowedPin = (): PinVerdict => ({ ok: true });

/** Why the call is refused as cancelled: before it was decided, or while (or after) its approval was pending. */
function cancelled(state: CallState): StageRefusal {
  const decision = state.decision;
  if (state.answer === undefined) {
    return { code: EnforceErrorCode.Cancelled, reason: CANCELLED_BEFORE, rules: decision?.determining, audit: decision === undefined ? undefined : { decision: decision.decision } };
  }
  // Whatever the approver answered (one withdrawn at the cancel answers no): the call is cancelled, not refused.
  return { code: EnforceErrorCode.Cancelled, reason: CANCELLED_DURING, rules: decision?.determining, audit: { decision: "ask", approval: state.again ? "approved" : "withdrawn" } };
}

function judgedInto(state: CallState, judged: Judged): undefined {
  state.latest = judged.decision;
  if (!state.again) {
    state.decision = judged.decision;
    state.context = judged.context;
  }
  return undefined;
}

function unfitOf(pin: PinVerdict): StageRefusal | undefined {
  return pin.ok ? undefined : { code: pin.code, reason: pin.reason };
}

function unreadablePin(tool: string, error: unknown): StageRefusal {
  return { code: EnforceErrorCode.ToolListUnavailable, reason: `the tool definitions could not be read to pin \`${tool}\`: ${describe(error)}` };
}

/** The first decision records the call only when it is allowed outright; an `ask` records after its approval. */
function allowedNow(decision: Decision): boolean {
  return decision.decision === "allow";
}

/** After an approval: the call is covered when it is allowed, or asks only about rules the approval was given for. */
function coveredBy(approved: Decision): (decision: Decision) => boolean {
  return (d) => d.decision === "allow" || (d.decision === "ask" && d.determining.every((rule) => approved.determining.includes(rule)));
}

function isDecision(value: unknown): value is Decision {
  if (typeof value !== "object" || value === null) return false;
  const d = value as Partial<Decision>;
  return (d.decision === "allow" || d.decision === "deny" || d.decision === "ask") && Array.isArray(d.determining) && typeof d.reason === "string";
}

/** Runs one operation of the state store; whatever it throws or rejects with is a StateError, not a guard failure. */
function storeStep<T>(step: () => T, timeoutMs: number): T {
  let result: T;
  try {
    result = step();
  } catch (error) {
    throw asStateError(error);
  }
  if (!(result instanceof Promise)) return result;
  // An asynchronous store that never answers would hold the store's lock, and every later call, forever.
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new StateError("PQG7204", `the state store did not answer within ${timeoutMs} ms`)), timeoutMs);
  });
  const answered = result.catch((error: unknown) => Promise.reject(asStateError(error)));
  return Promise.race([answered, timeout]).finally(() => clearTimeout(timer)) as T;
}

function asStateError(error: unknown): StateError {
  return error instanceof StateError ? error : new StateError("PQG7203", describe(error));
}

/** Why judging failed: the call history (a StateError) or the guard itself. */
function judgeFailure(error: unknown, state: CallState): StageRefusal {
  const rules = state.again ? state.decision!.determining : undefined;
  if (error instanceof SessionlessStateError) return { code: EnforceErrorCode.SessionlessState, reason: `${error.message}, so the call is refused`, rules };
  if (error instanceof StateError) {
    return { code: EnforceErrorCode.StateFailed, reason: `the call history is unavailable, so the call is refused: ${error.message} (${error.code})`, rules };
  }
  return { code: EnforceErrorCode.GuardFailed, reason: `the guard failed while deciding, so the call is refused: ${describe(error)}`, rules };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
