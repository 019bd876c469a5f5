// Property files: `NAME.properties.test.{js,mjs,ts}` default-exports `(t) => void` and declares tests with `t.it`
// (contract.ts). Each test runs with a fast-check seed derived from the run's seed, the file and the test's name, set
// through fast-check's global configuration, so a run is reproduced by its seed and one test does not shift another.
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import type { PolicyUnderTest, PropertyFile, PropertyTest } from "./contract.js";
import { PqguardError } from "../../runtime/errors.js";
import { TestRunErrorCode, type TestOutcome } from "./results.js";

/** A property file that misuses the contract: `t.it` called late or with the wrong arguments. */
export class PropertyFileError extends PqguardError {
  declare readonly code: typeof TestRunErrorCode.PropertyFileInvalid;
  constructor(message: string) {
    super(TestRunErrorCode.PropertyFileInvalid, message);
    this.name = "PropertyFileError";
  }
}

/** Imports a TypeScript file, when the project under test can (tsx resolvable from its folder). */
export type TypeScriptImporter = (path: string) => Promise<unknown>;

/** What fast-check offers for run-wide settings; a structural type, so this module does not load fast-check itself. */
export interface FastCheckGlobals {
  configureGlobal(parameters: Record<string, unknown>): void;
  readConfigureGlobal(): Record<string, unknown>;
}

export interface PropertyRunOptions {
  readonly seed: number;
  readonly runs?: number | undefined;
  readonly fastCheck: FastCheckGlobals;
  readonly importTypeScript: TypeScriptImporter | undefined;
}

/**
 * tsx's `tsImport`, found from `cwd` as the user's project would find it. pqguard itself never needs tsx: without it a
 * TypeScript property file is skipped with a message, and `.js`/`.mjs` files run as they are.
 */
export function typeScriptImporter(cwd: string): TypeScriptImporter | undefined {
  const api = tsxApi(cwd);
  if (api === undefined) return undefined;
  type TsImport = (specifier: string, parent: string) => Promise<unknown>;
  return async (path) => {
    const module = (await import(pathToFileURL(api).href)) as { tsImport?: TsImport };
    if (module.tsImport === undefined) throw new PropertyFileError("the installed tsx has no `tsImport` (tsx 4.8 or later has it)");
    return module.tsImport(pathToFileURL(path).href, import.meta.url);
  };
}

/**
 * The ES module of `tsx/esm/api` as the project in `cwd` would import it. Found through tsx's package.json: require()
 * resolution from `cwd` gives the CommonJS build, and an ES module cannot resolve a name from another folder itself.
 */
function tsxApi(cwd: string): string | undefined {
  try {
    const manifestPath = createRequire(join(cwd, "package.json")).resolve("tsx/package.json");
    const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as { exports?: Record<string, { import?: { default?: string } | string }> };
    const entry = manifest.exports?.["./esm/api"]?.import;
    const file = typeof entry === "string" ? entry : entry?.default;
    return file === undefined ? undefined : join(dirname(manifestPath), file);
  } catch {
    return undefined;
  }
}

/** A 32-bit fast-check seed from the run's seed and the test's identity. */
export function testSeed(runSeed: number, ...identity: readonly string[]): number {
  const digest = createHash("sha256").update(JSON.stringify([runSeed, ...identity])).digest();
  return digest.readInt32BE(0);
}

function problemOf(error: unknown, fallback: string): { code: string; message: string } {
  const message = error instanceof Error ? error.message : String(error);
  const code = typeof error === "object" && error !== null && "code" in error && typeof error.code === "string" ? error.code : "";
  return /^PQG\d{4}$/.test(code) ? { code, message } : { code: fallback, message };
}

/** Loads a property file's default export; a file that cannot be used is a message, not a thrown error. */
async function load(path: string, importTypeScript: TypeScriptImporter | undefined): Promise<PropertyFile | string> {
  let module: unknown;
  try {
    module = path.endsWith(".ts") ? await importTypeScript!(path) : await import(pathToFileURL(path).href);
  } catch (error) {
    return `cannot be loaded: ${error instanceof Error ? error.message : String(error)}`;
  }
  const exported = (module as { default?: unknown }).default;
  if (typeof exported !== "function") return "does not default-export a function of the policy under test, `(t) => { t.it(name, test) }`";
  return exported as PropertyFile;
}

/** Runs one property file's tests, in the order it declares them. */
export async function runPropertyFile(path: string, file: string, subject: Omit<PolicyUnderTest, "it">, options: PropertyRunOptions): Promise<TestOutcome[]> {
  const fileProblem = (code: string, message: string, status: "failed" | "skipped" = "failed"): TestOutcome[] => [
    { file, name: file, status, problem: { code, message: `\`${file}\` ${message}` } },
  ];
  if (path.endsWith(".ts") && options.importTypeScript === undefined) {
    return fileProblem(
      TestRunErrorCode.TypeScriptSkipped,
      "was skipped: this project cannot import TypeScript; install tsx (`npm install --save-dev tsx`) or write the file as `.mjs`",
      "skipped",
    );
  }
  const exported = await load(path, options.importTypeScript);
  if (typeof exported === "string") return fileProblem(TestRunErrorCode.PropertyFileInvalid, exported);

  const tests: { name: string; test: PropertyTest }[] = [];
  // A test declared later (from a timer, after an await the export did not wait for) is reported, not thrown: a throw
  // there would land outside anything the runner can catch.
  const late: string[] = [];
  let collecting = true;
  const it = (name: string, test: PropertyTest): void => {
    if (typeof name !== "string" || typeof test !== "function") throw new PropertyFileError("`t.it` takes a name and a test function");
    if (collecting) tests.push({ name, test });
    else late.push(name);
  };
  try {
    await exported({ ...subject, it });
  } catch (error) {
    return fileProblem(TestRunErrorCode.PropertyFileInvalid, `failed while declaring its tests: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    collecting = false;
  }
  if (tests.length === 0) return fileProblem(TestRunErrorCode.PropertyFileInvalid, "declares no tests; call `t.it(name, test)` in its default export");

  const outcomes: TestOutcome[] = [];
  for (const { name, test } of tests) {
    const { fastCheck } = options;
    const previous = fastCheck.readConfigureGlobal();
    fastCheck.configureGlobal({
      ...previous,
      // The file's base name, not its path: the same tests get the same seeds from any working directory.
      seed: testSeed(options.seed, basename(path), name),
      ...(options.runs === undefined ? {} : { numRuns: options.runs }),
    });
    try {
      await test();
      outcomes.push({ file, name, status: "passed" });
    } catch (error) {
      outcomes.push({ file, name, status: "failed", problem: problemOf(error, TestRunErrorCode.TestThrew) });
    } finally {
      fastCheck.configureGlobal(previous);
    }
  }
  const lateProblem = (name: string): TestOutcome => ({
    file,
    name,
    status: "failed",
    problem: { code: TestRunErrorCode.PropertyFileInvalid, message: `\`${name}\` was declared after the file's tests were collected, so it did not run; declare every test while the default export runs` },
  });
  return [...outcomes, ...late.map(lateProblem)];
}
