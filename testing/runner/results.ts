// What a `pqguard test` run found, as data: the reports (text, JSON, JUnit) are views of it and nothing else, so the
// same run gives the same report in every format.
import { errorCatalogue } from "../../runtime/errors.js";
import type { PolicyCoverage } from "./coverage.js";

export const TEST_RUN_ERRORS = errorCatalogue("pqguard test", "test report", [[9510, 9549]], {
  CaseFailed: ["PQG9510", "A case's call got another decision, or another deciding rule, than the case expects."],
  CasesInvalid: ["PQG9511", "A cases file is not JSON, not a list of cases, or a case is not shaped as one."],
  PropertyFileInvalid: ["PQG9512", "A property file could not be loaded, or does not default-export a function of the policy under test."],
  PolicyInvalid: ["PQG9513", "The policy has errors, or its compiled guard could not be loaded."],
  NothingToTest: ["PQG9514", "A PATH does not exist, or there is no policy under the PATHs given."],
  TypeScriptSkipped: ["PQG9515", "A TypeScript property file, skipped because the project cannot import TypeScript (tsx is not installed)."],
  FastCheckMissing: ["PQG9516", "Property files need fast-check, and it cannot be imported."],
  OrphanTestFile: ["PQG9517", "A test file next to no policy of its name: it would never run."],
  TestThrew: ["PQG9518", "A property test threw an error that carries no code of its own (a plain `assert`, a typo in the file)."],
  CoverageTooLow: ["PQG9519", "The run's coverage is below `--min-coverage`."],
});

/** The codes by name. */
export const TestRunErrorCode = TEST_RUN_ERRORS.codes;

export type TestStatus = "passed" | "failed" | "skipped";

export interface TestOutcome {
  /** The test file, relative to the working directory, `/`-separated. */
  readonly file: string;
  readonly name: string;
  readonly status: TestStatus;
  /** Why it failed or was skipped: a code and a message (first line one sentence, details after). */
  readonly problem?: { readonly code: string; readonly message: string } | undefined;
}

export interface PolicyResult {
  /** The policy file, relative to the working directory, `/`-separated. */
  readonly policy: string;
  readonly tests: readonly TestOutcome[];
  /** Absent when the policy could not be checked or compiled, so no test ran. */
  readonly coverage?: PolicyCoverage | undefined;
}

export interface RunResult {
  /** The seed every property's fast-check seed was derived from: `--seed` reproduces the run. */
  readonly seed: number;
  /** `--runs`, the fast-check runs of each property; absent for fast-check's own default (100). */
  readonly runs?: number | undefined;
  readonly policies: readonly PolicyResult[];
  /** Run-level failures that belong to no policy: test files beside no policy of their name. */
  readonly problems: readonly TestOutcome[];
  /** `--min-coverage`, when given. */
  readonly minCoverage?: number | undefined;
}
