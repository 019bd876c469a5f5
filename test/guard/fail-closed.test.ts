// Errors fail closed: inputs the schema allows but evaluation cannot use (numbers past the double range, facts that
// are not numbers, instants past the Date range, strings too long to match a regex against) make a `forbid` apply
// and a `permit` not, in compiled guards and the interpreter alike, and never make a guard throw.
import assert from "node:assert/strict";
import { interpret } from "../../compiler/interpreter.js";
import { historyOf } from "../../compiler/request.js";
import { MATCH_INPUT_LIMIT } from "../../runtime/guard/helpers.js";
import type { Decision, GuardContext, GuardModule, GuardRequest } from "../../runtime/guard/types.js";
import { checked, compiledGuard } from "../support/guards.js";

const MANIFEST = {
  tools: [
    {
      name: "transfer",
      inputSchema: {
        type: "object",
        properties: { amount: { type: "number" }, fee: { type: "number" }, memo: { type: "string" }, meta: { type: "object" }, other: { type: "object" } },
        required: ["amount", "fee"],
      },
    },
  ],
};

const NOW = Date.parse("2026-03-02T10:00:00Z");

function context(overrides: Partial<GuardContext> = {}): GuardContext {
  const now = overrides.now ?? NOW;
  return {
    client: { id: "c-1", role: "agent", authenticated: true },
    peer: {},
    transport: { kem: "ML-KEM-768", hybrid: false, level: 3 },
    session: { id: "s-1", ageMs: 60_000, calls: 0 },
    now,
    history: historyOf([], { client: "c-1", session: "s-1", now }),
    ...overrides,
  };
}

/** Both back ends of one policy; every decision is asked of both and must be the same. */
async function backEnds(rules: string, folder: string): Promise<(request: GuardRequest, ctx?: GuardContext) => Decision> {
  const policy = checked(`policy failclosed\nmanifest "m.json"\n${rules}\n`, { "m.json": MANIFEST }, "failclosed.policy");
  const compiled: GuardModule = await compiledGuard(policy, "fail-closed", folder);
  const oracle = interpret(policy);
  return (request, ctx = context()) => {
    const decision = compiled.guard(request, ctx);
    assert.deepEqual(decision, oracle.guard(request, ctx));
    return decision;
  };
}

const transfer = (args: Record<string, unknown>): GuardRequest => ({ tool: "transfer", args });

describe("guards fail closed", function () {
  this.timeout(60_000);

  it("an arithmetic result that is not a number (1e400 - 1e400) cannot be evaluated: the forbid applies", async () => {
    const decide = await backEnds("permit tool transfer\nforbid tool transfer when args.amount - args.fee > 100", "nan");
    // JSON.parse reads 1e400 as Infinity, a number that the schema allows.
    const big = JSON.parse('{"amount": 1e400, "fee": 1e400}') as Record<string, unknown>;
    const decision = decide(transfer(big));
    assert.equal(decision.decision, "deny");
    assert.deepEqual(decision.determining, ["failclosed.policy:4"]);
    assert.equal(decision.explain[0]!.detail, "`args.amount - args.fee > 100` could not be evaluated: `args.amount - args.fee` is not a number");
    assert.equal(decide(transfer({ amount: 50, fee: 1 })).decision, "allow");
  });

  it("division and remainder that yield no number cannot be evaluated", async () => {
    const decide = await backEnds("permit tool transfer\nforbid tool transfer when args.amount % 7 != 1 and args.amount / args.fee < 1", "nan-div");
    const decision = decide(transfer(JSON.parse('{"amount": 1e400, "fee": 1}') as Record<string, unknown>));
    assert.equal(decision.decision, "deny");
    assert.match(decision.explain[0]!.detail, /`args.amount % 7` is not a number$/);
    assert.equal(decide(transfer(JSON.parse('{"amount": 1e400, "fee": -1e400}') as Record<string, unknown>)).decision, "deny");
  });

  it("a fact that is NaN is not a number: a forbid on it applies", async () => {
    const decide = await backEnds("permit tool transfer\nforbid tool transfer when session.age > 8h\nforbid tool transfer when time.now > \"2027-01-01\"", "nan-fact");
    const aged = decide(transfer({ amount: 1, fee: 0 }), context({ session: { id: "s-1", ageMs: Number.NaN, calls: 0 } }));
    assert.equal(aged.decision, "deny");
    assert.deepEqual(aged.determining, ["failclosed.policy:4"]);
    const timeless = decide(transfer({ amount: 1, fee: 0 }), context({ now: Number.NaN }));
    assert.equal(timeless.decision, "deny");
    assert.deepEqual(timeless.determining, ["failclosed.policy:5"]);
    assert.equal(decide(transfer({ amount: 1, fee: 0 })).decision, "allow");
  });

  it("a string longer than `matches` reads cannot be evaluated: a forbid on it applies, a permit does not", async () => {
    const detail = `\`args.memo\` has ${MATCH_INPUT_LIMIT + 1} characters, more than the ${MATCH_INPUT_LIMIT} that \`matches\` reads`;
    const long = transfer({ amount: 1, fee: 0, memo: "ab".repeat(MATCH_INPUT_LIMIT / 2) + "a" });
    const longest = transfer({ amount: 1, fee: 0, memo: "ab".repeat(MATCH_INPUT_LIMIT / 2) });

    const forbidding = await backEnds("permit tool transfer\nforbid tool transfer when args.memo matches /c/", "match-limit-forbid");
    const denied = forbidding(long);
    assert.equal(denied.decision, "deny");
    assert.deepEqual(denied.determining, ["failclosed.policy:4"]);
    assert.equal(denied.explain[0]!.detail, `\`args.memo matches /c/\` could not be evaluated: ${detail}`);
    assert.equal(forbidding(longest).decision, "allow");

    const permitting = await backEnds("permit tool transfer when args.memo matches /^(a|b)*$/", "match-limit-permit");
    const unpermitted = permitting(long);
    assert.equal(unpermitted.decision, "deny");
    assert.deepEqual(unpermitted.determining, []);
    assert.equal(unpermitted.explain[0]!.detail, `\`args.memo matches /^(a|b)*$/\` could not be evaluated: ${detail}`);
    assert.equal(permitting(longest).decision, "allow");
  });

  it("a comparison that runs out of stack on a deeply nested value cannot be evaluated: the guard decides instead of throwing", async () => {
    const decide = await backEnds("permit tool transfer\nforbid tool transfer when args.meta == args.other", "stack");
    const nested = (): unknown => {
      let value: unknown = {};
      for (let i = 0; i < 1_000_000; i++) value = { a: value };
      return value;
    };
    const decision = decide(transfer({ amount: 1, fee: 0, meta: nested(), other: nested() }));
    assert.equal(decision.decision, "deny");
    assert.deepEqual(decision.determining, ["failclosed.policy:4"]);
    assert.match(decision.explain[0]!.detail, /could not be evaluated: evaluation ran out of stack$/);
    assert.equal(decide(transfer({ amount: 1, fee: 0, meta: { a: 1 }, other: { a: 2 } })).decision, "allow");
  });

  it("a clock past the range of a Date cannot be read: time rules fail closed instead of throwing", async () => {
    const decide = await backEnds("permit tool transfer when time.hour >= 0\nforbid tool transfer when time.weekday == \"sun\"", "far-future");
    for (const now of [8.64e15 + 1, -8.64e15 - 60_000, Number.POSITIVE_INFINITY]) {
      const decision = decide(transfer({ amount: 1, fee: 0 }), context({ now }));
      assert.equal(decision.decision, "deny");
      assert.deepEqual(decision.determining, ["failclosed.policy:4"]);
      assert.equal(decision.explain[0]!.detail, '`time.weekday == "sun"` could not be evaluated: `time.now` is not a valid time');
    }
  });
});
