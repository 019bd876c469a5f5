// Declarative tests: a `NAME.cases.json` file is a list of `{ "name"?, "request", "result"?, "expect": { "decision",
// "rule"?, "result"?, "seen"? } }` (`result`: a tools/call result for the result rules, expected to `pass` or `refuse`),
// each request exactly what `pqguard eval --request` reads. Each case is decided once, by both back ends.
import { readFile } from "node:fs/promises";
import { requestFromJson, RequestError } from "../../compiler/request.js";
import type { Decision, DecisionKind, GuardContext, GuardModule, GuardRequest, ResultDecision } from "../../runtime/guard/types.js";
import { DISAGREEMENT_CODE } from "./agreement.js";
import { decidedBy, decidedText, explanationLines } from "./decisions.js";
import { TestRunErrorCode, type TestOutcome } from "./results.js";

interface Expectation {
  readonly decision: DecisionKind;
  /** With a case's `result`: what the result rules make of it, `pass` or `refuse`. */
  readonly result?: "pass" | "refuse" | undefined;
  /** With `result: "pass"`: the `seen` labels the result records, in order. */
  readonly seen?: readonly string[] | undefined;
  readonly rule?: string | undefined;
}

interface Case {
  readonly name: string;
  readonly request: unknown;
  /** The tool's `tools/call` result, for the result rules to inspect once the call was decided as expected. */
  readonly result?: Readonly<Record<string, unknown>> | undefined;
  readonly expect: Expectation;
}

type Parsed = { readonly ok: true; readonly value: Case } | { readonly ok: false; readonly name: string; readonly message: string };

const KINDS: readonly string[] = ["allow", "deny", "ask"];
const CASE_KEYS = new Set(["name", "request", "expect", "result"]);
const EXPECT_KEYS = new Set(["decision", "rule", "result", "seen"]);

function isObject(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** One case, checked strictly: an unknown key (`expected`, `reqest`) is an error, not a case that tests nothing. */
function parseCase(value: unknown, index: number): Parsed {
  const fallback = `case ${index + 1}`;
  if (!isObject(value)) return { ok: false, name: fallback, message: `case ${index + 1} is not an object` };
  const name = typeof value["name"] === "string" ? value["name"] : isObject(value["request"]) && typeof value["request"]["tool"] === "string" ? `${fallback}: ${value["request"]["tool"]}` : fallback;
  const bad = (message: string): Parsed => ({ ok: false, name, message: `case ${index + 1} ${message}` });
  const unknown = Object.keys(value).find((k) => !CASE_KEYS.has(k));
  if (unknown !== undefined) return bad(`has an unknown field \`${unknown}\`; a case has \`name\`, \`request\` and \`expect\``);
  if (value["name"] !== undefined && typeof value["name"] !== "string") return bad("has a `name` that is not a string");
  if (!isObject(value["request"])) return bad("needs a `request` object, as `pqguard eval --request` reads");
  const expect = value["expect"];
  if (!isObject(expect)) return bad('needs an `expect` object such as `{ "decision": "deny" }`');
  const unknownExpect = Object.keys(expect).find((k) => !EXPECT_KEYS.has(k));
  if (unknownExpect !== undefined) return bad(`has an unknown field \`expect.${unknownExpect}\`; \`expect\` has \`decision\` and \`rule\``);
  const decision = expect["decision"];
  if (typeof decision !== "string" || !KINDS.includes(decision)) return bad("needs `expect.decision` to be `allow`, `deny` or `ask`");
  const rule = expect["rule"];
  if (rule !== undefined && typeof rule !== "string") return bad("has an `expect.rule` that is not a rule id such as `payments.policy:25`");
  const result = value["result"];
  const expectResult = expect["result"];
  const seen = expect["seen"];
  if (result !== undefined && !isObject(result)) return bad("has a `result` that is not a `tools/call` result object");
  if ((result === undefined) !== (expectResult === undefined)) return bad("needs `result` and `expect.result` together: the tool's result, and `pass` or `refuse`");
  if (expectResult !== undefined && expectResult !== "pass" && expectResult !== "refuse") return bad("needs `expect.result` to be `pass` or `refuse`");
  if (seen !== undefined && (!Array.isArray(seen) || seen.some((l) => typeof l !== "string"))) return bad("has an `expect.seen` that is not a list of labels");
  return {
    ok: true,
    value: { name, request: value["request"], result: result as Readonly<Record<string, unknown>> | undefined, expect: { decision: decision as DecisionKind, rule, result: expectResult as Expectation["result"], seen: seen as string[] | undefined } },
  };
}

function expectedText(expect: Expectation): string {
  return `\`${expect.decision}\`${expect.rule === undefined ? "" : ` by rule \`${expect.rule}\``}`;
}

function codeOf(error: unknown): string | undefined {
  return typeof error === "object" && error !== null && "code" in error && typeof error.code === "string" ? error.code : undefined;
}

/** Decides one case and compares the decision with what it expects. */
function runCase(file: string, guard: GuardModule, c: Case, now: number): TestOutcome {
  const failed = (code: string, message: string): TestOutcome => ({ file, name: c.name, status: "failed", problem: { code, message } });
  let input;
  try {
    input = requestFromJson(c.request, now);
  } catch (error) {
    if (!(error instanceof RequestError)) throw error;
    return failed(TestRunErrorCode.CasesInvalid, `the request of case \`${c.name}\` is not a request: ${error.message}`);
  }
  let decision: Decision;
  try {
    decision = guard.guard(input.request, input.context);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (codeOf(error) === DISAGREEMENT_CODE) return failed(DISAGREEMENT_CODE, message);
    return failed(TestRunErrorCode.CaseFailed, `the guard threw on the call to \`${input.request.tool}\`: ${message}`);
  }
  const { expect } = c;
  if (decision.decision === expect.decision && (expect.rule === undefined || decidedBy(decision, expect.rule))) {
    return c.result === undefined ? { file, name: c.name, status: "passed" } : runResult(file, guard, c, input, failed);
  }
  const sentence = `the call to \`${input.request.tool}\` was ${decidedText(decision)}, but ${expectedText(expect)} was expected.`;
  return failed(TestRunErrorCode.CaseFailed, [sentence, ...explanationLines(decision).map((l) => `  ${l}`)].join("\n"));
}

/** The result part of a case: the result rules' decision on `c.result`, against `expect.result` and `expect.seen`. */
function runResult(file: string, guard: GuardModule, c: Case, input: { request: GuardRequest; context: GuardContext }, failed: (code: string, message: string) => TestOutcome): TestOutcome {
  let decision: ResultDecision;
  try {
    if (guard.inspectResult === undefined) return failed(TestRunErrorCode.CaseFailed, `the guard has no result rules, but case \`${c.name}\` gives a result`);
    decision = guard.inspectResult(input.request, c.result!, input.context);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return failed(codeOf(error) === DISAGREEMENT_CODE ? DISAGREEMENT_CODE : TestRunErrorCode.CaseFailed, message);
  }
  const seenOk = c.expect.seen === undefined || JSON.stringify(c.expect.seen) === JSON.stringify(decision.seen);
  if (decision.decision === c.expect.result && seenOk) return { file, name: c.name, status: "passed" };
  const got = `${decision.decision} (${decision.reason}; seen ${JSON.stringify(decision.seen)})`;
  const wanted = `${c.expect.result}${c.expect.seen === undefined ? "" : ` with seen ${JSON.stringify(c.expect.seen)}`}`;
  return failed(TestRunErrorCode.CaseFailed, [`the result of \`${input.request.tool}\` was ${got}, but ${wanted} was expected.`, ...decision.explain.map((e) => `  ${e.rule} ${e.effect}: ${e.detail}`)].join("\n"));
}

/**
 * Runs every case of a cases file. `now` is the time of a request without `time`, as `pqguard eval` uses the clock;
 * a policy that reads the time should have cases that say it. A file that is not a list of cases is one failure.
 */
export async function runCasesFile(path: string, file: string, guard: GuardModule, now: number): Promise<TestOutcome[]> {
  let value: unknown;
  try {
    value = JSON.parse(await readFile(path, "utf8"));
  } catch (error) {
    const detail = error instanceof SyntaxError ? `it is not valid JSON: ${error.message}` : `it cannot be read (${codeOf(error) ?? "unreadable"})`;
    return [{ file, name: file, status: "failed", problem: { code: TestRunErrorCode.CasesInvalid, message: `\`${file}\` cannot be used: ${detail}` } }];
  }
  if (!Array.isArray(value)) {
    return [{ file, name: file, status: "failed", problem: { code: TestRunErrorCode.CasesInvalid, message: `\`${file}\` must be a JSON list of cases` } }];
  }
  return value.map((item, i) => {
    const parsed = parseCase(item, i);
    if (!parsed.ok) return { file, name: parsed.name, status: "failed", problem: { code: TestRunErrorCode.CasesInvalid, message: parsed.message } };
    return runCase(file, guard, parsed.value, now);
  });
}
