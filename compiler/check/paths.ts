// Typing of paths: facts (`client.role`, `transport.kem`) from the fact table in ../facts.ts, and `args.*` from the
// input schemas of the tools a rule targets, where a step must exist, with one type, in every one of them.
import type { Name, Path, PathSegment, Span, Variable } from "../../grammar/ast.js";
import { didYouMean } from "../diagnostics.js";
import { CALL_ROOTS, FACTS } from "../facts.js";
import type { Type } from "../ir.js";
import type { ArgShape, ManifestTool } from "../manifests.js";
import type { CheckContext, Scope } from "./context.js";
import { resultPath } from "./results.js";
import { ERROR, sameType, STRING, typeName, UNKNOWN } from "./types.js";

/** The type of a path, from the fact table or, for `args`, from the schemas of the targeted tools. */
export function typePath(ctx: CheckContext, p: Path, scope: Scope): Type {
  if (p.root === "args") return argsPath(ctx, p, scope);
  if (p.root === "result") return resultPath(ctx, p, scope);
  if (CALL_ROOTS.has(p.root) && scope.tools === undefined) {
    ctx.report("noToolContext", p, { path: ctx.quote(p) });
    return ERROR;
  }
  return factPath(ctx, p);
}

function factPath(ctx: CheckContext, p: Path): Type {
  let key: string = p.root;
  for (const [i, seg] of p.segments.entries()) {
    const current = FACTS.get(key);
    if (current !== undefined) {
      // Below the client's claims is whatever its certificate carries: a value of unknown type, whatever its depth.
      if (current.json === true) return UNKNOWN;
      const upTo = ctx.text({ ...p.span, end: p.segments[i - 1]?.span.end ?? p.rootSpan.end });
      if (seg.kind === "Index") ctx.report("notIndexable", seg, { path: upTo, type: typeName(current.type) });
      else ctx.report("noFields", seg, { path: upTo, type: typeName(current.type) });
      return ERROR;
    }
    if (seg.kind === "Index") break;
    key = `${key}.${seg.name}`;
  }
  const fact = FACTS.get(key);
  if (fact !== undefined && p.segments.every((s) => s.kind === "Field")) return fact.type;
  const candidates = [...FACTS.keys()].filter((k) => k.startsWith(`${p.root}.`));
  const help = p.segments.length === 0 ? `name a fact, as in \`${candidates[0]}\`` : didYouMean(key, candidates);
  ctx.report("unknownPath", p, { path: ctx.quote(p) }, help);
  return ERROR;
}

/** Types `args...` against every targeted tool: a step must exist, with one type, in all of them. */
export function argsPath(ctx: CheckContext, p: Path, scope: Scope): Type {
  if (scope.tools === undefined) {
    ctx.report("noToolContext", p, { path: ctx.quote(p) });
    return ERROR;
  }
  if (scope.incomplete === true) return ERROR;
  if (p.segments.length === 0) {
    ctx.report("unknownPath", p, { path: "args" }, "name an argument, as in `args.amount`");
    return ERROR;
  }
  if (scope.tools.length === 0) {
    const first = p.segments[0]!;
    ctx.report("unknownField", first, { field: first.kind === "Field" ? first.name : String(first.index), path: ctx.text({ ...p.span, end: first.span.end }) });
    return ERROR;
  }
  const shapes = walkShapes(ctx, p, p.rootSpan, scope.tools.map((t) => t.args), scope.tools.map((t) => t.name));
  return shapes === undefined ? ERROR : commonType(ctx, p, shapes, scope.tools.map((t) => t.name));
}

/**
 * Follows the steps of a path from one shape per targeted tool: a step must exist, with one type, in all of them.
 * Undefined when a step does not (reported).
 */
function walkShapes(ctx: CheckContext, p: { readonly span: Span; readonly segments: readonly PathSegment[] }, rootSpan: Span, start: readonly ArgShape[], names: readonly string[]): ArgShape[] | undefined {
  let shapes: (ArgShape | undefined)[] = [...start];
  for (const [i, seg] of p.segments.entries()) {
    const upTo = ctx.text({ ...p.span, end: p.segments[i - 1]?.span.end ?? rootSpan.end });
    const here = ctx.text({ ...p.span, end: seg.span.end });
    const next: (ArgShape | undefined)[] = [];
    for (const shape of shapes) {
      if (shape === undefined) {
        next.push(undefined);
        continue;
      }
      const t = shape.type;
      if (t.kind === "unknown") next.push({ type: UNKNOWN });
      else if (seg.kind === "Field") {
        if (t.kind !== "object") {
          ctx.report("noFields", seg, { path: upTo, type: typeName(t) });
          return undefined;
        }
        next.push(shape.fields === undefined ? { type: UNKNOWN } : shape.fields.get(seg.name)?.shape);
      } else {
        if (t.kind !== "list") {
          ctx.report("notIndexable", seg, { path: upTo, type: typeName(t) });
          return undefined;
        }
        next.push(shape.element ?? { type: UNKNOWN });
      }
    }
    const missing = next.flatMap((s, k) => (s === undefined ? [names[k]!] : []));
    if (missing.length > 0) {
      const name = seg.kind === "Field" ? seg.name : String(seg.index);
      if (missing.length === next.length) {
        const known = new Set(shapes.flatMap((s) => [...(s?.fields?.keys() ?? [])]));
        ctx.report("unknownField", seg, { field: name, path: here }, didYouMean(name, known));
      } else {
        const shown = missing.slice(0, 3).map((m) => `\`${m}\``).join(", ") + (missing.length > 3 ? ` and ${missing.length - 3} more` : "");
        ctx.report("fieldNotCommon", seg, { path: here, detail: `${shown} ${missing.length === 1 ? "has" : "have"} no such argument` });
      }
      return undefined;
    }
    shapes = next;
  }
  return shapes as ArgShape[];
}

/** The type of a tool's argument named after the tool, `process_refund.amount`, from that tool's input schema. */
export function typeToolField(ctx: CheckContext, field: Name & { readonly segments: readonly PathSegment[] }, rootSpan: Span, tool: ManifestTool): Type {
  const shapes = walkShapes(ctx, field, rootSpan, [tool.args], [tool.name]);
  return shapes === undefined ? ERROR : shapes[0]!.type;
}

/** The type of a quantifier's variable, with its steps: by the list's item schemas when known, else by its type. */
export function typeVariable(ctx: CheckContext, v: Variable, scope: Scope): Type {
  const binding = scope.bound?.get(v.name);
  if (binding === undefined) return ERROR;
  if (binding.shapes !== undefined) {
    const names = scope.tools?.map((t) => t.name) ?? [];
    const shapes = walkShapes(ctx, v, v.nameSpan, binding.shapes, names);
    return shapes === undefined ? ERROR : commonType(ctx, v, shapes, names);
  }
  let t = binding.type;
  for (const [i, seg] of v.segments.entries()) {
    const upTo = ctx.text({ ...v.span, end: v.segments[i - 1]?.span.end ?? v.nameSpan.end });
    if (t.kind === "unknown") return UNKNOWN;
    if (seg.kind === "Index" && t.kind === "list") t = t.element;
    else if (seg.kind === "Field" && t.kind === "object") t = UNKNOWN;
    else {
      ctx.report(seg.kind === "Index" ? "notIndexable" : "noFields", seg, { path: upTo, type: typeName(t) });
      return ERROR;
    }
  }
  return t;
}

/**
 * The item schemas of a list expression, one per targeted tool, when it is an `args` path or a variable typed by
 * schemas: a quantifier's variable then has fields as the schema gives them. Reports nothing; typing the list did.
 */
export function itemShapes(list: Path | Variable, scope: Scope): ArgShape[] | undefined {
  let start: readonly ArgShape[] | undefined;
  if (list.kind === "Path") start = list.root === "args" && scope.incomplete !== true ? scope.tools?.map((t) => t.args) : undefined;
  else start = scope.bound?.get(list.name)?.shapes;
  if (start === undefined) return undefined;
  const items: ArgShape[] = [];
  for (let shape of start) {
    for (const seg of list.segments) {
      const next: ArgShape | undefined =
        shape.type.kind === "unknown" ? { type: UNKNOWN } : seg.kind === "Field" ? (shape.fields === undefined ? { type: UNKNOWN } : shape.fields.get(seg.name)?.shape) : shape.element;
      if (next === undefined) return undefined;
      shape = next;
    }
    items.push(shape.type.kind === "list" ? (shape.element ?? { type: UNKNOWN }) : { type: UNKNOWN });
  }
  return items;
}

function commonType(ctx: CheckContext, p: Path | Variable, shapes: readonly ArgShape[], names: readonly string[]): Type {
  if (shapes.length === 0) return UNKNOWN;
  const first = shapes[0]!.type;
  for (const [k, s] of shapes.entries()) {
    if (!sameType(first, s.type)) {
      ctx.report("fieldNotCommon", p, {
        path: ctx.quote(p),
        detail: `it is ${typeName(first)} in \`${names[0]}\` but ${typeName(s.type)} in \`${names[k]}\``,
      });
      return ERROR;
    }
  }
  if (first.kind !== "string") return first;
  // Enums of several tools merge; a plain string anywhere makes the whole a plain string. A format holds only when
  // every tool states the same one (else `under` reads the argument as a plain path, and a URI fails closed).
  const formats = new Set(shapes.map((s) => (s.type.kind === "string" ? s.type.format : undefined)));
  const format = formats.size === 1 ? [...formats][0] : undefined;
  const enums = shapes.map((s) => (s.type.kind === "string" ? s.type.enum : undefined));
  if (enums.some((e) => e === undefined)) return format === undefined ? STRING : { kind: "string", format };
  return { kind: "string", enum: [...new Set(enums.flatMap((e) => e!))] };
}
