// The reference interpreter's decision on a tool's result: walks the result rules that target the tool, exactly as
// docs/language.md's "Result rules" says. Its own reading of the result (text, isError, structured) and its own
// assembly of the decision; it shares with compiled guards only the analysis and the explanation wording.
import { explainText } from "../runtime/guard/helpers.js";
import { resultText } from "../runtime/guard/results.js";
import type { Explanation, GuardContext, GuardRequest, ResultDecision, ResultRedaction, CallResult } from "../runtime/guard/types.js";
import { resultRulesFor, type ResultOutline } from "./analysis-results.js";
import type { CheckedPolicy } from "./ir.js";
import { attempt, Evaluator } from "./interpreter.js";

function isRecord(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `result.text`: text items and embedded resource texts, joined by newlines; `result.isError`; `result.structured`. */
function readResult(result: CallResult): Readonly<Record<string, unknown>> {
  const parts: string[] = [];
  const content = Array.isArray(result["content"]) ? (result["content"] as unknown[]) : [];
  for (const item of content) {
    if (!isRecord(item)) continue;
    if (item["type"] === "text" && typeof item["text"] === "string") parts.push(item["text"]);
    else if (item["type"] === "resource" && isRecord(item["resource"]) && typeof item["resource"]["text"] === "string") parts.push(item["resource"]["text"]);
  }
  const view: Record<string, unknown> = { text: parts.join("\n"), isError: result["isError"] === true };
  if (result["structuredContent"] !== undefined) view["structured"] = result["structuredContent"];
  return view;
}

/** Whether a result rule applies, and why; every result rule fails closed (applies when it cannot be evaluated). */
function applies(ev: Evaluator, item: ResultOutline): { applies: boolean; detail: string } {
  if (item.when.length === 0 && item.unless === undefined) return { applies: true, detail: explainText.noConditions };
  for (const clause of item.when) {
    const outcome = attempt(() => ev.truth(clause.expr));
    if (!outcome.ok) return { applies: true, detail: explainText.notEvaluated(clause.text, outcome.detail) };
    if (!outcome.value) return { applies: false, detail: explainText.wasFalse(clause.text) };
  }
  if (item.unless !== undefined) {
    const unless = item.unless;
    const outcome = attempt(() => ev.truth(unless.expr));
    if (!outcome.ok) return { applies: true, detail: explainText.notEvaluated(unless.text, outcome.detail) };
    if (outcome.value) return { applies: false, detail: explainText.unlessHeld(unless.text) };
  }
  return { applies: true, detail: explainText.allHeld };
}

/** Decides on one result of `request.tool`. */
export function evaluateResult(policy: CheckedPolicy, request: GuardRequest, result: CallResult, ctx: GuardContext, format: Intl.DateTimeFormat): ResultDecision {
  const items = resultRulesFor(policy, request.tool);
  const tool = policy.tools.find((t) => t.name === request.tool);
  const call = isRecord(request.args) ? request : { tool: request.tool, args: {} };
  const ev = new Evaluator(policy, format, call, ctx, tool, readResult(isRecord(result) ? result : {}));
  const explain: Explanation[] = [];
  const applying: ResultOutline[] = [];
  for (const item of items) {
    const verdict = applies(ev, item);
    explain.push({ rule: item.rule.id, effect: item.rule.action, matched: verdict.applies, detail: verdict.detail });
    if (verdict.applies) applying.push(item);
  }
  const refusing = applying.filter((i) => i.rule.action === "refuse");
  if (refusing.length > 0) {
    const first = refusing[0]!.rule;
    return { decision: "refuse", determining: refusing.map((i) => i.rule.id), reason: first.because ?? resultText.refused(first.id), redactions: [], marks: [], seen: [], explain };
  }
  const redactions: ResultRedaction[] = [];
  const marks: string[] = [];
  const seen: string[] = [];
  for (const { rule } of applying) {
    if (rule.action === "redact") redactions.push({ rule: rule.id, source: rule.pattern!.source, flags: rule.pattern!.flags, replacement: rule.label! });
    else if (rule.seen) seen.push(rule.label!);
    else marks.push(rule.label!);
  }
  const ids = applying.map((i) => i.rule.id);
  const reason = applying.length === 0 ? resultText.noneApplied : (applying[0]!.rule.because ?? resultText.applied(ids));
  return { decision: "pass", determining: ids, reason, redactions, marks, seen, explain };
}
