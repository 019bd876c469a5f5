// The API report (`npm run api:check`, part of `npm test`): one api/<entry>.api.md per package entry point, made by
// API Extractor from dist/'s declarations. A change to the public surface fails the check until `npm run api:update`
// rewrites the report, so every change shows up in review.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { Extractor, ExtractorConfig } from "@microsoft/api-extractor";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const UPDATE = process.argv.includes("--update");

/** Each public entry point of package.json `exports`, by the name of its report. */
const ENTRIES = {
  pqguard: "dist/runtime/index.d.ts",
  "pqguard-guard": "dist/runtime/guard/index.d.ts",
  "pqguard-compiler": "dist/compiler/index.d.ts",
  "pqguard-testing": "dist/testing/index.d.ts",
};

let failed = false;
for (const [name, entry] of Object.entries(ENTRIES)) {
  const tempFolder = join(ROOT, "dist", "api-report");
  mkdirSync(tempFolder, { recursive: true });
  const config = ExtractorConfig.prepare({
    configObjectFullPath: join(ROOT, "api", `${name}.json`),
    packageJsonFullPath: join(ROOT, "package.json"),
    configObject: {
      projectFolder: ROOT,
      mainEntryPointFilePath: join(ROOT, entry),
      compiler: {
        overrideTsconfig: {
          compilerOptions: { target: "ES2022", lib: ["ES2023"], module: "NodeNext", moduleResolution: "NodeNext", strict: true, types: ["node"], skipLibCheck: true },
          include: [join(ROOT, "dist")],
        },
      },
      apiReport: { enabled: true, reportFolder: join(ROOT, "api"), reportTempFolder: tempFolder, reportFileName: name },
      docModel: { enabled: false },
      dtsRollup: { enabled: false },
      tsdocMetadata: { enabled: false },
      messages: {
        compilerMessageReporting: { default: { logLevel: "warning" } },
        extractorMessageReporting: {
          default: { logLevel: "warning" },
          // Release tags (@public, @beta) are not used: the package is 0.x and everything exported is public.
          "ae-missing-release-tag": { logLevel: "none" },
          "ae-undocumented": { logLevel: "none" },
          // A type reachable from the API but not exported by the entry is a defect of the API: shown in the report.
          "ae-forgotten-export": { logLevel: "warning", addToApiReportFile: true },
        },
        tsdocMessageReporting: { default: { logLevel: "none" } },
      },
    },
  });
  const result = Extractor.invoke(config, { localBuild: UPDATE, showVerboseMessages: false });
  if (UPDATE) {
    if (result.apiReportChanged) process.stdout.write(`api: updated api/${name}.api.md\n`);
    continue;
  }
  if (!result.succeeded || result.apiReportChanged) {
    failed = true;
    process.stderr.write(
      result.apiReportChanged
        ? `api: the public API of ${name} changed; review the difference and run \`npm run api:update\`\n`
        : `api: API Extractor reported ${result.errorCount} errors and ${result.warningCount} warnings for ${name}\n`,
    );
  }
}
process.exitCode = failed ? 1 : 0;
