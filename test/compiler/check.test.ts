// Checker behaviour on policy text: typing of every expression, multi-tool arguments, names and suggestions,
// warnings, the CheckedPolicy it builds, and robustness on arbitrary input.
import assert from "node:assert/strict";
import { interpret } from "../../compiler/interpreter.js";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import type { Expr } from "../../grammar/ast.js";
import { checkPolicyFile, checkPolicySource, type CheckOutcome } from "../../compiler/load.js";
import type { Type } from "../../compiler/ir.js";
import { policyDigest } from "../../compiler/check/index.js";

const paymentsTools = JSON.parse(readFileSync(new URL("../../policies/payments/payments.tools.json", import.meta.url), "utf8")) as unknown;
const designExample = readFileSync(new URL("../../policies/payments/payments.policy", import.meta.url), "utf8");

const tools = {
  tools: [
    {
      name: "process_refund",
      inputSchema: {
        type: "object",
        properties: {
          amount: { type: "number" },
          customer_id: { type: "string" },
          note: { type: "string" },
          tags: { type: "array", items: { type: "string", enum: ["vip", "fraud"] } },
        },
        required: ["amount", "customer_id"],
      },
    },
    {
      name: "get_balance",
      inputSchema: { type: "object", properties: { customer_id: { type: "string" }, amount: { type: "string" } } },
      annotations: { readOnlyHint: true },
    },
    { name: "close_account", inputSchema: { type: "object", properties: { customer_id: { type: "string" }, amount: { type: "number" } } } },
  ],
};

function check(body: string, manifests: Record<string, unknown> = { "t.json": tools }): CheckOutcome {
  return checkPolicySource(`policy p\nmanifest "t.json"\n${body}`, { fileName: "dir/p.policy", manifests });
}

function codes(outcome: CheckOutcome): string[] {
  return outcome.diagnostics.map((d) => d.code);
}

function clean(body: string): CheckOutcome {
  const outcome = check(body);
  assert.deepEqual(outcome.diagnostics.map((d) => `${d.code} ${d.message}`), []);
  assert.ok(outcome.policy);
  return outcome;
}

/** Every expression node below `e`, itself included. */
function* walk(e: Expr): Generator<Expr> {
  yield e;
  switch (e.kind) {
    case "Unary":
      yield* walk(e.operand);
      break;
    case "Binary":
      yield* walk(e.left);
      yield* walk(e.right);
      break;
    case "Call":
      for (const a of e.args) yield* walk(a);
      break;
    case "ListLiteral":
      for (const a of e.elements) yield* walk(a);
      break;
    case "Paren":
      yield* walk(e.inner);
      break;
    case "Has":
      yield* walk(e.path);
      break;
    default:
      break;
  }
}

function typeOf(outcome: CheckOutcome, text: string): Type {
  const policy = outcome.policy!;
  for (const [node, type] of policy.types) if (policy.source.slice(node.span.start, node.span.end) === text) return type;
  assert.fail(`no typed node \`${text}\``);
}

describe("checker", () => {
  describe("the design example", () => {
    it("checks clean against its tool list", () => {
      const outcome = checkPolicySource(designExample, { fileName: "payments.policy", manifests: { "payments.tools.json": paymentsTools } });
      assert.deepEqual(outcome.diagnostics, []);
      const policy = outcome.policy!;
      assert.equal(policy.name, "payments");
      assert.equal(policy.version, 1);
      assert.equal(policy.timezone, "Europe/Berlin");
      assert.deepEqual(policy.tools.map((t) => t.name), ["get_balance", "list_transactions", "process_refund"]);
    });

    it("gives rules and requirements ids from their first line and quotes their text", () => {
      const policy = checkPolicySource(designExample, { fileName: "payments.policy", manifests: { "payments.tools.json": paymentsTools } }).policy!;
      assert.deepEqual(policy.requirements.map((r) => r.id), ["payments.policy:6", "payments.policy:7", "payments.policy:11", "payments.policy:12", "payments.policy:13"]);
      assert.equal(policy.requirements[1]!.text, 'client.role in ["billing-agent", "support-agent"]');
      assert.equal(policy.requirements[2]!.text, 'transport.kem >= "ML-KEM-768"');
      assert.deepEqual(policy.rules.map((r) => r.id), ["payments.policy:16", "payments.policy:18", "payments.policy:21", "payments.policy:25", "payments.policy:29", "payments.policy:33"]);
      const business = policy.rules[5]!;
      assert.equal(business.tools, "*");
      assert.equal(business.effect, "forbid");
      assert.equal(business.unlessText, 'time.weekday in ["mon", "tue", "wed", "thu", "fri"] and time.hour >= 8 and time.hour < 18');
      assert.equal(business.because, "outside business hours");
      assert.deepEqual(policy.rules[0]!.tools, ["get_balance", "list_transactions"]);
      assert.deepEqual(policy.limits, [{ id: "payments.policy:37", tools: ["process_refund"], count: 100, windowMs: 3_600_000, scope: "client" }]);
    });

    it("types every expression node of every requirement and rule", () => {
      const policy = checkPolicySource(designExample, { fileName: "payments.policy", manifests: { "payments.tools.json": paymentsTools } }).policy!;
      const roots = [...policy.requirements.map((r) => r.condition), ...policy.rules.flatMap((r) => [r.when, r.unless])];
      let count = 0;
      for (const root of roots) {
        if (root === undefined) continue;
        for (const node of walk(root)) {
          assert.ok(policy.types.has(node), `untyped ${node.kind} at ${node.span.line}:${node.span.column}`);
          count++;
        }
      }
      assert.ok(count > 40);
    });
  });

  describe("aggregates over history", () => {
    it("types TOOL.FIELD against that tool's schema, whichever tools the rule targets", () => {
      const o = clean(`forbid tool close_account
        when sum(process_refund.amount, 24h, client) + args.amount > 5000 or max(close_account.amount, 30d) > 9
          or min(process_refund.amount, 1h, all) < 0 or calls(*, 1h, session) > 3`);
      assert.deepEqual(typeOf(o, "process_refund.amount"), { kind: "number" });
      assert.deepEqual(typeOf(o, "sum(process_refund.amount, 24h, client)"), { kind: "number" });
      assert.deepEqual(typeOf(o, "client"), { kind: "scope" });
      assert.deepEqual({ ...interpret(o.policy!).aggregatedValues }, { close_account: ["/amount"], process_refund: ["/amount"] });
    });

    it("refuses what is not one tool's numeric argument, a bad scope or a bad arity, each with its code", () => {
      const cases: [string, string[]][] = [
        ["sum(args.amount, 1h) > 1", ["PQG3040"]],
        ["sum(*, 1h) > 1", ["PQG3040"]],
        ['sum("process_refund", 1h) > 1', ["PQG3040"]],
        ["sum(process_refund, 1h) > 1", ["PQG3040"]],
        ["sum(process_refund.tags[0], 1h) > 1", ["PQG3040"]],
        ["max(get_balance.amount, 1h) > 1", ["PQG3041"]],
        ["max(process_refund.tags, 1h) > 1", ["PQG3041"]],
        ["max(process_refund.amont, 1h) > 1", ["PQG2002"]],
        ["max(refund.amount, 1h) > 1", ["PQG2001"]],
        ["min(process_refund.amount, 1h, clients) > 1", ["PQG3042"]],
        ["min(process_refund.amount, 1h, session.id) > 1", ["PQG3042"]],
        ["calls(process_refund, 1h, tool) > 1", ["PQG3042"]],
        ["min(process_refund.amount, 10) > 1", ["PQG3007"]],
        ["min(process_refund.amount, -1h) > 1", ["PQG3004"]],
        ["sum(process_refund.amount) > 1", ["PQG3006"]],
        ["sum(process_refund.amount, 1h, client, all) > 1", ["PQG3006"]],
        ["calls(process_refund.amount, 1h) > 1", ["PQG1014"]],
        ["process_refund.amount > 1", ["PQG1014"]],
        ['sum(process_refund.amount, 1h) == "x"', ["PQG3001"]],
      ];
      for (const [condition, expected] of cases) assert.deepEqual(codes(check(`forbid tool process_refund when ${condition}`)), expected, condition);
    });
  });

  describe("types", () => {
    it("types paths, literals and operators", () => {
      const o = clean(`permit tool process_refund
        when args.amount * 2 <= 1000 and len(args.note) < 5 and session.age + 5m < 8h and transport.kem >= "ML-KEM-768"
          and time.now > "2026-01-01T00:00:00Z" and args.tags contains "vip" and calls(process_refund, 10m) < 3`);
      assert.deepEqual(typeOf(o, "args.amount"), { kind: "number" });
      assert.deepEqual(typeOf(o, "args.amount * 2 <= 1000"), { kind: "boolean" });
      assert.deepEqual(typeOf(o, "session.age + 5m"), { kind: "duration" });
      assert.deepEqual(typeOf(o, '"ML-KEM-768"'), { kind: "algorithm", family: "kem" });
      assert.deepEqual(typeOf(o, '"2026-01-01T00:00:00Z"'), { kind: "timestamp" });
      assert.deepEqual(typeOf(o, "args.tags"), { kind: "list", element: { kind: "string", enum: ["vip", "fraud"] } });
      assert.deepEqual(typeOf(o, "process_refund"), { kind: "tool" });
      assert.deepEqual(typeOf(o, "calls(process_refund, 10m)"), { kind: "number" });
      assert.deepEqual(typeOf(o, "time.now"), { kind: "timestamp" });
    });

    it("types a list literal compared with an algorithm as a list of that algorithm", () => {
      const o = clean(`transport { require transport.signature in ["ML-DSA-65", "ML-DSA-87"] }`);
      assert.deepEqual(typeOf(o, '["ML-DSA-65", "ML-DSA-87"]'), { kind: "list", element: { kind: "algorithm", family: "signature" } });
    });

    it("rejects comparisons across types and operators on the wrong types", () => {
      assert.deepEqual(codes(check(`permit tool process_refund when args.amount == "x"`)), ["PQG3001"]);
      assert.deepEqual(codes(check(`permit tool process_refund when args.note > 3`)), ["PQG3002"]);
      assert.deepEqual(codes(check(`permit tool process_refund when args.amount`)), ["PQG3008"]);
      assert.deepEqual(codes(check(`permit tool process_refund when session.age < 5`)), ["PQG3001"]);
      assert.deepEqual(codes(check(`permit tool process_refund when args.note matches /(/`)), ["PQG3003"]);
    });

    it("reports each mistake once, not again in every enclosing expression", () => {
      assert.deepEqual(codes(check(`permit tool process_refund when not (args.amont > 1 and true) or false`)), ["PQG2002"]);
    });

    it("validates algorithm names against their family", () => {
      const unknown = check(`transport { require transport.kem >= "ML-KEM-786" }`);
      assert.deepEqual(codes(unknown), ["PQG2006"]);
      assert.equal(unknown.diagnostics[0]!.help, "did you mean `ML-KEM-768`?");
      assert.deepEqual(codes(check(`transport { require transport.aead == "ML-KEM-768" }`)), ["PQG3015"]);
      clean(`transport { require transport.kem == "X25519MLKEM768" and transport.aead in ["AES-256-GCM"] }`);
    });

    it("validates time zones, durations and limit counts", () => {
      assert.deepEqual(codes(check(`timezone "Mars/Olympus"`)), ["PQG2007"]);
      clean(`timezone "UTC"`);
      clean(`timezone "Asia/Tokyo"`);
      // An IANA alias that this ICU lists under another canonical name (Asia/Calcutta) is still a zone.
      clean(`timezone "Asia/Kolkata"`);
      assert.deepEqual(codes(check(`limit tool * to 0 per 1h`)), ["PQG3005"]);
      assert.deepEqual(codes(check(`limit tool * to 5 per 366d`)), ["PQG3004"]);
      clean(`limit tool * to 5 per 365d per session`);
    });

    it("rejects a calls() window that is a negative or zero constant: it would count no call, so a forbid on it never applies", () => {
      const negative = check(`forbid tool process_refund when calls(process_refund, -10m) >= 3`);
      assert.deepEqual(codes(negative), ["PQG3004"]);
      assert.equal(negative.diagnostics[0]!.message, "duration `-10m` is out of range; durations go from 1ms to 365d");
      assert.deepEqual(codes(check(`forbid tool process_refund when calls(*, (10m - 10m)) >= 3`)), ["PQG3004"]);
      assert.deepEqual(codes(check(`forbid tool process_refund when calls(*, 200d + 200d) >= 3`)), ["PQG3004"]);
      clean(`forbid tool process_refund when calls(*, 1h - 10m) >= 3 or calls(*, session.age) > 9`);
    });

    it("rejects a timestamp naming a day its month does not have", () => {
      for (const text of ["2026-02-30", "2026-02-29T10:00:00Z", "2026-04-31", "2026-01-01T24:00:01Z"]) {
        assert.deepEqual(codes(check(`permit tool get_balance when time.now < "${text}"`)), ["PQG3009"], text);
      }
      clean(`permit tool get_balance when time.now < "2028-02-29" and time.now > "2026-12-31T23:59:59.5+01:00" and time.now > "0000-02-29"`);
      assert.deepEqual(codes(check(`permit tool get_balance when time.now < "2100-02-29"`)), ["PQG3009"]);
    });
  });

  describe("arguments of several tools", () => {
    it("allows a field common to every targeted tool with one type", () => {
      const o = clean(`permit tool process_refund, get_balance, close_account when args.customer_id startsWith "c-"`);
      assert.deepEqual(typeOf(o, "args.customer_id"), { kind: "string" });
      clean(`permit tool * when args.customer_id startsWith "c-"`);
      clean(`permit tool process_refund, close_account when args.amount > 3`);
    });

    it("rejects a field missing in one tool, or typed differently", () => {
      const missing = check(`permit tool process_refund, close_account when args.note == "x"`);
      assert.deepEqual(codes(missing), ["PQG2012"]);
      assert.match(missing.diagnostics[0]!.message, /`close_account` has no such argument/);
      const differing = check(`permit tool * when args.amount > 3`);
      assert.deepEqual(codes(differing), ["PQG2012"]);
      assert.match(differing.diagnostics[0]!.message, /a number in `process_refund` but a string in `get_balance`/);
    });
  });

  describe("names", () => {
    it("suggests the closest tool, field, path, function and zone", () => {
      const cases: [string, string, string][] = [
        ["permit tool proces_refund", "PQG2001", "did you mean `process_refund`?"],
        ["permit tool process_refund when args.amont > 1", "PQG2002", "did you mean `amount`?"],
        ['permit tool process_refund when client.rol == "x"', "PQG2003", "did you mean `client.role`?"],
        ['permit tool process_refund when lowr(args.note) == "x"', "PQG2004", "did you mean `lower`?"],
        ['timezone "Europe/Berln"', "PQG2007", "did you mean `Europe/Berlin`?"],
        ["permit tool process_refund when called(get_balanse)", "PQG2001", "did you mean `get_balance`?"],
        ["permit tool process_refund when amount > 1", "PQG2013", "did you mean `args.amount`?"],
      ];
      for (const [body, code, help] of cases) {
        const o = check(body);
        assert.deepEqual(codes(o), [code], body);
        assert.equal(o.diagnostics[0]!.help, help, body);
        assert.equal(o.policy, undefined);
      }
    });

    it("gives no suggestion when nothing is close", () => {
      const o = check("permit tool frobnicate");
      assert.deepEqual(codes(o), ["PQG2001"]);
      assert.equal(o.diagnostics[0]!.help, undefined);
    });

    it("accepts a quoted tool name and a string naming a tool in calls()", () => {
      clean(`permit tool "get_balance" when calls("process_refund", 1h) < 2 and called(*)`);
    });

    it("does not allow args or tool paths in requirements", () => {
      assert.deepEqual(codes(check("identity { require args.amount > 1 }")), ["PQG2015"]);
      assert.deepEqual(codes(check('identity { require tool.name == "x" }')), ["PQG2015"]);
    });

    it("reports a missing manifest and a manifest that is not a tool list", () => {
      assert.deepEqual(codes(check("permit tool *", {})), ["PQG2005"]);
      assert.deepEqual(codes(check("permit tool *", { "t.json": { tools: "no" } })), ["PQG2011"]);
    });
  });

  describe("warnings", () => {
    it("still produces a policy when there are only warnings", () => {
      const o = check(`permit tool get_balance\nforbid tool get_balance`);
      assert.deepEqual(codes(o), ["PQG4001"]);
      assert.equal(o.diagnostics[0]!.severity, "warning");
      assert.ok(o.policy);
    });

    it("warns about a rule shadowed by an unconditional forbid of every tool, but not by a conditional one", () => {
      assert.deepEqual(codes(check(`ask tool process_refund, get_balance\nforbid tool *`)), ["PQG4001"]);
      assert.deepEqual(codes(check(`permit tool get_balance\nforbid tool * when time.hour < 8`)), []);
      assert.deepEqual(codes(check(`permit tool get_balance, process_refund\nforbid tool get_balance`)), []);
    });

    it("warns about conditions that contradict themselves on their face", () => {
      assert.deepEqual(codes(check(`permit tool process_refund when args.amount > 5 and args.amount < 3`)), ["PQG4002"]);
      assert.deepEqual(codes(check(`permit tool process_refund when args.amount >= 5 and args.amount <= 5`)), []);
      assert.deepEqual(codes(check(`permit tool process_refund when args.amount > 5 and args.amount <= 5`)), ["PQG4002"]);
      assert.deepEqual(codes(check(`permit tool process_refund when args.note == "a" and (args.note == "b")`)), ["PQG4002"]);
      assert.deepEqual(codes(check(`permit tool process_refund when args.note == "a" and args.note != "a"`)), ["PQG4002"]);
      assert.deepEqual(codes(check(`permit tool process_refund when args.note == "a" or args.note == "b"`)), []);
      assert.deepEqual(codes(check(`transport { require session.age > 2h and session.age < 90m }`)), ["PQG4002"]);
    });

    it("warns about string literals outside an enum, with a suggestion", () => {
      const o = check(`permit tool process_refund when time.weekday == "Mon" or args.tags contains "vipp"`);
      assert.deepEqual(codes(o), ["PQG4003", "PQG4003"]);
      assert.equal(o.diagnostics[0]!.help, "did you mean `mon`?");
      assert.equal(o.diagnostics[1]!.help, "did you mean `vip`?");
    });
  });

  describe("regular expressions that can backtrack catastrophically", () => {
    it("rejects a regex with nested repetition, naming the complexity and an attack, at the regex's span", () => {
      const source = `permit tool process_refund when args.note matches /^(a+)+$/`;
      const o = check(source);
      assert.deepEqual(codes(o), ["PQG3016"]);
      const d = o.diagnostics[0]!;
      assert.equal(d.severity, "error");
      assert.match(d.message, /^regular expression `\/\^\(a\+\)\+\$\/` can take exponential time on inputs like `a{20,}\\x00`; rewrite it without/);
      const start = `policy p\nmanifest "t.json"\n${source}`.indexOf("/^(a+)+$/");
      assert.deepEqual([d.span.start, d.span.end], [start, start + "/^(a+)+$/".length]);
      assert.equal(o.policy, undefined);
    });

    it("rejects polynomial backtracking too, and shows a long attack shortened", () => {
      const o = check(`permit tool process_refund when args.note matches /\\s*#\\s*$/`);
      assert.deepEqual(codes(o), ["PQG3016"]);
      assert.match(o.diagnostics[0]!.message, /can take quadratic time on inputs like `(\\t)+.{0,8}`;/);
      assert.ok(o.diagnostics[0]!.message.length < 200, o.diagnostics[0]!.message);
    });

    it("accepts regexes that match in linear time", () => {
      clean(`permit tool process_refund when args.note matches /^[a-z0-9._%+-]+@example\\.com$/i`);
      clean(`permit tool process_refund when args.note matches /^(a|b)*c$/ or args.customer_id matches /^c-[0-9]{1,6}$/`);
    });

    it("warns, without failing the check, about a regex the analyser cannot prove safe", () => {
      const o = check(`permit tool process_refund when args.note matches /^\\p{Script=Kawi}+$/u`);
      assert.deepEqual(codes(o), ["PQG4005"]);
      assert.equal(o.diagnostics[0]!.severity, "warning");
      assert.match(o.diagnostics[0]!.message, /could not be proven free of catastrophic backtracking: .*Script=Kawi/);
      assert.ok(o.policy);
    });

    it("proves every regex of the shipped policies safe", async () => {
      for (const name of ["payments", "healthcare", "filesystem"]) {
        const outcome = await checkPolicyFile(fileURLToPath(new URL(`../../policies/${name}/${name}.policy`, import.meta.url)));
        assert.deepEqual(outcome.diagnostics.map((d) => `${d.code} ${d.message}`), [], name);
      }
    });
  });

  describe("the checked policy", () => {
    it("digests the source with LF newlines", () => {
      const lf = check("permit tool *\n");
      const crlf = checkPolicySource('policy p\r\nmanifest "t.json"\r\npermit tool *\r\n', { fileName: "p.policy", manifests: { "t.json": tools } });
      assert.equal(lf.policy!.digest, crlf.policy!.digest);
      assert.equal(lf.policy!.digest, policyDigest('policy p\nmanifest "t.json"\npermit tool *\n'));
      assert.equal(lf.policy!.timezone, "UTC");
      assert.equal(lf.policy!.fileName, "p.policy");
    });

    it("carries each tool's definition, digest, annotations and manifest", () => {
      const tool = check("permit tool *").policy!.tools.find((t) => t.name === "get_balance")!;
      assert.match(tool.digest, /^[0-9a-f]{64}$/);
      assert.deepEqual(tool.annotations, { readOnlyHint: true });
      assert.equal(tool.manifest, "t.json");
    });

    it("drops comments and collapses whitespace in quoted condition text", () => {
      const rule = clean(`permit tool process_refund\n  when args.amount > 1 /* small */\n    and   args.amount < 10`).policy!.rules[0]!;
      assert.equal(rule.whenText, "args.amount > 1 and args.amount < 10");
    });

    it("verifies `signed by` through the verifier it is given", () => {
      const signed = { format: "pqguard-manifest/1", tools: tools.tools, signature: "x" };
      const seen: string[] = [];
      const outcome = checkPolicySource('policy p\nmanifest "m.json" signed by "mldsa65:ab"\npermit tool *\n', {
        fileName: "p.policy",
        manifests: { "m.json": signed },
        verify: (_doc, fingerprint) => (seen.push(fingerprint), { ok: true }),
      });
      assert.deepEqual(outcome.diagnostics, []);
      assert.deepEqual(seen, ["mldsa65:ab"]);
      const refused = checkPolicySource('policy p\nmanifest "m.json" signed by "mldsa65:ab"\n', {
        fileName: "p.policy",
        manifests: { "m.json": signed },
        verify: () => ({ ok: false, detail: "wrong signer" }),
      });
      assert.deepEqual(codes(refused), ["PQG2017"]);
    });
  });

  it("never throws on arbitrary text, and reports an error for anything that is not a policy", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        const o = checkPolicySource(text, { fileName: "x.policy", manifests: { "t.json": tools } });
        if (o.policy === undefined) assert.ok(o.diagnostics.some((d) => d.severity === "error"));
      }),
      { numRuns: 300 },
    );
  });

  it("never throws on mutations of a valid policy", () => {
    fc.assert(
      fc.property(fc.nat(designExample.length), fc.nat(designExample.length), fc.string({ maxLength: 8 }), (a, b, insert) => {
        const [from, to] = a < b ? [a, b] : [b, a];
        const text = designExample.slice(0, from) + insert + designExample.slice(Math.min(to, from + 12));
        checkPolicySource(text, { fileName: "payments.policy", manifests: { "payments.tools.json": paymentsTools } });
      }),
      { numRuns: 200 },
    );
  });
});
