// The example policies' own tests: `pqguard test policies/`, the CLI run from sources as its own process, passes, and
// its coverage stays where it is. What it leaves uncovered cannot be reached: a condition the rules before it decide
// (an amount above 5000 is forbidden before the `ask` is looked at; a reader is refused every write before a permit
// asks for an editor), an annotation no targeted tool lacks, or a rate limit no case runs into.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { REPO_ROOT } from "../support/guards.js";

interface Report {
  readonly summary: { passed: number; failed: number; skipped: number; policies: number };
  readonly coverage: { percent: number; ok: boolean };
  readonly policies: { policy: string; coverage: { percent: number; rules: { uncovered: string[] }; conditions: { uncovered: { rule: string; text: string; never: string[] }[] }; tools: { uncovered: string[] } } }[];
}

function pqguardTest(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["--import", "tsx", join(REPO_ROOT, "bin", "pqguard.ts"), "test", ...args], { cwd: REPO_ROOT, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : -1, stdout, stderr });
    });
  });
}

describe("pqguard test policies/", function () {
  this.timeout(180_000);

  it("passes every case and property of the example policies, with the coverage they have", async () => {
    // The property files import `pqguard/testing`, the built package, as a user's project does.
    assert.ok(existsSync(join(REPO_ROOT, "dist", "testing", "index.js")), "dist/ is built (npm run build; npm test builds it first)");
    const run = await pqguardTest(["policies", "--seed", "1", "--min-coverage", "95", "--format", "json"]);
    const report = JSON.parse(run.stdout) as Report;
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.deepEqual(report.summary, { passed: 359, failed: 0, skipped: 0, policies: 11 });
    assert.deepEqual([report.coverage.percent, report.coverage.ok], [96, true]);
    const uncovered = Object.fromEntries(
      report.policies.map((p) => [
        p.policy,
        {
          percent: p.coverage.percent,
          rules: p.coverage.rules.uncovered,
          conditions: p.coverage.conditions.uncovered.map((c) => `${c.rule} \`${c.text}\` never ${c.never.join(", ")}`),
          tools: p.coverage.tools.uncovered,
        },
      ]),
    );
    assert.deepEqual(uncovered, {
      "policies/database/database.policy": {
        percent: 92.9,
        rules: ["database.policy:53"],
        conditions: ["database.policy:27 `client.role == \"engineer\"` never false", "database.policy:36 `client.role == \"engineer\"` never false", "database.policy:45 `client.role == \"engineer\"` never false"],
        tools: [],
      },
      "policies/fetch/fetch.policy": {
        percent: 97.2,
        rules: ["fetch.policy:32"],
        conditions: [],
        tools: [],
      },
      "policies/filesystem/filesystem.policy": {
        percent: 98.5,
        rules: [],
        conditions: ["filesystem.policy:20 `tool.annotations.readOnlyHint` never false"],
        tools: [],
      },
      "policies/git/git.policy": {
        percent: 93.9,
        rules: ["git.policy:62"],
        conditions: ["git.policy:27 `client.role == \"developer\"` never false", "git.policy:30 `client.role == \"developer\"` never false", "git.policy:39 `client.role == \"developer\"` never false", "git.policy:51 `client.role == \"developer\"` never false"],
        tools: [],
      },
      "policies/healthcare/healthcare.policy": {
        percent: 98.6,
        rules: [],
        conditions: ["healthcare.policy:44 `len(args.patient_ids) <= 10` never false"],
        tools: [],
      },
      "policies/mcp-fetch-server/mcp-fetch-server.policy": {
        percent: 100,
        rules: [],
        conditions: [],
        tools: [],
      },
      "policies/payments/payments.policy": {
        percent: 94.8,
        rules: [],
        conditions: ["payments.policy:18 `args.amount <= 1000` never false", "payments.policy:21 `args.amount <= 5000` never false"],
        tools: [],
      },
      "policies/payments/payments-history.policy": {
        percent: 100,
        rules: [],
        conditions: [],
        tools: [],
      },
      "policies/server-everything/server-everything.policy": {
        percent: 96.7,
        rules: ["server-everything.policy:49"],
        conditions: ["server-everything.policy:33 `not (has args.maxTokens) or args.maxTokens <= 1000` never false"],
        tools: [],
      },
      "policies/server-filesystem/server-filesystem.policy": {
        percent: 95.5,
        rules: ["server-filesystem.policy:54"],
        conditions: ["server-filesystem.policy:36 `client.role == \"editor\"` never false", "server-filesystem.policy:40 `client.role == \"editor\"` never false"],
        tools: [],
      },
      "policies/server-memory/server-memory.policy": {
        percent: 92,
        rules: ["server-memory.policy:53", "server-memory.policy:55"],
        conditions: ["server-memory.policy:18 `client.role in [\"assistant\", \"curator\"]` never false", "server-memory.policy:21 `client.role in [\"assistant\", \"curator\"]` never false", "server-memory.policy:25 `client.role in [\"assistant\", \"curator\"]` never false"],
        tools: [],
      },
    });
  });
});
