// Parser behaviour: every design example parses, precedence, spans, error recovery, limits and hostile input.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import type { CallRule, Expr, PolicyFile, RequireBlock } from "../../grammar/ast.js";
import { MAX_NESTING_DEPTH, MAX_POLICY_BYTES, MAX_SYNTAX_PROBLEMS, parsePolicy, type ParseResult } from "../../grammar/parse.js";
import { printExpr, printExprParenthesised } from "../../grammar/printer.js";
import { SYNTAX_CODES } from "../../grammar/syntax-codes.js";
import { policyTextArb } from "./arbitraries.js";

const PAYMENTS = readFileSync(new URL("./fixtures/payments.policy", import.meta.url), "utf8");

function parseClean(source: string): PolicyFile {
  const { ast, problems } = parsePolicy(source);
  assert.deepEqual(problems, [], `unexpected problems in:\n${source}`);
  return ast;
}

function condition(expr: string): Expr {
  const rule = parseClean(`policy p\npermit tool x when ${expr}\n`).statements[0] as CallRule;
  return rule.when!;
}

function codes(result: ParseResult): string[] {
  return result.problems.map((p) => p.code);
}

/** Sanity of a result for any input: problems sorted, capped, with spans inside the source. */
function assertWellFormed(source: string, result: ParseResult): void {
  assert.ok(result.problems.length <= MAX_SYNTAX_PROBLEMS + 1);
  for (const problem of result.problems) {
    assert.notEqual(problem.code, SYNTAX_CODES.parserFailure.code, problem.message);
    assert.match(problem.code, /^PQG1\d{3}$/);
    assert.ok(problem.span.start >= 0 && problem.span.end <= source.length && problem.span.start <= problem.span.end);
    assert.ok(problem.span.line >= 1 && problem.span.column >= 1);
  }
}

describe("grammar: design examples", () => {
  it("parses the complete payments example verbatim", () => {
    const ast = parseClean(PAYMENTS);
    assert.equal(ast.header?.name.name, "payments");
    assert.equal(ast.header?.version?.value, 1);
    assert.deepEqual(
      ast.statements.map((s) => s.kind),
      ["TimezoneDecl", "ManifestDecl", "RequireBlock", "RequireBlock", "CallRule", "CallRule", "CallRule", "CallRule", "CallRule", "CallRule", "LimitRule"],
    );
    assert.equal(ast.comments.length, 2);
    const transport = ast.statements[3] as RequireBlock;
    assert.equal(transport.dimension, "transport");
    assert.equal(printExpr(transport.requirements[0]!.condition), 'transport.kem >= "ML-KEM-768"');
    const anyTool = ast.statements[9] as CallRule;
    assert.equal(anyTool.target.kind, "AnyTool");
    assert.equal(anyTool.when, undefined);
    assert.equal(anyTool.because?.value, "outside business hours");
    const limit = ast.statements[10];
    assert.ok(limit?.kind === "LimitRule");
    assert.equal(limit.count.value, 100);
    assert.equal(limit.window.ms, 3_600_000);
    assert.equal(limit.scope, "client");
  });

  const snippets: readonly string[] = [
    'permit tool "read-file"',
    'permit tool "github.create_issue", get_balance',
    'manifest "payments.tools.json" signed by "SHA3-256:ab12"',
    'timezone "Europe/Berlin"',
    "limit tool process_refund to 100 per 1h",
    "limit tool * to 5 per 10m per session",
    "transport {\n  require transport.kem >= \"ML-KEM-768\"\n  require transport.level >= 3\n}",
    "identity {\n  require client.authenticated\n  require client.role in [\"billing-agent\"]\n}",
    'permit tool x when tool.name == "x"',
    'permit tool x when args["content-type"] == "application/json"',
    "permit tool x when args.items[0].sku == \"a\"",
    "permit tool x when has args.note",
    "forbid tool send_email when called(read_patient_record) and args.to endsWith \"@example.com\"",
    "forbid tool x when calls(*, 10m) >= 3 or called(*)",
    "permit tool x when len(args.s) > 1 and lower(args.s) == upper(args.t)",
    "permit tool x when args.path matches /^[a-z]+$/i",
    'permit tool x when "ML-KEM-512" < "ML-KEM-768"',
    "permit tool x when session.age < 8h and session.age > 250ms and 30s < 7d",
    'permit tool x when client.claims["tenant"] == "acme" and peer.label startsWith "prod"',
    "permit tool x when args.amount > 5 and args.amount < 3",
    "permit tool x when tool.annotations.readOnlyHint and not tool.annotations.destructiveHint",
    'permit tool x when time.weekday not in ["sat", "sun"] and time.hour >= 8 and time.minute < 30',
    "permit tool x when args.tags contains \"a\" and args.n % 2 == 0 and -args.n * 2 + 1 / 4 - 3 <= 2.5",
  ];
  for (const snippet of snippets) {
    it(`parses \`${snippet.split("\n")[0]}\``, () => {
      parseClean(`policy p version 1\n${snippet}\n`);
    });
  }

  it("lets path roots and block keywords serve in both roles", () => {
    const ast = parseClean("policy p\ntransport { require transport.kem == \"X\" }\nlimit tool a to 1 per 1s per client\npermit tool a when client.role == \"r\" and session.id == tool.name\n");
    assert.equal(ast.statements.length, 3);
  });

  it("keeps bare and quoted tool names apart", () => {
    const rule = parseClean('policy p\npermit tool a, "b-c"\n').statements[0] as CallRule;
    assert.ok(rule.target.kind === "ToolList");
    assert.deepEqual(rule.target.tools.map((t) => [t.name, t.quoted]), [["a", false], ["b-c", true]]);
  });
});

describe("grammar: precedence", () => {
  const cases: readonly [string, string][] = [
    ["a or b and c", "(a or (b and c))"],
    ["a and b or c", "((a and b) or c)"],
    ["not a and b", "((not a) and b)"],
    ["not a == b", "(not (a == b))"],
    ["not not a", "(not (not a))"],
    ["a == b and c != d", "((a == b) and (c != d))"],
    ["a + b * c", "(a + (b * c))"],
    ["a - b - c", "((a - b) - c)"],
    ["a % b / c * d", "(((a % b) / c) * d)"],
    ["-a * b", "((-a) * b)"],
    ["- -a", "(-(-a))"],
    ["a + 1 > b * 2 or c", "(((a + 1) > (b * 2)) or c)"],
    ["(a or b) and c", "((a or b) and c)"],
    ["a not in [1, 2]", "(a not in [1, 2])"],
    ["not a in b", "(not (a in b))"],
    ["x matches /a/ and y contains \"b\"", "((x matches /a/) and (y contains \"b\"))"],
    ["a startsWith b or a endsWith c", "((a startsWith b) or (a endsWith c))"],
    ["calls(*, 1h) + 1 >= 3", "((calls(*, 1h) + 1) >= 3)"],
    ["sum(refund.amount, 1d, client) + args.amount > 5000", "((sum(refund.amount, 1d, client) + args.amount) > 5000)"],
    ["args.a > 3 * max(pay.x[\"y\"].z, 30d)", "(args.a > (3 * max(pay.x[\"y\"].z, 30d)))"],
    ["has args.x and args.x > 1", "(has args.x and (args.x > 1))"],
    ["-(a + b)", "(-(a + b))"],
    ["all p in args.paths: p under \"/srv\" and len(p) < 9", "(all p in args.paths: ((p under \"/srv\") and (len(p) < 9)))"],
    ["a and any e in args.edits: e.x == 1 or b", "(a and (any e in args.edits: ((e.x == 1) or b)))"],
    ["not all g in args.g: any p in g: p within \"x.org\"", "(not (all g in args.g: (any p in g: (p within \"x.org\"))))"],
    ["(all p in args.b: p) or all in [1]", "((all p in args.b: p) or (all in [1]))"],
    ["url(args.u).host within \"x.org\" and ip(args.h) in link-local", "((url(args.u).host within \"x.org\") and (ip(args.h) in link-local))"],
  ];
  for (const [source, expected] of cases) {
    it(`groups \`${source}\` as ${expected}`, () => {
      assert.equal(printExprParenthesised(condition(source)), expected);
    });
  }

  it("prints minimal parentheses, keeping those written", () => {
    assert.equal(printExpr(condition("a  or  (b and c)")), "a or (b and c)");
    assert.equal(printExpr(condition("a or b and c")), "a or b and c");
    assert.equal(printExpr(condition("(a - b) - c")), "(a - b) - c");
  });

  it("adds the parentheses an AST built by hand needs", () => {
    const z = { start: 0, end: 0, line: 1, column: 1, endLine: 1, endColumn: 1 };
    const name = (n: string): Expr => ({ kind: "Name", span: z, name: n });
    const or: Expr = { kind: "Binary", span: z, opSpan: z, op: "or", left: name("a"), right: name("b") };
    const and: Expr = { kind: "Binary", span: z, opSpan: z, op: "and", left: or, right: name("c") };
    assert.equal(printExpr(and), "(a or b) and c");
    const sub: Expr = { kind: "Binary", span: z, opSpan: z, op: "-", left: name("a"), right: { kind: "Binary", span: z, opSpan: z, op: "-", left: name("b"), right: name("c") } };
    assert.equal(printExpr(sub), "a - (b - c)");
    const cmp: Expr = { kind: "Binary", span: z, opSpan: z, op: "==", left: { kind: "Binary", span: z, opSpan: z, op: "<", left: name("a"), right: name("b") }, right: name("c") };
    assert.equal(printExpr(cmp), "(a < b) == c");
  });

  it("rejects chained comparisons with advice", () => {
    const result = parsePolicy("policy p\npermit tool x when 1 < 2 < 3\n");
    assert.deepEqual(codes(result), [SYNTAX_CODES.unexpectedToken.code]);
    assert.match(result.problems[0]!.help ?? "", /do not chain/);
  });
});

describe("grammar: spans", () => {
  it("gives every node its line, column and offsets", () => {
    const source = "policy p\n\npermit tool refund\n  when args.amount > 10\n";
    const rule = parseClean(source).statements[0] as CallRule;
    assert.deepEqual(rule.span, { start: 10, end: 52, line: 3, column: 1, endLine: 4, endColumn: 24 });
    const when = rule.when!;
    assert.ok(when.kind === "Binary");
    assert.equal(source.slice(when.span.start, when.span.end), "args.amount > 10");
    assert.deepEqual([when.span.line, when.span.column], [4, 8]);
    assert.equal(source.slice(when.opSpan.start, when.opSpan.end), ">");
    assert.ok(when.left.kind === "Path");
    assert.equal(source.slice(when.left.rootSpan.start, when.left.rootSpan.end), "args");
    assert.equal(source.slice(when.left.segments[0]!.span.start, when.left.segments[0]!.span.end), ".amount");
    assert.equal(source.slice(rule.target.span.start, rule.target.span.end), "refund");
  });

  it("spans `not in`, calls, lists and parentheses over all their text", () => {
    const source = 'policy p\npermit tool x when (calls(*, 1h) > 2) and args.r not in ["a", "b"]\n';
    const when = (parseClean(source).statements[0] as CallRule).when!;
    assert.ok(when.kind === "Binary" && when.left.kind === "Paren" && when.right.kind === "Binary");
    const text = (s: { start: number; end: number }): string => source.slice(s.start, s.end);
    assert.equal(text(when.left.span), "(calls(*, 1h) > 2)");
    assert.equal(text(when.right.opSpan), "not in");
    assert.equal(text(when.right.right.span), '["a", "b"]');
    assert.ok(when.left.inner.kind === "Binary" && when.left.inner.left.kind === "Call");
    assert.equal(text(when.left.inner.left.span), "calls(*, 1h)");
    assert.equal(text(when.left.inner.left.calleeSpan), "calls");
  });

  it("keeps comments with their spans", () => {
    const source = "// head\npolicy p /* inline */\n";
    const ast = parseClean(source);
    assert.deepEqual(ast.comments.map((c) => [c.text, c.span.line, c.span.column]), [["// head", 1, 1], ["/* inline */", 2, 10]]);
  });
});

describe("grammar: recovery", () => {
  it("reports every broken statement in one run and keeps the good ones", () => {
    const source = [
      "policy p",
      "permit tool a when args.x >",
      "permit tool b",
      "forbid tool c when (args.y == 1",
      "ask tool when args.z",
      "limit tool d to 5 per 1h",
      "permit tool e when args.w = 3",
      "",
    ].join("\n");
    const result = parsePolicy(source);
    assertWellFormed(source, result);
    const lines = result.problems.map((p) => p.span.line);
    for (const line of [2, 4, 5, 7]) assert.ok(lines.includes(line), `no problem on line ${line}: ${JSON.stringify(result.problems)}`);
    const names = result.ast.statements.flatMap((s) => (s.kind === "CallRule" || s.kind === "LimitRule") && s.target.kind === "ToolList" ? s.target.tools.map((t) => t.name) : []);
    assert.ok(names.includes("b") && names.includes("d"), names.join(","));
  });

  it("marks what recovery could not read as Missing", () => {
    const result = parsePolicy("policy p\npermit tool a when args.x >\n");
    const rule = result.ast.statements[0] as CallRule;
    assert.ok(rule.when?.kind === "Binary");
    assert.equal(rule.when.right.kind, "Missing");
    assert.equal(result.problems[0]!.message, "expected an expression, found end of file");
  });

  it("reports a missing header, and a keyword used as a tool name with advice", () => {
    const result = parsePolicy("permit tool limit\n");
    assert.ok(codes(result).includes(SYNTAX_CODES.missingPolicyHeader.code));
    assert.ok(result.problems.some((p) => (p.help ?? "").includes('`"limit"`')));
  });

  it("stops after 100 problems with one more saying so", () => {
    const source = "policy p\n" + "permit tool ) \n".repeat(300);
    const result = parsePolicy(source);
    assertWellFormed(source, result);
    assert.equal(result.problems.length, MAX_SYNTAX_PROBLEMS + 1);
    assert.equal(result.problems.at(-1)!.code, SYNTAX_CODES.tooManyErrors.code);
  });
});

describe("grammar: lexical problems", () => {
  it("names a Cyrillic look-alike by code point", () => {
    const result = parsePolicy("policy p\npermit tool x when client.rоle == \"admin\"\n");
    const problem = result.problems.find((p) => p.code === SYNTAX_CODES.unexpectedCharacter.code);
    assert.ok(problem);
    assert.equal(problem.message, "unexpected character `о` (U+043E); identifiers are ASCII");
    assert.match(problem.help ?? "", /looks like `o`/);
    assert.deepEqual([problem.span.line, problem.span.column], [2, 28]);
  });

  it("reports an unterminated string once and keeps parsing", () => {
    const result = parsePolicy('policy p\ntimezone "Europe/Berlin\npermit tool x\n');
    assert.deepEqual(codes(result), [SYNTAX_CODES.unterminatedString.code]);
    assert.equal(result.ast.statements.length, 2);
  });

  it("reports an unterminated block comment", () => {
    const result = parsePolicy("policy p\npermit tool x /* never closed\npermit tool y\n");
    assert.deepEqual(codes(result), [SYNTAX_CODES.unterminatedComment.code]);
    assert.deepEqual([result.problems[0]!.span.line, result.problems[0]!.span.column], [2, 15]);
  });

  it("reads `/` after a member named `matches` as division, and a regex only after the `matches` operator", () => {
    const ast = parseClean('policy p\npermit tool x when args.matches / 2 > 1 and args["matches"] matches /a\\/b/\n');
    assert.equal(ast.statements.length, 1);
    assert.deepEqual(codes(parsePolicy("policy p\npermit tool x when args.p matches / 2\n")), [SYNTAX_CODES.unterminatedRegex.code]);
  });

  it("reports invalid escapes, numbers, durations, regex flags and indexes", () => {
    const cases: readonly [string, string][] = [
      ['manifest "C:\\xyz"', SYNTAX_CODES.invalidEscape.code],
      ['manifest "\\u12"', SYNTAX_CODES.invalidEscape.code],
      ["limit tool x to 5 per 10min", SYNTAX_CODES.invalidNumber.code],
      ["permit tool x when session.age < 1.5h", SYNTAX_CODES.invalidNumber.code],
      ["permit tool x when args.n < 123456789012345678901234567890", SYNTAX_CODES.numberOutOfRange.code],
      ["permit tool x when args.p matches /a/g", SYNTAX_CODES.invalidRegexFlags.code],
      ["permit tool x when args.p matches /abc", SYNTAX_CODES.unterminatedRegex.code],
      ["permit tool x when args.items[1.5] == 1", SYNTAX_CODES.invalidIndex.code],
      ["permit tool x when arg.amount > 1", SYNTAX_CODES.unknownPathRoot.code],
      ["permit tool x when a; b", SYNTAX_CODES.unexpectedCharacter.code],
    ];
    for (const [snippet, code] of cases) {
      const source = `policy p\n${snippet}\n`;
      const result = parsePolicy(source);
      assertWellFormed(source, result);
      assert.ok(codes(result).includes(code), `${snippet}: ${JSON.stringify(result.problems)}`);
    }
  });

  it("decodes JSON escapes in strings", () => {
    const ast = parseClean('policy p\ntimezone "a\\"b\\\\c\\n\\u00e9\\/"\n');
    assert.ok(ast.statements[0]?.kind === "TimezoneDecl");
    assert.equal(ast.statements[0].zone.value, 'a"b\\c\né/');
  });
});

describe("grammar: hostile input", () => {
  it("gives one problem for an empty file: the missing header", () => {
    assert.deepEqual(codes(parsePolicy("")), [SYNTAX_CODES.missingPolicyHeader.code]);
  });

  it("refuses a 10 MB file without parsing it", () => {
    const source = "policy p\n" + "permit tool x\n".repeat(Math.ceil((10 * 1024 * 1024) / 14));
    const result = parsePolicy(source);
    assert.deepEqual(codes(result), [SYNTAX_CODES.fileTooLarge.code]);
    assert.match(result.problems[0]!.message, new RegExp(`limit of ${MAX_POLICY_BYTES} bytes`));
  });

  it("refuses 10,000 nested parentheses with one problem", () => {
    const source = `policy p\npermit tool x when ${"(".repeat(10_000)}true${")".repeat(10_000)}\n`;
    const result = parsePolicy(source);
    assert.deepEqual(codes(result), [SYNTAX_CODES.nestingTooDeep.code]);
  });

  it("refuses deep chains of unary operators and nested lists", () => {
    for (const deep of ["not ".repeat(5000) + "true", "- ".repeat(5000) + "1 > 0", "[".repeat(5000) + "]".repeat(5000) + " == []"]) {
      const result = parsePolicy(`policy p\npermit tool x when ${deep}\n`);
      assert.deepEqual(codes(result), [SYNTAX_CODES.nestingTooDeep.code]);
    }
  });

  it("accepts nesting right at the limit", () => {
    const depth = MAX_NESTING_DEPTH;
    parseClean(`policy p\npermit tool x when ${"(".repeat(depth)}true${")".repeat(depth)}\n`);
  });

  it("bounds the number of operators in one condition", () => {
    const result = parsePolicy(`policy p\npermit tool x when ${"a or ".repeat(1500)}a\n`);
    assert.deepEqual(codes(result), [SYNTAX_CODES.expressionTooLong.code]);
    assert.equal((result.ast.statements[0] as CallRule).when?.kind, "Missing");
  });

  it("never throws on random strings", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: "binary", maxLength: 300 })), (source) => {
        assertWellFormed(source, parsePolicy(source));
      }),
      { numRuns: 300 },
    );
  });

  it("never throws on random bytes decoded as UTF-8", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        const source = new TextDecoder().decode(bytes);
        assertWellFormed(source, parsePolicy(source));
      }),
      { numRuns: 300 },
    );
  });

  const TOKENS = [
    "policy", "p", "version", "1", "timezone", "manifest", "signed", "by", '"s"', "identity", "transport", "{", "}",
    "require", "permit", "forbid", "ask", "tool", "*", ",", "when", "unless", "because", "limit", "to", "per", "client",
    "session", "args", ".", "x", "[", "]", "0", "(", ")", "and", "or", "not", "in", "==", "<", "+", "-", "/", "%",
    "matches", "/a/", "has", "calls", "10m", "2.5", "true", "//c\n", "/*c*/", "\n", '"', "/*", "й", "\u0000",
  ];

  it("never throws on random token soup", () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...TOKENS), { maxLength: 80 }), (parts) => {
        const source = parts.join(" ");
        assertWellFormed(source, parsePolicy(source));
      }),
      { numRuns: 400 },
    );
  });

  it("never throws on mutated valid policies", () => {
    const mutation = fc.tuple(fc.constantFrom("delete", "insert", "duplicate"), fc.nat(), fc.nat({ max: 30 }), fc.constantFrom(...TOKENS));
    fc.assert(
      fc.property(fc.oneof(policyTextArb, fc.constant(PAYMENTS)), fc.array(mutation, { minLength: 1, maxLength: 4 }), (text, mutations) => {
        let source = text;
        for (const [kind, at, length, token] of mutations) {
          const start = source.length === 0 ? 0 : at % source.length;
          const slice = source.slice(start, start + length);
          if (kind === "delete") source = source.slice(0, start) + source.slice(start + length);
          else if (kind === "insert") source = source.slice(0, start) + token + source.slice(start);
          else source = source.slice(0, start) + slice + slice + source.slice(start + length);
        }
        assertWellFormed(source, parsePolicy(source));
      }),
      { numRuns: 300 },
    );
  });
});
