// The static analysis both back ends read (compiler/analysis.ts), checked against results worked out by hand: the
// differential tests cannot catch a mistake here, since the interpreter and the compiled guard would share it.
import assert from "node:assert/strict";
import { aggregatedValues, callableTools, conjuncts, exprText, outline } from "../../compiler/analysis.js";
import { seenLabels } from "../../compiler/analysis-results.js";
import { checked } from "../support/guards.js";

const tools = {
  tools: ["alpha", "beta", "gamma", "delta"].map((name) => ({ name, inputSchema: { type: "object", properties: { n: { type: "number" } } } })),
};

const policyOf = (body: string) => checked(`policy p\nmanifest "t.json"\n${body}\n`, { "t.json": tools }, "p.policy");

describe("static analysis", () => {
  describe("callableTools", () => {
    it("lists the tools some permit or ask targets, in name order", () => {
      const policy = policyOf("permit tool gamma\nask tool alpha when args.n > 3\nforbid tool beta when args.n > 1");
      assert.deepEqual(callableTools(policy), ["alpha", "gamma"]);
    });

    it("leaves out a tool an unconditional forbid covers, but keeps one a conditional forbid covers", () => {
      const policy = policyOf("permit tool *\nforbid tool beta\nforbid tool gamma when args.n > 1\nforbid tool delta unless args.n > 1");
      assert.deepEqual(callableTools(policy), ["alpha", "delta", "gamma"]);
    });

    it("is empty when an unconditional forbid covers every tool", () => {
      assert.deepEqual(callableTools(policyOf("permit tool alpha, beta\nforbid tool *")), []);
    });
  });

  describe("outline", () => {
    it("merges rules and limits in source order, whatever their kind", () => {
      const policy = policyOf(
        ["limit tool alpha to 3 per 10m", "permit tool alpha", "forbid tool beta when args.n > 1", "limit tool * to 9 per 1h per client", "ask tool gamma"].join(
          "\n",
        ),
      );
      const items = outline(policy).map((i) => (i.kind === "limit" ? `limit:${i.limit.id}:${i.windowText}` : `${i.rule.effect}:${i.rule.id}`));
      assert.deepEqual(items, ["limit:p.policy:3:10m", "permit:p.policy:4", "forbid:p.policy:5", "limit:p.policy:6:1h", "ask:p.policy:7"]);
    });

    it("splits `when` into its top-level conjuncts, looking through parentheses, and keeps `unless` whole", () => {
      const policy = policyOf("forbid tool alpha\n  when (args.n > 1 and args.n < 9) and not (args.n == 5 or args.n == 6)\n  unless args.n == 2 and args.n == 3");
      const [rule] = outline(policy);
      assert.ok(rule?.kind === "rule");
      assert.deepEqual(
        rule.when.map((c) => c.text),
        ["args.n > 1", "args.n < 9", "not (args.n == 5 or args.n == 6)"],
      );
      assert.equal(rule.unless?.text, "args.n == 2 and args.n == 3");
    });

    it("quotes a condition as written, whitespace collapsed", () => {
      const policy = policyOf("permit tool alpha\n  when args.n   >\n    1");
      const when = policy.rules[0]!.when!;
      assert.equal(exprText(policy, when), "args.n > 1");
      assert.equal(conjuncts(when).length, 1);
    });
  });

  describe("what the state store must keep", () => {
    const listTools = {
      tools: [
        { name: "pay", inputSchema: { type: "object", properties: { amount: { type: "number" }, ids: { type: "array", items: { type: "string" } } } } },
        { name: "send", inputSchema: { type: "object", properties: { to: { type: "array", items: { type: "string" } } } } },
      ],
    };
    const listPolicy = (body: string) => checked(`policy p\nmanifest "t.json"\n${body}\n`, { "t.json": listTools }, "p.policy");

    it("finds a seen() label and an aggregate read only inside a quantifier's body", () => {
      const policy = listPolicy(
        [
          "permit tool send",
          'forbid tool send when any t in args.to: seen("private-key") and t endsWith ".example"',
          "forbid tool pay when all i in args.ids: (max(pay.amount, 1d) > 10 and i == \"x\")",
        ].join("\n"),
      );
      assert.deepEqual(seenLabels(policy), ["private-key"]);
      assert.deepEqual({ ...aggregatedValues(policy) }, { pay: ["/amount"] });
    });

    it("finds them inside list literals and the arguments of other calls", () => {
      const policy = listPolicy(['permit tool pay when len([seen("a"), seen("b")]) > 1', "permit tool send when len(args.to) < sum(pay.amount, 1h, client)"].join("\n"));
      assert.deepEqual(seenLabels(policy), ["a", "b"]);
      assert.deepEqual({ ...aggregatedValues(policy) }, { pay: ["/amount"] });
    });
  });
});
