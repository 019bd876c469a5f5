// Consumer fixture, loaded with `--import`: records every module the process loads into the file named by
// PQGUARD_LOADED_MODULES, one per line (ES modules through a resolve hook, CommonJS from require.cache at exit).
import { appendFileSync } from "node:fs";
import { createRequire, register } from "node:module";

const file = process.env.PQGUARD_LOADED_MODULES;
register("./loaded-modules-hooks.mjs", import.meta.url, { data: { file } });
process.on("exit", () => {
  const required = Object.keys(createRequire(import.meta.url).cache);
  appendFileSync(file, required.map((path) => `${path}\n`).join(""));
});
