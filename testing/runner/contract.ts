// The contract between `pqguard test` and a property file (`NAME.properties.test.mjs`): the file default-exports a
// function of the policy under test and declares its tests with `t.it`; the runner calls it once and runs the tests.
import type { CheckedPolicy } from "../../compiler/index.js";
import type { GuardModule } from "../../runtime/guard/types.js";

/** One test: throws (an assertion's GuardAssertionError, or any error) to fail. May return a promise. */
export type PropertyTest = () => void | Promise<void>;

/** What a property file's default export receives. */
export interface PolicyUnderTest {
  /**
   * The policy's guard. Each call is decided by the compiled guard and by the reference interpreter; the two decisions
   * must be the same, or the call throws a PQG9504 error naming both, so every assertion is also a differential test.
   */
  readonly guard: GuardModule;
  /** The checked policy: its name, file name, digest and tools, for `pqguard/compiler` and the arbitraries. */
  readonly policy: CheckedPolicy;
  /** The tools of the policy's manifests, what `toolCall(manifest, toolName?)` and `history(manifest)` take. */
  readonly manifest: readonly Readonly<Record<string, unknown>>[];
  /** Declares a test. The runner runs the tests in order, after the default export has returned (or settled). */
  it(name: string, test: PropertyTest): void;
}

/** The default export of a property file. */
export type PropertyFile = (t: PolicyUnderTest) => void | Promise<void>;
