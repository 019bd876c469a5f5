// What enforcement does with a tool's result before it travels on: the policy's result rules decide (refuse, redact,
// mark), redactions are applied inside strings only and checked against the tool's outputSchema, `seen` marks are
// recorded in the session's history, and one audit line records the decision (never the content).
import { Ajv, type ValidateFunction } from "ajv";
import { Ajv2020 } from "ajv/dist/2020.js";
import formatsModule from "ajv-formats";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import type { AuditSink } from "../audit/log.js";
import { PqguardError, errorCatalogue } from "../errors.js";
import { isJsonObject } from "../guard/helpers.js";
import { prefiltered, RESULT_PASS } from "../guard/results.js";
import type { GuardContext, GuardModule, GuardRequest, ResultDecision, ResultRedaction, CallResult } from "../guard/types.js";
import type { Logger } from "pino";
import type { StateStore } from "../state/store.js";
import { auditSuiteOf, guardContextOf, historyKeyOf, type SessionView } from "./context.js";
import { GUARD_REFUSAL_ERROR } from "./errors.js";
import type { ResultOutcome, ResultStage, ToolResult as ReturningResult } from "./stages.js";

export const RESULT_ERRORS = errorCatalogue("result rules", "ResultError", [[7701, 7799]], {
  Refused: ["PQG7701", "A result rule refused what the tool sent back: the client never sees it."],
  Unsafe: ["PQG7702", "A redaction would make the result break its tool's outputSchema (a pattern, format, length or enum of a redacted string), so the result is refused."],
  InspectionFailed: ["PQG7703", "The result could not be inspected (it is not a JSON object, the guard threw, or the call history could not be read or written), so it is refused."],
  SeenUnsupported: ["PQG7704", "At set-up: the policy records or reads `seen` marks, and the state store keeps none."],
  ResourceWithheld: ["PQG7705", "A `resources/read` of a resource whose contents the result rules refused."],
});

/** The codes by name. */
export const ResultErrorCode = RESULT_ERRORS.codes;
export type ResultErrorCode = (typeof ResultErrorCode)[keyof typeof ResultErrorCode];

export class ResultError extends PqguardError {
  declare readonly code: ResultErrorCode;
  constructor(
    code: ResultErrorCode,
    message: string,
    /** The result rules that decided, when rules decided. */
    readonly rules: readonly string[] = [],
  ) {
    super(code, message);
    this.name = "ResultError";
  }
}

/** The key under `_meta` where `mark ... as "label"` labels travel with the result. */
export const MARKS_META_KEY = "pqguard/marks";

/** A result as inspection left it, with the decision and how many matches were replaced. */
export interface InspectedResult {
  readonly result: CallResult;
  readonly decision: ResultDecision;
  readonly replacements: number;
}

// ajv-formats is CommonJS with `exports.default`: under Node's ESM interop the function is that property.
const addFormats = (formatsModule as unknown as { default: (ajv: Ajv | Ajv2020) => void }).default;
let validators: { draft07: Ajv; draft2020: Ajv2020 } | undefined;
const compiledSchemas = new WeakMap<object, ValidateFunction>();

/** The validator of an outputSchema, in the dialect it declares (2020-12 when it declares none, as MCP says). */
function validatorOf(schema: object): ValidateFunction {
  let validate = compiledSchemas.get(schema);
  if (validate === undefined) {
    if (validators === undefined) {
      // strict: false, because real tool schemas carry keywords of their own that JSON Schema says to ignore.
      const draft07 = new Ajv({ strict: false, logger: false });
      const draft2020 = new Ajv2020({ strict: false, logger: false });
      addFormats(draft07);
      addFormats(draft2020);
      validators = { draft07, draft2020 };
    }
    const declared = String((schema as { $schema?: unknown }).$schema ?? "");
    validate = (declared.includes("draft-07") ? validators.draft07 : validators.draft2020).compile(schema);
    compiledSchemas.set(schema, validate);
  }
  return validate;
}

/** A redaction's pattern in its global form, and the prefilter that skips a string it cannot match. */
interface Pattern {
  readonly global: RegExp;
  readonly filter: RegExp;
}

const patterns = new Map<string, Pattern>();

function patternOf(redaction: ResultRedaction): Pattern {
  const key = `${redaction.flags}/${redaction.source}`;
  let pattern = patterns.get(key);
  if (pattern === undefined) {
    const flags = redaction.flags.replace("g", "");
    pattern = { global: new RegExp(redaction.source, `${flags}g`), filter: prefiltered(new RegExp(redaction.source, flags)) };
    patterns.set(key, pattern);
  }
  return pattern;
}

/** Applies every redaction to one string; the replacement is literal text (`$` in it means nothing). */
function redactString(text: string, redactions: readonly ResultRedaction[], count: { n: number }): string {
  let out = text;
  for (const redaction of redactions) {
    const pattern = patternOf(redaction);
    // One scan instead of two when the pattern has no literal prefilter: `replace` finds nothing as fast as `test`.
    if (pattern.filter.test === RegExp.prototype.test ? false : !pattern.filter.test(out)) continue;
    out = out.replace(pattern.global, () => {
      count.n += 1;
      return redaction.replacement;
    });
  }
  return out;
}

/** Redacts every string value (never a key) of a JSON value; the shape stays as it was. */
function redactJson(value: unknown, redactions: readonly ResultRedaction[], count: { n: number }): unknown {
  if (typeof value === "string") return redactString(value, redactions, count);
  if (Array.isArray(value)) return value.map((v) => redactJson(v, redactions, count));
  if (isJsonObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactJson(v, redactions, count)]));
  return value;
}

/** Redacts the texts of `content` (text items, embedded resource text) and the strings of `structuredContent`. */
function redactResult(result: CallResult, redactions: readonly ResultRedaction[]): { result: Record<string, unknown>; replacements: number; structuredChanged: boolean } {
  const count = { n: 0 };
  const out: Record<string, unknown> = { ...result };
  if (Array.isArray(result["content"])) {
    out["content"] = (result["content"] as unknown[]).map((item) => {
      if (!isJsonObject(item)) return item;
      if (item["type"] === "text" && typeof item["text"] === "string") return { ...item, text: redactString(item["text"], redactions, count) };
      const resource = item["resource"];
      if (item["type"] === "resource" && isJsonObject(resource) && typeof resource["text"] === "string") {
        return { ...item, resource: { ...resource, text: redactString(resource["text"], redactions, count) } };
      }
      return item;
    });
  }
  const before = count.n;
  if (result["structuredContent"] !== undefined) out["structuredContent"] = redactJson(result["structuredContent"], redactions, count);
  return { result: out, replacements: count.n, structuredChanged: count.n > before };
}

/**
 * Applies the guard's result rules to one result. Refuses (throws a ResultError) when a rule refuses, when the result
 * is not a JSON object, and when a redaction leaves structured content its outputSchema forbids; otherwise answers the
 * result to pass on: redacted inside strings, `mark` labels under `_meta["pqguard/marks"]`.
 */
export function inspectResult(
  guard: GuardModule,
  request: GuardRequest,
  result: unknown,
  context: GuardContext,
  outputSchema?: unknown,
): InspectedResult {
  const tool = request.tool;
  if (guard.inspectResult === undefined) return { result: result as CallResult, decision: RESULT_PASS, replacements: 0 };
  if (!isJsonObject(result)) throw new ResultError(ResultErrorCode.InspectionFailed, `the result of \`${tool}\` is not a JSON object, so it is refused`);
  let decision: ResultDecision;
  try {
    decision = guard.inspectResult(request, result, context);
  } catch (error) {
    throw new ResultError(ResultErrorCode.InspectionFailed, `the result rules of \`${tool}\` could not be applied, so the result is refused: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (decision.decision === "refuse") throw new ResultError(ResultErrorCode.Refused, `result of \`${tool}\` refused: ${decision.reason}`, decision.determining);
  if (decision.redactions.length === 0 && decision.marks.length === 0) return { result, decision, replacements: 0 };
  const redacted = decision.redactions.length === 0 ? { result: { ...result }, replacements: 0, structuredChanged: false } : redactResult(result, decision.redactions);
  if (redacted.structuredChanged && typeof outputSchema === "object" && outputSchema !== null) {
    const validate = validatorOf(outputSchema);
    if (!validate(redacted.result["structuredContent"])) {
      const rules = decision.redactions.map((r) => r.rule);
      throw new ResultError(ResultErrorCode.Unsafe, `the redacted result of \`${tool}\` would break its outputSchema (${validate.errors?.[0]?.instancePath || "/"} ${validate.errors?.[0]?.message ?? "is invalid"}), so it is refused`, rules);
    }
  }
  if (decision.marks.length > 0) {
    const meta = isJsonObject(result["_meta"]) ? result["_meta"] : {};
    redacted.result["_meta"] = { ...meta, [MARKS_META_KEY]: [...decision.marks] };
  }
  return { result: redacted.result, decision, replacements: redacted.replacements };
}

/** The JSON-RPC error a client receives for a refused result, with the PQG code, reason and rules in `data`. */
export function resultRefusal(tool: string, error: ResultError): McpError {
  return new McpError(GUARD_REFUSAL_ERROR, error.message, { code: error.code, decision: "refuse", tool, reason: error.message, rules: error.rules });
}

/** What the result rules need of the enforcement around them. */
export interface ResultRulesOptions {
  readonly store: StateStore;
  readonly now: () => number;
  readonly audit?: AuditSink | undefined;
  readonly logger?: Logger | undefined;
  readonly policyDigest?: string | undefined;
}

/** Whether a guard has result rules at all: then every result is inspected, else results pass untouched. */
export function hasResultRules(guard: GuardModule): boolean {
  return guard.inspectResult !== undefined && (guard.resultRuleCount ?? 0) > 0;
}

/** At set-up: a policy that records or reads `seen` marks needs a state store that keeps them. */
export function requireSeenSupport(guard: GuardModule, store: StateStore): void {
  const labels = guard.seenLabels ?? [];
  if (labels.length > 0 && store.markSeen === undefined) {
    throw new ResultError(ResultErrorCode.SeenUnsupported, `the policy records or reads \`seen\` marks (${labels.map((l) => `"${l}"`).join(", ")}), and this state store keeps none; use a MemoryStateStore, a SqliteStateStore or a RedisStateStore`);
  }
}

/**
 * The result stage of the policy's result rules, on the decision point's return path (`enforce`, `guardClient`, the
 * proxy): inspects a `tools/call` result for its session and lets it through, changed, or withholds it. `seen` marks
 * are recorded before the result is released, so that the session's next call already sees them. A result that
 * passes is audited here; a refusal is audited by the decision point.
 */
export class ResultRules implements ResultStage {
  readonly name = "result rules";

  constructor(
    private readonly guard: GuardModule,
    private readonly side: "server" | "client",
    private readonly options: ResultRulesOptions,
  ) {
    requireSeenSupport(guard, options.store);
  }

  async run({ tool, args, session, result, notification }: ReturningResult): Promise<ResultOutcome> {
    const now = this.options.now();
    try {
      if (session === undefined) throw new ResultError(ResultErrorCode.InspectionFailed, `no session to inspect the result of \`${tool}\` in, so it is refused`);
      const snapshot = await this.options.store.snapshot(historyKeyOf(session), now).catch((error: unknown) => {
        throw new ResultError(ResultErrorCode.InspectionFailed, `the call history could not be read, so the result of \`${tool}\` is refused: ${describe(error)}`);
      });
      const inspected = inspectResult(this.guard, { tool, args }, result, guardContextOf(session, snapshot, now), this.guard.outputSchemas?.[tool]);
      for (const label of inspected.decision.seen) await this.markSeen(session.sessionId, label, tool);
      // A notification no rule touched is not audited: a long operation may report progress hundreds of times.
      if (notification === undefined || inspected.decision.determining.length > 0) {
        this.audit(tool, args, session, now, resultSummary(inspected.decision, inspected.replacements, notification), inspected.decision.determining);
      }
      return inspected.result === result ? undefined : { replace: inspected.result };
    } catch (error) {
      const failure = error instanceof ResultError ? error : new ResultError(ResultErrorCode.InspectionFailed, `the result of \`${tool}\` could not be inspected, so it is refused: ${describe(error)}`);
      return { code: failure.code, reason: failure.message, rules: failure.rules };
    }
  }

  private async markSeen(sessionId: string, label: string, tool: string): Promise<void> {
    const store = this.options.store;
    if (store.markSeen === undefined) throw new ResultError(ResultErrorCode.SeenUnsupported, `the state store keeps no \`seen\` marks, so the result of \`${tool}\` is refused`);
    try {
      await store.markSeen(sessionId, label);
    } catch (error) {
      throw new ResultError(ResultErrorCode.InspectionFailed, `the \`seen\` mark could not be recorded, so the result of \`${tool}\` is refused: ${describe(error)}`);
    }
  }

  /** The audit line of a result that passed: rules, counts and labels, never the result's content. */
  private audit(tool: string, args: unknown, session: SessionView, now: number, reason: string, rules: readonly string[]): void {
    const audit = this.options.audit;
    if (audit === undefined) return;
    try {
      audit.append({
        time: now,
        side: this.side,
        tool,
        args,
        decision: "allow",
        outcome: "allowed",
        rules,
        reason,
        sessionId: session.sessionId,
        peerFingerprint: session.info?.peerFingerprint,
        clientFingerprint: session.info?.client?.fingerprint,
        suite: auditSuiteOf(session),
        policyDigest: this.options.policyDigest,
      });
    } catch (failure) {
      this.options.logger?.error({ tool, code: "PQG7309" }, `audit line of a result could not be appended: ${describe(failure)}`);
    }
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The audit reason of a result that passed: what was done to it, by count and label. */
export function resultSummary(decision: ResultDecision, replacements: number, what = "result"): string {
  const parts = [`${what} passed`];
  if (decision.redactions.length > 0) parts.push(`${replacements} redaction${replacements === 1 ? "" : "s"}`);
  if (decision.marks.length > 0) parts.push(`marked ${decision.marks.map((m) => `"${m}"`).join(", ")}`);
  if (decision.seen.length > 0) parts.push(`seen ${decision.seen.map((m) => `"${m}"`).join(", ")}`);
  return parts.join("; ");
}
