// The longest window a policy counts calls over (`longestWindowMs`): what a state store must keep, reported alike by
// the compiled guard module and the reference interpreter, for limits, `calls()` windows and `session.age` windows.
import assert from "node:assert/strict";
import { longestWindowMs } from "../../compiler/analysis.js";
import { interpret } from "../../compiler/interpreter.js";
import { checked, compiledGuard } from "../support/guards.js";

const tools = {
  tools: [
    { name: "process_refund", inputSchema: { type: "object", properties: { amount: { type: "number" } } } },
    { name: "get_balance", inputSchema: { type: "object", properties: {} } },
  ],
};

const HOUR = 3_600_000;

const cases: readonly { readonly name: string; readonly body: string; readonly expected: number }[] = [
  { name: "none", body: "permit tool get_balance\nforbid tool process_refund when called(get_balance)", expected: 0 },
  {
    name: "several",
    body: [
      "limit tool process_refund to 3 per 10m",
      "limit tool * to 100 per 1h per client",
      "forbid tool process_refund when calls(process_refund, 2h) >= 3 or calls(*, 90s) > 50",
      "permit tool get_balance unless calls(get_balance, 30m) > 9",
    ].join("\n"),
    expected: 2 * HOUR,
  },
  { name: "requirement", body: "transport {\n  require calls(*, 3h) < 100\n}\npermit tool get_balance", expected: 3 * HOUR },
  { name: "computed", body: "forbid tool process_refund when calls(*, 1h - 10m) >= 3 or calls(*, -(10m - 1h)) > 5", expected: 50 * 60_000 },
  {
    name: "age-bounded",
    body: "transport {\n  require session.age < 8h and transport.hybrid\n}\nforbid tool process_refund when calls(process_refund, session.age + 30m) > 9",
    expected: 8.5 * HOUR,
  },
  { name: "age-reversed", body: "identity {\n  require 2h >= session.age\n}\nforbid tool process_refund when calls(*, session.age) > 9", expected: 2 * HOUR },
  {
    name: "aggregates",
    body: "forbid tool process_refund when sum(process_refund.amount, 24h, client) > 5000 or calls(*, 1h, all) > 9\nask tool process_refund when args.amount > 3 * max(process_refund.amount, 30d) or min(process_refund.amount, 2d, session) < 0",
    expected: 30 * 24 * HOUR,
  },
  { name: "age-unbounded", body: "forbid tool process_refund when calls(*, session.age) > 9", expected: Number.POSITIVE_INFINITY },
  {
    // A requirement is evaluated before the ones after it hold, so only earlier ones bound its windows.
    name: "age-later",
    body: "transport {\n  require calls(*, session.age) < 100\n  require session.age < 1h\n}\npermit tool get_balance",
    expected: Number.POSITIVE_INFINITY,
  },
];

describe("longestWindowMs", function () {
  this.timeout(60_000);

  for (const { name, body, expected } of cases) {
    it(`is the same for the compiled guard and the interpreter: ${name}`, async () => {
      const policy = checked(`policy ${name.replace(/-/g, "_")}\nmanifest "t.json"\n${body}\n`, { "t.json": tools }, `${name}.policy`);
      const compiled = await compiledGuard(policy, "windows", name);
      assert.equal(longestWindowMs(policy), expected);
      assert.equal(compiled.longestWindowMs, expected);
      assert.equal(interpret(policy).longestWindowMs, expected);
    });
  }
});
