// fast-check arbitraries shared by the back-end tests: random well-typed policies over random tool lists, and random
// requests with contexts for them. Values come from small pools so that conditions are true, false and unevaluable
// (missing arguments, wrong JSON types, division by zero, unknown algorithms) about equally often.
import fc from "fast-check";
import type { CheckedPolicy } from "../../compiler/ir.js";
import { historyOf, type HistoryEntry } from "../../compiler/request.js";
import { ALGORITHMS } from "../../runtime/guard/algorithms.js";
import type { GuardContext, GuardRequest } from "../../runtime/guard/types.js";

// ---------------------------------------------------------------------------------------------------------
// Tools

export type FieldKind = "number" | "integer" | "string" | "enum" | "boolean" | "tags" | "meta" | "path" | "url" | "items";

/** The argument fields tools draw from; a field has the same type in every tool, so rules on several tools can use it. */
export const FIELDS: Readonly<Record<string, FieldKind>> = {
  amount: "number",
  count: "integer",
  divisor: "integer",
  note: "string",
  mode: "enum",
  flag: "boolean",
  tags: "tags",
  meta: "meta",
  "content-type": "string",
  file: "path",
  link: "url",
  entries: "items",
};

const MODES = ["fast", "slow", "safe"] as const;

export interface GeneratedTool {
  readonly name: string;
  readonly fields: Readonly<Record<string, { readonly kind: FieldKind; readonly required: boolean }>>;
  readonly annotations: Readonly<Record<string, unknown>>;
}

function schemaOf(kind: FieldKind): Record<string, unknown> {
  switch (kind) {
    case "number":
      return { type: "number" };
    case "integer":
      return { type: "integer" };
    case "string":
      return { type: "string" };
    case "enum":
      return { type: "string", enum: [...MODES] };
    case "boolean":
      return { type: "boolean" };
    case "tags":
      return { type: "array", items: { type: "string" } };
    case "meta":
      return META_SCHEMA;
    case "path":
    case "url":
      return { type: "string" };
    case "items":
      return { type: "array", items: META_SCHEMA };
  }
}

const META_SCHEMA = {
  type: "object",
  properties: { owner: { type: "string" }, level: { type: "integer" } },
  required: ["owner"],
};

export function toolDefinition(tool: GeneratedTool): Record<string, unknown> {
  const entries = Object.entries(tool.fields);
  return {
    name: tool.name,
    description: `Generated tool ${tool.name}.`,
    inputSchema: {
      type: "object",
      properties: Object.fromEntries(entries.map(([name, f]) => [name, schemaOf(f.kind)])),
      required: entries.filter(([, f]) => f.required).map(([name]) => name),
    },
    annotations: tool.annotations,
  };
}

const TOOL_NAMES = ["alpha", "beta_tool", "gamma", "delta-x", "epsilon.v2", "zeta"] as const;

const annotationsArb: fc.Arbitrary<Record<string, unknown>> = fc.record(
  {
    title: fc.constantFrom("Alpha", "Other"),
    readOnlyHint: fc.boolean(),
    destructiveHint: fc.boolean(),
    idempotentHint: fc.boolean(),
    openWorldHint: fc.boolean(),
  },
  { requiredKeys: [] },
);

const fieldsArb = fc
  .subarray(Object.keys(FIELDS), { minLength: 1 })
  .chain((names) => fc.tuple(fc.constant(names), fc.array(fc.boolean(), { minLength: names.length, maxLength: names.length })))
  .map(([names, required]) => Object.fromEntries(names.map((n, i) => [n, { kind: FIELDS[n]!, required: required[i]! }])));

export const toolsArb: fc.Arbitrary<GeneratedTool[]> = fc
  .uniqueArray(fc.constantFrom(...TOOL_NAMES), { minLength: 1, maxLength: 4 })
  .chain((names) =>
    fc.tuple(...names.map((name) => fc.record({ name: fc.constant(name), fields: fieldsArb, annotations: annotationsArb }))),
  )
  .map((tools) => [...tools]);

// ---------------------------------------------------------------------------------------------------------
// Policies

/** How a tool is named in policy text: bare when it is an identifier, else quoted. */
export function toolRef(name: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? name : JSON.stringify(name);
}

function argRef(field: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(field) ? `args.${field}` : `args[${JSON.stringify(field)}]`;
}

const pick = <T>(...items: T[]): fc.Arbitrary<T> => fc.constantFrom(...items);
const small = pick(0, 1, 2, 3, 5, 10, 100, 2.5);

function fieldAtoms(field: string, kind: FieldKind): fc.Arbitrary<string>[] {
  const a = argRef(field);
  switch (kind) {
    case "number":
    case "integer":
      return [
        fc.tuple(pick("<", "<=", ">", ">=", "==", "!="), small).map(([op, n]) => `${a} ${op} ${n}`),
        fc.tuple(pick("+", "-", "*", "%", "/"), small, pick(">", "<=")).map(([op, n, cmp]) => `${a} ${op} ${n} ${cmp} 4`),
        fc.constant(`-${a} < 0`),
      ];
    case "string":
      return [
        pick(`${a} == "abc"`, `${a} != "x"`, `${a} startsWith "a"`, `${a} endsWith "z"`, `${a} contains "b"`),
        pick(`${a} matches /^a[a-z]*$/i`, `len(${a}) > 3`, `lower(${a}) == "abc"`, `upper(${a}) == "ABC"`, `${a} in ["abc", "xyz"]`),
        pick(`${a} not in ["x"]`),
      ];
    case "enum":
      return [pick(`${a} == "fast"`, `${a} != "slow"`, `${a} in ["fast", "safe"]`, `${a} not in ["safe"]`)];
    case "boolean":
      return [pick(a, `not ${a}`, `${a} == true`, `${a} != false`)];
    case "tags":
      return [
        pick(`${a} contains "x"`, `len(${a}) >= 2`, `"x" in ${a}`, `${a}[0] == "x"`, `${a}[1] startsWith "y"`),
        pick(`all t in ${a}: t startsWith "y"`, `any t in ${a}: t == "x"`, `all t in ${a}: any u in ${a}: u == t and len(t) <= 1`, `not (any t in ${a}: t in ["z"])`),
      ];
    case "meta":
      return [pick(`${a}.owner == "me"`, `${a}.level >= 2`, `has ${a}.level`, `${a}.level % 2 == 0`)];
    case "path":
      return [pick(`${a} under "/srv/docs"`, `${a} under "/srv"`, `not (${a} under "/srv/docs/private")`, `${a} under "C:\\\\srv\\\\docs"`, `${a} under "file:///srv/docs"`)];
    case "url":
      return [
        pick(`url(${a}).scheme == "https"`, `url(${a}).port == 443`, `url(${a}).credentials`, `url(${a}).path == "/a"`, `url(${a}).query != ""`),
        pick(`host(${a}) within "example.org"`, `url(${a}).host within "api.example.org"`, `ip(host(${a})) in internal`, `ip(host(${a})) in "10.0.0.0/8"`, `ip(url(${a}).host) not in loopback`),
      ];
    case "items":
      return [
        pick(`all i in ${a}: i.level >= 1`, `any i in ${a}: i.owner == "me" and i.level > 1`, `all i in ${a}: any t in [1, 2]: i.level == t`, `all i in ${a}: has i.level and i.level >= 1`, `any i in ${a}: not has i.level`),
      ];
  }
}

const FACT_ATOMS: readonly string[] = [
  "client.authenticated",
  'client.role == "admin"',
  'client.role in ["admin", "dev"]',
  'client.id startsWith "a"',
  'client.fingerprint == "fp-1"',
  'peer.label == "server"',
  'peer.fingerprint != "fp-0"',
  'transport.kem >= "ML-KEM-768"',
  'transport.kem == "ML-KEM-1024"',
  'transport.kem in ["ML-KEM-768", "ML-KEM-1024"]',
  'transport.signature >= "ML-DSA-65"',
  'transport.aead in ["AES-256-GCM", "ChaCha20-Poly1305"]',
  "transport.hybrid",
  "transport.level >= 3",
  "session.age < 1h",
  "session.age + 30m > 1h",
  "session.calls < 5",
  'session.id == "s-1"',
  "time.hour >= 8",
  "time.hour < 18",
  "time.minute < 30",
  'time.weekday in ["sat", "sun"]',
  'time.weekday == "mon"',
  'time.now < "2026-06-01T00:00:00Z"',
];

const REQUIREMENT_ATOMS = FACT_ATOMS.filter((a) => /^(client|transport|session)\./.test(a));

export interface PolicyShape {
  readonly tools: readonly GeneratedTool[];
  readonly source: string;
  readonly manifests: Readonly<Record<string, unknown>>;
}

/** Fields every one of `tools` has, with the same type. */
function commonFields(tools: readonly GeneratedTool[]): [string, FieldKind][] {
  const [first, ...rest] = tools;
  if (first === undefined) return [];
  return Object.entries(first.fields)
    .filter(([name, f]) => rest.every((t) => t.fields[name]?.kind === f.kind))
    .map(([name, f]) => [name, f.kind]);
}

function conditionArb(atoms: readonly fc.Arbitrary<string>[], depth: number): fc.Arbitrary<string> {
  const atom = fc.oneof(...atoms);
  if (depth === 0) return atom;
  const sub = conditionArb(atoms, depth - 1);
  return fc.oneof(
    { arbitrary: atom, weight: 4 },
    { arbitrary: fc.tuple(sub, sub).map(([l, r]) => `${l} and ${r}`), weight: 2 },
    { arbitrary: fc.tuple(sub, sub).map(([l, r]) => `(${l} or ${r})`), weight: 1 },
    { arbitrary: sub.map((s) => `not (${s})`), weight: 1 },
  );
}

function ruleArb(tools: readonly GeneratedTool[]): fc.Arbitrary<string> {
  const targetArb = fc.oneof(
    { arbitrary: fc.constant<GeneratedTool[] | "*">("*"), weight: 1 },
    { arbitrary: fc.subarray([...tools], { minLength: 1 }), weight: 4 },
  );
  return targetArb.chain((target) => {
    const targeted = target === "*" ? tools : target;
    const callAtoms = [
      ...tools.map((t) => toolRef(t.name)),
      "*",
    ].flatMap((ref) => [`calls(${ref}, 10m) >= 2`, `called(${ref})`, `calls(${ref}, 10m, client) >= 3`]);
    // Aggregates over every number argument of a tool named by an identifier, in each scope and two windows.
    const aggregateAtoms = tools.flatMap((t) =>
      /^[A-Za-z_][A-Za-z0-9_]*$/.test(t.name)
        ? Object.entries(t.fields)
            .filter(([field, f]) => (f.kind === "number" || f.kind === "integer") && /^[A-Za-z_][A-Za-z0-9_]*$/.test(field))
            .flatMap(([field]) => [
              `sum(${t.name}.${field}, 10m, client) > 100`,
              `sum(${t.name}.${field}, 1h) + 5 >= 10`,
              `max(${t.name}.${field}, 10m, all) > 50`,
              `min(${t.name}.${field}, 1h, session) < 2`,
            ])
        : [],
    );
    const atoms: fc.Arbitrary<string>[] = [
      fc.constantFrom(...FACT_ATOMS),
      fc.constantFrom(...callAtoms),
      ...(aggregateAtoms.length === 0 ? [] : [fc.constantFrom(...aggregateAtoms)]),
      fc.constantFrom('tool.annotations.readOnlyHint', "tool.annotations.destructiveHint", 'tool.annotations.title == "Alpha"', `tool.name == ${JSON.stringify(targeted[0]!.name)}`),
      ...commonFields(targeted).flatMap(([name, kind]) => fieldAtoms(name, kind)),
    ];
    const optional = commonFields(targeted).filter(([name]) => targeted.some((t) => t.fields[name]?.required === false));
    if (optional.length > 0) atoms.push(fc.constantFrom(...optional.map(([name]) => `has ${argRef(name)}`)));
    const common = commonFields(targeted);
    const numbers = common.filter(([, k]) => k === "number" || k === "integer");
    if (numbers.length > 0 && common.some(([n]) => n === "divisor")) {
      // Divisors are often 0 in generated calls: division by zero must fail closed the same way in both back ends.
      atoms.push(fc.constantFrom(...numbers.map(([name]) => `${argRef(name)} / args.divisor > 1`)));
    }
    const targetText = target === "*" ? "*" : target.map((t) => toolRef(t.name)).join(", ");
    return fc
      .record({
        effect: pick("permit", "permit", "forbid", "ask"),
        when: fc.option(conditionArb(atoms, 2), { nil: undefined, freq: 3 }),
        unless: fc.option(conditionArb(atoms, 1), { nil: undefined, freq: 1 }),
        because: fc.option(pick("reason one", "reason two"), { nil: undefined }),
      })
      .map(({ effect, when, unless, because }) =>
        [
          `${effect} tool ${targetText}`,
          when === undefined ? "" : `\n  when ${when}`,
          unless === undefined ? "" : `\n  unless ${unless}`,
          because === undefined ? "" : `\n  because ${JSON.stringify(because)}`,
        ].join(""),
      );
  });
}

function limitArb(tools: readonly GeneratedTool[]): fc.Arbitrary<string> {
  const target = fc.oneof(fc.constant("*"), fc.subarray([...tools], { minLength: 1 }).map((ts) => ts.map((t) => toolRef(t.name)).join(", ")));
  return fc
    .tuple(target, pick(1, 2, 3, 5), pick("10m", "1h", "90s"), pick("", " per client", " per session"))
    .map(([t, n, window, scope]) => `limit tool ${t} to ${n} per ${window}${scope}`);
}

export const policyArb: fc.Arbitrary<PolicyShape> = toolsArb.chain((tools) =>
  fc
    .record({
      timezone: fc.option(pick("UTC", "Europe/Berlin", "America/New_York", "Australia/Adelaide"), { nil: undefined }),
      // Requirements are rare: a failed one decides every call, and the rules are where most of the logic is.
      identity: fc.oneof(
        { arbitrary: fc.constant<string[]>([]), weight: 4 },
        { arbitrary: fc.array(conditionArb([fc.constantFrom(...REQUIREMENT_ATOMS)], 1), { minLength: 1, maxLength: 2 }), weight: 1 },
      ),
      transport: fc.oneof(
        { arbitrary: fc.constant<string[]>([]), weight: 4 },
        { arbitrary: fc.array(conditionArb([fc.constantFrom(...REQUIREMENT_ATOMS)], 0), { minLength: 1, maxLength: 2 }), weight: 1 },
      ),
      rules: fc.array(ruleArb(tools), { minLength: 1, maxLength: 10 }),
      limits: fc.array(limitArb(tools), { maxLength: 2 }),
      order: fc.array(fc.nat(), { maxLength: 12 }),
    })
    .map(({ timezone, identity, transport, rules, limits, order }) => {
      // Limits are placed among the rules, so that source order mixes forbids and limits.
      const statements = [...rules];
      limits.forEach((limit, i) => statements.splice((order[i] ?? 0) % (statements.length + 1), 0, limit));
      const lines = [
        "policy generated version 1",
        timezone === undefined ? "" : `timezone ${JSON.stringify(timezone)}`,
        'manifest "gen.tools.json"',
        "",
        identity.length === 0 ? "" : `identity {\n${identity.map((c) => `  require ${c}`).join("\n")}\n}`,
        transport.length === 0 ? "" : `transport {\n${transport.map((c) => `  require ${c}`).join("\n")}\n}`,
        "",
        statements.join("\n\n"),
        "",
      ];
      return {
        tools,
        source: lines.join("\n"),
        manifests: { "gen.tools.json": { tools: tools.map(toolDefinition) } },
      };
    }),
);

// ---------------------------------------------------------------------------------------------------------
// Requests

function valueArb(kind: FieldKind): fc.Arbitrary<unknown> {
  const right: Record<FieldKind, fc.Arbitrary<unknown>> = {
    number: pick(0, 1, 2.5, 4, 5, 10, 99, 100, 101, -3),
    integer: pick(0, 1, 2, 3, 4, 5, 10, 100),
    string: pick("abc", "ABC", "x", "abz", "xyz", "", "bbb", "aqz"),
    enum: pick("fast", "slow", "safe"),
    boolean: fc.boolean(),
    tags: fc.array(pick("x", "y", "yz", "z"), { maxLength: 3 }),
    meta: fc.record({ owner: pick("me", "you"), level: pick(0, 1, 2, 3) }, { requiredKeys: ["owner"] }),
    path: pick(
      "/srv/docs/a",
      "/srv/docs",
      "/srv/docs-evil",
      "/srv/docs/../x",
      "/srv/docs/%2e%2e/x",
      "rel/a",
      "/srv/x",
      "/SRV/docs/a",
      "/srv/docs/private/k",
      "C:\\srv\\docs\\a",
      "c:/SRV/docs/x",
      "C:\\srv\\docs\\..\\x",
      "\\\\?\\C:\\srv\\docs\\a",
      "C:\\srv\\DOCS~1\\a",
      "file:///srv/docs/a",
      "file://host/srv/docs/a",
      "file:///srv/docs/a%5c..%5c..%5cx",
    ),
    url: pick(
      "https://example.org/a",
      "https://api.example.org:8443/x?q=1",
      "http://127.1/",
      "https://user@example.org/",
      "http://10.1.2.3/a",
      "https://example.org.evil.com/",
      "mailto:a@example.org",
      "not a url",
      "http://[::1]:80/",
      "ftp://x.example.org/",
    ),
    items: fc.array(fc.record({ owner: pick<unknown>("me", "you", 3), level: pick<unknown>(0, 1, 2, 3, "2") }, { requiredKeys: ["owner"] }), { maxLength: 4 }),
  };
  const wrong: fc.Arbitrary<unknown> = pick<unknown>("5", 7, true, null, ["x"], { owner: 1 });
  return fc.oneof({ arbitrary: right[kind], weight: 8 }, { arbitrary: wrong, weight: 1 });
}

export interface GeneratedCall {
  readonly request: GuardRequest;
  readonly context: GuardContext;
  /** The same call as plain JSON, for failure messages. */
  readonly json: unknown;
}

const BASE = Date.parse("2026-03-01T00:00:00Z");
const ALGORITHM_NAMES = [...Object.keys(ALGORITHMS), "BOGUS-KEM"];

export function callArb(tools: readonly GeneratedTool[]): fc.Arbitrary<GeneratedCall> {
  const toolArb = fc.oneof(
    { arbitrary: fc.constantFrom(...tools), weight: 6 },
    { arbitrary: fc.constant<GeneratedTool>({ name: "unlisted", fields: { amount: { kind: "number", required: false } }, annotations: {} }), weight: 1 },
  );
  const optional = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(arb, { nil: undefined, freq: 4 });
  return toolArb.chain((tool) =>
    fc
      .record({
        args: fc.tuple(
          ...Object.entries(tool.fields).map(([name, f]) =>
            fc.option(valueArb(f.kind).map((v) => [name, v] as const), { nil: undefined, freq: f.required ? 8 : 2 }),
          ),
        ),
        role: optional(pick("admin", "dev", "guest")),
        id: optional(pick("a1", "b2")),
        authenticated: fc.boolean(),
        fingerprint: optional(pick("fp-1", "fp-2")),
        peerLabel: optional(pick("server", "other")),
        peerFingerprint: optional(pick("fp-0", "fp-9")),
        kem: optional(fc.constantFrom(...ALGORITHM_NAMES)),
        signature: optional(fc.constantFrom(...ALGORITHM_NAMES)),
        aead: optional(fc.constantFrom(...ALGORITHM_NAMES)),
        hybrid: fc.boolean(),
        level: pick(0, 1, 3, 5),
        sessionId: optional(pick("s-1", "s-2")),
        ageMs: pick(0, 60_000, 3_000_000, 3_600_000, 7_200_000),
        calls: pick(0, 3, 5, 9),
        now: fc.integer({ min: 0, max: 400 * 86_400_000 }).map((offset) => BASE + offset),
        history: fc.array(
          fc.record({
            tool: fc.constantFrom(...tools.map((t) => t.name), "unlisted"),
            ago: pick(0, 30_000, 300_000, 599_999, 600_000, 1_800_000, 3_600_000, 7_200_000),
            client: optional(pick("a1", "b2")),
            session: optional(pick("s-1", "s-2")),
            // Numbers for aggregates under every field name a generated tool may give one, and junk they must skip.
            args: optional(fc.dictionary(pick("amount", "count", "divisor", "note"), fc.oneof(valueArb("number"), fc.constantFrom<unknown>("12", null, 1e300)), { maxKeys: 3 })),
          }),
          { maxLength: 8 },
        ),
      })
      .map((r): GeneratedCall => {
        const args = Object.fromEntries(r.args.filter((e) => e !== undefined));
        const entries: HistoryEntry[] = r.history.map((h) => ({ tool: h.tool, at: r.now - h.ago, client: h.client, session: h.session, args: h.args }));
        const context: GuardContext = {
          client: { id: r.id, role: r.role, authenticated: r.authenticated, fingerprint: r.fingerprint },
          peer: { label: r.peerLabel, fingerprint: r.peerFingerprint },
          transport: { kem: r.kem, signature: r.signature, aead: r.aead, hybrid: r.hybrid, level: r.level },
          session: { id: r.sessionId, ageMs: r.ageMs, calls: r.calls },
          now: r.now,
          history: historyOf(entries, { client: r.id, session: r.sessionId, now: r.now }),
        };
        return { request: { tool: tool.name, args }, context, json: { ...r, tool: tool.name, args, history: entries } };
      }),
  );
}

/** A real policy's tools, their schemas approximated with the generator's field kinds, so that they get plausible calls. */
export function generatedToolsOf(policy: CheckedPolicy): GeneratedTool[] {
  return policy.tools.map((t) => ({ name: t.name, fields: fieldsOf(t.definition), annotations: t.annotations }));
}

function fieldsOf(definition: Readonly<Record<string, unknown>>): GeneratedTool["fields"] {
  const schema = definition["inputSchema"] as { properties?: Record<string, { type?: string }>; required?: string[] };
  const fields: Record<string, { kind: FieldKind; required: boolean }> = {};
  for (const [name, prop] of Object.entries(schema.properties ?? {})) {
    const kind = prop.type === "number" || prop.type === "integer" ? "number" : prop.type === "boolean" ? "boolean" : prop.type === "array" ? "tags" : "string";
    fields[name] = { kind, required: schema.required?.includes(name) ?? false };
  }
  return fields;
}
