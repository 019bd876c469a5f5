// `pqguard test`: finds each policy's cases and property files, runs them on the compiled guard and the interpreter at
// once, reports in text, JSON and JUnit XML with the same content, computes coverage from the decisions' explanations,
// and exits 0, 1 or 2. The same seed gives the same report.
import assert from "node:assert/strict";
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../../bin/cli.js";
import { interpret } from "../../compiler/interpreter.js";
import { requestFromJson } from "../../compiler/request.js";
import type { Decision, GuardModule } from "../../runtime/guard/types.js";
import { agreeingGuard, BackendDisagreement } from "../../testing/runner/agreement.js";
import { CoverageTracker } from "../../testing/runner/coverage.js";
import { testSeed } from "../../testing/runner/properties.js";
import { xmlText } from "../../testing/runner/report.js";
import { checked, OUT_DIR, REPO_ROOT } from "../support/guards.js";

const FIXTURES = "test/testing/fixtures/runner";

interface Run {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

async function pqguard(argv: readonly string[], cwd = REPO_ROOT): Promise<Run> {
  let out = "";
  let err = "";
  const code = await main(["test", ...argv], { cwd, out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

interface JsonTest {
  readonly file: string;
  readonly name: string;
  readonly status: string;
  readonly code?: string;
  readonly message?: string;
}

interface JsonReport {
  readonly seed: number;
  readonly summary: { passed: number; failed: number; skipped: number; policies: number };
  readonly coverage: { percent: number; covered: number; total: number; minimum: number | null; ok: boolean };
  readonly policies: {
    policy: string;
    coverage: {
      percent: number;
      rules: { covered: number; total: number; uncovered: string[] };
      conditions: { covered: number; total: number; uncovered: { rule: string; part: string; text: string; never: string[] }[] };
      tools: { covered: number; total: number; uncovered: string[] };
    } | null;
    tests: JsonTest[];
  }[];
  readonly problems: JsonTest[];
}

async function jsonReport(argv: readonly string[], cwd = REPO_ROOT): Promise<{ code: number; report: JsonReport }> {
  const run = await pqguard([...argv, "--format", "json"], cwd);
  return { code: run.code, report: JSON.parse(run.out) as JsonReport };
}

// ---------------------------------------------------------------------------------------------------------
// A strict reader of the JUnit XML: well-formed XML 1.0 (nesting, quoting, entities, characters), then the elements.

interface XmlElement {
  readonly name: string;
  readonly attributes: Record<string, string>;
  readonly children: XmlElement[];
  text: string;
}

const XML_CHAR = /^[\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]*$/u;

function decodeXml(text: string, where: string): string {
  assert.ok(!text.includes("<"), `a raw \`<\` in ${where}`);
  return text.replace(/&([^;]*);?/g, (all, body: string) => {
    assert.ok(all.endsWith(";"), `an unterminated entity \`${all}\` in ${where}`);
    const named: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };
    if (Object.hasOwn(named, body)) return named[body]!;
    const code = /^#(\d+)$/.exec(body)?.[1] ?? (/^#x([0-9a-fA-F]+)$/.exec(body)?.[1] === undefined ? undefined : String(parseInt(body.slice(2), 16)));
    assert.ok(code !== undefined, `an unknown entity \`${all}\` in ${where}`);
    const char = String.fromCodePoint(Number(code));
    assert.ok(XML_CHAR.test(char), `a reference to a character XML 1.0 does not allow, \`${all}\`, in ${where}`);
    return char;
  });
}

function parseXml(xml: string): XmlElement {
  assert.ok(XML_CHAR.test(xml), "only characters XML 1.0 allows");
  const declaration = '<?xml version="1.0" encoding="UTF-8"?>\n';
  assert.ok(xml.startsWith(declaration), "the XML declaration comes first");
  const tag = /<(\/?)([A-Za-z_][\w.-]*)((?:\s+[A-Za-z_][\w.-]*="[^"]*")*)\s*(\/?)>/y;
  const attribute = /\s+([A-Za-z_][\w.-]*)="([^"]*)"/g;
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  let i = declaration.length;
  while (i < xml.length) {
    const next = xml.indexOf("<", i);
    const text = xml.slice(i, next === -1 ? xml.length : next);
    if (stack.length > 0) stack.at(-1)!.text += decodeXml(text, "text");
    else assert.match(text, /^\s*$/, "nothing but space outside the root element");
    if (next === -1) break;
    tag.lastIndex = next;
    const match = tag.exec(xml);
    assert.ok(match !== null, `a malformed tag at ${next}: ${xml.slice(next, next + 60)}`);
    const [whole, closing, name, attrs, selfClosing] = match;
    i = next + whole.length;
    if (closing === "/") {
      const open = stack.pop();
      assert.equal(open?.name, name, `\`</${name}>\` closes \`<${open?.name}>\``);
      continue;
    }
    const attributes: Record<string, string> = {};
    for (const [, key, value] of attrs!.matchAll(attribute)) {
      assert.ok(!Object.hasOwn(attributes, key!), `attribute \`${key}\` twice on \`<${name}>\``);
      attributes[key!] = decodeXml(value!, `attribute ${key}`);
    }
    const element: XmlElement = { name: name!, attributes, children: [], text: "" };
    if (stack.length > 0) stack.at(-1)!.children.push(element);
    else {
      assert.equal(root, undefined, "one root element");
      root = element;
    }
    if (selfClosing !== "/") stack.push(element);
  }
  assert.equal(stack.length, 0, "every element is closed");
  assert.ok(root !== undefined, "a root element");
  return root;
}

// ---------------------------------------------------------------------------------------------------------

describe("pqguard test", function () {
  this.timeout(120_000);

  before(() => {
    // Property files import `pqguard/testing`, which names the built package, as in a user's project.
    assert.ok(existsSync(join(REPO_ROOT, "dist", "testing", "index.js")), "dist/ is built (npm run build; npm test builds it first)");
  });

  describe("running tests", () => {
    it("runs a policy's cases and property files and exits 0 when all pass", async () => {
      const run = await pqguard([`${FIXTURES}/shop`, "--seed", "1"]);
      assert.equal(run.code, 0, run.out + run.err);
      assert.match(run.out, /^test\/testing\/fixtures\/runner\/shop\/shop\.policy$/m);
      assert.match(run.out, /^ {2}shop\.cases\.json\n {4}ok {3}a small refund is allowed\n {4}ok {3}case 2: refund\n/m);
      assert.match(run.out, /^ {4}ok {3}no refund above 5000 is ever allowed$/m);
      assert.match(run.out, /^6 passed, 0 failed, 0 skipped in 1 policy; coverage 85\.7% /m);
      assert.match(run.out, /^seed 1: `--seed 1` runs the same tests again$/m);
    });

    it("reports every kind of failure with its code, and exits 1", async () => {
      const { code, report } = await jsonReport([`${FIXTURES}/failing`, "--seed", "5"]);
      assert.equal(code, 1);
      const [policy] = report.policies;
      const byName = new Map(policy!.tests.map((t) => [t.name, t]));
      const outcome = (name: string): [string, string | undefined] => [byName.get(name)!.status, byName.get(name)!.code];
      assert.deepEqual(outcome("a wrong expectation"), ["failed", "PQG9510"]);
      assert.match(byName.get("a wrong expectation")!.message!, /^the call to `refund` was allowed by rule `fail\.policy:4`, but `deny` was expected\.\n {2}reason: permitted by rule `fail\.policy:4`/);
      assert.deepEqual(outcome("the right decision by another rule"), ["failed", "PQG9510"]);
      assert.deepEqual(outcome("a misspelt field"), ["failed", "PQG9511"]);
      assert.match(byName.get("a misspelt field")!.message!, /unknown field `expected`/);
      assert.deepEqual(outcome("a request that is not one"), ["failed", "PQG9511"]);
      assert.deepEqual(outcome("a passing case"), ["passed", undefined]);
      assert.deepEqual(outcome(`${FIXTURES}/failing/fail.broken.cases.json`), ["failed", "PQG9511"]);
      assert.deepEqual(outcome(`${FIXTURES}/failing/fail.empty.properties.test.mjs`), ["failed", "PQG9512"]);
      assert.deepEqual(outcome("no refund above 1000 is allowed (false: the policy allows up to 2000)"), ["failed", "PQG9501"]);
      assert.deepEqual(outcome("throws a plain error"), ["failed", "PQG9518"]);
      assert.deepEqual(outcome("no refund above 2000 is allowed"), ["passed", undefined]);
      assert.deepEqual(
        report.problems.map((p) => [p.file, p.code]),
        [[`${FIXTURES}/failing/stray.cases.json`, "PQG9517"]],
      );
    });

    it("names the shrunk counterexample of a failed property with the seed derived from --seed", async () => {
      const { report } = await jsonReport([`${FIXTURES}/failing/fail.properties.test.mjs`, "--seed", "5"]);
      const name = "no refund above 1000 is allowed (false: the policy allows up to 2000)";
      const failed = report.policies[0]!.tests.find((t) => t.name === name)!;
      assert.match(failed.message!, /"amount": 1001/);
      const seed = testSeed(5, "fail.properties.test.mjs", name);
      assert.match(failed.message!, new RegExp(`replay: pass \\{ seed: ${seed}, path: "[\\d:]+" \\}`));
      // The test file given as PATH runs alone, with its policy.
      assert.deepEqual([...new Set(report.policies[0]!.tests.map((t) => t.file))], [`${FIXTURES}/failing/fail.properties.test.mjs`]);
    });

    it("fails a policy with errors without running its tests", async () => {
      const run = await pqguard([`${FIXTURES}/broken/broken.policy`]);
      assert.equal(run.code, 1);
      assert.match(run.out, /PQG9513 `test\/testing\/fixtures\/runner\/broken\/broken\.policy` has errors, so none of its tests ran:\n.*error PQG2001: unknown tool `no_such_tool`/);
    });

    it("passes --runs to fast-check as the runs of every property", async () => {
      const dir = join(OUT_DIR, "runner-runs");
      rmSync(dir, { recursive: true, force: true });
      cpSync(join(REPO_ROOT, FIXTURES, "shop"), dir, { recursive: true });
      rmSync(join(dir, "shop.properties.test.mjs"));
      writeFileSync(
        join(dir, "shop.runs.properties.test.mjs"),
        `import fc from "fast-check";
import { requestFromJson } from "pqguard/compiler";
import { decides } from "pqguard/testing";
const balance = fc.constant(null).map(() => { const { request, context } = requestFromJson({ tool: "balance" }, 0); return { ...request, context }; });
export default (t) => {
  t.it("counts its runs", () => {
    let calls = 0;
    decides({ guard: (r, c) => (calls++, t.guard.guard(r, c)) }, balance, "allow");
    if (calls !== 7) throw new Error(\`\${calls} runs\`);
  });
};
`,
      );
      const run = await pqguard([dir, "--runs", "7"]);
      assert.equal(run.code, 0, run.out);
    });
  });

  describe("property files that break the contract", () => {
    it("fail with PQG9512: no tests, a default export that throws, a test declared after the export returned", async () => {
      const dir = join(OUT_DIR, "runner-contract");
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      for (const file of ["shop.policy", "shop.tools.json"]) cpSync(join(REPO_ROOT, FIXTURES, "shop", file), join(dir, file));
      writeFileSync(join(dir, "shop.none.properties.test.mjs"), "export default () => {};\n");
      writeFileSync(join(dir, "shop.throws.properties.test.js"), 'export default () => { throw new Error("no manifest here"); };\n');
      writeFileSync(join(dir, "shop.late.properties.test.mjs"), 'export default (t) => { setTimeout(() => t.it("late", () => {}), 0); t.it("on time", () => new Promise((r) => setTimeout(r, 20))); };\n');
      writeFileSync(join(dir, "shop.syntax.properties.test.mjs"), "export default (t) => {\n");
      const { code, report } = await jsonReport([dir]);
      assert.equal(code, 1);
      const problems = Object.fromEntries(report.policies[0]!.tests.map((t) => [t.name.replace(/^.*\//, ""), [t.status, t.code, t.message?.replace(/^`[^`]*` /, "")]]));
      assert.deepEqual(problems["shop.none.properties.test.mjs"], ["failed", "PQG9512", "declares no tests; call `t.it(name, test)` in its default export"]);
      assert.deepEqual(problems["shop.throws.properties.test.js"], ["failed", "PQG9512", "failed while declaring its tests: no manifest here"]);
      assert.deepEqual(problems["on time"], ["passed", undefined, undefined]);
      assert.deepEqual(problems["late"], ["failed", "PQG9512", "was declared after the file's tests were collected, so it did not run; declare every test while the default export runs"]);
      assert.match(String(problems["shop.syntax.properties.test.mjs"]?.[2]), /^cannot be loaded: /);
    });
  });

  describe("TypeScript property files", () => {
    const TYPED = `import fc from "fast-check";
import { requestFromJson } from "pqguard/compiler";
import { alwaysDenies, type PolicyUnderTest } from "pqguard/testing";

const refunds = fc.integer({ min: 5001, max: 1_000_000 }).map((amount) => {
  const { request, context } = requestFromJson({ tool: "refund", args: { amount } }, 0);
  return { ...request, context };
});

export default (t: PolicyUnderTest): void => {
  t.it("every refund above 5000 is denied", () => alwaysDenies(t.guard, refunds));
};
`;
    function shopWithTypedFile(dir: string): void {
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      for (const file of ["shop.policy", "shop.tools.json"]) cpSync(join(REPO_ROOT, FIXTURES, "shop", file), join(dir, file));
      writeFileSync(join(dir, "shop.typed.properties.test.ts"), TYPED);
    }

    it("runs them where the project can import TypeScript (tsx resolvable from the working folder)", async () => {
      const dir = join(OUT_DIR, "runner-typed");
      shopWithTypedFile(dir);
      const run = await pqguard([dir]);
      assert.equal(run.code, 0, run.out);
      assert.match(run.out, /^ {4}ok {3}every refund above 5000 is denied$/m);
    });

    it("skips them with a clear message where it cannot, and still passes", async () => {
      const scratch = mkdtempSync(join(tmpdir(), "pqguard-runner-"));
      try {
        shopWithTypedFile(join(scratch, "shop"));
        const run = await pqguard(["shop"], scratch);
        assert.equal(run.code, 0, run.out);
        assert.match(
          run.out,
          /skip shop\/shop\.typed\.properties\.test\.ts\n\s+PQG9515 `shop\/shop\.typed\.properties\.test\.ts` was skipped: this project cannot import TypeScript; install tsx/,
        );
        assert.match(run.out, /0 passed, 0 failed, 1 skipped/);
      } finally {
        rmSync(scratch, { recursive: true, force: true });
      }
    });
  });

  describe("trouble and usage", () => {
    it("exits 2 for a missing PATH, a PATH without policies, or a wrong option", async () => {
      const none = await pqguard([]);
      assert.equal(none.code, 2);
      assert.match(none.err, /error PQG0001: no PATH given/);
      const missing = await pqguard(["no/such/folder"]);
      assert.deepEqual([missing.code, missing.err], [2, "error PQG9514: `no/such/folder` does not exist or cannot be read\n"]);
      const empty = await pqguard(["docs"]);
      assert.deepEqual([empty.code, empty.err], [2, "error PQG9514: no `.policy` file found under `docs`\n"]);
      for (const argv of [["--format", "xml"], ["--seed", "1.5"], ["--seed", "99999999999"], ["--runs", "0"], ["--min-coverage", "101"], ["--min-coverage", "x"]]) {
        const bad = await pqguard([`${FIXTURES}/shop`, ...argv]);
        assert.equal(bad.code, 2, argv.join(" "));
        assert.match(bad.err, /^error PQG0001: .*\nusage: pqguard test PATH/, argv.join(" "));
      }
    });
  });

  describe("coverage", () => {
    it("lists the rules, condition outcomes and tools no test reached, and their percentage", async () => {
      const { code, report } = await jsonReport([`${FIXTURES}/cover`, "--seed", "1"]);
      assert.equal(code, 0);
      const coverage = report.policies[0]!.coverage!;
      assert.deepEqual(coverage.rules, { covered: 2, total: 5, percent: 40, uncovered: ["cover.policy:5", "cover.policy:15", "cover.policy:18"] });
      assert.deepEqual(coverage.conditions.uncovered, [
        { rule: "cover.policy:5", part: "require", text: "client.authenticated", never: ["false"] },
        { rule: "cover.policy:8", part: "when", text: "args.amount <= 2000", never: ["false"] },
        { rule: "cover.policy:8", part: "when", text: 'client.role == "clerk"', never: ["false"] },
        { rule: "cover.policy:15", part: "when", text: "args.amount > 2000", never: ["true"] },
      ]);
      assert.deepEqual([coverage.conditions.covered, coverage.conditions.total], [6, 10]);
      assert.deepEqual(coverage.tools, { covered: 2, total: 3, percent: 66.6, uncovered: ["close_account"] });
      assert.equal(coverage.percent, 55.5);
      assert.deepEqual([report.coverage.percent, report.coverage.covered, report.coverage.total], [55.5, 10, 18]);
    });

    it("fails the run below --min-coverage, in the exit code, the text and the JUnit report", async () => {
      assert.equal((await pqguard([`${FIXTURES}/cover`, "--min-coverage", "55.5"])).code, 0);
      const below = await pqguard([`${FIXTURES}/cover`, "--min-coverage", "60", "--seed", "1"]);
      assert.equal(below.code, 1);
      assert.match(below.out, /coverage 55\.5%, below the minimum of 60%/);
      assert.match(below.out, /^error PQG9519: coverage 55\.5% is below the minimum of 60%$/m);
      const junit = parseXml((await pqguard([`${FIXTURES}/cover`, "--min-coverage", "60", "--format", "junit"])).out);
      const coverageSuite = junit.children.find((s) => s.attributes["name"] === "pqguard test")!;
      const [test] = coverageSuite.children.filter((c) => c.name === "testcase");
      assert.equal(test!.attributes["name"], "coverage is at least 60%");
      assert.equal(test!.children[0]!.attributes["type"], "PQG9519");
    });

    it("reads clause outcomes from explanations: the clauses before the one that failed held, an error is neither", () => {
      const policy = checked(
        'policy c\nmanifest "t.json"\npermit tool refund\n  when args.amount <= 2000 and client.role == "clerk"\n  unless args.amount == 13\n',
        { "t.json": [{ name: "refund", inputSchema: { type: "object", properties: { amount: { type: "integer" } } } }] },
        "c.policy",
      );
      const guard = interpret(policy);
      const tracker = new CoverageTracker(policy);
      const decide = (args: Record<string, unknown>, role = "clerk"): void => {
        const { request, context } = requestFromJson({ tool: "refund", args, client: { role } }, 0);
        tracker.record(request, guard.guard(request, context));
      };
      const seen = (): string[] => tracker.coverage().conditions.map((c) => `${c.text}:${c.seenTrue ? "T" : "-"}${c.seenFalse ? "F" : "-"}`);
      decide({});
      assert.deepEqual(seen(), ["args.amount <= 2000:--", 'client.role == "clerk":--', "args.amount == 13:--"]);
      decide({ amount: 3000 });
      assert.deepEqual(seen(), ["args.amount <= 2000:-F", 'client.role == "clerk":--', "args.amount == 13:--"]);
      decide({ amount: 13 }, "clerk");
      assert.deepEqual(seen(), ["args.amount <= 2000:TF", 'client.role == "clerk":T-', "args.amount == 13:T-"]);
      decide({ amount: 10 }, "clerk");
      assert.deepEqual(seen(), ["args.amount <= 2000:TF", 'client.role == "clerk":T-', "args.amount == 13:TF"]);
      assert.deepEqual(tracker.coverage().rules, [{ id: "c.policy:3", covered: true }]);
    });
  });

  describe("reports", () => {
    it("writes well-formed JUnit XML whose counts, names and messages match the run, markup and control characters escaped", async () => {
      const run = await pqguard([`${FIXTURES}/failing`, "--seed", "5", "--format", "junit"]);
      assert.equal(run.code, 1);
      const root = parseXml(run.out);
      assert.equal(root.name, "testsuites");
      const suites = root.children;
      assert.deepEqual(suites.map((s) => s.attributes["name"]), [`${FIXTURES}/failing/fail.policy`, "pqguard test"]);
      const cases = suites.flatMap((s) => s.children.filter((c) => c.name === "testcase"));
      const failures = cases.filter((c) => c.children.some((f) => f.name === "failure"));
      assert.deepEqual([root.attributes["tests"], root.attributes["failures"]], [String(cases.length), String(failures.length)]);
      const markup = cases.find((c) => c.attributes["name"]!.startsWith("markup"))!;
      assert.equal(markup.attributes["name"], `markup <&"'> and a control character \uFFFD in a name`);
      assert.equal(markup.attributes["classname"], `${FIXTURES}/failing/fail.cases.json`);
      const failure = markup.children[0]!;
      assert.equal(failure.attributes["type"], "PQG9510");
      assert.equal(failure.attributes["message"], "the call to `refund` was denied by the default deny, but `allow` was expected.");
      assert.match(failure.text, /^the call to `refund`.*\n {2}reason: no rule permits `refund`/);
      const suite = suites[0]!;
      assert.deepEqual(suite.children[0]!.children.map((p) => [p.attributes["name"], p.attributes["value"]]), [["seed", "5"], ["coverage", "100.0"]]);
    });

    it("escapes every character XML cannot carry as it is", () => {
      assert.equal(xmlText(`a<b>&"c"'\n\t\u0000\u001b\uFFFE\uD800z\u{1F600}`), "a&#60;b&#62;&#38;&#34;c&#34;&#39;&#10;&#9;\uFFFD\uFFFD\uFFFD\uFFFDz\u{1F600}");
      assert.equal(parseXml(`<?xml version="1.0" encoding="UTF-8"?>\n<a b="${xmlText("x\ny<\"")}">${xmlText("<&>")}</a>`).attributes["b"], 'x\ny<"');
    });

    it("gives the same report for the same seed, in every format", async () => {
      for (const format of ["text", "json", "junit"]) {
        const first = await pqguard([`${FIXTURES}`, "--seed", "42", "--format", format]);
        const second = await pqguard([`${FIXTURES}`, "--seed", "42", "--format", format]);
        assert.equal(first.out, second.out, format);
      }
    });

    it("prints the seed of a run without --seed, and that seed reproduces it", async () => {
      const first = await pqguard([`${FIXTURES}/failing`]);
      const seed = /^seed (-?\d+): /m.exec(first.out)?.[1];
      assert.ok(seed !== undefined, first.out);
      const again = await pqguard([`${FIXTURES}/failing`, "--seed", seed]);
      assert.equal(again.out, first.out);
    });
  });

  describe("the guard property files receive", () => {
    const policy = checked(
      'policy p\nmanifest "t.json"\npermit tool refund\n  when args.amount <= 2000\n',
      { "t.json": [{ name: "refund", inputSchema: { type: "object", properties: { amount: { type: "integer" } } } }] },
      "p.policy",
    );
    const interpreted = interpret(policy);
    const { request, context } = requestFromJson({ tool: "refund", args: { amount: 3000 } }, 0);
    const withDecision = (change: (d: Decision) => Decision): GuardModule => ({ ...interpreted, guard: (r, c) => change(interpreted.guard(r, c)) });

    it("returns the decision both back ends agree on, and shows it to the observer once", () => {
      const seen: Decision[] = [];
      const both = agreeingGuard(interpret(policy), interpreted, (_r, d) => seen.push(d));
      const decision = both.guard(request, context);
      assert.equal(decision.decision, "deny");
      assert.deepEqual(seen, [decision]);
      assert.deepEqual(both.reachableTools!(context), ["refund"]);
    });

    it("throws PQG9504 naming both decisions when they differ in any part", () => {
      const allowing = agreeingGuard(withDecision((d) => ({ ...d, decision: "allow" })), interpreted, () => assert.fail("no agreement"));
      assert.throws(() => allowing.guard(request, context), (error: unknown) => {
        assert.ok(error instanceof BackendDisagreement);
        assert.equal(error.code, "PQG9504");
        assert.equal(
          error.message,
          "the compiled guard and the interpreter disagree on the decision of a call to `refund`: the compiled guard allowed by the default deny (no rule permits `refund`), the interpreter denied by the default deny (no rule permits `refund`)",
        );
        assert.equal(error.compiled?.decision, "allow");
        return true;
      });
      const rewording = agreeingGuard(withDecision((d) => ({ ...d, explain: [] })), interpreted, () => undefined);
      assert.throws(() => rewording.guard(request, context), /disagree on the explanation of a call to `refund`/);
      const throwing = agreeingGuard({ ...interpreted, guard: () => { throw new RangeError("boom"); } }, interpreted, () => undefined);
      assert.throws(() => throwing.guard(request, context), /the compiled guard threw `boom`, the interpreter denied by the default deny/);
      const hiding = agreeingGuard({ ...interpreted, reachableTools: () => [] }, interpreted, () => undefined);
      assert.throws(() => hiding.reachableTools!(context), /disagree on the reachable tools: the compiled guard lists none, the interpreter `refund`/);
    });
  });
});
