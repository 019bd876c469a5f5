// `pqguard test` as a function: finds each policy's test files, checks and compiles the policy, runs its cases and
// property files on both back ends at once (agreement.ts), and adds up coverage from the decisions the tests made.
import { relative, sep } from "node:path";
import type { CheckedPolicy as PublicCheckedPolicy } from "../../compiler/index.js";
import { importGuard } from "../../compiler/import-guard.js";
import { interpret } from "../../compiler/interpreter.js";
import type { CheckedPolicy } from "../../compiler/ir.js";
import { checkPolicyFile } from "../../compiler/load.js";
import { renderDiagnostics } from "../../compiler/render.js";
import type { GuardModule } from "../../runtime/guard/types.js";
import { agreeingGuard } from "./agreement.js";
import { runCasesFile } from "./cases.js";
import { CoverageTracker } from "./coverage.js";
import { discover, type PolicyTests } from "./discover.js";
import { runPropertyFile, typeScriptImporter, type FastCheckGlobals, type TypeScriptImporter } from "./properties.js";
import { TestRunErrorCode, type PolicyResult, type RunResult, type TestOutcome } from "./results.js";

export { DiscoveryError } from "./discover.js";
export { formatJson, formatJunit, formatText, hasFailures, runCoverage } from "./report.js";
export type { PolicyResult, RunResult, TestOutcome } from "./results.js";

export interface RunOptions {
  /** Policy files, test files or folders, relative to `cwd`. */
  readonly paths: readonly string[];
  readonly cwd: string;
  /** The run's seed; every property's fast-check seed derives from it. */
  readonly seed: number;
  /** fast-check runs per property; fast-check's default (100) when absent. */
  readonly runs?: number | undefined;
  readonly minCoverage?: number | undefined;
  /** The time of a case request without `time`, epoch ms. */
  readonly now: number;
}

/** A path as reports show it: relative to the working directory, with `/` on every system. */
function shown(cwd: string, path: string): string {
  return relative(cwd, path).split(sep).join("/");
}

/** fast-check, loaded once and only when some policy has property files: cases alone do not need it. */
function fastCheckLoader(): () => Promise<FastCheckGlobals | undefined> {
  let loading: Promise<FastCheckGlobals | undefined> | undefined;
  return () => {
    loading ??= import("fast-check").then(
      (module) => ((module as { default?: FastCheckGlobals }).default ?? (module as unknown as FastCheckGlobals)),
      () => undefined,
    );
    return loading;
  };
}

interface Backends {
  readonly compiled: GuardModule;
  readonly interpreted: GuardModule;
  readonly policy: CheckedPolicy;
}

/** Checks and compiles a policy; a message with its diagnostics when it cannot be tested. */
async function prepare(path: string, display: string): Promise<Backends | string> {
  const outcome = await checkPolicyFile(path, { displayName: display });
  const errors = outcome.diagnostics.filter((d) => d.severity === "error");
  if (outcome.policy === undefined || errors.length > 0) {
    return `\`${display}\` has errors, so none of its tests ran:\n${renderDiagnostics(errors, { [display]: outcome.source }, "text").trimEnd()}`;
  }
  try {
    return { compiled: await importGuard(outcome.policy), interpreted: interpret(outcome.policy), policy: outcome.policy };
  } catch (error) {
    return `the compiled guard of \`${display}\` could not be loaded: ${error instanceof Error ? error.message : String(error)}`;
  }
}

interface RunContext {
  readonly loadFastCheck: () => Promise<FastCheckGlobals | undefined>;
  readonly importTypeScript: TypeScriptImporter | undefined;
}

async function runPolicy(tests: PolicyTests, options: RunOptions, run: RunContext): Promise<PolicyResult> {
  const display = shown(options.cwd, tests.policy);
  const prepared = await prepare(tests.policy, display);
  if (typeof prepared === "string") {
    return { policy: display, tests: [{ file: display, name: display, status: "failed", problem: { code: TestRunErrorCode.PolicyInvalid, message: prepared } }] };
  }
  const tracker = new CoverageTracker(prepared.policy);
  const guard = agreeingGuard(prepared.compiled, prepared.interpreted, (request, decision) => tracker.record(request, decision), (request, decision) => tracker.recordResult(request, decision));
  const subject = {
    guard,
    // The public, opaque handle of the same object: what `pqguard/compiler` hands out.
    policy: prepared.policy as unknown as PublicCheckedPolicy,
    manifest: prepared.policy.tools.map((t) => t.definition),
  };
  const outcomes: TestOutcome[] = [];
  for (const file of tests.files) {
    const name = shown(options.cwd, file.path);
    if (file.kind === "cases") {
      outcomes.push(...(await runCasesFile(file.path, name, guard, options.now)));
      continue;
    }
    const fastCheck = await run.loadFastCheck();
    if (fastCheck === undefined) {
      const message = `\`${name}\` needs fast-check, which cannot be imported from here; install it (\`npm install --save-dev fast-check\`)`;
      outcomes.push({ file: name, name, status: "failed", problem: { code: TestRunErrorCode.FastCheckMissing, message } });
      continue;
    }
    outcomes.push(...(await runPropertyFile(file.path, name, subject, { seed: options.seed, runs: options.runs, fastCheck, importTypeScript: run.importTypeScript })));
  }
  return { policy: display, tests: outcomes, coverage: tracker.coverage() };
}

/** Runs the tests of every policy under the given paths. Throws DiscoveryError when there is nothing to run. */
export async function runTests(options: RunOptions): Promise<RunResult> {
  const found = await discover(options.paths, options.cwd);
  const run: RunContext = { loadFastCheck: fastCheckLoader(), importTypeScript: typeScriptImporter(options.cwd) };
  const policies: PolicyResult[] = [];
  for (const tests of found.policies) policies.push(await runPolicy(tests, options, run));
  const problems = found.orphans.map((path): TestOutcome => {
    const file = shown(options.cwd, path);
    const message = `\`${file}\` lies beside no policy of its name, so it never runs; name it after its policy, as \`NAME.cases.json\` beside \`NAME.policy\``;
    return { file, name: file, status: "failed", problem: { code: TestRunErrorCode.OrphanTestFile, message } };
  });
  return { seed: options.seed, runs: options.runs, policies, problems, minCoverage: options.minCoverage };
}
