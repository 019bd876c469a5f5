// The package build (`npm run build`, run by `prepare`): ESM JavaScript, declarations and source maps in dist/,
// chevrotain bundled into one file so the CLI starts fast, and the example policies next to their compiled servers.
import { execFileSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const DIST = join(ROOT, "dist");
const VENDOR = join(DIST, "vendor");
const require = createRequire(import.meta.url);

/** The folder of an installed package as Node would find it from `from` (its package.json may not be exported). */
function packageDir(name, from = ROOT) {
  const searched = createRequire(join(from, "package.json")).resolve.paths(name) ?? [];
  const found = searched.map((dir) => join(dir, name)).find((dir) => existsSync(join(dir, "package.json")));
  if (found === undefined) throw new Error(`build: cannot find the package ${name}`);
  return found;
}

function filesUnder(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
}

rmSync(DIST, { recursive: true, force: true });
try {
  execFileSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", join(ROOT, "tsconfig.build.json")], { stdio: "inherit" });
} catch {
  process.stderr.write("build: tsc reported the errors above; dist/ was not built\n");
  process.exit(1);
}

// chevrotain's ESM build is some 300 modules (lodash-es) and takes ~300 ms to load; one bundled file takes ~30 ms.
await build({
  entryPoints: [require.resolve("chevrotain")],
  bundle: true,
  minify: true,
  platform: "node",
  format: "esm",
  target: "es2022",
  legalComments: "inline",
  outfile: join(VENDOR, "chevrotain.js"),
  logLevel: "warning",
});
const chevrotain = packageDir("chevrotain");
cpSync(join(packageDir("@chevrotain/types", chevrotain), "api.d.ts"), join(VENDOR, "chevrotain.d.ts"));
const licenses = [
  ["chevrotain", chevrotain],
  ["lodash-es", packageDir("lodash-es", chevrotain)],
].map(([name, dir]) => {
  const file = readdirSync(dir).find((f) => /^licen[sc]e/i.test(f));
  if (file === undefined) throw new Error(`build: no licence file in ${name}`);
  return `${name} (bundled in chevrotain.js)\n\n${readFileSync(join(dir, file), "utf8")}`;
});
writeFileSync(join(VENDOR, "THIRD-PARTY-NOTICES.txt"), licenses.join("\n\n---\n\n"));

// Point the compiled grammar at the bundle instead of the package, in code and declarations alike.
for (const file of filesUnder(DIST).filter((f) => /\.(js|d\.ts)$/.test(f) && !f.startsWith(VENDOR))) {
  const text = readFileSync(file, "utf8");
  if (!text.includes('"chevrotain"')) continue;
  let target = relative(dirname(file), join(VENDOR, "chevrotain.js")).replaceAll("\\", "/");
  if (!target.startsWith(".")) target = `./${target}`;
  // Both `from "chevrotain"` and the `import("chevrotain")` types tsc writes into declarations.
  writeFileSync(file, text.replaceAll('"chevrotain"', `"${target}"`));
}
const leftover = filesUnder(DIST).filter((f) => !f.startsWith(VENDOR) && /\.(js|ts)$/.test(f) && /["']chevrotain["']/.test(readFileSync(f, "utf8")));
if (leftover.length > 0) throw new Error(`build: chevrotain is still imported by name in ${leftover.join(", ")}`);

// The example policies and tool lists, beside the servers compiled from policies/ (`pqguard demo` reads them there).
for (const file of filesUnder(join(ROOT, "policies")).filter((f) => /\.(policy|json)$/.test(f))) {
  cpSync(file, join(DIST, relative(ROOT, file)));
}
chmodSync(join(DIST, "bin", "pqguard.js"), 0o755);
