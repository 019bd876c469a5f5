// The stages a tools/call passes through before it may run, in order, each able to refuse with a typed value; and the
// stages its result passes through on the way back. Adding a check means adding a stage to one of these lists.
import type { AuditDecision } from "../audit/record.js";
import type { Decision, GuardContext } from "../guard/types.js";
import type { SessionView } from "./context.js";
import type { ApprovalAnswer, CallToDecide } from "./decide.js";
import { EnforceErrorCode, type RefusalData } from "./errors.js";
import { ResultErrorCode } from "./results.js";

/** What a stage refuses with: the refusal's code and reason, the rules behind it, and what the audit line adds. */
export interface StageRefusal {
  readonly code: RefusalData["code"];
  readonly reason: string;
  readonly rules?: readonly string[] | undefined;
  /** Audit fields beyond the refusal (the guard's decision, the approval's outcome). */
  readonly audit?: Partial<AuditDecision> | undefined;
  /** The time the refusal is recorded at, when the decision's own clock could not be read. */
  readonly at?: number | undefined;
}

/** A stage let the call through: the stages after it do not run. */
export interface StageAllow {
  readonly allow: true;
  readonly approval?: "approved" | undefined;
  readonly monitor?: AuditDecision["monitor"];
}

/** Undefined: go on to the next stage. */
export type StageOutcome = StageRefusal | StageAllow | undefined;

/**
 * One call while it is decided: what the stages read and what they found. Stages before the approval fill it in; the
 * same stages run again after an approval (`again` set) against the current state and clock.
 */
export interface CallState {
  readonly call: CallToDecide;
  readonly steps: DecisionSteps;
  /** The clock reading this pass decides at. */
  now: number;
  /** The arguments the guard reads: the handler's view of them when the call has one (see `handlerView`), else `sent`. */
  args: Readonly<Record<string, unknown>>;
  /** The plain copy of the arguments parsed back from their JSON text: what goes on to the tool. */
  sent: Readonly<Record<string, unknown>>;
  /** The arguments as JSON text: what the audit line digests. Undefined until they were read. */
  argsText: string | undefined;
  /** The JSON text of `args`: with `argsText`, what an approval covers. */
  viewText: string | undefined;
  session: SessionView | undefined;
  /** The guard's first decision (the one an approval was asked for). */
  decision: Decision | undefined;
  /** The guard's decision in this pass: the first one, or the one made again after an approval. */
  latest: Decision | undefined;
  context: GuardContext | undefined;
  /** The approver's answer, once asked. */
  answer: ApprovalAnswer | undefined;
  /** Set once an approval was given: the stages now run again, and what they refuse carries that approval. */
  again: boolean;
}

/** The decision point's own steps, which stages call; each returns what the stage then refuses with, if anything. */
export interface DecisionSteps {
  /** The injected clock's reading, or why it is unusable. */
  readClock(): number | string;
  /** The arguments as a plain object with their JSON text, or why they are refused. */
  checkArguments(tool: string, raw: unknown): { args: Readonly<Record<string, unknown>>; text: string } | string;
  /** The handler's view of the arguments, or why the call is refused. */
  viewOf(view: NonNullable<CallToDecide["handlerView"]>, tool: string, args: Readonly<Record<string, unknown>>): Promise<Readonly<Record<string, unknown>> | string>;
  /** Why the session's facts no longer hold (an expired certificate, a manifest bound elsewhere or expired), if they do not. */
  staleFacts(session: SessionView, now: number): { readonly code: RefusalData["code"]; readonly reason: string } | undefined;
  /** The audit sink's failure, if it has one. */
  auditFailure(): Error | undefined;
  /** Whether results pass result rules on their way back. */
  inspectsResults(): boolean;
  checkPin(call: CallToDecide): StageRefusal | undefined | Promise<StageRefusal | undefined>;
  /** Snapshot → guard → record for this pass; sets `decision`, `latest` and `context`. */
  judge(state: CallState): StageRefusal | undefined | Promise<StageRefusal | undefined>;
  /** What the guard's decision in this pass means for the call. */
  verdict(state: CallState): StageOutcome;
  askApproval(call: CallToDecide, args: Readonly<Record<string, unknown>>, decision: Decision, context: GuardContext): Promise<ApprovalAnswer>;
}

export interface Stage {
  /** Names the stage in docs and diagnostics. */
  readonly name: string;
  /** Synchronous unless it must wait: the fast path (a kept pin, an in-memory store) creates no promise. */
  run(state: CallState): StageOutcome | Promise<StageOutcome>;
}

/** The reason suffix of a refusal made while checking again after an approval. */
export const CHECKED_AGAIN = " (checked again after the approval)";

const clock: Stage = {
  name: "clock",
  run(state) {
    const now = state.steps.readClock();
    if (typeof now === "string") {
      const reason = state.again ? `the clock could not be read after the approval: ${now}` : `the clock could not be read, so the guard refuses to decide: ${now}`;
      return { code: EnforceErrorCode.GuardFailed, reason, at: Date.now() };
    }
    state.now = now;
    return undefined;
  },
};

/**
 * Size and canonical form, and the handler's view of them when the call has one; after an approval, that the arguments
 * (and their view) are still the ones the approver was shown.
 */
const argumentsStage: Stage = {
  name: "arguments",
  run(state) {
    if (state.again) {
      // The approval covers the arguments the human was shown and the audit line records, not what they became since.
      if (JSON.stringify(state.args) === state.viewText && JSON.stringify(state.sent) === state.argsText) return undefined;
      return { code: EnforceErrorCode.ApprovalRefused, reason: "the arguments changed while the approval was pending, so the approval does not cover them", rules: state.decision?.determining };
    }
    const checked = state.steps.checkArguments(state.call.tool, state.call.args);
    if (typeof checked === "string") return { code: EnforceErrorCode.BadArguments, reason: checked };
    state.sent = checked.args;
    state.argsText = checked.text;
    const view = state.call.handlerView;
    if (view === undefined) {
      state.args = checked.args;
      state.viewText = checked.text;
      return undefined;
    }
    return state.steps.viewOf(view, state.call.tool, checked.args).then((viewed): StageOutcome => {
      if (typeof viewed === "string") return { code: EnforceErrorCode.BadArguments, reason: viewed };
      state.args = viewed;
      state.viewText = viewed === checked.args ? checked.text : JSON.stringify(viewed);
      return undefined;
    });
  },
};

/**
 * A task-augmented call under result rules: its result would come back later through `tasks/result`, where no result
 * rule would see it. Refused here, before the guard's stage records the call in the history, so that a call that never
 * runs uses up no limit.
 */
const taskResult: Stage = {
  name: "task result",
  run(state) {
    if (state.call.task !== true || !state.steps.inspectsResults()) return undefined;
    return { code: ResultErrorCode.InspectionFailed, reason: "the result of a task-augmented call cannot be inspected by the result rules" };
  },
};

/**
 * The session's facts: without an established session (or an allowed plain one) nothing is decided; a session whose
 * facts no longer hold (certificate expiry, manifest binding and expiry: checks/facts.ts) refuses, checked again after
 * an approval as every stage is.
 */
const sessionFacts: Stage = {
  name: "session facts",
  run(state) {
    const session = state.call.session;
    if (session === undefined) return { code: EnforceErrorCode.NoSession, reason: "no post-quantum session is established, so the guard refuses to decide" };
    state.session = session;
    const stale = state.steps.staleFacts(session, state.now);
    if (stale === undefined) return undefined;
    return { code: stale.code, reason: stale.reason, rules: state.again ? state.decision?.determining : undefined };
  },
};

/** A call no audit line could record is not decided: the log's own failure refuses it. */
const auditHealth: Stage = {
  name: "audit health",
  run(state) {
    const failure = state.steps.auditFailure();
    return failure === undefined ? undefined : { code: EnforceErrorCode.AuditFailed, reason: `the audit log cannot be written (${failure.message})` };
  },
};

/** The tool's live definition is the one the policy and the signed manifest pinned. */
const toolPin: Stage = {
  name: "tool pin",
  run(state) {
    return state.steps.checkPin(state.call);
  },
};

/** State snapshot → guard → record, as one atomic step (see DecisionPoint.judge). */
const guardStage: Stage = {
  name: "state snapshot, guard and record",
  run(state) {
    return state.steps.judge(state);
  },
};

/** What the guard decided: allow ends the decision, deny refuses, ask goes on to the approval. */
const verdictStage: Stage = {
  name: "verdict",
  run(state) {
    return state.steps.verdict(state);
  },
};

/** Asks the approver about an `ask` (asynchronous: a human answers). */
const approval: Stage = {
  name: "approval",
  async run(state) {
    state.answer = await state.steps.askApproval(state.call, state.args, state.decision!, state.context!);
    return undefined;
  },
};

/** Anything but an approval refuses; an approval runs the checks again on the current state and clock. */
const approvalAnswer: Stage = {
  name: "approval answer",
  run(state) {
    const answer = state.answer;
    if (answer === "approved") {
      state.again = true;
      return undefined;
    }
    const why = answer === "timeout" ? "approval timed out" : answer === "unavailable" ? "no approver is available" : "approval was refused";
    return { code: EnforceErrorCode.ApprovalRefused, reason: `${state.decision!.reason} (${why})`, rules: state.decision!.determining, audit: { decision: "ask", approval: answer } };
  },
};

/**
 * The checks every call passes, in order, up to and including the guard's verdict; run a second time after an
 * approval, because time passed while the human decided: other calls may have used the quota, a window may have
 * closed, the tool may have changed. A new check (say, certificate validity after the session facts) goes here.
 */
export const CHECK_STAGES: readonly Stage[] = [clock, argumentsStage, taskResult, sessionFacts, auditHealth, toolPin, guardStage, verdictStage];

/** The whole decision: the checks, the approval of an `ask`, and the checks again. The audit line is written after. */
export function decisionStages(checks: readonly Stage[] = CHECK_STAGES): readonly Stage[] {
  return [...checks, approval, approvalAnswer, ...checks];
}

/** What a tool sent back, on its way to whoever called it. */
export interface ToolResult {
  readonly tool: string;
  /** The arguments the call was decided on: the plain copy that went to the tool. */
  readonly args: Readonly<Record<string, unknown>>;
  readonly session: SessionView | undefined;
  readonly result: Readonly<Record<string, unknown>>;
  /**
   * Set when the result is the text of a notification the tool's server sent (runtime/enforce/notifications.ts): a
   * refusal then drops the notification, not the call's result.
   */
  readonly notification?: "progress notification" | "log message" | undefined;
}

/**
 * What a result stage made of a result: undefined lets it through as it is, `replace` lets a changed one through (the
 * stages after it see the change), a refusal withholds it.
 */
export type ResultOutcome = StageRefusal | { readonly replace: Readonly<Record<string, unknown>> } | undefined;

/**
 * A stage on the return path: inspects what a tool sent back. The policy's result rules are the one configured
 * (runtime/enforce/results.ts), when the guard has any.
 */
export interface ResultStage {
  readonly name: string;
  run(result: ToolResult): ResultOutcome | Promise<ResultOutcome>;
}

export const RESULT_STAGES: readonly ResultStage[] = [];
