// Where this package's own files are, and how to start its scripts (the CLI, the example servers) as child processes:
// the compiled JavaScript in dist/ when installed, the TypeScript sources through tsx in a checkout running its tests.
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

/** True when this module runs from its TypeScript source (a checkout under tsx), false from dist/. */
const FROM_SOURCES = import.meta.url.endsWith(".ts");

/** The root of the tree this module runs from: the checkout, or dist/ of an installed package. */
export const OWN_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** The example policies with their tool lists and servers (dist/policies/ holds the compiled servers and copies). */
export const OWN_POLICIES = join(OWN_ROOT, "policies");

/** A command and arguments that run one of the package's scripts, given without extension (`bin/pqguard`). */
export function ownScript(path: string): { readonly command: string; readonly args: readonly string[] } {
  const file = join(OWN_ROOT, `${path}.${FROM_SOURCES ? "ts" : "js"}`);
  return { command: process.execPath, args: FROM_SOURCES ? ["--import", "tsx", file] : [file] };
}

/** The same as one command line, each word quoted as `splitCommandLine` reads it, for `--upstream "CMD ARGS"`. */
export function ownScriptLine(path: string): string {
  const { command, args } = ownScript(path);
  return [command, ...args].map((word) => (word.includes('"') ? `'${word}'` : `"${word}"`)).join(" ");
}
