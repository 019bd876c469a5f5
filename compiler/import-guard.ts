// Loads a checked policy as its compiled guard at run time, for `pqguard proxy` and `pqguard eval`: the JavaScript form
// is written to a fresh private folder, imported from there, and the folder removed. Needs neither TypeScript nor tsx.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { GuardModule } from "../runtime/guard/types.js";
import { generateGuardModule } from "./codegen.js";
import type { CheckedPolicy } from "./ir.js";

/**
 * The guard runtime as a file URL, through the package's own `pqguard/guard` export: the temporary folder lies outside
 * the package, so the module could not resolve the name itself. The export names the built runtime (dist/), the same
 * file in a checkout and in an installed package, wherever this module itself runs from.
 */
function runtimeUrl(): string {
  return import.meta.resolve("pqguard/guard");
}

/** Compiles `policy` to JavaScript and imports it; the temporary folder is gone when this settles. */
export async function importGuard(policy: CheckedPolicy): Promise<GuardModule> {
  const source = await generateGuardModule(policy, { runtimeImport: runtimeUrl(), language: "js" });
  // mkdtemp makes the folder 0700: no other user can replace the module between its writing and its import.
  const dir = await mkdtemp(join(tmpdir(), "pqguard-guard-"));
  try {
    // Outside the package no package.json says `"type": "module"`; this one makes the `.js` file an ES module.
    await writeFile(join(dir, "package.json"), '{ "type": "module" }\n', { mode: 0o600 });
    const file = join(dir, `${policy.name}.guard.js`);
    await writeFile(file, source, { mode: 0o600 });
    const module = (await import(pathToFileURL(file).href)) as { default: GuardModule };
    return module.default;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
