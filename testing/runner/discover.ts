// Which policies `pqguard test PATH...` runs, and the test files of each: `NAME.policy` owns the files beside it named
// `NAME.cases.json`, `NAME.properties.test.{js,mjs,ts}`, or with a further part, `NAME.refunds.cases.json`.
import { readdir, stat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { PqguardError } from "../../runtime/errors.js";
import { TestRunErrorCode } from "./results.js";

export type TestFileKind = "cases" | "properties";

export interface TestFile {
  readonly path: string;
  readonly kind: TestFileKind;
}

export interface PolicyTests {
  /** Absolute path of the `.policy` file. */
  readonly policy: string;
  /** Its test files, sorted by path. */
  readonly files: readonly TestFile[];
}

export interface Discovery {
  /** Policies sorted by path, each once. */
  readonly policies: readonly PolicyTests[];
  /** Test files beside no policy of their name: they would never run, so the run fails on them. */
  readonly orphans: readonly string[];
}

/** A PATH that cannot be read, or under which there is nothing to test. */
export class DiscoveryError extends PqguardError {
  declare readonly code: typeof TestRunErrorCode.NothingToTest;
  constructor(message: string) {
    super(TestRunErrorCode.NothingToTest, message);
    this.name = "DiscoveryError";
  }
}

const POLICY = /\.policy$/;
const TEST_FILE = /\.(cases\.json|properties\.test\.(?:js|mjs|ts))$/;
/** Folders never searched: installed packages and hidden folders (.git) hold no policies of the project's. */
const SKIPPED_FOLDERS = /^(node_modules|\..*)$/;

function kindOf(name: string): TestFileKind | undefined {
  const match = TEST_FILE.exec(name);
  if (match === null) return undefined;
  return match[1] === "cases.json" ? "cases" : "properties";
}

/** The policy base name a test file belongs to among `bases`: the longest `BASE` with `BASE.` starting the file name. */
function ownerOf(file: string, bases: readonly string[]): string | undefined {
  const name = basename(file);
  return bases.filter((base) => name.startsWith(`${base}.`)).sort((a, b) => b.length - a.length)[0];
}

async function kind(path: string): Promise<"file" | "folder" | undefined> {
  try {
    const info = await stat(path);
    return info.isDirectory() ? "folder" : info.isFile() ? "file" : undefined;
  } catch {
    return undefined;
  }
}

/** Every policy file and test file under a folder, recursively, as absolute paths. */
async function walk(folder: string, found: { policies: string[]; tests: string[] }): Promise<void> {
  const entries = await readdir(folder, { withFileTypes: true });
  for (const entry of entries) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) {
      if (!SKIPPED_FOLDERS.test(entry.name)) await walk(path, found);
    } else if (entry.isFile() || entry.isSymbolicLink()) {
      if (POLICY.test(entry.name)) found.policies.push(path);
      else if (kindOf(entry.name) !== undefined) found.tests.push(path);
    }
  }
}

/** The test files beside each policy: those of its folder whose name it owns. */
async function besides(policies: readonly string[]): Promise<Map<string, string[]>> {
  const owned = new Map<string, string[]>(policies.map((p) => [p, []]));
  for (const folder of new Set(policies.map(dirname))) {
    const names = await readdir(folder);
    const policyNames = names.filter((n) => POLICY.test(n));
    const bases = policyNames.map((n) => n.replace(POLICY, ""));
    for (const name of names.filter((n) => kindOf(n) !== undefined)) {
      const base = ownerOf(name, bases);
      const list = base === undefined ? undefined : owned.get(join(folder, `${base}.policy`));
      list?.push(join(folder, name));
    }
  }
  return owned;
}

/**
 * Finds the policies under each PATH (a policy file, a test file, or a folder searched recursively) and their test
 * files. A test file given as PATH runs alone, with its policy. Throws DiscoveryError for a PATH that does not exist
 * or for a run with no policy at all.
 */
export async function discover(paths: readonly string[], cwd: string): Promise<Discovery> {
  const selected = new Map<string, Set<string> | "all">();
  const orphans = new Set<string>();
  const select = (policy: string, file?: string): void => {
    const current = selected.get(policy);
    if (file === undefined || current === "all") selected.set(policy, "all");
    else selected.set(policy, new Set([...(current ?? []), file]));
  };
  for (const given of paths) {
    const path = resolve(cwd, given);
    const what = await kind(path);
    if (what === undefined) throw new DiscoveryError(`\`${given}\` does not exist or cannot be read`);
    if (what === "folder") {
      const found = { policies: [] as string[], tests: [] as string[] };
      await walk(path, found);
      found.policies.forEach((p) => select(p));
      const owned = new Set([...(await besides(found.policies)).values()].flat());
      for (const test of found.tests) if (!owned.has(test)) orphans.add(test);
    } else if (POLICY.test(path)) {
      select(path);
    } else if (kindOf(basename(path)) !== undefined) {
      const folder = dirname(path);
      const bases = (await readdir(folder)).filter((n) => POLICY.test(n)).map((n) => n.replace(POLICY, ""));
      const base = ownerOf(path, bases);
      if (base === undefined) orphans.add(path);
      else select(join(folder, `${base}.policy`), path);
    } else {
      throw new DiscoveryError(`\`${given}\` is neither a folder, a \`.policy\` file nor a test file (\`.cases.json\`, \`.properties.test.js\`)`);
    }
  }
  if (selected.size === 0) {
    throw new DiscoveryError(`no \`.policy\` file found under ${paths.map((p) => `\`${p}\``).join(", ")}`);
  }
  const owned = await besides([...selected.keys()]);
  const policies = [...selected.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([policy, chosen]): PolicyTests => {
      const files = (owned.get(policy) ?? []).filter((f) => chosen === "all" || chosen.has(f)).sort();
      return { policy, files: files.map((path) => ({ path, kind: kindOf(basename(path))! })) };
    });
  return { policies, orphans: [...orphans].sort() };
}
