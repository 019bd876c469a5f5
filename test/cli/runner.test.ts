// The test runner's own set-up: a test file that cannot load must be reported with its own error. With require(esm),
// mocha first require()s a .ts test file, tsx compiles it and its imports to CommonJS until an ESM-only package
// (chevrotain, canonicalize) stops it, and mocha then shows that package-exports error instead of the real one.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const MOCHA = fileURLToPath(new URL("../../node_modules/mocha/bin/mocha.js", import.meta.url));
const UNLOADABLE = fileURLToPath(new URL("./fixtures/unloadable.ts", import.meta.url));

/** The Node options the suite runs with (.mocharc.json), so one file can be run on its own the same way. */
function nodeOptions(): string[] {
  const config = JSON.parse(readFileSync(new URL("../../.mocharc.json", import.meta.url), "utf8")) as { "node-option"?: string[] };
  return config["node-option"] ?? [];
}

describe("test runner", function () {
  this.timeout(60_000);

  it("reports a test file that cannot load with its own error, not a package-exports error from a CommonJS detour", async () => {
    const args = [MOCHA, "--no-config", ...nodeOptions().flatMap((option) => ["--node-option", option]), "--dry-run", UNLOADABLE];
    const output = await new Promise<string>((resolve) => {
      execFile(process.execPath, args, { cwd: ROOT, encoding: "utf8" }, (_error, stdout, stderr) => resolve(stdout + stderr));
    });
    assert.match(output, /does not provide an export named 'noSuchExport'/);
    assert.doesNotMatch(output, /ERR_PACKAGE_PATH_NOT_EXPORTED/);
  });
});
