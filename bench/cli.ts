// CLI cold start and install size, of the package as users get it: `npm pack`, installed into a scratch project, then
// the installed `pqguard` command timed against `node -e 0` in the same run, with the sources through tsx and the
// grammar on unbundled chevrotain as comparisons; plus the tarball, the production install and the bytes a server loads.
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, sep } from "node:path";
import process from "node:process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { median } from "./echo.js";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const CONSUMER = join(ROOT, "test", "package", "consumer");
const NPM = process.platform === "win32" ? "npm.cmd" : "npm";
/** Timed runs per command; every round runs each command once, alternating the order, so all see the same machine. */
const RUNS = 10;
/** One untimed round first, so the file cache (and tsx's transform cache) is warm for every command alike. */
const WARMUP_ROUNDS = 1;
/** Packing builds dist/ (prepare) and installing may fetch dependencies: minutes on a cold npm cache. */
const SETUP_TIMEOUT_MS = 300_000;
const COMMAND_TIMEOUT_MS = 60_000;
/** Cold-start targets above the `node -e 0` floor. */
const TARGETS = { check: 200, help: 60 } as const;

interface Installed {
  readonly scratch: string;
  /** The consumer project: the tarball and the MCP SDK installed as a user would. */
  readonly project: string;
  /** The tarball alone, production dependencies only (no dev, no peer). */
  readonly production: string;
  readonly pack: PackInfo;
  readonly bin: string;
  /** A copy of the installed package whose dist/vendor/chevrotain.js re-exports the unbundled chevrotain package. */
  readonly unbundledBin: string;
}

interface PackInfo {
  readonly filename: string;
  readonly size: number;
  readonly unpackedSize: number;
  readonly entryCount: number;
}

interface TimedCommand {
  readonly name: string;
  readonly label: string;
  readonly args: readonly string[];
  readonly cwd: string;
}

interface Timing {
  readonly median_ms: number;
  readonly min_ms: number;
  readonly max_ms: number;
  /** The median minus the median of `node -e 0`. */
  readonly above_node_ms: number;
}

interface TreeSize {
  readonly files: number;
  /** Sum of the files' lengths. */
  readonly bytes: number;
  /** Blocks allocated on this file system, as `du` counts them. */
  readonly disk_bytes: number;
}

function devVersion(name: string): string {
  const manifest = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { devDependencies: Record<string, string> };
  const version = manifest.devDependencies[name];
  if (version === undefined) throw new Error(`bench cli: ${name} is not a dev dependency of the package`);
  return version;
}

function npm(args: readonly string[], cwd: string): string {
  return execFileSync(NPM, args, { cwd, encoding: "utf8", timeout: SETUP_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024, stdio: ["ignore", "pipe", "inherit"] });
}

function setup(): Installed {
  const scratch = mkdtempSync(join(tmpdir(), "pqguard-bench-cli-"));
  try {
    const packed = npm(["pack", "--json", "--pack-destination", scratch], ROOT);
    const [pack] = JSON.parse(packed.slice(packed.indexOf("["))) as PackInfo[];
    if (pack === undefined) throw new Error("bench cli: npm pack reported no tarball");
    const tarball = join(scratch, pack.filename);
    const install = ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"];

    const project = join(scratch, "project");
    mkdirSync(project);
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
    npm([...install, tarball, `@modelcontextprotocol/sdk@${devVersion("@modelcontextprotocol/sdk")}`], project);
    const installed = join(project, "node_modules", "pqguard");
    for (const file of ["payments.policy", "payments.tools.json"]) copyFileSync(join(ROOT, "policies", "payments", file), join(project, file));

    const production = join(scratch, "production");
    mkdirSync(production);
    writeFileSync(join(production, "package.json"), JSON.stringify({ name: "production", private: true }));
    npm([...install, "--omit=dev", "--omit=peer", tarball], production);

    // The same package with the grammar importing chevrotain's own ESM build (some 300 modules with lodash-es), as
    // it would without the bundle; it sits in the project's node_modules so its other dependencies resolve alike.
    const unbundled = join(project, "node_modules", "pqguard-unbundled");
    cpSync(installed, unbundled, { recursive: true });
    writeFileSync(join(unbundled, "dist", "vendor", "chevrotain.js"), `export * from ${JSON.stringify(import.meta.resolve("chevrotain"))};\n`);

    const bin = (dir: string): string => join(dir, "dist", "bin", "pqguard.js");
    return { scratch, project, production, pack, bin: bin(installed), unbundledBin: bin(unbundled) };
  } catch (error) {
    rmSync(scratch, { recursive: true, force: true });
    throw error;
  }
}

function commands(installed: Installed): TimedCommand[] {
  const { project, bin, unbundledBin } = installed;
  const bundle = pathToFileURL(join(project, "node_modules", "pqguard", "dist", "vendor", "chevrotain.js")).href;
  return [
    { name: "node", label: "node -e 0 (the floor)", args: ["-e", "0"], cwd: project },
    { name: "help", label: "pqguard --help", args: [bin, "--help"], cwd: project },
    { name: "version", label: "pqguard --version", args: [bin, "--version"], cwd: project },
    { name: "check", label: "pqguard check payments.policy", args: [bin, "check", "payments.policy"], cwd: project },
    { name: "compile", label: "pqguard compile payments.policy --out DIR", args: [bin, "compile", "payments.policy", "--out", "out-ts"], cwd: project },
    { name: "compile_js", label: "pqguard compile ... --js", args: [bin, "compile", "payments.policy", "--out", "out-js", "--js"], cwd: project },
    { name: "check_unbundled", label: "check, chevrotain unbundled", args: [unbundledBin, "check", "payments.policy"], cwd: project },
    {
      name: "check_tsx",
      label: "check from the sources (node --import tsx)",
      args: ["--import", "tsx", "bin/pqguard.ts", "check", "policies/payments/payments.policy"],
      cwd: ROOT,
    },
    { name: "import_chevrotain_bundled", label: "import dist/vendor/chevrotain.js", args: ["--input-type=module", "-e", `await import(${JSON.stringify(bundle)})`], cwd: project },
    { name: "import_chevrotain_unbundled", label: 'import "chevrotain" (package ESM)', args: ["--input-type=module", "-e", 'await import("chevrotain")'], cwd: ROOT },
  ];
}

/** The environment of a timed process: the caller's, without NODE_OPTIONS, which would load extra code into each. */
function plainEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env["NODE_OPTIONS"];
  return env;
}

function timeOnce(command: TimedCommand, env: NodeJS.ProcessEnv): number {
  const start = process.hrtime.bigint();
  const result = spawnSync(process.execPath, command.args, { cwd: command.cwd, env, encoding: "utf8", timeout: COMMAND_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 });
  const elapsed = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.error !== undefined || result.status !== 0) {
    const why = result.error !== undefined ? result.error.message : `exit ${result.status ?? result.signal}`;
    throw new Error(`bench cli: \`${command.label}\` failed (${why})\n${result.stdout}${result.stderr}`);
  }
  return elapsed;
}

/** Wall time of each command in milliseconds, RUNS samples each, rounds interleaved in alternating order. */
function timeCommands(list: readonly TimedCommand[]): Map<string, number[]> {
  const env = plainEnv();
  const samples = new Map<string, number[]>(list.map((c) => [c.name, []]));
  for (let round = 0; round < WARMUP_ROUNDS + RUNS; round++) {
    for (const command of round % 2 === 0 ? list : [...list].reverse()) {
      const ms = timeOnce(command, env);
      if (round >= WARMUP_ROUNDS) samples.get(command.name)!.push(ms);
    }
  }
  return samples;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
}

function sizeOf(files: readonly string[]): TreeSize {
  let bytes = 0;
  let disk = 0;
  for (const file of files) {
    const stat = statSync(file);
    bytes += stat.size;
    disk += stat.blocks * 512;
  }
  return { files: files.length, bytes, disk_bytes: disk };
}

/** Every package folder under a node_modules tree (nested ones too), by name. */
function packageDirs(nodeModules: string): Map<string, string[]> {
  const found = new Map<string, string[]>();
  const visit = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (!entry.isDirectory() || entry.name.startsWith(".")) continue;
      const scoped = entry.name.startsWith("@");
      for (const name of scoped ? readdirSync(join(dir, entry.name)).map((n) => `${entry.name}/${n}`) : [entry.name]) {
        const path = join(dir, ...name.split("/"));
        found.set(name, [...(found.get(name) ?? []), path]);
        visit(join(path, "node_modules"));
      }
    }
  };
  visit(nodeModules);
  return found;
}

/** The production install: the package and its run-time dependencies, largest first. */
function productionSize(production: string) {
  const nodeModules = join(production, "node_modules");
  const packages = packageDirs(nodeModules);
  const perPackage = [...packages].map(([name, dirs]) => {
    // A package's own files, without the packages nested in its node_modules (counted under their own names).
    const own = dirs.flatMap((dir) => filesUnder(dir).filter((f) => !f.slice(dir.length).includes(`${sep}node_modules${sep}`)));
    return { name, ...sizeOf(own) };
  });
  perPackage.sort((a, b) => b.bytes - a.bytes);
  return { packages: packages.size, ...sizeOf(filesUnder(nodeModules)), by_package: perPackage };
}

/** The package a loaded file belongs to: the name after its last node_modules folder. */
function packageOf(file: string): string | undefined {
  const marker = `${sep}node_modules${sep}`;
  const at = file.lastIndexOf(marker);
  if (at < 0) return undefined;
  const [first, second] = file.slice(at + marker.length).split(sep);
  return first!.startsWith("@") ? `${first}/${second}` : first;
}

const GUARD_ONLY_SERVER = `// Imports the package and decides one call with a compiled guard, as a server does before it serves any.
import "pqguard";
const guard = (await import(process.argv[2])).default;
const context = {
  client: { authenticated: false, id: "anonymous", claims: {} },
  peer: {},
  transport: { kem: "none", signature: "none", aead: "none", hybrid: false, level: 0 },
  session: { id: "bench", ageMs: 0, calls: 0 },
  now: Date.parse("2025-11-18T09:15:00Z"),
  history: { count: () => 0, called: () => false },
};
console.log(JSON.stringify(guard.guard({ tool: "get_balance", args: {} }, context).decision));
`;

/**
 * The files a server process loads, by the consumer fixture's module record (ES modules through a resolve hook,
 * CommonJS from require.cache), summed by where they come from. Files read as data (not as modules) are not counted.
 */
function runtimeLoad(installed: Installed, server: string, guard: string, dependencies: ReadonlySet<string>) {
  const { project, scratch } = installed;
  const record = join(scratch, `loaded-${server}.txt`);
  writeFileSync(record, "");
  execFileSync(process.execPath, ["--import", "./loaded-modules.mjs", server, guard], {
    cwd: project,
    env: { ...plainEnv(), PQGUARD_LOADED_MODULES: record },
    timeout: COMMAND_TIMEOUT_MS,
    stdio: ["ignore", "ignore", "inherit"],
  });
  const own = new Set(["loaded-modules.mjs", "loaded-modules-hooks.mjs", server].map((f) => join(project, f)));
  const files = [
    ...new Set(
      readFileSync(record, "utf8")
        .split("\n")
        .filter((line) => line.startsWith("file:") || line.startsWith("/"))
        .map((line) => (line.startsWith("file:") ? fileURLToPath(line) : line)),
    ),
  ].filter((file) => !own.has(file));
  const group = (file: string): "pqguard" | "dependencies" | "sdk" | "guard" => {
    const name = packageOf(file);
    if (name === undefined) return "guard";
    if (name === "pqguard") return "pqguard";
    return dependencies.has(name) ? "dependencies" : "sdk";
  };
  const by = (g: string) => sizeOf(files.filter((f) => group(f) === g));
  const pqguard = by("pqguard");
  const deps = by("dependencies");
  const sdk = by("sdk");
  const compiled = by("guard");
  const total = sizeOf(files);
  // The only loaded file outside node_modules, once the record's own files are left out, is the compiled guard.
  const owner = (file: string): string => packageOf(file) ?? "(the compiled guard)";
  const perPackage = [...new Set(files.map(owner))].map((name) => ({ name, ...sizeOf(files.filter((f) => owner(f) === name)) }));
  perPackage.sort((a, b) => b.bytes - a.bytes);
  return { total_bytes: total.bytes, files: total.files, pqguard, dependencies: deps, package_bytes: pqguard.bytes + deps.bytes, sdk, guard: compiled, by_package: perPackage };
}

/** The bytes chevrotain brings unbundled: its package and everything it depends on, from the repository's install. */
function chevrotainUnbundledSize(): TreeSize {
  const dirs = new Set<string>();
  const visit = (name: string, from: string): void => {
    const dir = searchDirs(from).map((d) => join(d, "node_modules", name)).find((d) => existsSync(join(d, "package.json")));
    if (dir === undefined) throw new Error(`bench cli: cannot find ${name} from ${from}`);
    if (dirs.has(dir)) return;
    dirs.add(dir);
    const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { dependencies?: Record<string, string> };
    for (const dependency of Object.keys(manifest.dependencies ?? {})) visit(dependency, dir);
  };
  visit("chevrotain", ROOT);
  return sizeOf([...dirs].flatMap((dir) => filesUnder(dir).filter((f) => !f.slice(dir.length).includes(`${sep}node_modules${sep}`))));
}

/** The folders Node searches for node_modules from `dir`: it and each of its parents. */
function searchDirs(dir: string): string[] {
  const dirs = [dir];
  for (let up = dirname(dir); up !== dirs.at(-1); up = dirname(up)) dirs.push(up);
  return dirs;
}

function cpuModel(): string {
  try {
    const line = readFileSync("/proc/cpuinfo", "utf8").split("\n").find((l) => l.startsWith("model name"));
    if (line !== undefined) return line.slice(line.indexOf(":") + 1).trim();
  } catch {
    // No /proc on this system: fall back to what Node reports.
  }
  return cpus()[0]?.model ?? "unknown";
}

export async function run({ json }: { json: boolean }): Promise<void> {
  const load = loadavg()[0]!;
  const installed = setup();
  try {
    const list = commands(installed);
    const result = measure(installed, list, load);
    process.stdout.write(json ? `${JSON.stringify(result)}\n` : `${report(result, list).join("\n")}\n`);
  } finally {
    rmSync(installed.scratch, { recursive: true, force: true });
  }
}

function measure(installed: Installed, list: readonly TimedCommand[], load: number) {
  const samples = timeCommands(list);
  const floor = median(samples.get("node")!);
  const timing = (name: string): Timing => {
    const values = samples.get(name)!;
    const mid = median(values);
    return { median_ms: round(mid), min_ms: round(Math.min(...values)), max_ms: round(Math.max(...values)), above_node_ms: round(mid - floor) };
  };
  const timings: Record<string, Timing> = Object.fromEntries(list.map((c) => [c.name, timing(c.name)]));
  const above = (name: string): number => timings[name]!.above_node_ms;
  const ratio = (name: string, baseline: string): number => round(above(name) / above(baseline));

  for (const file of ["loaded-modules.mjs", "loaded-modules-hooks.mjs", "use-runtime.mjs"]) copyFileSync(join(CONSUMER, file), join(installed.project, file));
  writeFileSync(join(installed.project, "guard-only.mjs"), GUARD_ONLY_SERVER);
  const production = productionSize(installed.production);
  const dependencies = new Set(production.by_package.map((p) => p.name).filter((name) => name !== "pqguard"));
  // Written by the timed `compile --js` runs.
  const guard = "./out-js/payments.guard.js";
  const bundle = statSync(join(installed.project, "node_modules", "pqguard", "dist", "vendor", "chevrotain.js")).size;

  return {
    node: process.version,
    cpu: cpuModel(),
    cores: cpus().length,
    load_1m: round(load),
    runs: RUNS,
    node_ms: timings["node"]!.median_ms,
    help_ms: above("help"),
    version_ms: above("version"),
    check_ms: above("check"),
    compile_ms: above("compile"),
    compile_js_ms: above("compile_js"),
    check_tsx_ms: above("check_tsx"),
    check_unbundled_ms: above("check_unbundled"),
    timings,
    // Ratios of the time above the node floor, against the installed command in the same run.
    ratios: {
      check_tsx_to_check: ratio("check_tsx", "check"),
      check_unbundled_to_check: ratio("check_unbundled", "check"),
      import_chevrotain_unbundled_to_bundled: ratio("import_chevrotain_unbundled", "import_chevrotain_bundled"),
    },
    targets: {
      check: { limit_ms: TARGETS.check, ms: above("check"), met: above("check") <= TARGETS.check },
      help: { limit_ms: TARGETS.help, ms: above("help"), met: above("help") <= TARGETS.help },
    },
    chevrotain: {
      import_bundled_ms: above("import_chevrotain_bundled"),
      import_unbundled_ms: above("import_chevrotain_unbundled"),
      bundle_bytes: bundle,
      unbundled_packages: chevrotainUnbundledSize(),
    },
    sizes: {
      tarball_bytes: installed.pack.size,
      unpacked_bytes: installed.pack.unpackedSize,
      tarball_entries: installed.pack.entryCount,
      production_install: production,
      runtime_guard_only: runtimeLoad(installed, "guard-only.mjs", guard, dependencies),
      runtime_guard_and_session: runtimeLoad(installed, "use-runtime.mjs", guard, dependencies),
    },
  };
}

type Result = ReturnType<typeof measure>;

function report(result: Result, list: readonly TimedCommand[]): string[] {
  const ms = (value: number): string => `${value.toFixed(1).padStart(7)} ms`;
  const kb = (bytes: number): string => `${(bytes / 1024).toFixed(1).padStart(8)} KiB`;
  const row = (c: TimedCommand): string => {
    const t = result.timings[c.name]!;
    const extra = c.name === "node" ? "" : `  +${t.above_node_ms.toFixed(1)} ms above node`;
    return `  ${c.label.padEnd(44)}${ms(t.median_ms)}  (min ${t.min_ms.toFixed(1)}, max ${t.max_ms.toFixed(1)})${extra}`;
  };
  const target = (name: keyof Result["targets"]): string => {
    const t = result.targets[name]!;
    return `  ${name}: ${t.ms.toFixed(1)} ms above node, target <= ${t.limit_ms} ms: ${t.met ? "met" : "NOT met"}`;
  };
  const runtime = (label: string, r: ReturnType<typeof runtimeLoad>): string[] => [
    `  ${label}: ${r.files} files, ${(r.total_bytes / 1024).toFixed(1)} KiB in all`,
    `    pqguard's own files       ${kb(r.pqguard.bytes)} (${r.pqguard.files} files)`,
    `    its dependencies          ${kb(r.dependencies.bytes)} (${r.dependencies.files} files)`,
    `    the MCP SDK and its deps  ${kb(r.sdk.bytes)} (${r.sdk.files} files)`,
    `    the compiled guard        ${kb(r.guard.bytes)}`,
    `    largest: ${r.by_package.slice(0, 6).map((pkg) => `${pkg.name} ${(pkg.bytes / 1024).toFixed(0)} KiB`).join(", ")}`,
  ];
  const p = result.sizes.production_install;
  return [
    `cli: cold start of the installed command, median of ${RUNS} runs each, rounds interleaved (Node ${result.node}, ${result.cpu}, ${result.cores} cores, load ${result.load_1m})`,
    ...list.map(row),
    "targets (above node -e 0):",
    target("check"),
    target("help"),
    "ratios of the time above node, same run:",
    `  check from the sources through tsx / installed check   ${result.ratios["check_tsx_to_check"]}x`,
    `  check on unbundled chevrotain / installed check        ${result.ratios["check_unbundled_to_check"]}x`,
    `  import "chevrotain" / import the bundle                ${result.ratios["import_chevrotain_unbundled_to_bundled"]}x`,
    `chevrotain: bundle ${kb(result.chevrotain.bundle_bytes).trim()}; unbundled, chevrotain and its dependencies ${kb(result.chevrotain.unbundled_packages.bytes).trim()} in ${result.chevrotain.unbundled_packages.files} files`,
    "install size:",
    `  tarball (npm pack size)                 ${kb(result.sizes.tarball_bytes)}  (${result.sizes.tarball_entries} files)`,
    `  tarball unpacked (npm pack unpackedSize)${kb(result.sizes.unpacked_bytes)}`,
    `  production install (--omit=dev --omit=peer): ${p.packages} packages, ${p.files} files, ${(p.bytes / 1024).toFixed(1)} KiB (${(p.disk_bytes / 1024).toFixed(1)} KiB on disk)`,
    ...p.by_package.slice(0, 8).map((pkg) => `    ${pkg.name.padEnd(30)}${kb(pkg.bytes)}`),
    "runtime path (files a server loads as modules):",
    ...runtime("import pqguard, one guard decision", result.sizes.runtime_guard_only),
    ...runtime("+ a sealed session (test/package/consumer/use-runtime.mjs)", result.sizes.runtime_guard_and_session),
  ];
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
