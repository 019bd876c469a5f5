// The MCP conformance suite's server scenarios (@modelcontextprotocol/conformance) against the suite's own reference
// server, directly and through `pqguard proxy` (stdio upstream, then Streamable HTTP upstream; an HTTP listener in
// front of both): the proxy is meant to be transparent, so no scenario may come out differently through it.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { ownScript } from "../../bin/commands/own-scripts.js";
import { FORWARDED_CLIENT_CAPABILITIES } from "../../runtime/proxy/index.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const REFERENCE_SERVER = fileURLToPath(new URL("./fixtures/reference-server.ts", import.meta.url));
const BASELINE_FILE = fileURLToPath(new URL("./baseline.json", import.meta.url));
const SUITE_PACKAGE = createRequire(import.meta.url).resolve("@modelcontextprotocol/conformance/package.json");
const SUITE_CLI = join(dirname(SUITE_PACKAGE), "dist", "index.js");

/** The suite uses `fs.globSync`, which Node has from 22 on; on older Nodes its CLI does not even load. */
const SUITE_MIN_NODE_MAJOR = 22;
/** A server or the proxy that has not said where it listens within this time will not. */
const START_TIMEOUT_MS = 30_000;
/** One run of every scenario: about 3 s directly, 20 to 50 s through the proxy with a server process per session. */
const SUITE_TIMEOUT_MS = 120_000;
/** Between SIGTERM and SIGKILL when a server or the proxy is stopped. */
const STOP_GRACE_MS = 5_000;
/** The most of the suite's text shown for one scenario in a failure message. */
const SHOWN_CHARS = 4_000;

type Outcome = "pass" | "fail";

/** What one scenario came to in one run, and the suite's own output for it. */
interface ScenarioResult {
  readonly outcome: Outcome;
  /** `id: STATUS` of every check that is not INFO, in the suite's order: what decides, beyond pass or fail. */
  readonly verdicts: readonly string[];
  /** The suite's console output for the scenario and the checks it saved, for a person reading a failure. */
  readonly output: string;
}

type Route = "stdio" | "http";

interface Baseline {
  readonly suite: string;
  readonly server: string;
  /** Every scenario's outcome against the reference server directly. */
  readonly scenarios: Readonly<Record<string, Outcome>>;
  /** Scenarios whose checks come out differently through the proxy, by route, with the reason (never their outcome). */
  readonly knownDifferences: Readonly<Record<string, { readonly routes: readonly Route[]; readonly reason: string }>>;
}

/** A child process started with its output collected, stopped by `stop()`. */
interface Started {
  readonly child: ChildProcess;
  readonly url: URL;
  output(): string;
  stop(): Promise<void>;
}

/** Starts `args` under this Node and waits (at most START_TIMEOUT_MS) for a `listening on URL` line on stdout. */
async function startListening(name: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<Started> {
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  let text = "";
  child.stdout!.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
  child.stderr!.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  };
  try {
    const url = await new Promise<URL>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} did not say where it listens within ${START_TIMEOUT_MS} ms:\n${text}`)), START_TIMEOUT_MS);
      child.stdout!.on("data", () => {
        const match = /listening on (http:\/\/\S+)/.exec(text);
        if (match === null) return;
        clearTimeout(timer);
        resolve(new URL(match[1]!));
      });
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${name} exited (${code ?? signal}) before listening:\n${text}`));
      });
    });
    return { child, url, output: () => text, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * The reference server's tools as the proxy's upstream session lists them (with the client capabilities the proxy
 * declares), once the list has settled, keeping the fields a policy manifest holds and a tool digest covers.
 */
async function reviewedTools(): Promise<Record<string, unknown>[]> {
  const client = new Client({ name: "reviewer", version: "1.0.0" }, { capabilities: FORWARDED_CLIENT_CAPABILITIES });
  await client.connect(new StdioClientTransport({ command: process.execPath, args: ["--import", "tsx", REFERENCE_SERVER, "stdio"], cwd: ROOT, stderr: "ignore" }), { timeout: START_TIMEOUT_MS });
  try {
    let previous = "";
    for (let read = 0; read < 20; read++) {
      const { tools } = await client.listTools();
      const text = JSON.stringify(tools);
      if (text === previous) {
        const kept = ["name", "title", "description", "inputSchema", "outputSchema", "annotations"];
        return tools.map((tool) => Object.fromEntries(Object.entries(tool).filter(([key, value]) => kept.includes(key) && value !== undefined)));
      }
      previous = text;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error("the reference server's tool list did not settle within 20 reads");
  } finally {
    await client.close();
  }
}

/** Runs every scenario of the suite (`--suite all`: the active ones and the pending ones) against `url`. */
async function runSuite(url: URL, outputDir: string): Promise<Map<string, ScenarioResult>> {
  const child = spawn(process.execPath, [SUITE_CLI, "server", "--url", url.href, "--suite", "all", "--output-dir", outputDir], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let transcript = "";
  child.stdout.on("data", (chunk: Buffer) => (transcript += chunk.toString("utf8")));
  child.stderr.on("data", (chunk: Buffer) => (transcript += chunk.toString("utf8")));
  const code = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`the conformance suite did not finish within ${SUITE_TIMEOUT_MS} ms against ${url.href}:\n${transcript}`));
    }, SUITE_TIMEOUT_MS);
    child.once("exit", (exitCode) => {
      clearTimeout(timer);
      resolve(exitCode);
    });
  });
  // The suite exits 1 when a scenario fails; anything else means it did not run.
  assert.ok(code === 0 || code === 1, `the conformance suite exited ${code} against ${url.href}:\n${transcript}`);
  const results = new Map<string, ScenarioResult>();
  for (const folder of await readdir(outputDir)) {
    const name = /^server-(.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$/.exec(folder)?.[1];
    assert.ok(name !== undefined, `unexpected folder \`${folder}\` in the suite's output`);
    const checks = JSON.parse(await readFile(join(outputDir, folder, "checks.json"), "utf8")) as { id: string; status: string }[];
    const printed = new RegExp(`=== Running scenario: ${name} ===\\n[^]*?(?=\\n=== |$)`).exec(transcript)?.[0] ?? "";
    const summary = new RegExp(`^[✓✗] ${name}: .*$`, "m").exec(transcript)?.[0] ?? "";
    results.set(name, {
      outcome: checks.some((check) => check.status === "FAILURE") ? "fail" : "pass",
      verdicts: checks.filter((check) => check.status !== "INFO").map((check) => `${check.id}: ${check.status}`),
      output: `${printed.trim()}\n${summary.trim()}\nchecks.json (not INFO): ${JSON.stringify(checks.filter((check) => check.status !== "INFO"), null, 2)}`,
    });
  }
  return results;
}

/** A scenario's outcome and the statuses of its checks, in one line. */
function verdict(result: ScenarioResult | undefined): string {
  return result === undefined ? "(did not run)" : `${result.outcome} [${result.verdicts.join(", ")}]`;
}

/** A scenario's output for a failure message, cut at SHOWN_CHARS. */
function shown(result: ScenarioResult | undefined): string {
  if (result === undefined) return "(the scenario did not run)";
  return result.output.length <= SHOWN_CHARS ? result.output : `${result.output.slice(0, SHOWN_CHARS)}\n... (${result.output.length - SHOWN_CHARS} more characters)`;
}

describe("MCP conformance suite, server scenarios, directly and through pqguard proxy", function () {
  this.timeout(180_000);
  let work: string;
  let reference: Started;
  let policy: string;
  let baseline: Baseline;
  let direct: Map<string, ScenarioResult>;
  const started: Started[] = [];

  before(async function () {
    const major = Number(process.versions.node.split(".")[0]);
    if (major < SUITE_MIN_NODE_MAJOR) {
      console.warn(
        `\n  !!! SKIPPED: the MCP conformance suite needs Node ${SUITE_MIN_NODE_MAJOR} or later (it uses fs.globSync); this is Node ${process.versions.node}. ` +
          "It runs in the Node 24 pass of .ci/run.\n",
      );
      this.skip();
    }
    baseline = JSON.parse(await readFile(BASELINE_FILE, "utf8")) as Baseline;
    work = await mkdtemp(join(tmpdir(), "pqguard-conformance-"));
    await writeFile(join(work, "reference.tools.json"), `${JSON.stringify({ tools: await reviewedTools() }, null, 2)}\n`);
    policy = join(work, "conformance.policy");
    await writeFile(policy, 'policy conformance\nmanifest "reference.tools.json"\npermit tool *\n');
    reference = await startListening("the reference server", ["--import", "tsx", REFERENCE_SERVER], { ...process.env, PORT: "0" });
    started.push(reference);
    direct = await runSuite(reference.url, join(work, "direct"));
  });

  after(async () => {
    await Promise.all(started.map((s) => s.stop()));
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  it("directly: every scenario comes out as in test/conformance/baseline.json", () => {
    const names = new Set([...Object.keys(baseline.scenarios), ...direct.keys()]);
    const differences = [...names]
      .filter((name) => baseline.scenarios[name] !== direct.get(name)?.outcome)
      .map((name) => `${name}: baseline ${baseline.scenarios[name] ?? "(absent)"}, now ${direct.get(name)?.outcome ?? "(did not run)"}\n${shown(direct.get(name))}`);
    if (differences.length > 0) {
      assert.fail(`scenarios that differ from the baseline (update baseline.json if the suite or the server changed):\n\n${differences.join("\n\n")}`);
    }
  });

  /** Runs the suite through a proxy started with `upstream`, and compares every scenario with the direct run. */
  async function throughProxy(route: Route, upstream: readonly string[]): Promise<void> {
    const proxy = await startListening(
      "pqguard proxy",
      // Sessions the suite opens are never ended with DELETE, so each keeps its upstream until the idle close: room for all.
      [...ownScript("bin/pqguard").args, "proxy", "--policy", policy, ...upstream, "--listen", "http://127.0.0.1:0", "--max-upstreams", "256", "--log-level", "warn"],
    );
    started.push(proxy);
    let proxied: Map<string, ScenarioResult>;
    try {
      proxied = await runSuite(proxy.url, join(work, `proxy-${route}`));
    } finally {
      await proxy.stop();
    }
    const differences: string[] = [];
    const stale: string[] = [];
    for (const name of new Set([...direct.keys(), ...proxied.keys()])) {
      const before = direct.get(name);
      const after = proxied.get(name);
      const same = before !== undefined && after !== undefined && before.outcome === after.outcome && JSON.stringify(before.verdicts) === JSON.stringify(after.verdicts);
      const known = baseline.knownDifferences[name]?.routes.includes(route) === true;
      // A known difference excuses the checks a scenario runs, never its outcome.
      const sameOutcome = before !== undefined && after !== undefined && before.outcome === after.outcome;
      if (!sameOutcome || (!same && !known)) {
        differences.push(
          `${name}: directly ${verdict(before)}, through the proxy ${verdict(after)}\n` +
            `-- directly:\n${shown(before)}\n-- through the proxy:\n${shown(after)}`,
        );
      }
      if (same && known) stale.push(`${name}: listed as a known difference (${route}) but comes out the same; remove it from baseline.json`);
    }
    if (differences.length > 0) {
      assert.fail(`scenarios that come out differently through the proxy (${route} upstream):\n\n${differences.join("\n\n")}\n\nproxy log:\n${proxy.output()}`);
    }
    assert.deepEqual(stale, [], "known differences that no longer occur");
  }

  it("through pqguard proxy with a stdio upstream (the reference server as a command): as directly", async () => {
    await throughProxy("stdio", ["--upstream", `"${process.execPath}" --import tsx "${REFERENCE_SERVER}" stdio`]);
  });

  it("through pqguard proxy with a Streamable HTTP upstream (--upstream-url): as directly", async () => {
    await throughProxy("http", ["--upstream-url", reference.url.href]);
  });
});
