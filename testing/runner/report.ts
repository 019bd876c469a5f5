// The three views of a `pqguard test` run: text for people, JSON for programs, JUnit XML for CI. None shows a time or
// a duration, so the same seed gives the same report byte for byte.
import { basename } from "node:path";
import { countCoverage, percent, type ConditionCoverage, type CoverageCount, type PolicyCoverage } from "./coverage.js";
import { TestRunErrorCode, type PolicyResult, type RunResult, type TestOutcome } from "./results.js";

export interface RunCoverage {
  readonly percent: number;
  readonly count: ReturnType<typeof countCoverage>;
  /** False when `--min-coverage` was given and the run is below it. */
  readonly ok: boolean;
}

/** The run's coverage over every policy that ran: all items added up, so a large policy weighs more than a small one. */
export function runCoverage(result: RunResult): RunCoverage {
  const count = countCoverage(result.policies.flatMap((p) => (p.coverage === undefined ? [] : [p.coverage])));
  const value = percent(count.all);
  return { percent: value, count, ok: result.minCoverage === undefined || value >= result.minCoverage };
}

function allTests(result: RunResult): TestOutcome[] {
  return [...result.policies.flatMap((p) => p.tests), ...result.problems];
}

function tally(tests: readonly TestOutcome[]): { passed: number; failed: number; skipped: number } {
  return {
    passed: tests.filter((t) => t.status === "passed").length,
    failed: tests.filter((t) => t.status === "failed").length,
    skipped: tests.filter((t) => t.status === "skipped").length,
  };
}

/** Whether the run fails: a failed test or problem, or coverage below the minimum. */
export function hasFailures(result: RunResult): boolean {
  return tally(allTests(result)).failed > 0 || !runCoverage(result).ok;
}

function fixed(value: number): string {
  return value.toFixed(1);
}

function never(c: ConditionCoverage): string[] {
  return [...(c.seenTrue ? [] : ["true"]), ...(c.seenFalse ? [] : ["false"])];
}

function conditionName(c: ConditionCoverage): string {
  return c.part === "require" ? `requirement \`${c.text}\` (${c.rule})` : `condition \`${c.text}\` (${c.part} of ${c.rule})`;
}

/** What no test covered, one line each. */
function uncoveredLines(coverage: PolicyCoverage): string[] {
  return [
    ...coverage.rules.filter((r) => !r.covered).map((r) => `rule ${r.id} never decided a call nor matched`),
    ...coverage.conditions.filter((c) => never(c).length > 0).map((c) => `${conditionName(c)} never ${never(c).join(" nor ")}`),
    ...coverage.tools.filter((t) => !t.called).map((t) => `tool \`${t.name}\` never called`),
  ];
}

function countText(count: ReturnType<typeof countCoverage>): string {
  const part = (c: CoverageCount): string => `${c.covered}/${c.total}`;
  return `rules ${part(count.rules)}, condition outcomes ${part(count.conditions)}, tools ${part(count.tools)}`;
}

// ---------------------------------------------------------------------------------------------------------
// Text

function testLines(test: TestOutcome): string[] {
  const mark = test.status === "passed" ? "ok  " : test.status === "failed" ? "FAIL" : "skip";
  const lines = [`    ${mark} ${test.name}`];
  if (test.problem !== undefined) {
    const [first = "", ...rest] = test.problem.message.split("\n");
    lines.push(`         ${test.problem.code} ${first}`, ...rest.map((line) => `         ${line}`));
  }
  return lines;
}

function policyText(policy: PolicyResult): string[] {
  const lines = [policy.policy];
  if (policy.tests.length === 0) lines.push("  no tests: add NAME.cases.json or NAME.properties.test.mjs beside the policy");
  let file: string | undefined;
  for (const test of policy.tests) {
    if (test.file !== file && test.file !== policy.policy) lines.push(`  ${basename(test.file)}`);
    file = test.file;
    lines.push(...testLines(test));
  }
  if (policy.coverage !== undefined) {
    const count = countCoverage([policy.coverage]);
    lines.push(`  coverage ${fixed(percent(count.all))}% (${countText(count)})`, ...uncoveredLines(policy.coverage).map((l) => `    ${l}`));
  }
  return lines;
}

export function formatText(result: RunResult): string {
  const lines: string[] = [];
  for (const policy of result.policies) lines.push(...policyText(policy), "");
  for (const problem of result.problems) lines.push(...testLines(problem).map((l) => l.slice(2)), "");
  const counts = tally(allTests(result));
  const coverage = runCoverage(result);
  const minimum = result.minCoverage === undefined ? "" : coverage.ok ? ` (minimum ${result.minCoverage}%)` : `, below the minimum of ${result.minCoverage}%`;
  const policies = `${result.policies.length} ${result.policies.length === 1 ? "policy" : "policies"}`;
  lines.push(`${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped in ${policies}; coverage ${fixed(coverage.percent)}%${minimum} (${countText(coverage.count)})`);
  if (!coverage.ok) lines.push(`error ${TestRunErrorCode.CoverageTooLow}: coverage ${fixed(coverage.percent)}% is below the minimum of ${result.minCoverage}%`);
  lines.push(`seed ${result.seed}: \`--seed ${result.seed}\` runs the same tests again`);
  return `${lines.join("\n")}\n`;
}

// ---------------------------------------------------------------------------------------------------------
// JSON

function countJson(c: CoverageCount): { covered: number; total: number; percent: number } {
  return { covered: c.covered, total: c.total, percent: percent(c) };
}

function coverageJson(coverage: PolicyCoverage): unknown {
  const count = countCoverage([coverage]);
  return {
    ...countJson(count.all),
    rules: { ...countJson(count.rules), uncovered: coverage.rules.filter((r) => !r.covered).map((r) => r.id) },
    conditions: {
      ...countJson(count.conditions),
      uncovered: coverage.conditions.filter((c) => never(c).length > 0).map((c) => ({ rule: c.rule, part: c.part, text: c.text, never: never(c) })),
    },
    tools: { ...countJson(count.tools), uncovered: coverage.tools.filter((t) => !t.called).map((t) => t.name) },
  };
}

function testJson(test: TestOutcome): unknown {
  return { file: test.file, name: test.name, status: test.status, ...(test.problem === undefined ? {} : { code: test.problem.code, message: test.problem.message }) };
}

export function formatJson(result: RunResult): string {
  const coverage = runCoverage(result);
  const report = {
    seed: result.seed,
    runs: result.runs ?? null,
    summary: { ...tally(allTests(result)), policies: result.policies.length },
    coverage: {
      ...countJson(coverage.count.all),
      rules: countJson(coverage.count.rules),
      conditions: countJson(coverage.count.conditions),
      tools: countJson(coverage.count.tools),
      minimum: result.minCoverage ?? null,
      ok: coverage.ok,
    },
    policies: result.policies.map((p) => ({
      policy: p.policy,
      coverage: p.coverage === undefined ? null : coverageJson(p.coverage),
      tests: p.tests.map(testJson),
    })),
    problems: result.problems.map(testJson),
  };
  return `${JSON.stringify(report, null, 2)}\n`;
}

// ---------------------------------------------------------------------------------------------------------
// JUnit XML

/**
 * Text as XML 1.0 character data or an attribute value: the five markup characters escaped, line breaks and tabs kept
 * as character references (an attribute would otherwise read them as spaces), and characters XML 1.0 cannot carry at
 * all (most control characters, lone surrogates, U+FFFE/U+FFFF) replaced by U+FFFD.
 */
export function xmlText(text: string): string {
  return text
    .replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, "\uFFFD")
    .replace(/[&<>"'\t\n\r]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function attributes(values: Readonly<Record<string, string | number>>): string {
  return Object.entries(values)
    .map(([name, value]) => ` ${name}="${xmlText(String(value))}"`)
    .join("");
}

function testcaseXml(test: TestOutcome): string[] {
  const open = `    <testcase${attributes({ classname: test.file, name: test.name })}`;
  if (test.problem === undefined) return [`${open}/>`];
  const [sentence = ""] = test.problem.message.split("\n");
  const element = test.status === "skipped" ? "skipped" : "failure";
  return [
    `${open}>`,
    `      <${element}${attributes({ type: test.problem.code, message: sentence })}>${xmlText(test.problem.message)}</${element}>`,
    `    </testcase>`,
  ];
}

function suiteXml(name: string, tests: readonly TestOutcome[], properties: Readonly<Record<string, string | number>>): string[] {
  const counts = tally(tests);
  return [
    `  <testsuite${attributes({ name, tests: tests.length, failures: counts.failed, errors: 0, skipped: counts.skipped })}>`,
    "    <properties>",
    ...Object.entries(properties).map(([key, value]) => `      <property${attributes({ name: key, value })}/>`),
    "    </properties>",
    ...tests.flatMap(testcaseXml),
    "  </testsuite>",
  ];
}

/** The coverage minimum as one test, so a CI that reads only the XML fails where the command does. */
function coverageTest(result: RunResult, coverage: RunCoverage): TestOutcome[] {
  if (result.minCoverage === undefined) return [];
  const name = `coverage is at least ${result.minCoverage}%`;
  if (coverage.ok) return [{ file: "coverage", name, status: "passed" }];
  const message = `coverage ${fixed(coverage.percent)}% is below the minimum of ${result.minCoverage}% (${countText(coverage.count)})`;
  return [{ file: "coverage", name, status: "failed", problem: { code: TestRunErrorCode.CoverageTooLow, message } }];
}

export function formatJunit(result: RunResult): string {
  const coverage = runCoverage(result);
  const run = [...result.problems, ...coverageTest(result, coverage)];
  const everything = [...allTests(result), ...coverageTest(result, coverage)];
  const counts = tally(everything);
  const suites = result.policies.flatMap((p) => {
    const percentage = p.coverage === undefined ? "none" : fixed(percent(countCoverage([p.coverage]).all));
    return suiteXml(p.policy, p.tests, { seed: result.seed, coverage: percentage });
  });
  const runSuite = run.length === 0 ? [] : suiteXml("pqguard test", run, { seed: result.seed, coverage: fixed(coverage.percent) });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites${attributes({ name: "pqguard test", tests: everything.length, failures: counts.failed, errors: 0, skipped: counts.skipped })}>`,
    ...suites,
    ...runSuite,
    "</testsuites>",
    "",
  ].join("\n");
}
