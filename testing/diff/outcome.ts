// Comparing two decisions on one request: the decision kind, which rules decided, and the reasons they give. Rules are
// matched across the two versions by content first (a rule that moved, was split per tool, or had its conditions
// swapped is still itself), then, among the rest, by position: the third changed `forbid` of the old policy is the
// third changed `forbid` of the new one, so a rule whose condition changed still decides as itself where both versions
// apply it. The order in which several deciding rules are listed, and so which reason shows first, is not compared.
import type { Decision, DecisionKind } from "../../runtime/guard/types.js";
import type { ItemReads, PolicyReads } from "./reads.js";

/** The id and group a decision reports when no rule permits the call. */
export const DEFAULT_DENY = "default";

/** For each policy, its rule ids to the group of rules they match in the other policy, and the reason each gives. */
export interface Correspondence {
  readonly before: ReadonlyMap<string, { readonly group: string; readonly reason: string }>;
  readonly after: ReadonlyMap<string, { readonly group: string; readonly reason: string }>;
}

/** What a rule says when it decides, beside its id: a `because`, a rate limit's terms; requirements say their own text. */
function reasonOf(item: ItemReads): string {
  return item.reason ?? "";
}

/** Rules matched by identity, then the unmatched ones of each kind and effect by their order. */
export function correspond(before: PolicyReads, after: PolicyReads): Correspondence {
  const groupsBefore = new Map<string, { group: string; reason: string }>();
  const groupsAfter = new Map<string, { group: string; reason: string }>();
  const all = (r: PolicyReads): ItemReads[] => [...r.requirements, ...r.items];
  const afterIdentities = new Set(all(after).map((i) => i.identity));
  const beforeIdentities = new Set(all(before).map((i) => i.identity));
  for (const item of all(before)) if (afterIdentities.has(item.identity)) groupsBefore.set(item.id, { group: `=${item.identity}`, reason: reasonOf(item) });
  for (const item of all(after)) if (beforeIdentities.has(item.identity)) groupsAfter.set(item.id, { group: `=${item.identity}`, reason: reasonOf(item) });
  const unmatched = (r: PolicyReads, groups: Map<string, unknown>): Map<string, ItemReads[]> => {
    const byKind = new Map<string, ItemReads[]>();
    for (const item of all(r)) {
      if (groups.has(item.id)) continue;
      const kind = `${item.kind}:${item.effect ?? ""}`;
      byKind.set(kind, [...(byKind.get(kind) ?? []), item]);
    }
    return byKind;
  };
  const restBefore = unmatched(before, groupsBefore);
  const restAfter = unmatched(after, groupsAfter);
  for (const [kind, items] of restBefore) {
    const partners = restAfter.get(kind) ?? [];
    items.forEach((item, i) => {
      const group = `~${kind}#${i}`;
      groupsBefore.set(item.id, { group, reason: reasonOf(item) });
      const partner = partners[i];
      if (partner !== undefined) groupsAfter.set(partner.id, { group, reason: reasonOf(partner) });
    });
  }
  for (const [kind, items] of restAfter) {
    items.forEach((item, i) => {
      if (!groupsAfter.has(item.id)) groupsAfter.set(item.id, { group: `+${kind}#${i}`, reason: reasonOf(item) });
    });
  }
  return { before: groupsBefore, after: groupsAfter };
}

export interface Outcome {
  readonly decision: DecisionKind;
  /** Rule ids of the deciding rules, as the policy names them; `default` for the default deny. */
  readonly rules: readonly string[];
  /** Their groups, sorted. */
  readonly deciders: readonly string[];
  /** The reason each deciding group gives: what a changed `because` or limit changes. */
  readonly reasons: Readonly<Record<string, string>>;
  readonly reason: string;
}

/** What of a decision is compared, with its rules matched across the versions. */
export function outcomeOf(decision: Decision, groups: Correspondence["before"]): Outcome {
  const rules = decision.determining.length === 0 ? [DEFAULT_DENY] : decision.determining;
  const matched = rules.map((id) => groups.get(id) ?? { group: id, reason: "" });
  return {
    decision: decision.decision,
    rules,
    deciders: [...new Set(matched.map((m) => m.group))].sort(),
    reasons: Object.fromEntries(matched.map((m) => [m.group, m.reason])),
    reason: decision.reason,
  };
}

/** `decision`: the kind differs; `rule`: the same kind, decided by other rules; `reason`: the same rules, another reason. */
export type ChangeType = "decision" | "rule" | "reason";

export interface ChangeKind {
  readonly type: ChangeType;
  /**
   * Stable text naming the change: the tool, both kinds, the deciding rules only one side has, and those whose reason
   * changed. Rules deciding on both sides alike are left out, so the change is one kind whichever rules decide beside.
   */
  readonly key: string;
}

/** The kind of change between two outcomes of one request, or undefined when they are the same. */
export function changeOf(tool: string, before: Outcome, after: Outcome): ChangeKind | undefined {
  const removed = before.deciders.filter((g) => g !== DEFAULT_DENY && !after.deciders.includes(g));
  const added = after.deciders.filter((g) => g !== DEFAULT_DENY && !before.deciders.includes(g));
  const reworded = before.deciders.filter((g) => after.deciders.includes(g) && before.reasons[g] !== after.reasons[g]);
  const type: ChangeType | undefined =
    before.decision !== after.decision ? "decision" : removed.length > 0 || added.length > 0 ? "rule" : reworded.length > 0 ? "reason" : undefined;
  if (type === undefined) return undefined;
  return { type, key: JSON.stringify([tool, before.decision, after.decision, removed, added, reworded]) };
}

/** A short signature of the path a request took through both policies, to tell apart the requests a search keeps. */
export function pathSignature(before: Outcome, after: Outcome): string {
  return `${before.decision}:${before.rules.join(",")}|${after.decision}:${after.rules.join(",")}`;
}
