// `pqguard diff`'s two report formats: text for people (each change, its counterexample, then what the search covered)
// and JSON with the same content. Neither holds a time or anything else that varies between runs of one seed.
import type { DecisionSide, ManifestChange, PolicyChange, PolicyDiff } from "./index.js";
import type { ToolResult } from "./search.js";

export interface DiffFormatOptions {
  /** The two files as the user named them. */
  readonly before: string;
  readonly after: string;
}

const ARROW = "\u2192";

function plural(n: number, word: string, many = `${word}s`): string {
  return `${n.toLocaleString("en-US")} ${n === 1 ? word : many}`;
}

function rulesText(s: DecisionSide): string {
  return s.rules.map((r) => (r === "default" ? "the default deny" : r)).join(", ");
}

/** `process_refund, args.amount in (5000, 6000]: deny → ask`. */
export function changeTitle(c: PolicyChange): string {
  const where = [c.tool, ...c.region].join(", ");
  const what =
    c.type === "decision"
      ? `${c.before.decision} ${ARROW} ${c.after.decision}`
      : `${c.before.decision} ${ARROW} ${c.after.decision}, ${c.type === "rule" ? "decided by other rules" : "with another reason"}`;
  return `${where}: ${what}`;
}

function manifestText(m: ManifestChange): string {
  if (m.change === "removed") return `${m.tool}: only the old policy's manifests define it`;
  if (m.change === "added") return `${m.tool}: only the new policy's manifests define it`;
  return `${m.tool}: its definition differs between the two manifests (its digest changed)`;
}

function coverageText(t: ToolResult): string {
  switch (t.method) {
    case "unchanged":
      return "the same rules in both policies, and the requirements decide alike";
    case "exhaustive":
      return `checked exhaustively: all ${plural(t.classes ?? 0, "class", "classes")} of requests its rules tell apart`;
    case "search":
      return `searched ${plural(t.requests, "request")}; not exhaustive, because ${t.why ?? "its inputs are not finite"}`;
    case "only-old":
      return "in the old policy's manifests only: not compared";
    case "only-new":
      return "in the new policy's manifests only: not compared";
  }
}

function requirementsText(diff: PolicyDiff): string {
  switch (diff.requirements) {
    case "same":
      return "the same in both";
    case "proved":
      return "written differently, and checked exhaustively to decide every session alike";
    case "searched":
      return "written differently; no session was found that they decide differently, but the search is not exhaustive";
    case "differs":
      return "decide some sessions differently";
  }
}

function indent(text: string, by: string): string {
  return text
    .split("\n")
    .map((line) => `${by}${line}`)
    .join("\n");
}

/** Tools with the same coverage text share a line. */
function coverageLines(tools: readonly ToolResult[]): string[] {
  const groups = new Map<string, string[]>();
  for (const t of tools) {
    const text = coverageText(t);
    groups.set(text, [...(groups.get(text) ?? []), t.tool]);
  }
  const notes = tools.flatMap((t) => t.notes.map((n) => `  note: ${n}`));
  return [...[...groups.entries()].map(([text, names]) => `  ${names.join(", ")}: ${text}`), ...[...new Set(notes)]];
}

/** The report for people: each change with its counterexample, then what was compared, the verdict and the seed. */
export function formatDiffText(diff: PolicyDiff, options: DiffFormatOptions): string {
  const lines: string[] = [];
  const count = diff.manifest.length + diff.changes.length;
  lines.push(`${options.before} ${ARROW} ${options.after}: ${count === 0 ? "no change found" : plural(count, "change")}`);
  for (const d of diff.disagreements) {
    lines.push(
      "",
      `the compiled guard of ${d.policy === "before" ? options.before : options.after} and the interpreter disagree: the compiled guard decided ${d.compiled}, the interpreter ${d.interpreted}, on`,
      indent(JSON.stringify(d.request, null, 2), "    "),
    );
  }
  for (const m of diff.manifest) lines.push("", manifestText(m));
  for (const c of diff.changes) {
    lines.push(
      "",
      changeTitle(c),
      `  before: ${c.before.decision} by ${rulesText(c.before)}: ${c.before.reason}`,
      `  after:  ${c.after.decision} by ${rulesText(c.after)}: ${c.after.reason}`,
      `  ${plural(c.found, "request")} showed it${c.argsValid ? "" : "; the arguments of this one break the tool's inputSchema (the guard decides on whatever a client sends)"}; the smallest, as \`pqguard eval --request\` reads it:`,
      indent(JSON.stringify(c.request, null, 2), "    "),
    );
  }
  lines.push("", "what was compared:", `  requirements: ${requirementsText(diff)}`, ...coverageLines(diff.tools));
  const verdict = diff.exhaustive
    ? count === 0
      ? "no change: every tool was checked exhaustively or has the same rules in both"
      : "every tool was checked exhaustively or has the same rules in both: these are all the kinds of change"
    : "this is a search: a change it did not meet can remain (cedar symcc proves equivalence with an SMT solver; this does not)";
  lines.push("", verdict, `seed ${diff.seed}: \`--seed ${diff.seed}\` searches the same requests again`, "");
  return lines.join("\n");
}

/** The same content as one JSON object. */
export function formatDiffJson(diff: PolicyDiff, options: DiffFormatOptions): string {
  const document = {
    before: options.before,
    after: options.after,
    same: diff.same,
    exhaustive: diff.exhaustive,
    disagreements: diff.disagreements,
    seed: diff.seed,
    runs: diff.runs,
    requests: diff.requests,
    requirements: diff.requirements,
    manifest: diff.manifest,
    changes: diff.changes.map((c) => ({ title: changeTitle(c), ...c })),
    tools: diff.tools.map((t) => ({ ...t, coverage: coverageText(t) })),
  };
  return `${JSON.stringify(document, null, 2)}\n`;
}
