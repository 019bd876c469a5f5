// The code generator's part for result rules: `inspectResult(request, result, context)`, a switch on the tool name
// into one straight-line function per tool that evaluates its result rules to outcome codes, then `decideResult`.
import { targets } from "./analysis.js";
import { resultOutline, resultRuleTools, type ResultOutline } from "./analysis-results.js";
import type { ExprCompiler, ModuleWriter } from "./codegen.js";
import type { CheckedPolicy } from "./ir.js";

const q = (text: string): string => JSON.stringify(text);

/** Explanation sentences, worded exactly as runtime/guard/helpers.ts `explainText` words them at run time. */
const wasFalse = (c: string): string => `\`${c}\` was false`;
const unlessHeld = (c: string): string => `unless \`${c}\` held`;

/** The exported function's signature and documentation; `GuardModule.inspectResult` is its contract. */
export const RESULT_FUNCTION = {
  doc: "/** Applies the result rules to what `request.tool` sent back: refuse, or pass with redactions and marks. */",
  signature: { name: "inspectResult", params: [["request", "GuardRequest"], ["result", "CallResult"], ["context", "GuardContext"]] as const, returns: "ResultDecision" },
};

/** The hoisted ResultStep of one rule, and the statements that leave its outcome code in `c`. */
function ruleSteps(item: ResultOutline, index: number, w: ModuleWriter, ex: ExprCompiler): { step: string; lines: string[] } {
  const { rule } = item;
  const redaction = rule.pattern === undefined
    ? "undefined"
    : `Object.freeze({ rule: ${q(rule.id)}, source: ${q(rule.pattern.source)}, flags: ${q(rule.pattern.flags)}, replacement: ${q(rule.label!)} })`;
  const outcomes: string[] = [];
  const clauses: [string, boolean, number][] = [];
  if (item.when.length === 0 && item.unless === undefined) {
    outcomes.push(w.explanation(rule.id, rule.action, true, "no conditions"));
  } else {
    outcomes.push(w.explanation(rule.id, rule.action, true, "all conditions held"));
    for (const clause of item.when) {
      outcomes.push(w.explanation(rule.id, rule.action, false, wasFalse(clause.text)));
      clauses.push([ex.as(clause.expr, "boolean"), false, outcomes.length - 1]);
    }
    if (item.unless !== undefined) {
      outcomes.push(w.explanation(rule.id, rule.action, false, unlessHeld(item.unless.text)));
      clauses.push([ex.as(item.unless.expr, "boolean"), true, outcomes.length - 1]);
    }
  }
  const step = w.hoist(
    "RSTEP",
    "ResultStep",
    `Object.freeze({ id: ${q(rule.id)}, action: ${q(rule.action)}${w.ts(" as const")}, because: ${rule.because === undefined ? "undefined" : q(rule.because)}, redaction: ${redaction}, label: ${rule.label === undefined ? "undefined" : q(rule.label)}, seen: ${rule.seen}, outcomes: Object.freeze([${outcomes.join(", ")}]) })`,
  );
  const target = rule.tools === "*" ? "*" : rule.tools.join(", ");
  const lines = [`  // ${`${rule.id}: ${rule.action} result of ${target}`.replace(/[\r\n\u2028\u2029]/g, " ")}`];
  if (clauses.length === 0) return { step, lines };
  const texts = w.hoist("CLAUSES", "readonly string[]", `Object.freeze(${JSON.stringify([...item.when.map((c) => c.text), ...(item.unless === undefined ? [] : [item.unless.text])])})`);
  const c = `c${index}`;
  const label = `rule_${c}`;
  lines.push("  {", "    let clause = 0;", `    ${label}: try {`);
  clauses.forEach(([code, unless, outcome], i) => {
    if (i > 0) lines.push(`      clause = ${i};`);
    lines.push(`      if (${unless ? code : `!(${code})`}) {`, `        ${c} = ${outcome};`, `        break ${label};`, "      }");
  });
  lines.push(
    "    } catch (error) {",
    `      ${c} = -1;`,
    `      (dynamic ??= [])[${index}] = { rule: ${q(rule.id)}, effect: ${q(rule.action)}, matched: true, detail: explainText.notEvaluated(${texts}[clause]${w.ts("!")}, failureDetail(error)) };`,
    "    }",
    "  }",
  );
  return { step, lines };
}

/** One tool's result function (`tool` undefined: tools no result rule names, which only `*` rules reach). */
function toolResultFunction(name: string, tool: string | undefined, w: ModuleWriter, ex: ExprCompiler, items: readonly ResultOutline[]): string {
  const applicable = items.filter((i) => (tool === undefined ? i.rule.tools === "*" : targets(i.rule.tools, tool)));
  const sig = `function ${w.signature({ name, params: [["request", "GuardRequest"], ["r", "ResultView"], ["context", "GuardContext"], ["a", "Readonly<Record<string, unknown>>"]], returns: "ResultDecision" })} {`;
  if (applicable.length === 0) return [sig, `  return ${w.use("RESULT_PASS")};`, "}"].join("\n");
  w.use("decideResult");
  w.use("failureDetail");
  w.use("explainText");
  const steps: string[] = [];
  const body: string[] = [];
  applicable.forEach((item, i) => {
    const { step, lines } = ruleSteps(item, i, w, ex);
    steps.push(step);
    body.push(...lines);
  });
  const plan = w.hoist("RPLAN", "readonly ResultStep[]", `Object.freeze([${steps.join(", ")}])`);
  return [
    sig,
    `  let ${steps.map((_, i) => `c${i} = 0`).join(", ")};`,
    `  let ${w.typed("dynamic", "(Explanation | undefined)[] | undefined")};`,
    ...body,
    `  return decideResult(${plan}, [${steps.map((_, i) => `c${i}`).join(", ")}], dynamic);`,
    "}",
  ].join("\n");
}

/** The module's result functions and the exported `inspectResult`. */
export function resultFunctions(policy: CheckedPolicy, w: ModuleWriter, ex: ExprCompiler, emptyArgs: string): string {
  const items = resultOutline(policy);
  w.types.add("ResultDecision");
  w.types.add("CallResult");
  const exported = `export function ${w.signature(RESULT_FUNCTION.signature)} {`;
  if (items.length === 0) {
    return [RESULT_FUNCTION.doc, exported, `  return ${w.use("RESULT_PASS")};`, "}"].join("\n");
  }
  w.types.add("ResultView");
  w.types.add("ResultStep");
  w.use("resultView");
  w.use("isJsonObject");
  const names = resultRuleTools(policy);
  const functions = names.map((tool, i) => `// results of ${tool.replace(/[\r\n\u2028\u2029]/g, " ")}\n${toolResultFunction(`result${i}`, tool, w, ex, items)}`);
  functions.push(`// results of every tool no result rule names\n${toolResultFunction("otherResult", undefined, w, ex, items)}`);
  const cases = names.map((tool, i) => `    case ${q(tool)}:\n      return result${i}(request, r, context, a);`);
  return [
    ...functions,
    "",
    RESULT_FUNCTION.doc,
    exported,
    `  const a = isJsonObject(request.args) ? request.args : ${emptyArgs};`,
    `  const r = resultView(isJsonObject(result) ? result : ${emptyArgs});`,
    "  switch (request.tool) {",
    ...cases,
    "    default:",
    "      return otherResult(request, r, context, a);",
    "  }",
    "}",
  ].join("\n");
}
