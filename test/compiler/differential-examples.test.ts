// The design file's payments example, decided by the reference interpreter and by the compiled guard: both must give
// the decisions, determining rules and reasons the design promises.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { interpret } from "../../compiler/interpreter.js";
import { requestFromJson } from "../../compiler/request.js";
import type { Decision, GuardModule } from "../../runtime/guard/types.js";
import { checked, compiledGuard, REPO_ROOT } from "../support/guards.js";

const dir = join(REPO_ROOT, "policies", "payments");
const source = readFileSync(join(dir, "payments.policy"), "utf8");
const manifest: unknown = JSON.parse(readFileSync(join(dir, "payments.tools.json"), "utf8"));

/** The design's request example, with overrides. */
function call(overrides: Record<string, unknown> = {}, args: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    tool: "process_refund",
    args: { amount: 250, customer_id: "c-17", ...args },
    client: { id: "agent-7", role: "billing-agent", authenticated: true },
    transport: { kem: "X25519MLKEM768", signature: "ML-DSA-65", aead: "AES-256-GCM" },
    session: { id: "s-1", age: "5m" },
    time: "2026-11-23T10:15:00Z", // a Monday, 11:15 in Berlin
    history: [{ tool: "process_refund", at: "2026-11-23T10:11:00Z" }],
    ...overrides,
  };
}

const MONDAY = Date.parse("2026-11-23T10:15:00Z");

function minutesAgo(minutes: number): string {
  return new Date(MONDAY - minutes * 60_000).toISOString();
}

interface Expectation {
  readonly decision: Decision["decision"];
  readonly determining: readonly string[];
  readonly reason: string;
}

const CASES: readonly { name: string; request: Record<string, unknown>; expect: Expectation; check?: (d: Decision) => void }[] = [
  {
    name: "a billing agent's refund of 250 in business hours is allowed",
    request: call(),
    expect: { decision: "allow", determining: ["payments.policy:18"], reason: "permitted by rule `payments.policy:18`" },
  },
  {
    name: "a refund of 3000 asks for approval with the because text",
    request: call({}, { amount: 3000 }),
    expect: { decision: "ask", determining: ["payments.policy:21"], reason: "refunds between 1000 and 5000 need a human approval" },
  },
  {
    name: "a refund of 6000 is denied",
    request: call({}, { amount: 6000 }),
    expect: { decision: "deny", determining: ["payments.policy:25"], reason: "refunds over 5000 are never automated" },
  },
  {
    name: "a support agent's refund is denied by default, explaining the permit's failing clause",
    request: call({ client: { id: "agent-9", role: "support-agent", authenticated: true } }),
    expect: { decision: "deny", determining: [], reason: "no rule permits `process_refund`" },
    check: (d) => {
      const permit = d.explain.find((e) => e.rule === "payments.policy:18");
      assert.deepEqual(permit, {
        rule: "payments.policy:18",
        effect: "permit",
        matched: false,
        detail: '`client.role == "billing-agent"` was false',
      });
    },
  },
  {
    name: "an unauthenticated client is denied by the identity requirement",
    request: call({ client: { id: "agent-7", role: "billing-agent", authenticated: false } }),
    expect: { decision: "deny", determining: ["payments.policy:6"], reason: "identity requirement `client.authenticated` failed" },
  },
  {
    name: "a client without a role is denied: the requirement could not be evaluated",
    request: call({ client: { id: "agent-7", authenticated: true } }),
    expect: {
      decision: "deny",
      determining: ["payments.policy:7"],
      reason: 'identity requirement `client.role in ["billing-agent", "support-agent"]` could not be evaluated: `client.role` is missing',
    },
  },
  {
    name: "a non-hybrid key exchange is denied by the transport requirement",
    request: call({ transport: { kem: "ML-KEM-768", signature: "ML-DSA-65", aead: "AES-256-GCM" } }),
    expect: { decision: "deny", determining: ["payments.policy:12"], reason: "transport requirement `transport.hybrid` failed" },
  },
  {
    name: "a classical key exchange is denied by the kem requirement",
    request: call({ transport: { kem: "X25519", signature: "Ed25519", aead: "AES-256-GCM" } }),
    expect: { decision: "deny", determining: ["payments.policy:11"], reason: 'transport requirement `transport.kem >= "ML-KEM-768"` failed' },
  },
  {
    name: "an old session is denied",
    request: call({ session: { id: "s-1", age: "9h" } }),
    expect: { decision: "deny", determining: ["payments.policy:13"], reason: "transport requirement `session.age < 8h` failed" },
  },
  {
    name: "a refund on Saturday is denied outside business hours",
    request: call({ time: "2026-11-28T10:15:00Z", history: [] }),
    expect: { decision: "deny", determining: ["payments.policy:33"], reason: "outside business hours" },
  },
  {
    name: "a refund at 18:30 Berlin time is denied outside business hours",
    request: call({ time: "2026-11-23T17:30:00Z", history: [] }),
    expect: { decision: "deny", determining: ["payments.policy:33"], reason: "outside business hours" },
  },
  {
    name: "a fourth refund within 10 minutes hits the velocity rule",
    request: call({ history: [1, 4, 9].map((m) => ({ tool: "process_refund", at: minutesAgo(m) })) }),
    expect: { decision: "deny", determining: ["payments.policy:29"], reason: "refund velocity limit" },
  },
  {
    name: "the hundred-and-first refund in an hour by one client hits the limit",
    request: call({
      history: Array.from({ length: 100 }, (_, i) => ({ tool: "process_refund", at: minutesAgo(11 + i * 0.45), session: `s-${i}` })),
    }),
    expect: { decision: "deny", determining: ["payments.policy:37"], reason: "rate limit of 100 calls per 1h per client exceeded" },
    check: (d) => {
      const limit = d.explain.find((e) => e.rule === "payments.policy:37");
      assert.deepEqual(limit, { rule: "payments.policy:37", effect: "limit", matched: true, detail: "100 calls in the last 1h (limit 100)" });
    },
  },
  {
    name: "other clients' refunds do not count against the per-client limit",
    request: call({
      history: Array.from({ length: 100 }, (_, i) => ({ tool: "process_refund", at: minutesAgo(11 + i * 0.45), client: "agent-8", session: "s-9" })),
    }),
    expect: { decision: "allow", determining: ["payments.policy:18"], reason: "permitted by rule `payments.policy:18`" },
  },
  {
    name: "a 6000 refund on Saturday names both forbids, the first one's reason",
    request: call({ time: "2026-11-28T10:15:00Z", history: [] }, { amount: 6000 }),
    expect: { decision: "deny", determining: ["payments.policy:25", "payments.policy:33"], reason: "refunds over 5000 are never automated" },
  },
  {
    name: "a refund without an amount fails closed: the forbid on the amount applies",
    request: call({}, { amount: undefined }),
    expect: { decision: "deny", determining: ["payments.policy:25"], reason: "refunds over 5000 are never automated" },
    check: (d) => {
      const forbid = d.explain.find((e) => e.rule === "payments.policy:25");
      assert.equal(forbid?.detail, "`args.amount > 5000` could not be evaluated: `args.amount` is missing");
      assert.equal(forbid?.matched, true);
    },
  },
  {
    name: "a refund whose amount is a string is denied: the forbid fails closed",
    request: call({}, { amount: "250" }),
    expect: { decision: "deny", determining: ["payments.policy:25"], reason: "refunds over 5000 are never automated" },
  },
  {
    name: "reading the balance is permitted without conditions",
    request: call({ tool: "get_balance", args: { customer_id: "c-17" } }),
    expect: { decision: "allow", determining: ["payments.policy:16"], reason: "permitted by rule `payments.policy:16`" },
  },
  {
    name: "a tool the policy does not know is denied by default",
    request: call({ tool: "delete_ledger", args: {} }),
    expect: { decision: "deny", determining: [], reason: "no rule permits `delete_ledger`" },
  },
];

describe("the payments example from the design", () => {
  const policy = checked(source, { "payments.tools.json": manifest }, "payments.policy");
  const backEnds: { name: string; load: () => Promise<GuardModule> }[] = [
    { name: "interpreter", load: async () => interpret(policy) },
    { name: "compiled guard", load: () => compiledGuard(policy, "examples") },
  ];
  for (const backEnd of backEnds) {
    describe(`through the ${backEnd.name}`, () => {
      let guard: GuardModule;
      before(async () => {
        guard = await backEnd.load();
      });
      for (const c of CASES) {
        it(c.name, () => {
          const { request, context } = requestFromJson(c.request, 0);
          const decision = guard.guard(request, context);
          assert.deepEqual(
            { decision: decision.decision, determining: decision.determining, reason: decision.reason },
            c.expect,
            JSON.stringify(decision.explain, null, 2),
          );
          c.check?.(decision);
        });
      }
      it("exports the policy name and digests", () => {
        assert.equal(guard.policyName, "payments");
        assert.equal(guard.policyDigest, policy.digest);
        assert.deepEqual(Object.keys(guard.toolDigests).sort(), ["get_balance", "list_transactions", "process_refund"]);
      });
    });
  }
});
