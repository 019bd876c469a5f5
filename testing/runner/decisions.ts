// How the assertions and `pqguard test` speak of a decision: which rule decided it, and the explanation entries that
// matched. One place, so a failed assertion and a failed case read the same.
import type { Decision, DecisionKind } from "../../runtime/guard/types.js";

/** The id a test names for the default deny, which has no determining rule. */
export const DEFAULT_RULE = "default";

const VERB: Readonly<Record<DecisionKind, string>> = { allow: "allowed", deny: "denied", ask: "sent for approval" };

/** Whether `ruleId` decided: it is one of the determining rules, or `default` for the default deny. */
export function decidedBy(decision: Decision, ruleId: string): boolean {
  return ruleId === DEFAULT_RULE ? decision.determining.length === 0 : decision.determining.includes(ruleId);
}

/** `rule \`payments.policy:18\``, `rules \`a\`, \`b\``, or `the default deny`. */
export function deciders(decision: Decision): string {
  const ids = decision.determining;
  if (ids.length === 0) return "the default deny";
  return `${ids.length === 1 ? "rule" : "rules"} ${ids.map((id) => `\`${id}\``).join(", ")}`;
}

/** `allowed by rule \`payments.policy:18\``: the decision and what decided it, as the middle of a sentence. */
export function decidedText(decision: Decision): string {
  return `${VERB[decision.decision]} by ${deciders(decision)}`;
}

/** The reason and each explanation entry that matched, one line each, for the lines under a failure's sentence. */
export function explanationLines(decision: Decision): string[] {
  const matched = decision.explain.filter((e) => e.matched);
  return [`reason: ${decision.reason}`, ...matched.map((e) => `matched: ${e.rule} (${e.effect}) ${e.detail}`)];
}
