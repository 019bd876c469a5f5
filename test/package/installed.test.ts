// The package as users get it: `npm pack`, installed into a scratch project outside the repository, then used there
// through its bin (node_modules/.bin, npx, a global install, a symlinked checkout), its entry points from plain
// JavaScript and from strict TypeScript, its compiled guards and its sealed session.
import assert from "node:assert/strict";
import { execFile, type ExecFileException } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CONSUMER = fileURLToPath(new URL("./consumer/", import.meta.url));
const NPM = process.platform === "win32" ? "npm.cmd" : "npm";
const NPX = process.platform === "win32" ? "npx.cmd" : "npx";
/** Packing builds dist/ (prepare) and installing fetches dependencies: minutes on a cold npm cache. */
const SETUP_TIMEOUT_MS = 300_000;
const COMMAND_TIMEOUT_MS = 60_000;

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to its end (bounded), never throwing for a non-zero exit: the test reads the code. */
function run(command: string, args: readonly string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { cwd: options.cwd, env: options.env ?? process.env, encoding: "utf8", timeout: options.timeoutMs ?? COMMAND_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 },
      (error: ExecFileException | null, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
        resolve({ code, stdout, stderr: error !== null && error.killed ? `${stderr}\n(killed after its timeout)` : stderr });
      },
    );
  });
}

/** Runs a command that must succeed; fails the test with everything it printed otherwise. */
async function ok(command: string, args: readonly string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Run> {
  const result = await run(command, args, options);
  assert.equal(result.code, 0, `${command} ${args.join(" ")} exited ${result.code}\n${result.stdout}\n${result.stderr}`);
  return result;
}

function devVersion(name: string): string {
  const manifest = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { devDependencies: Record<string, string> };
  const version = manifest.devDependencies[name];
  assert.ok(version !== undefined, `${name} is a dev dependency`);
  return version;
}

const STRICT = {
  strict: true,
  noUncheckedIndexedAccess: true,
  exactOptionalPropertyTypes: true,
  noPropertyAccessFromIndexSignature: true,
  noEmit: true,
  skipLibCheck: false,
  target: "ES2022",
  // The MCP SDK's own declarations name fetch types (HeadersInit) that only the DOM library declares.
  lib: ["ES2023", "DOM"],
  types: ["node"],
};

describe("the package as installed from its tarball", function () {
  this.timeout(SETUP_TIMEOUT_MS);

  let scratch = "";
  let project = "";
  let tarball = "";
  let bin = "";
  const installed = (...parts: string[]): string => join(project, "node_modules", "pqguard", ...parts);
  const pqguard = (args: readonly string[], timeoutMs?: number): Promise<Run> => run(bin, args, { cwd: project, ...(timeoutMs === undefined ? {} : { timeoutMs }) });

  before(async function () {
    scratch = mkdtempSync(join(tmpdir(), "pqguard-installed-"));
    project = join(scratch, "project");
    mkdirSync(project);
    const packed = await ok(NPM, ["pack", "--json", "--pack-destination", scratch], { cwd: ROOT, timeoutMs: SETUP_TIMEOUT_MS });
    const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf("["))) as { filename: string }[];
    tarball = join(scratch, info!.filename);
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }, null, 2));
    const peers = [`@modelcontextprotocol/sdk@${devVersion("@modelcontextprotocol/sdk")}`, `typescript@${devVersion("typescript")}`, `@types/node@${devVersion("@types/node")}`];
    await ok(NPM, ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error", tarball, ...peers], { cwd: project, timeoutMs: SETUP_TIMEOUT_MS });
    bin = join(project, "node_modules", ".bin", process.platform === "win32" ? "pqguard.cmd" : "pqguard");
    for (const file of ["payments.policy", "payments.tools.json"]) copyFileSync(installed("dist", "policies", "payments", file), join(project, file));
  });

  after(() => {
    if (scratch !== "") rmSync(scratch, { recursive: true, force: true });
  });

  describe("its contents", () => {
    it("ships compiled JavaScript, declarations, the licence and the example policies, and no TypeScript sources", () => {
      const listing = JSON.parse(readFileSync(installed("package.json"), "utf8")) as { version: string; dependencies: Record<string, string>; peerDependencies: Record<string, string> };
      for (const file of ["LICENSE", "README.md", "CHANGELOG.md", "dist/bin/pqguard.js", "dist/runtime/index.js", "dist/runtime/index.d.ts", "dist/compiler/index.d.ts", "dist/runtime/guard/index.js", "dist/vendor/chevrotain.js", "dist/policies/payments/payments.policy", "dist/policies/payments/server.js"]) {
        assert.ok(statSync(installed(file)).isFile(), `${file} is in the package`);
      }
      assert.throws(() => statSync(installed("runtime", "index.ts")), /ENOENT/, "no TypeScript sources are shipped");
      for (const devOnly of ["tsx", "typescript", "esbuild", "chevrotain", "@modelcontextprotocol/sdk"]) {
        assert.equal(listing.dependencies[devOnly], undefined, `${devOnly} is not a run-time dependency`);
      }
      assert.ok(listing.peerDependencies["@modelcontextprotocol/sdk"] !== undefined, "the MCP SDK is a peer dependency");
    });
  });

  describe("its command", () => {
    it("prints its usage and version from node_modules/.bin and through npx", async () => {
      const help = await pqguard(["--help"]);
      assert.equal(help.code, 0);
      assert.match(help.stdout, /usage: pqguard <command>/);
      assert.match(help.stdout, /pqguard check FILE/);
      const version = JSON.parse(readFileSync(installed("package.json"), "utf8")) as { version: string };
      const viaNpx = await run(NPX, ["--no-install", "pqguard", "--version"], { cwd: project });
      assert.deepEqual([viaNpx.code, viaNpx.stdout.trim()], [0, version.version]);
    });

    it("exits 2 with its usage on a usage error, and 2 with no command at all", async () => {
      const unknown = await pqguard(["frobnicate"]);
      assert.equal(unknown.code, 2);
      assert.match(unknown.stderr, /error PQG0001: unknown command `frobnicate`/);
      const none = await pqguard([]);
      assert.equal(none.code, 2);
      assert.match(none.stdout, /usage: pqguard/);
      const badOption = await pqguard(["check", "--no-such-option", "payments.policy"]);
      assert.equal(badOption.code, 2);
      assert.match(badOption.stderr, /usage: pqguard check/);
    });

    it("checks a good policy (exit 0), and a bad or missing one with its diagnostics (exit 1)", async () => {
      const good = await pqguard(["check", "payments.policy"]);
      assert.equal(good.code, 0, good.stderr);
      assert.match(good.stdout, /checked 1 file: no problems/);
      writeFileSync(join(project, "bad.policy"), 'policy bad version 1\nmanifest "payments.tools.json"\npermit tool get_balanse\n');
      const bad = await pqguard(["check", "bad.policy"]);
      assert.equal(bad.code, 1);
      assert.match(bad.stdout + bad.stderr, /error PQG\d{4}: .*get_balanse/);
      assert.match(bad.stdout + bad.stderr, /did you mean `get_balance`/);
      const missing = await pqguard(["check", "missing.policy"]);
      assert.equal(missing.code, 1);
      assert.match(missing.stdout + missing.stderr, /missing\.policy/);
      const json = await pqguard(["check", "bad.policy", "--format", "json"]);
      assert.equal(json.code, 1);
      assert.ok(Array.isArray(JSON.parse(json.stdout)), "--format json prints a JSON array");
    });

    it("compiles a policy to TypeScript and, with --js, to JavaScript with declarations, without TypeScript installed in it", async () => {
      const ts = await pqguard(["compile", "payments.policy", "--out", "guards"]);
      assert.equal(ts.code, 0, ts.stderr);
      assert.match(readFileSync(join(project, "guards", "payments.guard.ts"), "utf8"), /from "pqguard\/guard"/);
      const js = await pqguard(["compile", "payments.policy", "--out", "guards-js", "--js"]);
      assert.equal(js.code, 0, js.stderr);
      assert.match(readFileSync(join(project, "guards-js", "payments.guard.js"), "utf8"), /export function guard\(request, context\)/);
      assert.match(readFileSync(join(project, "guards-js", "payments.guard.d.ts"), "utf8"), /export declare function guard\(request: GuardRequest, context: GuardContext\): Decision;/);
    });

    it("evaluates a request through the compiled guard", async () => {
      writeFileSync(join(project, "request.json"), JSON.stringify({ tool: "get_balance", args: {}, time: "2025-11-18T21:30:00Z" }));
      const evaluated = await pqguard(["eval", "payments.policy", "--request", "request.json"]);
      assert.equal(evaluated.code, 0, evaluated.stderr);
      const decision = JSON.parse(evaluated.stdout) as { decision: string; reason: string };
      assert.equal(decision.decision, "deny");
    });

    it("generates keys (secret key file 0600), signs a manifest and verifies it", async () => {
      const keygen = await pqguard(["keygen", "--out", "reviewer"]);
      assert.equal(keygen.code, 0, keygen.stderr);
      if (process.platform !== "win32") assert.equal(statSync(join(project, "reviewer.key")).mode & 0o777, 0o600);
      const sign = await pqguard(["manifest", "sign", "--key", "reviewer.key", "payments.tools.json", "--out", "payments.manifest.json"]);
      assert.equal(sign.code, 0, sign.stderr);
      const verify = await pqguard(["manifest", "verify", "payments.manifest.json"]);
      assert.equal(verify.code, 0, verify.stderr);
      const manifest = JSON.parse(readFileSync(join(project, "payments.manifest.json"), "utf8")) as { tools: { description: string }[] };
      manifest.tools[0]!.description = "changed after signing";
      writeFileSync(join(project, "tampered.manifest.json"), JSON.stringify(manifest));
      const tampered = await pqguard(["manifest", "verify", "tampered.manifest.json"]);
      assert.equal(tampered.code, 1);
      assert.match(tampered.stderr, /error PQG\d{4}/);
    });

    it("manages a keyring (init, rotate, revoke, list, trust-list) and inventories the deployment as a valid CycloneDX CBOM", async () => {
      const init = await pqguard(["keys", "init", "--keyring", "ring"]);
      assert.equal(init.code, 0, init.stderr);
      if (process.platform !== "win32") assert.equal(statSync(join(project, "ring")).mode & 0o777, 0o700);
      const rotate = await pqguard(["keys", "rotate", "--keyring", "ring", "--alg", "ML-DSA-87"]);
      assert.equal(rotate.code, 0, rotate.stderr);
      const listed = JSON.parse((await pqguard(["keys", "list", "--keyring", "ring", "--format", "json"])).stdout) as { keys: { keyId: string; state: string }[] };
      const active = listed.keys.find((k) => k.state === "active")!;
      assert.match(active.keyId, /^mldsa87:/);
      const revoke = await pqguard(["keys", "revoke", active.keyId, "--keyring", "ring", "--reason", "test"]);
      assert.equal(revoke.code, 0, revoke.stderr);
      const table = await pqguard(["keys", "list", "--keyring", "ring"]);
      assert.match(table.stdout, new RegExp(`revoked +${active.keyId}`));
      const trust = await pqguard(["keys", "trust-list", "--keyring", "ring"]);
      assert.equal((JSON.parse(trust.stdout) as { format: string }).format, "pqguard-trust-list/1");
      const cbom = await pqguard(["inventory", "--keyring", "ring", "--policy", "payments.policy", "--format", "cyclonedx"]);
      assert.equal(cbom.code, 0, cbom.stderr);
      const bom = JSON.parse(cbom.stdout) as { specVersion: string; components: { cryptoProperties?: { assetType: string } }[] };
      assert.equal(bom.specVersion, "1.6");
      assert.ok(bom.components.some((c) => c.cryptoProperties?.assetType === "protocol"));
      const strict = await pqguard(["inventory", "--keyring", "ring", "--strict"]);
      assert.equal(strict.code, 0, strict.stderr);
      assert.match(strict.stdout, /ALGORITHMS/);
    });

    it("runs `pqguard proxy` in front of the shipped example server: an allowed call reaches it, a forbidden one is refused", async () => {
      writeFileSync(
        join(project, "front.policy"),
        [
          "policy front version 1",
          'manifest "payments.tools.json"',
          "permit tool get_balance",
          'forbid tool process_refund because "refunds go through the billing desk"',
          "",
        ].join("\n"),
      );
      const server = installed("dist", "policies", "payments", "server.js");
      for (const file of ["loaded-modules.mjs", "loaded-modules-hooks.mjs"]) copyFileSync(join(CONSUMER, file), join(project, file));
      const record = join(scratch, "proxy-loaded.txt");
      writeFileSync(record, "");
      const transport = new StdioClientTransport({
        command: bin,
        args: ["proxy", "--policy", "front.policy", "--upstream", `"${process.execPath}" "${server}"`, "--log-level", "error"],
        cwd: project,
        stderr: "pipe",
        env: { ...(process.env as Record<string, string>), NODE_OPTIONS: `--import ${pathToFileURL(join(project, "loaded-modules.mjs")).href}`, PQGUARD_LOADED_MODULES: record },
      });
      const client = new Client({ name: "installed-test", version: "1.0.0" });
      try {
        await client.connect(transport, { timeout: COMMAND_TIMEOUT_MS });
        const balance = await client.callTool({ name: "get_balance", arguments: {} }, undefined, { timeout: COMMAND_TIMEOUT_MS });
        assert.notEqual(balance.isError, true, JSON.stringify(balance));
        await assert.rejects(
          client.callTool({ name: "process_refund", arguments: { amount: 10, customer_id: "c-1" } }, undefined, { timeout: COMMAND_TIMEOUT_MS }),
          /refunds go through the billing desk/,
        );
      } finally {
        await client.close();
      }
      // The proxy compiles its policy straight to JavaScript: neither the TypeScript compiler nor the argument-type
      // generator is loaded (the parser and checker are: it checks the policy at start).
      const loaded = readFileSync(record, "utf8").split("\n").filter((line) => line !== "");
      assert.ok(loaded.some((m) => /pqguard\/dist\/runtime\/proxy\//.test(m)), "the record saw the proxy load");
      assert.deepEqual(loaded.filter((m) => /node_modules\/(typescript|json-schema-to-typescript|prettier|tsx|esbuild)\//.test(m)), []);
    });

    it("runs the demo from the installed package", async () => {
      const demo = await pqguard(["demo"], 120_000);
      assert.equal(demo.code, 0, `${demo.stdout}\n${demo.stderr}`);
      assert.match(demo.stdout, /DENIED PQG7301/);
      assert.match(demo.stdout, /hash chain intact/);
    });

    it("works from a global install and from a symlinked checkout, as npm link lays it out", async () => {
      const prefix = join(scratch, "global");
      await ok(NPM, ["install", "--global", "--prefix", prefix, "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error", tarball], { cwd: scratch, timeoutMs: SETUP_TIMEOUT_MS });
      const globalBin = process.platform === "win32" ? join(prefix, "pqguard.cmd") : join(prefix, "bin", "pqguard");
      const global = await run(globalBin, ["check", join(project, "bad.policy")], { cwd: scratch });
      assert.equal(global.code, 1, "the global command checks, and refuses the bad policy");
      assert.match(global.stdout + global.stderr, /get_balanse/);

      const linked = join(scratch, "linked", "node_modules");
      mkdirSync(join(linked, ".bin"), { recursive: true });
      symlinkSync(ROOT, join(linked, "pqguard"), "dir");
      symlinkSync(join("..", "pqguard", "dist", "bin", "pqguard.js"), join(linked, ".bin", "pqguard"));
      const viaLink = await run(join(linked, ".bin", "pqguard"), ["check", join(project, "payments.policy")], { cwd: scratch });
      assert.equal(viaLink.code, 0, viaLink.stdout + viaLink.stderr);
      assert.match(viaLink.stdout, /no problems/);
    });
  });

  describe("its entry points", () => {
    it("compiles a policy with pqguard/compiler and runs the guard and a sealed session from plain JavaScript", async () => {
      for (const file of ["use-compiler.mjs", "use-runtime.mjs"]) copyFileSync(join(CONSUMER, file), join(project, file));
      const compiled = await ok(process.execPath, ["use-compiler.mjs", "payments.policy", "payments.guard.js"], { cwd: project });
      const report = JSON.parse(compiled.stdout) as { policy: string; interpreted: string; brokenCodes: string[]; rendered: string };
      assert.equal(report.policy, "payments");
      assert.equal(report.interpreted, "function");
      assert.ok(report.brokenCodes.length > 0, "a broken policy gets diagnostics");
      assert.match(report.rendered, /broken\.policy:2/);

      const ran = await ok(process.execPath, ["use-runtime.mjs", "./payments.guard.js"], { cwd: project });
      const seen = JSON.parse(ran.stdout) as { received: string; suite: { hybrid: boolean; kem: string }; decision: string; reason: string; exports: string[] };
      assert.equal(seen.received, "ping", "a message crossed the sealed session");
      assert.equal(seen.suite.hybrid, true);
      assert.match(seen.suite.kem, /MLKEM/);
      assert.deepEqual([seen.decision, seen.reason], ["deny", "identity requirement `client.authenticated` failed"]);
      assert.deepEqual(seen.exports, ["function", "function", "function"]);
    });

    it("loads none of the compiler's packages in a server that runs a compiled guard and the sealed session", async () => {
      for (const file of ["loaded-modules.mjs", "loaded-modules-hooks.mjs"]) copyFileSync(join(CONSUMER, file), join(project, file));
      const record = join(scratch, "loaded.txt");
      writeFileSync(record, "");
      await ok(process.execPath, ["--import", "./loaded-modules.mjs", "use-runtime.mjs", "./payments.guard.js"], { cwd: project, env: { ...process.env, PQGUARD_LOADED_MODULES: record } });
      const loaded = readFileSync(record, "utf8").split("\n").filter((line) => line !== "");
      assert.ok(loaded.some((m) => /node_modules\/pqguard\/dist\/runtime\/index\.js$/.test(m)), "the record saw the package's entry load");
      const heavy = loaded.filter((m) => /node_modules\/(typescript|chevrotain|json-schema-to-typescript|recheck|prettier|tsx|esbuild)\/|pqguard\/dist\/(compiler|grammar|vendor)\//.test(m));
      assert.deepEqual(heavy, []);
    });

    it("refuses imports of private modules (only the exports map is public)", async () => {
      const attempt = await run(process.execPath, ["--input-type=module", "-e", 'await import("pqguard/runtime/proxy/index.js")'], { cwd: project });
      assert.notEqual(attempt.code, 0);
      assert.match(attempt.stderr, /ERR_PACKAGE_PATH_NOT_EXPORTED/);
    });

    for (const [name, resolution] of [
      ["module nodenext", { module: "nodenext", moduleResolution: "nodenext" }],
      ["module preserve with bundler resolution", { module: "preserve", moduleResolution: "bundler" }],
    ] as const) {
      it(`type-checks a consumer of every entry point, and a compiled guard, under strict options and ${name}`, async () => {
        copyFileSync(join(CONSUMER, "consumer.ts"), join(project, "consumer.ts"));
        copyFileSync(join(project, "guards", "payments.guard.ts"), join(project, "payments.guard.ts"));
        const config = `tsconfig.${resolution.module}.json`;
        writeFileSync(join(project, config), JSON.stringify({ compilerOptions: { ...STRICT, ...resolution }, files: ["consumer.ts", "payments.guard.ts"] }, null, 2));
        const tsc = await run(process.execPath, [join(project, "node_modules", "typescript", "bin", "tsc"), "-p", config], { cwd: project, timeoutMs: 120_000 });
        assert.equal(tsc.code, 0, tsc.stdout + tsc.stderr);
      });
    }
  });
});
