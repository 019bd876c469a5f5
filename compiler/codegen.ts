// The code generator: turns a checked policy into a guard module of straight-line TypeScript or JavaScript (a switch
// on the tool name, conditions inlined, constants hoisted) with the same decisions as the reference interpreter, and
// into the declarations (`.d.ts`) of its JavaScript form.
import type { Call, Expr, Path, Quantifier, Variable } from "../grammar/ast.js";
import { algorithmFacts } from "../runtime/guard/algorithms.js";
import { aggregatedField, aggregatedValues, historyScope, callableTools, clauseQuantifier, elementPhrase, exprText, longestWindowMs, outline, pathText, targets, typeOf, underStyle, type CheckOutline, type RuleOutline } from "./analysis.js";
import { ANNOTATION_DEFAULTS, factOf, type FactTarget, type ValueKind } from "./facts.js";
import type { CheckedPolicy, Type } from "./ir.js";
import { RESULT_FUNCTION, resultFunctions } from "./codegen-results.js";
import { redactedOutputSchemas, seenLabels } from "./analysis-results.js";

export interface CodegenOptions {
  /** The specifier generated modules import runtime/guard/ through: `pqguard/guard`, or a relative path in tests. */
  readonly runtimeImport: string;
  /** `ts` (the default): TypeScript with argument interfaces; `js`: plain ES2022 JavaScript, declarations apart. */
  readonly language?: "ts" | "js" | undefined;
}

/** Options of the generator that no user sets: what benchmarks compare a guard against. */
export interface GeneratorOptions extends CodegenOptions {
  /**
   * `false`: call rules parse a URL at every `url()`, `host()` and `ip()` they hold, as guards did before they kept a
   * decision's readings (UrlReadings); the baseline bench/lists.ts measures the per-decision readings against.
   */
  readonly urlReadingsPerDecision?: boolean | undefined;
}

/** The variable a tool's decision function keeps its UrlReadings in, created at the first URL read. */
const URL_READINGS = "urls";

/** A function of the generated module: the TypeScript and JavaScript forms and the declarations all write it from this. */
interface Signature {
  readonly name: string;
  readonly params: readonly (readonly [name: string, type: string])[];
  readonly returns: string;
}

/** The type of the arguments a guard reads: any JSON object. */
const ARGS_TYPE = "Readonly<Record<string, unknown>>";

/** The parameters of the module's internal decision functions: the guard's own, and the arguments as an object. */
const DECISION_PARAMS: Signature["params"] = [["request", "GuardRequest"], ["context", "GuardContext"], ["a", ARGS_TYPE]];

const REQUIREMENTS_SIGNATURE: Signature = { name: "requirements", params: DECISION_PARAMS, returns: "Decision | undefined" };

const toolSignature = (name: string): Signature => ({ name, params: DECISION_PARAMS, returns: "Decision" });

interface ExportedFunction {
  readonly doc: string;
  readonly signature: Signature;
}

/** The exported functions; `GuardModule` in runtime/guard/types.ts is their contract. */
const GUARD_FUNCTION: ExportedFunction = {
  doc: "/** Decides one tool call; the explanation lists every requirement, rule and limit considered, in order. */",
  signature: { name: "guard", params: [["request", "GuardRequest"], ["context", "GuardContext"]], returns: "Decision" },
};

const REACHABLE_FUNCTION: ExportedFunction = {
  doc: "/** The tools this session could ever be allowed to call; `tools/list` shows only these. */",
  signature: { name: "reachableTools", params: [["context", "GuardContext"]], returns: "readonly string[]" },
};

/** The exported constants, in order, with their documentation and types; their values depend on the policy. */
const EXPORTED_CONSTANTS = [
  { name: "policyName", type: "string", doc: "/** The name the policy gives itself (`policy NAME`). */" },
  { name: "policyDigest", type: "string", doc: "/** SHA3-256 (hex) of the canonical policy text. */" },
  {
    name: "toolDigests",
    type: "Readonly<Record<string, string>>",
    doc: "/** Tool name → SHA3-256 (hex) of the canonical JSON of the tool definition the policy was compiled against. */",
  },
  {
    name: "longestWindowMs",
    type: "number",
    doc: "/** The longest window, in ms, the policy counts calls over (0: none); the state store must keep calls this long. */",
  },
  { name: "seenLabels", type: "readonly string[]", doc: "/** The `seen` labels the policy records or reads; the state store must keep them. */" },
  {
    name: "aggregatedValues",
    type: "Readonly<Record<string, readonly string[]>>",
    doc: "/** Tool name → JSON Pointers of the numeric arguments the policy aggregates; the state store keeps these and no others. */",
  },
  { name: "resultRuleCount", type: "number", doc: "/** How many result rules the policy has; with none, results pass on uninspected. */" },
  {
    name: "outputSchemas",
    type: "Readonly<Record<string, unknown>>",
    doc: "/** Tool name → the outputSchema the policy was compiled against, for the tools result rules redact. */",
  },
] as const;

type ExportedConstant = (typeof EXPORTED_CONSTANTS)[number]["name"];

/** The default export, an object of every named export. */
const DEFAULT_EXPORT = { name: "guardModule", type: "GuardModule" } as const;

/** The runtime types the exports are declared with. */
const PUBLIC_TYPES = ["Decision", "GuardContext", "GuardModule", "GuardRequest", "ResultDecision", "CallResult"] as const;

/** The kind of JavaScript value a generated expression produces. */
type Kind = ValueKind;

interface Code {
  readonly code: string;
  readonly kind: Kind;
}

const q = (text: string): string => JSON.stringify(text);

/** Text safe inside a `//` comment: tool names come from manifests and must not be able to end the comment. */
const commentText = (text: string): string => text.replace(/[\r\n\u2028\u2029]/g, " ");

/** Field names that would read `Object.prototype` when absent, so they are read with `own()`. */
const INHERITED = new Set(Object.getOwnPropertyNames(Object.prototype));

/** Collects hoisted constants and the runtime helpers a module uses, so nothing unused is emitted. */
export class ModuleWriter {
  readonly helpers = new Set<string>();
  readonly types = new Set<string>([...PUBLIC_TYPES, "Explanation"]);
  readonly constants: string[] = [];
  private readonly interned = new Map<string, string>();

  constructor(private readonly language: "ts" | "js") {}

  /**
   * Text only TypeScript has (a type annotation or argument, `!`, `as const`): itself in TypeScript, nothing in
   * JavaScript. Every type the generator writes goes through here, so that the two forms cannot drift apart.
   */
  ts(text: string): string {
    return this.language === "ts" ? text : "";
  }

  /** `name: type` in TypeScript, `name` in JavaScript. */
  typed(name: string, type: string): string {
    return `${name}${this.ts(`: ${type}`)}`;
  }

  /** `name(params): returns` in TypeScript, `name(params)` in JavaScript. */
  signature(s: Signature): string {
    const params = s.params.map(([name, type]) => this.typed(name, type)).join(", ");
    return this.typed(`${s.name}(${params})`, s.returns);
  }

  use(helper: string): string {
    this.helpers.add(helper);
    return helper;
  }

  /** A module-level constant, shared when the same initialiser is requested twice. */
  hoist(prefix: string, type: string, init: string): string {
    const key = `${type}=${init}`;
    const existing = this.interned.get(key);
    if (existing !== undefined) return existing;
    const name = `${prefix}${this.interned.size}`;
    this.interned.set(key, name);
    this.constants.push(`const ${this.typed(name, type)} = ${init};`);
    return name;
  }

  explanation(rule: string, effect: string, matched: boolean, detail: string): string {
    return this.hoist(
      "X",
      "Explanation",
      `Object.freeze({ rule: ${q(rule)}, effect: ${q(effect)}, matched: ${matched}, detail: ${q(detail)} })`,
    );
  }
}

// Explanation sentences, worded exactly as runtime/guard/helpers.ts `explainText` words them at run time.
const sentence = {
  held: (c: string) => `\`${c}\` held`,
  wasFalse: (c: string) => `\`${c}\` was false`,
  unlessHeld: (c: string) => `unless \`${c}\` held`,
  forbidden: (id: string) => `forbidden by rule \`${id}\``,
  approval: (id: string) => `approval required by rule \`${id}\``,
  permitted: (id: string) => `permitted by rule \`${id}\``,
  rateLimit: (count: number, window: string, scope: string) =>
    `rate limit of ${count} calls per ${window}${scope === "global" ? "" : ` per ${scope}`} exceeded`,
};

/** Compiles expressions of one policy to TypeScript expressions over `a` (arguments), `request` and `context`. */
export class ExprCompiler {
  /** The JavaScript parameter each enclosing quantifier's variable compiles to, by name. */
  private readonly variables = new Map<string, string>();
  /** How many quantifiers enclose the expression being compiled: parameter `qN` belongs to depth N. */
  private depth = 0;
  /** Whether the code being compiled runs where the decision's UrlReadings (`urls`) is declared; see withUrlReadings. */
  private readingsInScope = false;
  private readingsUsed = false;

  constructor(
    readonly policy: CheckedPolicy,
    private readonly w: ModuleWriter,
    /** Whether call rules read URLs through the decision's UrlReadings (GeneratorOptions.urlReadingsPerDecision). */
    private readonly urlReadingsPerDecision = true,
  ) {}

  /**
   * Compiles code that a decision function declaring `urls` inlines: its `url()`, `host()` and `ip()` read through
   * the decision's UrlReadings, so a text is parsed once per decision whatever the number of rules and elements that
   * read it. Says whether any did, for the function to declare `urls`.
   */
  withUrlReadings<T>(compile: () => T): { readonly result: T; readonly usesUrlReadings: boolean } {
    this.readingsInScope = this.urlReadingsPerDecision;
    this.readingsUsed = false;
    try {
      return { result: compile(), usesUrlReadings: this.readingsUsed };
    } finally {
      this.readingsInScope = false;
      this.readingsUsed = false;
    }
  }

  /** The call of a URL function: through the decision's UrlReadings where it is in scope, else the plain helper. */
  private urlFunction(method: "url" | "host" | "address", value: string, text: string): string {
    if (this.readingsInScope) {
      this.readingsUsed = true;
      return `(${URL_READINGS} ??= new ${this.w.use("UrlReadings")}()).${method}(${value}, ${q(text)})`;
    }
    const helper = { url: "urlOf", host: "hostOf", address: "hostAddressFrom" }[method];
    return `${this.w.use(helper)}(${value}, ${q(text)})`;
  }

  private type(expr: Expr): Type {
    return typeOf(this.policy, expr);
  }

  text(expr: Expr): string {
    return exprText(this.policy, expr);
  }

  /** An expression guaranteed to produce a value of `kind`, or to throw an evaluation failure. */
  as(expr: Expr, kind: "boolean" | "number" | "string" | "list"): string {
    const c = this.emit(expr);
    if (c.kind === kind) return c.code;
    const check = { boolean: "bool", number: "num", string: "str", list: "list" }[kind];
    return `${this.w.use(check)}(${c.code}, ${q(this.text(expr))})`;
  }

  private isAlgorithm(expr: Expr): boolean {
    const t = this.type(expr);
    return t.kind === "algorithm" || (t.kind === "list" && t.element.kind === "algorithm");
  }

  private isTimestamp(expr: Expr): boolean {
    return this.type(expr).kind === "timestamp";
  }

  private literal(expr: Expr): Expr {
    return expr.kind === "Paren" ? this.literal(expr.inner) : expr;
  }

  /** An algorithm's facts property (`canonical` or `level`), folded at compile time for literals. */
  private algorithmPart(expr: Expr, part: "canonical" | "level"): string {
    const lit = this.literal(expr);
    if (lit.kind === "StringLiteral") {
      const facts = algorithmFacts(lit.value);
      if (facts === undefined) return `${this.w.use("fail")}(${q(`\`${lit.value}\` is not a known algorithm`)})`;
      return part === "canonical" ? q(facts.canonical) : String(facts.level);
    }
    const c = this.emit(expr);
    if (c.kind === "facts") return `${c.code}.${part}`;
    return `${this.w.use("algorithmOf")}(${c.code}).${part}`;
  }

  private timestamp(expr: Expr): string {
    const lit = this.literal(expr);
    if (lit.kind === "StringLiteral") {
      const ms = Date.parse(lit.value);
      return Number.isNaN(ms) ? `${this.w.use("fail")}(${q(`\`${this.text(expr)}\` is not a timestamp`)})` : String(ms);
    }
    const c = this.emit(expr);
    return c.kind === "number" ? c.code : `${this.w.use("timestampOf")}(${c.code}, ${q(this.text(expr))})`;
  }

  emit(expr: Expr): Code {
    switch (expr.kind) {
      case "NumberLiteral":
        return { code: numberCode(expr.value), kind: "number" };
      case "StringLiteral":
        return { code: q(expr.value), kind: "string" };
      case "BooleanLiteral":
        return { code: String(expr.value), kind: "boolean" };
      case "DurationLiteral":
        return { code: numberCode(expr.ms), kind: "number" };
      case "RegexLiteral":
        return { code: this.w.hoist("RE", "RegExp", `${this.w.use("prefiltered")}(new RegExp(${q(expr.pattern)}, ${q(expr.flags)}))`), kind: "regex" };
      case "ListLiteral":
        return { code: this.listLiteral(expr.elements), kind: "list" };
      case "Name":
        return { code: q(expr.name), kind: "string" };
      case "Paren": {
        const inner = this.emit(expr.inner);
        return { code: `(${inner.code})`, kind: inner.kind };
      }
      case "Path":
        return this.path(expr);
      case "Has":
        return { code: this.has(expr.path), kind: "boolean" };
      case "Unary":
        return expr.op === "not"
          ? { code: `!(${this.as(expr.operand, "boolean")})`, kind: "boolean" }
          : { code: `(-${this.as(expr.operand, "number")})`, kind: "number" };
      case "Binary":
        return this.binary(expr);
      case "Call":
        return this.call(expr);
      case "Quantifier":
        return { code: `${this.as(expr.list, "list")}.${expr.quantifier === "all" ? "every" : "some"}(${this.predicate(expr, false)})`, kind: "boolean" };
      case "Variable":
        return this.variable(expr);
      case "Missing":
        return { code: `${this.w.use("fail")}("the policy has a syntax error here")`, kind: "unknown" };
    }
  }

  /**
   * A quantifier's condition as an arrow function of the element, `negated` for `findIndex` of the first failing
   * element. Parameters are numbered by depth (not by how many names are bound: a variable that hides an outer one of
   * the same name binds no new name), so a nested quantifier's parameter never reuses an enclosing one's.
   */
  predicate(q: Quantifier, negated: boolean): string {
    const name = q.variable.name;
    const outer = this.variables.get(name);
    const param = `q${this.depth}`;
    this.variables.set(name, param);
    this.depth++;
    try {
      const body = this.as(q.body, "boolean");
      return `(${this.w.typed(param, "unknown")}) => ${negated ? `!(${body})` : body}`;
    } finally {
      this.depth--;
      if (outer === undefined) this.variables.delete(name);
      else this.variables.set(name, outer);
    }
  }

  private variable(expr: Variable): Code {
    const param = this.variables.get(expr.name);
    if (param === undefined) return { code: `${this.w.use("fail")}(${q(`\`${expr.name}\` is not bound`)})`, kind: "unknown" };
    return this.finish(this.descend(param, expr.name, expr.segments, false), this.type(expr), pathText(expr.name, expr.segments));
  }

  /** The left of `within`: a host as `host()` and `url().host` give it, canonical; any other string is read as one. */
  private host(expr: Expr): string {
    const inner = this.literal(expr);
    const canonical = inner.kind === "Call" && (inner.callee === "host" || (inner.callee === "url" && inner.field?.name === "host"));
    const value = this.as(expr, "string");
    return canonical ? value : this.urlFunction("host", value, this.text(expr));
  }

  /** The text of a string literal operand; the checker allows no other on the right of `under`, `within` and `ip() in`. */
  private literalText(expr: Expr): string {
    const lit = this.literal(expr);
    return lit.kind === "StringLiteral" ? lit.value : lit.kind === "Name" ? lit.name : "";
  }

  private addressIn(left: Expr, right: Expr): string {
    const address = this.emit(left).code;
    const lit = this.literal(right);
    if (lit.kind === "Name") {
      this.w.types.add("IpSet");
      return `${this.w.use("hostInSet")}(${address}, ${this.w.hoist("SET", "IpSet", `${this.w.use("ipSet")}(${q(lit.name)})`)})`;
    }
    this.w.types.add("IpRange");
    return `${this.w.use("hostInRange")}(${address}, ${this.w.hoist("RANGE", "IpRange", `${this.w.use("ipRange")}(${q(this.literalText(right))})`)})`;
  }

  private url(expr: Call): Code {
    const arg = expr.args[0]!;
    const text = q(this.text(arg));
    const parsed = this.urlFunction("url", this.emit(arg).code, this.text(arg));
    switch (expr.field?.name) {
      case "scheme":
      case "path":
      case "query":
        return { code: `${parsed}.${expr.field.name}`, kind: "string" };
      case "credentials":
        return { code: `${parsed}.credentials`, kind: "boolean" };
      case "host":
        return { code: `${this.w.use("urlHost")}(${parsed}, ${text})`, kind: "string" };
      case "port":
        return { code: `${this.w.use("urlPort")}(${parsed}, ${text})`, kind: "number" };
      default:
        return { code: `${this.w.use("fail")}(${q(`\`${this.text(expr)}\` is not a field of a URL`)})`, kind: "unknown" };
    }
  }

  private listLiteral(elements: readonly Expr[]): string {
    const lits = elements.map((e) => this.literal(e));
    const constant = lits.every((e) => ["NumberLiteral", "StringLiteral", "BooleanLiteral", "DurationLiteral"].includes(e.kind));
    const items = elements.map((e) => this.emit(e).code);
    if (!constant) return `[${items.join(", ")}]`;
    return this.w.hoist("L", "readonly unknown[]", `Object.freeze([${items.join(", ")}])`);
  }

  private binary(expr: Expr & { kind: "Binary" }): Code {
    const { op, left, right } = expr;
    const bool = (code: string): Code => ({ code, kind: "boolean" });
    const num = (code: string): Code => ({ code, kind: "number" });
    switch (op) {
      case "and":
        return bool(`(${this.as(left, "boolean")} && ${this.as(right, "boolean")})`);
      case "or":
        return bool(`(${this.as(left, "boolean")} || ${this.as(right, "boolean")})`);
      case "==":
        return bool(this.equal(left, right));
      case "!=":
        return bool(`!${this.equal(left, right)}`);
      case "<":
      case "<=":
      case ">":
      case ">=": {
        if (this.isAlgorithm(left) || this.isAlgorithm(right)) {
          return bool(`(${this.algorithmPart(left, "level")} ${op} ${this.algorithmPart(right, "level")})`);
        }
        if (this.isTimestamp(left) || this.isTimestamp(right)) {
          return bool(`(${this.timestamp(left)} ${op} ${this.timestamp(right)})`);
        }
        return bool(`(${this.as(left, "number")} ${op} ${this.as(right, "number")})`);
      }
      case "in":
        return bool(this.type(left).kind === "address" ? this.addressIn(left, right) : this.member(left, right));
      case "not in":
        return bool(`!${this.type(left).kind === "address" ? this.addressIn(left, right) : this.member(left, right)}`);
      case "under": {
        this.w.types.add("PathRoot");
        const text = this.literalText(right);
        const root = this.w.hoist("ROOT", "PathRoot", `${this.w.use("pathRoot")}(${q(text)}, ${q(underStyle(this.policy, left, text))})`);
        return bool(`${this.w.use("pathUnder")}(${this.emit(left).code}, ${root}, ${q(this.text(left))})`);
      }
      case "within": {
        this.w.types.add("DomainName");
        const domain = this.w.hoist("DOMAIN", "DomainName", `${this.w.use("domainName")}(${q(this.literalText(right))})`);
        return bool(`${this.w.use("hostWithin")}(${this.host(left)}, ${domain})`);
      }
      case "matches": {
        const re = this.emit(right);
        return bool(`${re.code}.test(${this.w.use("matchSubject")}(${this.as(left, "string")}, ${q(this.text(left))}))`);
      }
      case "contains":
        return bool(this.contains(left, right));
      case "startsWith":
      case "endsWith":
        return bool(`${this.as(left, "string")}.${op}(${this.as(right, "string")})`);
      case "+":
      case "-":
      case "*":
        return num(`${this.w.use("numberResult")}(${this.as(left, "number")} ${op} ${this.as(right, "number")}, ${q(this.text(expr))})`);
      case "/":
        return num(`${this.w.use("div")}(${this.as(left, "number")}, ${this.as(right, "number")}, ${q(this.text(expr))})`);
      case "%":
        return num(`${this.w.use("mod")}(${this.as(left, "number")}, ${this.as(right, "number")}, ${q(this.text(expr))})`);
    }
  }

  private equal(left: Expr, right: Expr): string {
    if (this.isAlgorithm(left) || this.isAlgorithm(right)) {
      return `(${this.algorithmPart(left, "canonical")} === ${this.algorithmPart(right, "canonical")})`;
    }
    if (this.isTimestamp(left) || this.isTimestamp(right)) return `(${this.timestamp(left)} === ${this.timestamp(right)})`;
    const a = this.emit(left);
    const b = this.emit(right);
    const primitive = (k: Kind): boolean => k === "number" || k === "string" || k === "boolean";
    if (primitive(a.kind) && primitive(b.kind)) return `(${a.code} === ${b.code})`;
    return `${this.w.use("jsonEqual")}(${a.code}, ${b.code})`;
  }

  private member(left: Expr, right: Expr): string {
    const list = this.literal(right);
    if (this.isAlgorithm(left) || this.isAlgorithm(right)) {
      const canonical = this.algorithmPart(left, "canonical");
      if (list.kind === "ListLiteral") {
        const names = list.elements.map((e) => this.literal(e));
        const known = names.every((e) => e.kind === "StringLiteral" && algorithmFacts(e.value) !== undefined);
        if (known) {
          const canon = [...new Set(names.map((e) => algorithmFacts((e as Expr & { kind: "StringLiteral" }).value)!.canonical))];
          const set = this.w.hoist("S", "ReadonlySet<string>", `new Set(${JSON.stringify(canon)})`);
          return `${set}.has(${canonical})`;
        }
      }
      return `${this.w.use("algorithmIn")}(${canonical}, ${this.as(right, "list")})`;
    }
    const item = this.emit(left);
    if (list.kind === "ListLiteral" && list.elements.every((e) => this.literal(e).kind === "StringLiteral")) {
      const values = [...new Set(list.elements.map((e) => (this.literal(e) as Expr & { kind: "StringLiteral" }).value))];
      const set = this.w.hoist("S", "ReadonlySet<unknown>", `new Set(${JSON.stringify(values)})`);
      return `${set}.has(${item.code})`;
    }
    return `${this.w.use("memberOf")}(${item.code}, ${this.as(right, "list")})`;
  }

  private contains(left: Expr, right: Expr): string {
    const container = this.emit(left);
    if (this.isAlgorithm(left) || this.isAlgorithm(right)) {
      return `${this.w.use("algorithmContains")}(${this.as(left, "list")}, ${this.algorithmPart(right, "canonical")})`;
    }
    if (container.kind === "string") return `${container.code}.includes(${this.as(right, "string")})`;
    if (container.kind === "list") return `${this.w.use("listContains")}(${container.code}, ${this.emit(right).code})`;
    const checked = `${this.w.use("containerOf")}(${container.code}, ${q(this.text(left))})`;
    return `${this.w.use("containsValue")}(${checked}, ${this.emit(right).code}, ${q(this.text(right))})`;
  }

  private toolRef(expr: Expr | undefined): string {
    if (expr?.kind === "Name") return expr.name;
    if (expr?.kind === "StringLiteral") return expr.value;
    return "*";
  }

  private call(expr: Expr & { kind: "Call" }): Code {
    const [first, second] = expr.args;
    switch (expr.callee) {
      case "calls": {
        const tool = this.toolRef(first);
        const tools = tool === "*" ? q("*") : this.w.hoist("T", "readonly string[]", `Object.freeze([${q(tool)}])`);
        return { code: `context.history.count(${tools}, context.now - ${this.as(second!, "number")}, ${q(historyScope(expr.args[2])!)})`, kind: "number" };
      }
      case "sum":
      case "max":
      case "min": {
        const field = aggregatedField(first)!;
        const args = [q(expr.callee), q(field.tool), q(field.pointer), `context.now - ${this.as(second!, "number")}`, q(historyScope(expr.args[2])!)];
        return { code: `${this.w.use("historyAggregate")}(context.history, ${args.join(", ")})`, kind: "number" };
      }
      case "called":
        return { code: `context.history.called(${q(this.toolRef(first))})`, kind: "boolean" };
      case "seen":
        return { code: `${this.w.use("seenMark")}(context.history, ${q(first?.kind === "StringLiteral" ? first.value : "")})`, kind: "boolean" };
      case "len": {
        const c = this.emit(first!);
        if (c.kind === "string" || c.kind === "list") return { code: `${c.code}.length`, kind: "number" };
        return { code: `${this.w.use("lengthOf")}(${c.code}, ${q(this.text(first!))})`, kind: "number" };
      }
      case "lower":
        return { code: `${this.as(first!, "string")}.toLowerCase()`, kind: "string" };
      case "upper":
        return { code: `${this.as(first!, "string")}.toUpperCase()`, kind: "string" };
      case "url":
        return this.url(expr);
      case "host":
        return { code: this.urlFunction("host", this.emit(first!).code, this.text(first!)), kind: "string" };
      case "ip":
        return { code: this.urlFunction("address", this.emit(first!).code, this.text(first!)), kind: "unknown" };
      default:
        return { code: `${this.w.use("fail")}(${q(`\`${expr.callee}\` is not a function`)})`, kind: "unknown" };
    }
  }

  /** The final run-time check of a path's value against its static type. */
  private finish(raw: string, type: Type, text: string): Code {
    switch (type.kind) {
      case "number":
      case "duration":
        return { code: `${this.w.use("num")}(${raw}, ${q(text)})`, kind: "number" };
      case "string":
        return { code: `${this.w.use("str")}(${raw}, ${q(text)})`, kind: "string" };
      case "boolean":
        return { code: `${this.w.use("bool")}(${raw}, ${q(text)})`, kind: "boolean" };
      case "list":
        return { code: `${this.w.use("list")}(${raw}, ${q(text)})`, kind: "list" };
      case "object":
        return { code: `${this.w.use("obj")}(${raw}, ${q(text)})`, kind: "object" };
      default:
        return { code: `${this.w.use("present")}(${raw}, ${q(text)})`, kind: "unknown" };
    }
  }

  /**
   * Reads `segments` below `start`; every step but the value itself is checked to be an object or a list.
   * `startIsObject`: the start is known to be an object, so a first field step needs no check.
   */
  private descend(start: string, rootText: string, segments: Path["segments"], startIsObject: boolean): string {
    let code = start;
    let text = rootText;
    segments.forEach((segment, i) => {
      if (i > 0 || !startIsObject || segment.kind === "Index") {
        const check = segment.kind === "Index" ? "list" : "obj";
        code = `${this.w.use(check)}(${code}, ${q(text)})`;
      }
      if (segment.kind === "Index") code = `${code}[${segment.index}]`;
      // Brackets, not `.name`: the value is a record, and strict projects (noPropertyAccessFromIndexSignature) refuse dots.
      else code = INHERITED.has(segment.name) ? `${this.w.use("own")}(${code}, ${q(segment.name)})` : `${code}[${q(segment.name)}]`;
      text = pathText(text, [segment]);
    });
    return code;
  }

  private path(expr: Path): Code {
    const type = this.type(expr);
    const full = pathText(expr.root, expr.segments);
    if (expr.root === "result") return this.finish(this.descend("r", "result", expr.segments, true), type, full);
    if (expr.root === "args") {
      // `a` is always an object (the guard replaces non-object arguments by `{}`), so the first step needs no check.
      return this.finish(this.descend("a", "args", expr.segments, true), type, full);
    }
    const fields = expr.segments.map((s) => (s.kind === "Field" ? s.name : String(s.index)));
    const found = factOf(expr.root, fields);
    if (found === undefined) return { code: `${this.w.use("fail")}(${q(`\`${expr.root}.${fields.join(".")}\` is not a known fact`)})`, kind: "unknown" };
    const { fact, below } = found;
    const emitted = fact.emit(this.factTarget);
    if (below.length > 0) {
      return this.finish(this.descend(emitted.code, fact.path, expr.segments.slice(expr.segments.length - below.length), false), type, full);
    }
    return emitted.kind !== undefined ? { code: emitted.code, kind: emitted.kind } : this.finish(emitted.code, type, fact.path);
  }

  /** What the fact table's emitters write with. */
  private readonly factTarget: FactTarget = {
    helper: (name) => this.w.use(name),
    clock: () => {
      this.w.use("zonedClock");
      this.w.types.add("ZonedTime");
      const clock = this.w.hoist("CLOCK", "(now: number) => ZonedTime", `zonedClock(${q(this.policy.timezone)})`);
      return `${clock}(context.now)`;
    },
    annotation: (hint) => `${this.w.use("toolAnnotation")}(${this.annotationTable()}, request.tool, ${q(hint)})`,
  };

  private annotationTable(): string {
    const table: Record<string, Record<string, unknown>> = {};
    for (const tool of this.policy.tools) table[tool.name] = { ...ANNOTATION_DEFAULTS, ...withoutUndefined(tool.annotations) };
    return this.w.hoist(
      "ANNOTATIONS",
      `ReadonlyMap<string, ${ARGS_TYPE}>`,
      `new Map${this.w.ts(`<string, ${ARGS_TYPE}>`)}(${JSON.stringify(Object.entries(table))})`,
    );
  }

  private has(path: Path | Variable): string {
    const steps = (segments: Path["segments"]): string => JSON.stringify(segments.map((s) => (s.kind === "Index" ? s.index : s.name)));
    if (path.kind === "Variable") {
      const param = this.variables.get(path.name);
      if (param === undefined) return `${this.w.use("fail")}(${q(`\`${path.name}\` is not bound`)})`;
      return `${this.w.use("hasPath")}(${param}, ${steps(path.segments)})`;
    }
    if (path.root === "args") return `${this.w.use("hasPath")}(a, ${steps(path.segments)})`;
    const found = factOf(path.root, path.segments.map((s) => (s.kind === "Field" ? s.name : String(s.index))));
    if (found !== undefined && found.below.length > 0) {
      const below = path.segments.slice(path.segments.length - found.below.length);
      return `${this.w.use("hasPath")}(${found.fact.emit(this.factTarget).code}, ${steps(below)})`;
    }
    return `${this.w.use("hasFact")}(() => ${this.path(path).code})`;
  }
}

function withoutUndefined(record: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined));
}

function numberCode(value: number): string {
  return Number.isFinite(value) ? String(value) : value > 0 ? "Infinity" : "-Infinity";
}

interface RuleCode {
  /** The hoisted DecisionStep constant of the rule. */
  readonly step: string;
  /** How many outcome codes the rule has (0 applies, one per clause that can fail). */
  readonly radix: number;
  readonly failClosed: boolean;
  /** Whether the statements read URLs through the decision's UrlReadings, which the function inlining them declares. */
  readonly usesUrlReadings: boolean;
  /**
   * Statements that leave the rule's outcome code in `c` (which starts at 0), and on an evaluation failure its
   * explanation in `dynamic[index]`. Inlined into each tool's function: one function per tool rather than per rule
   * tiers up in the JIT after far fewer calls.
   */
  inline(c: string, index: number, comment: string): string[];
}

/**
 * Compiles one call rule to outcome codes (see DecisionStep in runtime/guard/helpers.ts): 0 when it applies, k > 0 for
 * the k-th way it can fail, -1 when it could not be evaluated. Codes rather than explanations, so that a path taken
 * before can return its cached Decision.
 */
function ruleCode(item: RuleOutline, w: ModuleWriter, ex: ExprCompiler): RuleCode {
  const { rule } = item;
  const failClosed = rule.effect === "forbid";
  const reason =
    rule.because ?? (rule.effect === "forbid" ? sentence.forbidden(rule.id) : rule.effect === "ask" ? sentence.approval(rule.id) : sentence.permitted(rule.id));
  const stepConst = (outcomes: string[]): string =>
    w.hoist(
      "STEP",
      "DecisionStep",
      `Object.freeze({ id: ${q(rule.id)}, reason: ${q(reason)}, failClosed: ${failClosed}, limit: false, outcomes: Object.freeze([${outcomes.join(", ")}]) })`,
    );
  if (item.when.length === 0 && item.unless === undefined) {
    const step = stepConst([w.explanation(rule.id, rule.effect, true, "no conditions")]);
    return { step, radix: 1, failClosed, usesUrlReadings: false, inline: (_c, _i, comment) => [`    // ${comment}: no conditions`] };
  }
  const texts = [...item.when.map((c) => c.text), ...(item.unless === undefined ? [] : [item.unless.text])];
  const textsConst = w.hoist("CLAUSES", "readonly string[]", `Object.freeze(${JSON.stringify(texts)})`);
  const outcomes = [w.explanation(rule.id, rule.effect, true, "all conditions held")];
  // [condition code, whether the clause fails when the condition is true (unless), outcome code, `all` to name the
  // failing element of: its list and its negated condition]
  type Clause = [string, boolean, number, { quantifier: Quantifier; list: string; failing: string } | undefined];
  const { result: clauses, usesUrlReadings } = ex.withUrlReadings(() => {
    const compiled: Clause[] = [];
    for (const clause of item.when) {
      outcomes.push(w.explanation(rule.id, rule.effect, false, sentence.wasFalse(clause.text)));
      const quantifier = clauseQuantifier(clause.expr);
      const all = quantifier === undefined ? undefined : { quantifier, list: ex.as(quantifier.list, "list"), failing: ex.predicate(quantifier, true) };
      compiled.push([all === undefined ? ex.as(clause.expr, "boolean") : "", false, outcomes.length - 1, all]);
    }
    if (item.unless !== undefined) {
      outcomes.push(w.explanation(rule.id, rule.effect, false, sentence.unlessHeld(item.unless.text)));
      compiled.push([ex.as(item.unless.expr, "boolean"), true, outcomes.length - 1, undefined]);
    }
    return compiled;
  });
  w.use("failureDetail");
  w.use("explainText");
  const inline = (c: string, index: number, comment: string): string[] => {
    const label = `rule_${c}`;
    const lines = [`    // ${comment}`, "    {", "      let clause = 0;", `      ${label}: try {`];
    clauses.forEach(([code, unless, outcome, all], i) => {
      if (i > 0) lines.push(`        clause = ${i};`);
      if (all !== undefined) {
        // An `all` that is false names its first failing element, so the explanation is built here, not hoisted.
        const element = `${q(`${ex.text(all.quantifier.list)}[`)} + failing + "]"`;
        const detail = `explainText.elementFailed(${textsConst}[${i}]${w.ts("!")}, ${element}, items[failing], ${q(elementPhrase(ex.policy, all.quantifier))})`;
        lines.push(
          "        {",
          `          const items = ${all.list};`,
          `          const failing = items.findIndex(${all.failing});`,
          "          if (failing >= 0) {",
          `            ${c} = ${outcome};`,
          `            (dynamic ??= [])[${index}] = { rule: ${q(rule.id)}, effect: ${q(rule.effect)}, matched: false, detail: ${detail} };`,
          `            break ${label};`,
          "          }",
          "        }",
        );
        return;
      }
      lines.push(`        if (${unless ? code : `!(${code})`}) {`, `          ${c} = ${outcome};`, `          break ${label};`, "        }");
    });
    lines.push("      } catch (error) {");
    lines.push(`        ${c} = -1;`);
    lines.push(`        const detail = explainText.notEvaluated(${textsConst}[clause]${w.ts("!")}, failureDetail(error));`);
    lines.push(`        (dynamic ??= [])[${index}] = { rule: ${q(rule.id)}, effect: ${q(rule.effect)}, matched: ${failClosed}, detail };`);
    lines.push("      }", "    }");
    return lines;
  };
  return { step: stepConst(outcomes), radix: outcomes.length, failClosed, usesUrlReadings, inline };
}

/** Requirements fail with constant decisions, hoisted; only a requirement that cannot be evaluated builds one. */
function requirementsFunction(policy: CheckedPolicy, w: ModuleWriter, ex: ExprCompiler): { code: string; prefix: string } {
  const sig = `function ${w.signature(REQUIREMENTS_SIGNATURE)} {`;
  if (policy.requirements.length === 0) {
    return { code: [sig, "  return undefined;", "}"].join("\n"), prefix: w.hoist("NOEXPLAIN", "readonly Explanation[]", "Object.freeze([])") };
  }
  w.use("failureDetail");
  w.use("explainText");
  const meta = w.hoist(
    "REQUIREMENTS",
    "readonly { readonly id: string; readonly dimension: string; readonly text: string }[]",
    `Object.freeze(${JSON.stringify(policy.requirements.map((r) => ({ id: r.id, dimension: r.dimension, text: r.text })))})`,
  );
  const held: string[] = [];
  const lines = [sig, "  let index = 0;", "  try {"];
  policy.requirements.forEach((req, i) => {
    if (i > 0) lines.push(`    index = ${i};`);
    const failed = w.explanation(req.id, "require", true, sentence.wasFalse(req.text));
    const reason = `${req.dimension} requirement \`${req.text}\` failed`;
    const decision = w.hoist(
      "DENY",
      "Decision",
      `Object.freeze({ decision: "deny", determining: Object.freeze([${q(req.id)}]), reason: ${q(reason)}, explain: Object.freeze([${[...held, failed].join(", ")}]) })`,
    );
    lines.push(`    if (!(${ex.as(req.condition, "boolean")})) return ${decision};`);
    held.push(w.explanation(req.id, "require", false, sentence.held(req.text)));
  });
  const prefix = w.hoist("HELD", "readonly Explanation[]", `Object.freeze([${held.join(", ")}])`);
  lines.push("  } catch (error) {");
  lines.push(`    const req = ${meta}[index]${w.ts("!")};`);
  lines.push("    const detail = failureDetail(error);");
  lines.push(`    const explain = ${prefix}.slice(0, index);`);
  lines.push('    explain.push({ rule: req.id, effect: "require", matched: true, detail: explainText.notEvaluated(req.text, detail) });');
  lines.push('    return { decision: "deny", determining: [req.id], reason: explainText.requirementNotEvaluated(req.dimension, req.text, detail), explain };');
  lines.push("  }", "  return undefined;", "}");
  return { code: lines.join("\n"), prefix };
}

/**
 * The decision procedure for one tool (or, for `tool` undefined, for every tool no rule names): outcome codes per
 * step, then the Decision for them, cached by a mixed-radix key of the codes when nothing in it is call-specific.
 */
function toolFunction(
  name: string,
  tool: string | undefined,
  items: readonly CheckOutline[],
  rules: ReadonlyMap<CheckOutline, RuleCode>,
  prefix: string,
  w: ModuleWriter,
): string {
  const applicable = items.filter((i) => tool === undefined ? (i.kind === "rule" ? i.rule.tools : i.limit.tools) === "*" : targets(i.kind === "rule" ? i.rule.tools : i.limit.tools, tool));
  const phases: { effect: "deny" | "ask" | "allow"; members: CheckOutline[] }[] = [
    { effect: "deny", members: applicable.filter((i) => i.kind === "limit" || i.rule.effect === "forbid") },
    { effect: "ask", members: applicable.filter((i) => i.kind === "rule" && i.rule.effect === "ask") },
    { effect: "allow", members: applicable.filter((i) => i.kind === "rule" && i.rule.effect === "permit") },
  ];
  const used = phases.filter((p) => p.members.length > 0);
  const steps: string[] = [];
  const radixes: number[] = [];
  const body: string[] = [];
  let hasLimit = false;
  let usesUrlReadings = false;
  for (const phase of used) {
    for (const item of phase.members) {
      const c = `c${steps.length}`;
      const index = steps.length;
      if (item.kind === "limit") {
        hasLimit = true;
        const { limit } = item;
        const tools = limit.tools === "*" ? q("*") : w.hoist("T", "readonly string[]", `Object.freeze(${JSON.stringify(limit.tools)})`);
        const reason = sentence.rateLimit(limit.count, item.windowText, limit.scope);
        steps.push(
          w.hoist(
            "STEP",
            "DecisionStep",
            `Object.freeze({ id: ${q(limit.id)}, reason: ${q(reason)}, failClosed: true, limit: true, outcomes: Object.freeze([]) })`,
          ),
        );
        radixes.push(2);
        w.use("explainText");
        body.push(
          "    {",
          `      const count = context.history.count(${tools}, context.now - ${limit.windowMs}, ${q(limit.scope)});`,
          `      if (count >= ${limit.count}) {`,
          `        ${c} = 1;`,
          "        hit = true;",
          "      }",
          `      (dynamic ??= [])[${index}] = { rule: ${q(limit.id)}, effect: "limit", matched: ${c} === 1, detail: explainText.limitCount(count, ${q(item.windowText)}, ${limit.count}) };`,
          "    }",
        );
      } else {
        const rule = rules.get(item)!;
        usesUrlReadings ||= rule.usesUrlReadings;
        steps.push(rule.step);
        radixes.push(rule.radix);
        const target = item.rule.tools === "*" ? "*" : item.rule.tools.join(", ");
        body.push(...rule.inline(c, index, commentText(`${item.rule.id}: ${item.rule.effect} tool ${target}`)));
        body.push(`    if (${c} === 0${rule.failClosed ? ` || ${c} < 0` : ""}) hit = true;`);
      }
    }
    body.push("    if (hit) break phases;");
  }
  const plan = w.hoist(
    "PLAN",
    "DecisionPlan",
    `Object.freeze({ steps: Object.freeze([${steps.join(", ")}]), phases: Object.freeze([${(() => {
      let end = 0;
      return used.map((p) => `{ decision: ${q(p.effect)}${w.ts(" as const")}, end: ${(end += p.members.length)} }`).join(", ");
    })()}]) })`,
  );
  w.use("decide");
  w.types.add("DecisionPlan");
  w.types.add("DecisionStep");
  const codes = `[${steps.map((_, i) => `c${i}`).join(", ")}]`;
  const lines = [`function ${w.signature(toolSignature(name))} {`];
  if (steps.length > 0) {
    lines.push(`  let ${steps.map((_, i) => `c${i} = 0`).join(", ")};`);
    lines.push(`  let ${w.typed("dynamic", "(Explanation | undefined)[] | undefined")};`, "  let hit = false;");
    // One decision's URL readings: each text its rules read as a URL or host is parsed once (UrlReadings).
    if (usesUrlReadings) lines.push(`  let ${w.typed(URL_READINGS, "UrlReadings | undefined")};`);
    lines.push("  phases: {", ...body, "  }");
  }
  // Only named tools are cached: the default deny of other tools names the tool. The key must stay an exact integer.
  const space = radixes.reduce((p, r) => p * r, 1);
  const cacheable = tool !== undefined && !hasLimit && space <= Number.MAX_SAFE_INTEGER;
  if (cacheable) {
    w.use("remember");
    const cache = `CACHE_${name}`;
    w.constants.push(`const ${w.typed(cache, "Map<number, Decision>")} = new Map();`);
    let weight = 1;
    const terms = radixes.map((r, i) => {
      const term = weight === 1 ? `c${i}` : `${weight} * c${i}`;
      weight *= r;
      return term;
    });
    const key = terms.length === 0 ? "0" : terms.join(" + ");
    if (steps.length > 0) lines.push("  if (dynamic !== undefined) return decide(" + `${plan}, ${prefix}, request.tool, ${codes}, dynamic);`);
    lines.push(`  const key = ${key};`);
    lines.push(`  return ${cache}.get(key) ?? remember(${cache}, key, decide(${plan}, ${prefix}, request.tool, ${codes}, undefined));`);
  } else {
    lines.push(`  return decide(${plan}, ${prefix}, request.tool, ${codes}, ${steps.length > 0 ? "dynamic" : "undefined"});`);
  }
  lines.push("}");
  return lines.join("\n");
}

/** The first lines of a generated file: what it is, and that it is generated. */
function header(policy: CheckedPolicy, what: string): string[] {
  return [
    commentText(`// ${what} for policy \`${policy.name}\` (${policy.fileName}), generated by \`pqguard compile\`. Do not edit: recompile.`),
    "// It decides tool calls exactly as the reference interpreter does; see docs/language.md for the decision procedure.",
  ];
}

/** Tool → pointers as frozen literals; built by `fromEntries`, so that a tool named `__proto__` is an own key. */
function frozenPointers(values: Record<string, string[]>): string {
  const entries = Object.entries(values).map(([tool, pointers]) => `[${q(tool)}, Object.freeze(${JSON.stringify(pointers)})]`);
  return `Object.freeze(Object.fromEntries([${entries.join(", ")}]))`;
}

/** The import of the runtime's helpers, after the import of its types in TypeScript. */
function imports(w: ModuleWriter, runtimeImport: string): string[] {
  const types = w.ts(`import type { ${[...w.types].sort().join(", ")} } from ${q(runtimeImport)};`);
  return [...(types === "" ? [] : [types]), `import { ${[...w.helpers].sort().join(", ")} } from ${q(runtimeImport)};`];
}

/** The values of the exported constants. */
function constantValues(policy: CheckedPolicy): Record<ExportedConstant, string> {
  const digests = Object.fromEntries(policy.tools.map((t) => [t.name, t.digest]));
  return {
    policyName: q(policy.name),
    policyDigest: q(policy.digest),
    toolDigests: `Object.freeze(${JSON.stringify(digests, null, 2)})`,
    longestWindowMs: numberCode(longestWindowMs(policy)),
    seenLabels: `Object.freeze(${JSON.stringify(seenLabels(policy))})`,
    aggregatedValues: frozenPointers(aggregatedValues(policy)),
    resultRuleCount: String(policy.resultRules.length),
    outputSchemas: `Object.freeze(${JSON.stringify(redactedOutputSchemas(policy))})`,
  };
}

/** The exported constants, each after its documentation. */
function exportedConstants(policy: CheckedPolicy, w: ModuleWriter): string[] {
  const values = constantValues(policy);
  return EXPORTED_CONSTANTS.flatMap((c) => [c.doc, `export const ${w.typed(c.name, c.type)} = ${values[c.name]};`]);
}

/** The default export: an object of the named exports. */
function defaultExport(w: ModuleWriter): string[] {
  const members = [...EXPORTED_CONSTANTS.map((c) => c.name), GUARD_FUNCTION.signature.name, REACHABLE_FUNCTION.signature.name, RESULT_FUNCTION.signature.name];
  return [`const ${w.typed(DEFAULT_EXPORT.name, DEFAULT_EXPORT.type)} = { ${members.join(", ")} };`, `export default ${DEFAULT_EXPORT.name};`];
}

/** The guard module around `argumentTypes`, the interfaces of the tools' arguments (none for JavaScript). */
export function generateGuardCode(policy: CheckedPolicy, options: GeneratorOptions, argumentTypes: string): string {
  const w = new ModuleWriter(options.language ?? "ts");
  const ex = new ExprCompiler(policy, w, options.urlReadingsPerDecision ?? true);
  const items = outline(policy);

  const rules = new Map<CheckOutline, RuleCode>();
  items.forEach((item) => {
    if (item.kind === "rule") rules.set(item, ruleCode(item, w, ex));
  });
  const requirements = requirementsFunction(policy, w, ex);

  const named = new Set<string>();
  for (const item of items) {
    const tools = item.kind === "rule" ? item.rule.tools : item.limit.tools;
    if (tools !== "*") for (const t of tools) named.add(t);
  }
  const toolNames = [...named].sort();
  const toolFunctions = toolNames.map(
    (tool, i) => `// ${commentText(tool)}\n${toolFunction(`tool${i}`, tool, items, rules, requirements.prefix, w)}`,
  );
  toolFunctions.push(`// every tool no rule names\n${toolFunction("otherTool", undefined, items, rules, requirements.prefix, w)}`);

  w.use("isJsonObject");
  const emptyArgs = w.hoist("EMPTY", ARGS_TYPE, "Object.freeze({})");
  const cases = toolNames.map((tool, i) => `    case ${q(tool)}:\n      return tool${i}(request, context, a);`);
  const guard = [
    GUARD_FUNCTION.doc,
    `export function ${w.signature(GUARD_FUNCTION.signature)} {`,
    `  const a = isJsonObject(request.args) ? request.args : ${emptyArgs};`,
    "  const failed = requirements(request, context, a);",
    "  if (failed !== undefined) return failed;",
    "  switch (request.tool) {",
    ...cases,
    "    default:",
    "      return otherTool(request, context, a);",
    "  }",
    "}",
  ].join("\n");

  const results = resultFunctions(policy, w, ex, emptyArgs);

  const callable = w.hoist("CALLABLE", "readonly string[]", `Object.freeze(${JSON.stringify(callableTools(policy))})`);
  const reachable = [
    REACHABLE_FUNCTION.doc,
    `export function ${w.signature(REACHABLE_FUNCTION.signature)} {`,
    `  const failed = requirements({ tool: "", args: ${emptyArgs} }, context, ${emptyArgs});`,
    `  return failed === undefined ? ${callable} : [];`,
    "}",
  ].join("\n");

  return [
    ...header(policy, "Guard module"),
    ...imports(w, options.runtimeImport),
    "",
    argumentTypes.trim(),
    "",
    ...exportedConstants(policy, w),
    "",
    ...w.constants,
    "",
    requirements.code,
    "",
    toolFunctions.join("\n\n"),
    "",
    guard,
    "",
    reachable,
    "",
    results,
    "",
    ...defaultExport(w),
    "",
  ]
    .join("\n")
    .replace(/\n{3,}/g, "\n\n");
}

/** The interfaces of the tools' arguments, TypeScript only. */
async function argumentTypes(policy: CheckedPolicy): Promise<string> {
  // Loaded on demand: JavaScript output has no interfaces, and the proxy must not load json-schema-to-typescript.
  const { generateArgumentTypes } = await import("./codegen-types.js");
  return generateArgumentTypes(policy.tools);
}

/** `<name>.guard.ts` (argument interfaces, digests, `guard(request, context)`), or `<name>.guard.js` without types. */
export async function generateGuardModule(policy: CheckedPolicy, options: GeneratorOptions): Promise<string> {
  const types = options.language === "js" ? "" : await argumentTypes(policy);
  return generateGuardCode(policy, options, types);
}

/** `<name>.guard.d.ts`, the declarations of the JavaScript module: the argument interfaces and every export's type. */
export async function generateGuardDeclarations(policy: CheckedPolicy, runtimeImport: string): Promise<string> {
  const w = new ModuleWriter("ts");
  const constants = EXPORTED_CONSTANTS.flatMap((c) => [c.doc, `export declare const ${w.typed(c.name, c.type)};`]);
  const functions = [GUARD_FUNCTION, REACHABLE_FUNCTION, RESULT_FUNCTION].flatMap((f) => [f.doc, `export declare function ${w.signature(f.signature)};`]);
  return [
    ...header(policy, "Declarations of the guard module"),
    `import type { ${PUBLIC_TYPES.join(", ")} } from ${q(runtimeImport)};`,
    "",
    (await argumentTypes(policy)).trim(),
    "",
    ...constants,
    ...functions,
    `declare const ${w.typed(DEFAULT_EXPORT.name, DEFAULT_EXPORT.type)};`,
    `export default ${DEFAULT_EXPORT.name};`,
    "",
  ].join("\n");
}
