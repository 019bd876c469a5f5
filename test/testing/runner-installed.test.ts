// docs/testing.md's walkthrough "From an empty repository", done as a stranger would: the packed tarball installed into
// a scratch project with fast-check and mocha (and no tsx), the walkthrough's files written from the page itself, and
// its commands run through node_modules/.bin. The output the page shows is the output the package gives.
import assert from "node:assert/strict";
import { execFile, type ExecFileException } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const NPM = process.platform === "win32" ? "npm.cmd" : "npm";
/** Packing builds dist/ (prepare) and installing fetches dependencies: minutes on a cold npm cache. */
const SETUP_TIMEOUT_MS = 300_000;
const COMMAND_TIMEOUT_MS = 120_000;

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function run(command: string, args: readonly string[], cwd: string, timeout = COMMAND_TIMEOUT_MS): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, encoding: "utf8", timeout, maxBuffer: 64 * 1024 * 1024 }, (error: ExecFileException | null, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : -1, stdout, stderr });
    });
  });
}

async function ok(command: string, args: readonly string[], cwd: string, timeout?: number): Promise<Run> {
  const result = await run(command, args, cwd, timeout);
  assert.equal(result.code, 0, `${command} ${args.join(" ")} exited ${result.code}\n${result.stdout}\n${result.stderr}`);
  return result;
}

function devVersion(name: string): string {
  const manifest = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { devDependencies: Record<string, string> };
  return manifest.devDependencies[name]!;
}

/** The fenced code blocks of one section of docs/testing.md, in order. */
function walkthroughBlocks(): string[] {
  const page = readFileSync(join(ROOT, "docs", "testing.md"), "utf8");
  const start = page.indexOf("## From an empty repository");
  const end = page.indexOf("\n## ", start + 1);
  assert.ok(start >= 0 && end > start, "docs/testing.md has the walkthrough section");
  return [...page.slice(start, end).matchAll(/^```[a-z]*\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
}

describe("pqguard test from the installed package, as docs/testing.md walks through it", function () {
  this.timeout(SETUP_TIMEOUT_MS);

  const blocks = walkthroughBlocks();
  const [, tools, policy, cases, property, firstOutput, moreCases, secondOutput, mochaTest, ci] = blocks;
  let scratch = "";
  let project = "";
  let bin = "";

  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), "pqguard-testing-"));
    project = join(scratch, "payments-agent");
    mkdirSync(project);
    const packed = await ok(NPM, ["pack", "--json", "--pack-destination", scratch], ROOT, SETUP_TIMEOUT_MS);
    const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf("["))) as { filename: string }[];
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "payments-agent", private: true, type: "module" }, null, 2));
    const dependencies = ["@modelcontextprotocol/sdk", "fast-check", "mocha"].map((name) => `${name}@${devVersion(name)}`);
    await ok(NPM, ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error", join(scratch, info!.filename), ...dependencies], project, SETUP_TIMEOUT_MS);
    bin = join(project, "node_modules", ".bin", process.platform === "win32" ? "pqguard.cmd" : "pqguard");
    writeFileSync(join(project, "payments.tools.json"), tools!);
    writeFileSync(join(project, "payments.policy"), policy!);
    writeFileSync(join(project, "payments.cases.json"), cases!);
    writeFileSync(join(project, "payments.properties.test.mjs"), property!);
    mkdirSync(join(project, "test"));
    writeFileSync(join(project, "test", "payments.test.js"), mochaTest!);
  });

  after(() => {
    if (scratch !== "") rmSync(scratch, { recursive: true, force: true });
  });

  it("installs without tsx and checks the walkthrough's policy", async () => {
    assert.throws(() => readFileSync(join(project, "node_modules", "tsx", "package.json")), /ENOENT/, "tsx is not installed");
    const check = await ok(bin, ["check", "payments.policy"], project);
    assert.match(check.stdout, /checked 1 file: no problems/);
  });

  /** Runs `pqguard test .` with the seed an output block of the walkthrough shows, and compares what it prints. */
  async function showsOutput(output: string): Promise<void> {
    const [command, ...expected] = output.trimEnd().split("\n");
    assert.equal(command, "$ npx pqguard test .");
    const seed = /^seed (-?\d+):/m.exec(output)?.[1];
    assert.ok(seed !== undefined, "the walkthrough shows a seed");
    const result = await run(bin, ["test", ".", "--seed", seed], project);
    assert.equal(result.stdout.trimEnd(), expected.join("\n"), result.stderr);
    assert.equal(result.code, 0);
  }

  it("prints the report the walkthrough shows, for the seed it shows, before and after the cases that close the gaps", async () => {
    await showsOutput(firstOutput!);
    const all = [...(JSON.parse(cases!) as unknown[]), ...(JSON.parse(moreCases!) as unknown[])];
    writeFileSync(join(project, "payments.cases.json"), JSON.stringify(all, null, 2));
    await showsOutput(secondOutput!);
  });

  it("runs the walkthrough's CI command: JUnit XML and the coverage floor", async () => {
    const line = /^ {6}- run: npx pqguard test (.*) > policy-tests\.xml$/m.exec(ci!)?.[1];
    assert.ok(line !== undefined, "the CI step runs pqguard test");
    const result = await run(bin, ["test", ...line.split(" ")], project);
    assert.equal(result.code, 0, result.stdout);
    assert.match(result.stdout, /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<testsuites name="pqguard test" tests="7" failures="0"/);
  });

  it("runs the walkthrough's mocha test with the assertions on both back ends", async () => {
    const result = await run(process.execPath, [join(project, "node_modules", "mocha", "bin", "mocha.js"), "test/payments.test.js"], project);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /2 passing/);
  });

  it("skips a TypeScript property file with a clear message, since the project cannot import TypeScript", async () => {
    const typed = join(scratch, "typed");
    mkdirSync(typed);
    cpSync(join(project, "payments.policy"), join(typed, "payments.policy"));
    cpSync(join(project, "payments.tools.json"), join(typed, "payments.tools.json"));
    writeFileSync(join(typed, "payments.properties.test.ts"), "export default (t: unknown): void => {};\n");
    const result = await run(bin, ["test", typed], project);
    assert.equal(result.code, 0, result.stdout);
    assert.match(result.stdout, /PQG9515 `.*payments\.properties\.test\.ts` was skipped: this project cannot import TypeScript; install tsx/);
  });
});
