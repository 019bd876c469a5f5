// The result-rule part of the guard benchmark: on a policy of ten result rules (four redactions, three refusals on
// `matches`, three marks on `contains`), the median time `inspectResult` adds to a tools/call for a 10 KiB text
// result that none of them matches, measured beside the call decision of the same guard in the same run.
import process from "node:process";
import type { CheckedPolicy } from "../compiler/ir.js";
import { checkPolicySource } from "../compiler/load.js";
import { historyOf } from "../compiler/request.js";
import { DecisionPoint } from "../runtime/enforce/decide.js";
import { gatedResponse, ResultGate } from "../runtime/enforce/links.js";
import { InOrder, ReturningCalls } from "../runtime/enforce/notifications.js";
import { inspectResult } from "../runtime/enforce/results.js";
import { MemoryStateStore } from "../runtime/state/memory.js";
import type { GuardContext, GuardModule, CallResult } from "../runtime/guard/types.js";

const ROUNDS = 301;
const BATCH = 200;
const RESULT_BYTES = 10 * 1024;

const SOURCE = `policy results_bench version 1
manifest "results.tools.json"

permit tool read_text_file when args.path startsWith "/srv/"

redact /-----BEGIN [A-Z]{0,12} ?PRIVATE KEY-----[A-Za-z0-9+\\/=\\s]*-----END [A-Z]{0,12} ?PRIVATE KEY-----/ in result of read_text_file as "[redacted private key]"
redact /AKIA[0-9A-Z]{16}/ in result of read_text_file as "[redacted aws key]"
redact /ghp_[A-Za-z0-9]{36}/ in result of read_text_file as "[redacted github token]"
redact /xox[baprs]-[A-Za-z0-9-]{10,48}/ in result of read_text_file as "[redacted slack token]"
refuse result of read_text_file when result.text matches /ignore (all |any )?(previous|prior) instructions/i
refuse result of read_text_file when result.text matches /<\\|im_start\\|>|\\[INST\\]/
refuse result of read_text_file when result.text matches /you are now (in )?developer mode/i
mark result of read_text_file when result.text contains "PRIVATE KEY-----" as seen "private-key"
mark result of read_text_file when result.text contains "password" as "credentials"
mark result of read_text_file when result.isError as "tool-error"
`;

const TOOLS = {
  tools: [{ name: "read_text_file", inputSchema: { type: "object", properties: { path: { type: "string" } }, required: ["path"] } }],
};

export function resultRulesPolicy(): CheckedPolicy {
  const outcome = checkPolicySource(SOURCE, { fileName: "results.policy", manifests: { "results.tools.json": TOOLS } });
  if (outcome.policy === undefined) throw new Error(`result-rule policy did not check: ${outcome.diagnostics.map((d) => d.message).join("; ")}`);
  return outcome.policy;
}

/** Ordinary prose of 10 KiB, lines of source-like text, none of which a rule matches. */
function tenKiB(): string {
  const line = "const value = compute(input, options); // lorem ipsum dolor sit amet, consectetur adipiscing elit\n";
  return line.repeat(Math.ceil(RESULT_BYTES / line.length)).slice(0, RESULT_BYTES);
}

function median(samples: number[]): number {
  return samples.sort((a, b) => a - b)[Math.floor(samples.length / 2)]!;
}

/** Median µs of the call decision alone and of decision + result inspection, batches interleaved round by round. */
export async function measureResultRules(compile: (policy: CheckedPolicy) => Promise<GuardModule>): Promise<{ call_decision_us: number; with_result_us: number; result_rules_us: number }> {
  const guard = await compile(resultRulesPolicy());
  const now = Date.parse("2026-11-23T10:15:00Z");
  const context: GuardContext = {
    client: { id: "agent-7", authenticated: true },
    peer: {},
    transport: { hybrid: true, level: 3 },
    session: { id: "s-1", ageMs: 1000, calls: 0 },
    now,
    history: { ...historyOf([], { client: "agent-7", session: "s-1", now }), seen: () => false },
  };
  const request = { tool: "read_text_file", args: { path: "/srv/app/main.ts" } };
  const result: CallResult = { content: [{ type: "text", text: tenKiB() }] };
  let sink = 0;
  const decideOnly = (): void => {
    for (let i = 0; i < BATCH; i++) if (guard.guard(request, context).decision === "allow") sink++;
  };
  const decideAndInspect = (): void => {
    for (let i = 0; i < BATCH; i++) {
      if (guard.guard(request, context).decision === "allow" && inspectResult(guard, request, result, context).decision.decision === "pass") sink++;
    }
  };
  for (let i = 0; i < 20; i++) {
    decideOnly();
    decideAndInspect();
  }
  const alone: number[] = [];
  const both: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    let start = process.hrtime.bigint();
    decideOnly();
    alone.push(Number(process.hrtime.bigint() - start) / BATCH / 1000);
    start = process.hrtime.bigint();
    decideAndInspect();
    both.push(Number(process.hrtime.bigint() - start) / BATCH / 1000);
  }
  if (sink === 0) throw new Error("no decisions were made");
  const call = median(alone);
  const withResult = median(both);
  return { call_decision_us: +call.toFixed(3), with_result_us: +withResult.toFixed(3), result_rules_us: +(withResult - call).toFixed(3) };
}

/**
 * The enforcement point's return path under the same ten rules, through a DecisionPoint with a memory store: a 10 KiB
 * result inspected alone (`return_path_us`, the baseline), and as enforce() and guardClient() now pass it on: the call
 * kept by request id and progress token, the result through the gate that remembers its resource links, queued behind
 * earlier notifications, answered as a response (`return_bookkeeping_us` is the difference); and one 120-character progress message inspected as the call's result
 * (`progress_us`), the cost a notification pays. Sequential awaited operations, batches interleaved round by round.
 */
export async function measureReturnPath(compile: (policy: CheckedPolicy) => Promise<GuardModule>): Promise<{ return_path_us: number; return_bookkeeping_us: number; progress_us: number }> {
  const guard = await compile(resultRulesPolicy());
  let clock = Date.parse("2026-11-23T10:15:00Z");
  const decisions = new DecisionPoint(guard, "server", { store: new MemoryStateStore(), now: () => clock++ }, "0".repeat(64));
  const session = { sessionId: "s-1", establishedAt: 0, sealed: false, info: undefined };
  const call = { tool: "read_text_file", args: { path: "/srv/app/main.ts" }, session };
  const result: CallResult = { content: [{ type: "text", text: tenKiB() }] };
  const progress = { jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: 7, progress: 1, total: 2, message: "read 4 of 8 files: /srv/app/main.ts, /srv/app/util.ts, /srv/app/db.ts, /srv/app/api.ts".padEnd(120, ".") } };
  const calls = new ReturningCalls();
  const gate = new ResultGate(decisions, (error) => error);
  const response = { jsonrpc: "2.0", id: 1, result };
  const order = new InOrder();
  const meta = { progressToken: 7 };
  let sink = 0;
  const alone = async (): Promise<void> => {
    for (let i = 0; i < BATCH; i++) if ("result" in (await decisions.inspectResult({ ...call, result }))) sink++;
  };
  const kept = async (): Promise<void> => {
    for (let i = 0; i < BATCH; i++) {
      calls.set(i, call, meta);
      const running = calls.take(i)!;
      await order.queue(gatedResponse(response, gate.afterCall(running.tool, running.args, running.session, result)), (answered) => {
        if ("result" in answered) sink++;
      });
    }
  };
  const notified = async (): Promise<void> => {
    for (let i = 0; i < BATCH; i++) if ((await decisions.inspectNotification(progress, [call], session)) !== undefined) sink++;
  };
  const contenders = [alone, kept, notified];
  const samples: number[][] = contenders.map(() => []);
  for (let i = 0; i < 10; i++) for (const run of contenders) await run();
  for (let round = 0; round < ROUNDS / 3; round++) {
    for (const [i, run] of contenders.entries()) {
      const start = process.hrtime.bigint();
      await run();
      samples[i]!.push(Number(process.hrtime.bigint() - start) / BATCH / 1000);
    }
  }
  if (sink === 0) throw new Error("nothing was inspected");
  const [base, withBookkeeping, perProgress] = samples.map(median) as [number, number, number];
  return { return_path_us: +base.toFixed(3), return_bookkeeping_us: +(withBookkeeping - base).toFixed(3), progress_us: +perProgress.toFixed(3) };
}
