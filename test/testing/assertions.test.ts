// The guard assertions of pqguard/testing: they pass when the property holds, and when it does not they throw one
// error that names the deciding rule, its explanation, the shrunk counterexample as `pqguard eval --request` JSON
// and the seed and path that replay it, on the compiled guard and the interpreter alike.
import assert from "node:assert/strict";
import fc from "fast-check";
import { interpret } from "../../compiler/interpreter.js";
import { requestFromJson } from "../../compiler/request.js";
import type { GuardModule } from "../../runtime/guard/types.js";
import { alwaysDenies, decides, explainsWith, GuardAssertionError, neverAllows } from "../../testing/assertions.js";
import { agreeingGuard } from "../../testing/runner/agreement.js";
import type { GeneratedRequest } from "../../testing/types.js";
import { checked, compiledGuard } from "../support/guards.js";

const TOOLS = {
  tools: [
    {
      name: "refund",
      inputSchema: { type: "object", properties: { amount: { type: "integer" }, note: { type: "string" } }, required: ["amount"] },
    },
    { name: "balance", inputSchema: { type: "object", properties: {} } },
    { name: "close_account", inputSchema: { type: "object", properties: {} } },
  ],
};

const SHOP = `policy shop version 1
manifest "shop.tools.json"

permit tool balance

permit tool refund
  when args.amount <= 2000

ask tool refund
  when args.amount > 2000 and args.amount <= 5000
  because "refunds between 2000 and 5000 need a human"

forbid tool refund
  when args.amount > 5000
  because "refunds over 5000 are never automated"
`;

const NOW = Date.parse("2026-03-03T10:00:00Z");
const SESSION = { client: { id: "agent-1", role: "clerk", authenticated: true }, transport: { kem: "X25519MLKEM768" } };

/** A request made the way `pqguard eval --request` reads one, so the printed counterexample can be read back. */
function generated(tool: string, args: Record<string, unknown>): GeneratedRequest {
  const { request, context } = requestFromJson({ tool, args, time: "2026-03-03T10:00:00Z", ...SESSION }, NOW);
  return { tool: request.tool, args: request.args, context };
}

const refunds = fc.integer({ min: 1, max: 20_000 }).map((amount) => generated("refund", { amount }));
const balances = fc.constant(generated("balance", {}));

function thrown(run: () => void): GuardAssertionError {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof GuardAssertionError, `a GuardAssertionError, not ${String(error)}`);
    return error;
  }
  assert.fail("the assertion passed, but it should have failed");
}

describe("guard assertions", function () {
  this.timeout(60_000);
  const policy = checked(SHOP, { "shop.tools.json": TOOLS }, "shop.policy");
  const backends: [string, () => Promise<GuardModule>][] = [
    ["the interpreter", async () => interpret(policy)],
    ["the compiled guard", () => compiledGuard(policy, "testing-assertions")],
  ];

  for (const [label, load] of backends) {
    describe(`on ${label}`, () => {
      let guard: GuardModule;
      before(async () => {
        guard = await load();
      });

      it("pass when the property holds", () => {
        neverAllows(guard, refunds, (r) => (r.args["amount"] as number) > 2000);
        alwaysDenies(guard, refunds.filter((r) => (r.args["amount"] as number) > 5000));
        decides(guard, balances, "allow");
        decides(guard, refunds, (r) => ((r.args["amount"] as number) <= 2000 ? "allow" : (r.args["amount"] as number) <= 5000 ? "ask" : "deny"));
        explainsWith(guard, refunds.filter((r) => (r.args["amount"] as number) > 5000), "shop.policy:13");
      });

      it("neverAllows names the deciding rule, its explanation, the shrunk counterexample and how to replay it", () => {
        const error = thrown(() => neverAllows(guard, refunds, (r) => (r.args["amount"] as number) > 1000, { seed: 7 }));
        assert.equal(error.code, "PQG9501");
        const [sentence] = error.message.split("\n");
        assert.equal(sentence, "neverAllows: a call to `refund` was allowed by rule `shop.policy:6`, but no such request may be allowed.");
        assert.match(error.message, /^ {2}reason: permitted by rule `shop\.policy:6`$/m);
        assert.match(error.message, /^ {2}matched: shop\.policy:6 \(permit\) all conditions held$/m);
        // Shrunk to the smallest amount the predicate holds for and the policy allows.
        assert.equal(error.failure.counterexample?.args["amount"], 1001);
        assert.equal(error.failure.seed, 7);
        assert.match(error.message, new RegExp(`replay: pass \\{ seed: 7, path: "${error.failure.path}" \\}`));
        // The printed request is one `pqguard eval --request` reads, and it gets the same decision.
        const printed = JSON.parse(error.failure.requestJson!) as unknown;
        assert.ok(error.message.includes(error.failure.requestJson!.split("\n")[0]!));
        const { request, context } = requestFromJson(printed, 0);
        assert.deepEqual(guard.guard(request, context), error.failure.decision);
      });

      it("replays the same counterexample from the seed and path it reports", () => {
        const first = thrown(() => neverAllows(guard, refunds, (r) => (r.args["amount"] as number) > 1500, { seed: 11 }));
        const again = thrown(() => neverAllows(guard, refunds, (r) => (r.args["amount"] as number) > 1500, { seed: first.failure.seed, path: first.failure.path! }));
        assert.deepEqual(again.failure.counterexample?.args, first.failure.counterexample?.args);
      });

      it("alwaysDenies, decides and explainsWith fail with what decided instead", () => {
        const denies = thrown(() => alwaysDenies(guard, refunds, { seed: 1 }));
        assert.match(denies.message, /^alwaysDenies: a call to `refund` was allowed by rule `shop\.policy:6`, but every generated request must be denied\.$/m);
        assert.equal(denies.failure.counterexample?.args["amount"], 1);

        const asks = thrown(() => decides(guard, refunds, "ask", { seed: 1 }));
        assert.match(asks.message, /^decides: a call to `refund` was allowed by rule `shop\.policy:6`, but `ask` was expected\.$/m);

        const wrongRule = thrown(() => explainsWith(guard, refunds.filter((r) => (r.args["amount"] as number) > 2000), "shop.policy:13", { seed: 1 }));
        assert.match(wrongRule.message, /^explainsWith: a call to `refund` was sent for approval by rule `shop\.policy:9`, not by rule `shop\.policy:13`\.$/m);
        assert.match(wrongRule.message, /reason: refunds between 2000 and 5000 need a human/);
        assert.equal(wrongRule.failure.counterexample?.args["amount"], 2001);

        const closing = fc.constant(generated("close_account", {}));
        const byDefault = thrown(() => decides(guard, closing, "allow"));
        assert.match(byDefault.message, /^decides: a call to `close_account` was denied by the default deny, but `allow` was expected\.$/m);
        assert.match(byDefault.message, /^ {2}matched: default \(forbid\) no rule permits `close_account`$/m);
        explainsWith(guard, closing, "default");
      });

      it("passes numRuns through to fast-check", () => {
        let calls = 0;
        const counting = { guard: (...args: Parameters<GuardModule["guard"]>) => (calls++, guard.guard(...args)) };
        decides(counting, balances, "allow", { numRuns: 17 });
        assert.equal(calls, 17);
      });
    });
  }

  describe("when the property cannot be checked", () => {
    const guard = interpret(policy);

    it("reports a predicate that almost never holds instead of passing vacuously", () => {
      const error = thrown(() => neverAllows(guard, refunds, (r) => r.args["amount"] === 77_777));
      assert.equal(error.code, "PQG9503");
      assert.match(error.message, /^neverAllows: the predicate held for too few generated requests \(\d+ skipped, 0 checked\)/);
    });

    it("reports a guard or a predicate that throws, with the request it threw on", () => {
      const broken = { guard: (): never => { throw new TypeError("no decision today"); } };
      const guardThrew = thrown(() => decides(broken, balances, "allow"));
      assert.equal(guardThrew.code, "PQG9502");
      assert.match(guardThrew.message, /^decides: the guard threw on a call to `balance`: no decision today\.$/m);
      assert.ok(guardThrew.cause instanceof TypeError);

      const predicateThrew = thrown(() => neverAllows(guard, balances, () => { throw new RangeError("bad predicate"); }));
      assert.equal(predicateThrew.code, "PQG9502");
      assert.match(predicateThrew.message, /the predicate threw on a call to `balance`: bad predicate/);
    });

    it("reports the two back ends disagreeing, naming both decisions, at the smallest request where they do", async () => {
      const compiled = await compiledGuard(policy, "testing-assertions");
      // A compiled guard with a bug: it asks for every refund above 3000.
      const buggy: GuardModule = {
        ...compiled,
        guard: (request, context) => {
          const decision = compiled.guard(request, context);
          return (request.args["amount"] as number) > 3000 ? { ...decision, decision: "ask" } : decision;
        },
      };
      const both = agreeingGuard(buggy, interpret(policy), () => undefined);
      const error = thrown(() => neverAllows(both, refunds, (r) => (r.args["amount"] as number) > 5000, { seed: 3 }));
      assert.equal(error.code, "PQG9504");
      assert.match(
        error.message,
        /^neverAllows: the compiled guard and the interpreter disagree on the decision of a call to `refund`: the compiled guard sent for approval by rule `shop\.policy:13` \(refunds over 5000 are never automated\), the interpreter denied by rule `shop\.policy:13` \(refunds over 5000 are never automated\)\.$/m,
      );
      assert.equal(error.failure.counterexample?.args["amount"], 5001);
    });
  });
});
