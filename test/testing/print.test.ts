// A generated request prints as the JSON `pqguard eval --request` reads, and reading it back gives the same call and
// the same context: every fact, and a history that answers every count and called() alike. fast-check's reports show
// requests in that form, so a counterexample can be saved to a file and replayed.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { interpret } from "../../compiler/interpreter.js";
import { parseRequest } from "../../compiler/request.js";
import type { GuardContext } from "../../runtime/guard/types.js";
import { history, printRequest, request, requestJson, session, type GeneratedRequest } from "../../testing/index.js";
import { checked } from "../support/guards.js";

const PAYMENTS = JSON.parse(readFileSync(new URL("../../policies/payments/payments.tools.json", import.meta.url), "utf8")) as { tools: unknown[] };
const POLICY = readFileSync(new URL("../../policies/payments/payments.policy", import.meta.url), "utf8");
const TOOLS = ["get_balance", "list_transactions", "process_refund"];

/** The context's facts without its history, with absent and undefined fields alike, as JSON has no undefined. */
function facts(context: GuardContext): unknown {
  const { history: _history, ...rest } = context;
  return JSON.parse(JSON.stringify(rest));
}

const queries = fc.array(
  fc.record({
    tools: fc.oneof(fc.constant("*" as const), fc.subarray(TOOLS, { minLength: 1 })),
    back: fc.nat(3 * 24 * 3_600_000),
    scope: fc.constantFrom("global", "client", "session") as fc.Arbitrary<"global" | "client" | "session">,
    tool: fc.constantFrom("*", ...TOOLS),
  }),
  { minLength: 1, maxLength: 8 },
);

const requests = fc.oneof(
  request({ manifest: PAYMENTS }),
  request({ manifest: PAYMENTS, session: session({ sealed: false }), history: history(PAYMENTS, { calls: { min: 1 } }) }),
  request({ manifest: PAYMENTS, session: session({ authenticated: true, claims: { tenant: "t-1", limits: [1, 2] } }) }),
);

describe("pqguard/testing printRequest", function () {
  this.timeout(60_000);

  it("round-trips through requestFromJson: the same call, the same facts, a history that answers alike", () => {
    fc.assert(
      fc.property(requests, queries, (generated: GeneratedRequest, asked) => {
        const { request: read, context } = parseRequest(printRequest(generated), 0);
        assert.deepEqual(read, { tool: generated.tool, args: generated.args });
        assert.deepEqual(facts(context), facts(generated.context));
        for (const q of asked) {
          const since = generated.context.now - q.back;
          assert.equal(context.history.count(q.tools, since, q.scope), generated.context.history.count(q.tools, since, q.scope));
          assert.equal(context.history.called(q.tool), generated.context.history.called(q.tool));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("decides the printed request as the generated one, so a counterexample replays with pqguard eval", () => {
    const guard = interpret(checked(POLICY, { "payments.tools.json": PAYMENTS }, "payments.policy"));
    fc.assert(
      fc.property(requests, (generated) => {
        const { request: read, context } = parseRequest(printRequest(generated), 0);
        assert.deepEqual(guard.guard(read, context), guard.guard({ tool: generated.tool, args: generated.args }, generated.context));
      }),
      { numRuns: 200 },
    );
  });

  it("is how fast-check shows a generated request: one line of the same JSON", () => {
    const [generated] = fc.sample(request({ manifest: PAYMENTS }), { seed: 8, numRuns: 1 });
    assert.equal(fc.stringify(generated), JSON.stringify(requestJson(generated!)));
    assert.equal(printRequest(generated!), JSON.stringify(requestJson(generated!), null, 2));
    assert.deepEqual(Object.keys(generated!), ["tool", "args", "context"]);
  });
});
