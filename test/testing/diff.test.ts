// pqguard diff: each kind of change once, with the region of inputs it covers and a minimal counterexample that
// `pqguard eval` decides as reported; exhaustive where a tool's inputs have finitely many classes, a search elsewhere;
// the same report for the same seed; and the command's exit codes (0 same, 1 changed, 2 trouble).
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../../bin/cli.js";
import { interpret } from "../../compiler/interpreter.js";
import type { CheckedPolicy } from "../../compiler/ir.js";
import { requestFromJson } from "../../compiler/request.js";
import { changeTitle } from "../../testing/diff/report.js";
import { dimensionsOf } from "../../testing/diff/dimensions.js";
import { diffPolicies, formatDiffJson, formatDiffText, type PolicyChange } from "../../testing/diff/index.js";
import type { Probe } from "../../testing/diff/probe.js";
import type { Read } from "../../testing/diff/reads.js";
import { checked, REPO_ROOT } from "../support/guards.js";

const PAYMENTS = join(REPO_ROOT, "policies", "payments");
const HEALTHCARE = join(REPO_ROOT, "policies", "healthcare");

async function policyFiles(dir: string, name: string): Promise<{ source: string; manifests: Record<string, unknown> }> {
  const source = await readFile(join(dir, `${name}.policy`), "utf8");
  const manifest = JSON.parse(await readFile(join(dir, `${name}.tools.json`), "utf8")) as unknown;
  return { source, manifests: { [`${name}.tools.json`]: manifest } };
}

/** The policy text with each `[from, to]` replaced once; a replacement that finds nothing fails the test. */
function edited(source: string, ...edits: readonly (readonly [string, string])[]): string {
  let out = source;
  for (const [from, to] of edits) {
    assert.ok(out.includes(from), `the policy contains \`${from}\``);
    out = out.replace(from, to);
  }
  return out;
}

function titles(changes: readonly PolicyChange[]): string[] {
  return changes.map(changeTitle);
}

/** The decisions of both policies on a counterexample, read back as `pqguard eval --request` reads it. */
function decide(before: CheckedPolicy, after: CheckedPolicy, request: Readonly<Record<string, unknown>>): [string, string] {
  const input = requestFromJson(request, 0);
  return [interpret(before).guard(input.request, input.context).decision, interpret(after).guard(input.request, input.context).decision];
}

async function cli(cwd: string, ...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main(argv, { cwd, out: (t) => void (out += t), err: (t) => void (err += t) });
  return { code, out, err };
}

describe("pqguard diff", function () {
  this.timeout(120_000);
  let payments: { source: string; manifests: Record<string, unknown> };
  let original: CheckedPolicy;

  before(async () => {
    payments = await policyFiles(PAYMENTS, "payments");
    original = checked(payments.source, payments.manifests, "payments.policy");
  });

  const variant = (...edits: readonly (readonly [string, string])[]): CheckedPolicy => checked(edited(payments.source, ...edits), payments.manifests, "payments-v2.policy");

  it("reports a moved refund threshold once per kind, with its region, proved exhaustively, and a counterexample eval decides as reported", () => {
    const after = variant(["when args.amount > 1000 and args.amount <= 5000", "when args.amount > 1000 and args.amount <= 6000"], ["when args.amount > 5000\n", "when args.amount > 6000\n"]);
    const diff = diffPolicies(original, after, { seed: 1 });
    assert.equal(diff.exhaustive, true);
    assert.ok(titles(diff.changes).includes("process_refund, args.amount in (5000, 6000]: deny → ask"), titles(diff.changes).join("\n"));
    assert.equal(new Set(titles(diff.changes)).size, diff.changes.length, "each kind of change once");
    for (const change of diff.changes) {
      assert.deepEqual(decide(original, after, change.request), [change.before.decision, change.after.decision], changeTitle(change));
      assert.equal(change.argsValid, true);
    }
    const asked = diff.changes.find((c) => c.after.decision === "ask")!;
    assert.deepEqual(asked.before.rules, ["payments.policy:25"]);
    assert.deepEqual(asked.after.rules, ["payments-v2.policy:21"]);
  });

  it("gives the same report for the same seed, byte for byte, in text and in JSON", () => {
    const after = variant(["calls(process_refund, 10m) >= 3", "calls(process_refund, 10m) >= 4"]);
    const names = { before: "payments.policy", after: "payments-v2.policy" };
    const first = diffPolicies(original, after, { seed: 99, runs: 500 });
    const again = diffPolicies(original, after, { seed: 99, runs: 500 });
    assert.equal(formatDiffText(again, names), formatDiffText(first, names));
    assert.equal(formatDiffJson(again, names), formatDiffJson(first, names));
    const json = JSON.parse(formatDiffJson(first, names)) as { changes: { title: string }[]; same: boolean };
    assert.deepEqual(
      json.changes.map((c) => c.title),
      titles(first.changes),
    );
    assert.equal(json.same, false);
  });

  it("finds a changed velocity limit with a history at the threshold, and shows the count in the region", () => {
    const after = variant(["calls(process_refund, 10m) >= 3", "calls(process_refund, 10m) >= 4"]);
    const diff = diffPolicies(original, after, { seed: 3 });
    const change = diff.changes.find((c) => c.before.decision === "deny" && c.after.decision === "allow");
    assert.ok(change !== undefined, titles(diff.changes).join("\n"));
    assert.deepEqual(change.region, ["calls(process_refund, 10m) = 3"]);
    const history = change.request["history"] as { tool: string }[];
    assert.equal(history.filter((h) => h.tool === "process_refund").length, 3);
    assert.deepEqual(decide(original, after, change.request), ["deny", "allow"]);
  });

  it("finds a moved daily sum and a changed multiple of the largest refund, with earlier amounts in the region", async () => {
    const history = { source: await readFile(join(PAYMENTS, "payments-history.policy"), "utf8"), manifests: payments.manifests };
    const before = checked(history.source, history.manifests, "payments-history.policy");
    const moved = (from: string, to: string): CheckedPolicy => checked(edited(history.source, [from, to]), history.manifests, "payments-history-v2.policy");
    for (const [after, fn] of [
      [moved("+ args.amount > 5000", "+ args.amount > 6000"), "sum"],
      [moved("args.amount > 3 * max(", "args.amount > 4 * max("), "max"],
    ] as const) {
      const diff = diffPolicies(before, after, { seed: 7 });
      const change = diff.changes.find((c) => c.tool === "process_refund");
      assert.ok(change !== undefined, `${fn}: ${titles(diff.changes).join("\n")}`);
      assert.ok(change.region.some((r) => r.includes(`${fn}(process_refund.amount, `)), change.region.join(", "));
      assert.deepEqual(decide(before, after, change.request), [change.before.decision, change.after.decision], changeTitle(change));
      const earlier = change.request["history"] as { args?: { amount?: number } }[];
      assert.ok(earlier.some((h) => typeof h.args?.amount === "number"), "the counterexample carries the earlier amounts");
    }
  });

  it("reads business hours in the policy's time zone", () => {
    const after = variant(["time.hour >= 8", "time.hour >= 9"]);
    const diff = diffPolicies(original, after, { seed: 4 });
    assert.equal(diff.exhaustive, true);
    const change = diff.changes.find((c) => c.tool === "get_balance")!;
    // The old rule applies on weekdays only, so the change does too.
    assert.deepEqual(change.region, ["time.weekday in [mon, tue, wed, thu, fri]", "time.hour = 8 (Europe/Berlin)"]);
    assert.equal(changeTitle(change), "get_balance, time.weekday in [mon, tue, wed, thu, fri], time.hour = 8 (Europe/Berlin): allow → deny");
    assert.equal(new Date(change.request["time"] as string).getUTCHours() + 1, 8, "08:00 in Berlin in winter is 07:00 UTC");
  });

  it("says when only the deciding rule or the reason changed", () => {
    const rule = diffPolicies(original, variant(["when args.amount > 5000\n", "when args.amount > 6000\n"]), { seed: 5 });
    assert.ok(titles(rule.changes).includes("process_refund, args.amount in (5000, 6000]: deny → deny, decided by other rules"), titles(rule.changes).join("\n"));
    const reason = diffPolicies(original, variant(['because "refund velocity limit"', 'because "too many refunds"']), { seed: 5 });
    assert.ok(reason.changes.length > 0 && reason.changes.every((c) => c.type === "reason"), titles(reason.changes).join("\n"));
  });

  it("reports no change for the same policy written differently: rules reordered and split, conditions commuted, comments", () => {
    const after = variant(
      ["permit tool get_balance, list_transactions\n", "// balances and transactions\npermit tool list_transactions\n\npermit tool get_balance\n"],
      ['when client.role == "billing-agent" and args.amount <= 1000', 'when args.amount <= 1000 /* small */ and client.role == "billing-agent"'],
      [
        'forbid tool process_refund\n  when args.amount > 5000\n  because "refunds over 5000 are never automated"\n\nforbid tool process_refund\n  when calls(process_refund, 10m) >= 3\n  because "refund velocity limit"',
        'forbid tool process_refund\n  when calls(process_refund, 10m) >= 3\n  because "refund velocity limit"\n\nforbid tool process_refund\n      when args.amount > 5000\n      because "refunds over 5000 are never automated"',
      ],
    );
    const diff = diffPolicies(original, after, { seed: 6 });
    assert.deepEqual(titles(diff.changes), []);
    assert.equal(diff.same, true);
    assert.equal(diff.exhaustive, true);
  });

  it("proves two identical policies the same without deciding a request", () => {
    const diff = diffPolicies(original, checked(payments.source, payments.manifests, "copy.policy"), { seed: 7 });
    assert.equal(diff.same, true);
    assert.equal(diff.exhaustive, true);
    assert.equal(diff.requests, 0);
    assert.ok(diff.tools.every((t) => t.method === "unchanged"));
  });

  it("counts a tool only one policy's manifests define as a change by itself", () => {
    const tools = (payments.manifests["payments.tools.json"] as { tools: unknown[] }).tools;
    const extra = { tools: [...tools, { name: "close_account", inputSchema: { type: "object", properties: {} } }] };
    const after = checked(payments.source, { "payments.tools.json": extra }, "payments-v2.policy");
    const diff = diffPolicies(original, after, { seed: 8 });
    assert.deepEqual(diff.manifest, [{ tool: "close_account", change: "added" }]);
    assert.equal(diff.same, false);
  });

  it("searches where a regex is read, and finds a dropped anchor with a near miss the schema would refuse", async () => {
    const healthcare = await policyFiles(HEALTHCARE, "healthcare");
    const before = checked(healthcare.source, healthcare.manifests, "healthcare.policy");
    const after = checked(edited(healthcare.source, ["matches /^P-[0-9]{6}$/", "matches /P-[0-9]{6}$/"]), healthcare.manifests, "healthcare.policy");
    const diff = diffPolicies(before, after, { seed: 9 });
    assert.equal(diff.exhaustive, false);
    const searched = diff.tools.find((t) => t.tool === "read_patient_record")!;
    assert.equal(searched.method, "search");
    assert.match(searched.why ?? "", /`args.patient_id` is read by `matches`/);
    const change = diff.changes.find((c) => c.tool === "read_patient_record" && c.after.decision === "allow");
    assert.ok(change !== undefined, titles(diff.changes).join("\n"));
    assert.equal(change.argsValid, false, "an id that only the mutant accepts breaks the schema's own pattern");
    assert.deepEqual(decide(before, after, change.request), ["deny", "allow"]);
  });

  it("searches a URI argument's root as file: URIs, and finds a narrowed root", () => {
    const manifests = { "tools.json": { tools: [{ name: "open", inputSchema: { type: "object", properties: { uri: { type: "string", format: "uri" } }, required: ["uri"] } }] } };
    const policyText = (root: string): string => `policy uris\nmanifest "tools.json"\npermit tool open when args.uri under "${root}"\n`;
    const before = checked(policyText("/srv/docs"), manifests, "uris.policy");
    const after = checked(policyText("/srv/docs/public"), manifests, "uris.policy");
    const diff = diffPolicies(before, after, { seed: 10 });
    const change = diff.changes.find((c) => c.tool === "open");
    assert.ok(change !== undefined, "a file: URI below /srv/docs but not below /srv/docs/public is found");
    assert.match(String((change.request["args"] as { uri: string }).uri), /^file:\/\/\/srv\/docs(\/|$)/);
    assert.deepEqual(decide(before, after, change.request), ["allow", "deny"]);
  });

  it("sets a wall time that a daylight-saving change skips in one week on the same weekday of the next", () => {
    const reads: Read[] = [
      { key: "time.weekday@Europe/Berlin", type: { kind: "string" }, use: { kind: "compare", op: "==", value: "sun" } },
      { key: "time.hour@Europe/Berlin", type: { kind: "number" }, use: { kind: "compare", op: "==", value: 2 } },
    ];
    // Friday 27 March 2026, noon in Berlin; that Sunday the clocks skip from 02:00 to 03:00.
    const friday: Probe = {
      tool: "get_balance",
      args: {},
      client: { authenticated: false },
      peer: {},
      transport: { hybrid: false, level: 0 },
      sessionId: "s",
      ageMs: 0,
      now: Date.UTC(2026, 2, 27, 11),
      history: { kind: "calls", calls: [] },
    };
    const [weekday, hour] = dimensionsOf(reads, { tool: "get_balance", schema: { valid: () => true, samples: [] }, seed: 0, base: friday });
    const sunday = weekday!.set(friday, "sun")!;
    const early = hour!.set(sunday, 2)!;
    assert.deepEqual([weekday!.get(early), hour!.get(early)], ["sun", 2]);
    assert.equal(new Date(early.now).toISOString(), "2026-04-05T00:00:00.000Z");
  });

  describe("the command", () => {
    let dir: string;

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), "pqguard-diff-"));
      await writeFile(join(dir, "payments.tools.json"), JSON.stringify(payments.manifests["payments.tools.json"]));
      await writeFile(join(dir, "old.policy"), payments.source);
      await writeFile(join(dir, "same.policy"), edited(payments.source, ["permit tool get_balance, list_transactions", "permit tool list_transactions, get_balance"]));
      await writeFile(join(dir, "new.policy"), edited(payments.source, ["time.hour < 18", "time.hour < 19"]));
      await writeFile(join(dir, "broken.policy"), edited(payments.source, ["permit tool get_balance", "permit tool get_balanse"]));
    });

    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it("exits 0 when no change is found and says it was checked exhaustively", async () => {
      const { code, out } = await cli(dir, "diff", "old.policy", "same.policy", "--seed", "1");
      assert.equal(code, 0, out);
      assert.match(out, /^old\.policy → same\.policy: no change found$/m);
      assert.match(out, /^no change: every tool was checked exhaustively or has the same rules in both$/m);
    });

    it("exits 1 with the changes, and the same output for the same seed", async () => {
      const first = await cli(dir, "diff", "old.policy", "new.policy", "--seed", "12");
      const again = await cli(dir, "diff", "old.policy", "new.policy", "--seed", "12");
      assert.equal(first.code, 1);
      assert.equal(again.out, first.out);
      assert.match(first.out, /^get_balance, time\.weekday in \[mon, tue, wed, thu, fri\], time\.hour = 18 \(Europe\/Berlin\): deny → allow$/m);
      assert.match(first.out, /^seed 12: `--seed 12` searches the same requests again$/m);
    });

    it("says a refactor changed behaviour under --expect-no-change, and still exits 1", async () => {
      const { code, err } = await cli(dir, "diff", "old.policy", "new.policy", "--expect-no-change", "--seed", "1");
      assert.equal(code, 1);
      assert.match(err, /^error PQG9560: `new\.policy` was expected to decide every request as `old\.policy` does \(a refactor\), but it changes behaviour: \d+ changes?, listed above$/m);
      const quiet = await cli(dir, "diff", "old.policy", "same.policy", "--expect-no-change", "--seed", "1");
      assert.equal(quiet.code, 0);
      assert.equal(quiet.err, "");
    });

    it("prints the same content as JSON with --format json", async () => {
      const { code, out } = await cli(dir, "diff", "old.policy", "new.policy", "--format", "json", "--seed", "12");
      assert.equal(code, 1);
      const report = JSON.parse(out) as { same: boolean; exhaustive: boolean; seed: number; changes: { title: string; request: unknown }[] };
      assert.equal(report.same, false);
      assert.equal(report.exhaustive, true);
      assert.equal(report.seed, 12);
      assert.ok(report.changes.some((c) => c.title === "get_balance, time.weekday in [mon, tue, wed, thu, fri], time.hour = 18 (Europe/Berlin): deny → allow"));
    });

    it("exits 2 for trouble: a policy with errors, a wrong command line", async () => {
      const broken = await cli(dir, "diff", "old.policy", "broken.policy");
      assert.equal(broken.code, 2);
      assert.match(broken.err, /PQG2001/);
      assert.match(broken.err, /^error PQG9561: `broken\.policy` has errors, so the two policies were not compared$/m);
      const one = await cli(dir, "diff", "old.policy");
      assert.equal(one.code, 2);
      assert.match(one.err, /two policy files are needed/);
      const runs = await cli(dir, "diff", "old.policy", "new.policy", "--runs", "0");
      assert.equal(runs.code, 2);
      const help = await cli(dir, "diff", "--help");
      assert.equal(help.code, 0);
      assert.match(help.out, /^usage: pqguard diff OLD\.policy NEW\.policy/);
    });
  });
});
