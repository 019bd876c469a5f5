// Field-by-field differences between reviewed tool definitions and a live or saved tool list: what `pqguard manifest
// diff` prints and what the proxy's pin logs for a changed tool. Only the digested fields (digest.ts) are compared.
import { DIGESTED_TOOL_FIELDS, toolDigest, toolDigestOrUndefined } from "./digest.js";

export type DigestedField = (typeof DIGESTED_TOOL_FIELDS)[number];

/** One difference inside one digested field of one tool. */
export interface FieldChange {
  readonly field: DigestedField;
  /**
   * RFC 6901 JSON pointer into the field's value, "" for the field as a whole. In an array, a removed element is
   * named by its index in the reviewed array, an added one by its index in the live array.
   */
  readonly pointer: string;
  /** `changed`: both sides have a value there; `added`: only the live side; `removed`: only the reviewed side. */
  readonly kind: "changed" | "added" | "removed";
  /** The reviewed value (absent when added). */
  readonly before?: unknown;
  /** The live value (absent when removed). */
  readonly after?: unknown;
}

/** A tool that differs: `changed` (in both lists), `added` (live only) or `removed` (reviewed only). */
export interface ToolDifference {
  readonly name: string;
  readonly status: "changed" | "added" | "removed";
  /** What differs, field by field; empty for added and removed tools. */
  readonly changes: readonly FieldChange[];
  /** The reviewed definition's digest (absent for an added tool). */
  readonly reviewedDigest?: string;
  /** The live definition's digest (absent for a removed tool, and for one without canonical JSON). */
  readonly liveDigest?: string;
  /** The live list names this tool more than once; this entry is a later copy, which a pin treats as changed. */
  readonly repeated?: true;
}

export interface ToolListDiff {
  /** Live tools that differ, in their order, then reviewed tools the live list lacks, in theirs. */
  readonly differences: readonly ToolDifference[];
  /** Tools whose digested fields are the same in both lists. */
  readonly unchanged: readonly string[];
}

/**
 * Schemas nest a few levels deep; below this depth the rest of a subtree is reported as one change. Each level
 * compares the whole subtree under it, so without a bound a hostile schema nested thousands deep would cost the proxy
 * that logs its changes time growing with the square of its depth.
 */
export const MAX_DIFF_DEPTH = 64;

/** Compares every digested field of one tool, in the order DIGESTED_TOOL_FIELDS lists them. */
export function diffTool(reviewed: Readonly<Record<string, unknown>>, live: Readonly<Record<string, unknown>>): FieldChange[] {
  const changes: FieldChange[] = [];
  for (const field of DIGESTED_TOOL_FIELDS) {
    diffValue(reviewed[field], live[field], "", 0, (change) => changes.push({ field, ...change }));
  }
  return changes;
}

/** Matches tools by name and compares each pair; a name the live list repeats is reported again for each later copy. */
export function diffToolLists(reviewed: readonly Readonly<Record<string, unknown>>[], live: readonly Readonly<Record<string, unknown>>[]): ToolListDiff {
  const byName = new Map(reviewed.map((tool) => [nameOf(tool), tool]));
  const differences: ToolDifference[] = [];
  const unchanged: string[] = [];
  const seen = new Set<string>();
  for (const tool of live) {
    const name = nameOf(tool);
    const original = byName.get(name);
    const repeated = seen.has(name) ? ({ repeated: true } as const) : {};
    seen.add(name);
    const liveDigest = toolDigestOrUndefined(tool);
    const digests = { ...(original === undefined ? {} : { reviewedDigest: toolDigest(original) }), ...(liveDigest === undefined ? {} : { liveDigest }) };
    if (original === undefined) {
      differences.push({ name, status: "added", changes: [], ...digests, ...repeated });
      continue;
    }
    const changes = diffTool(original, tool);
    if (changes.length === 0 && !("repeated" in repeated)) unchanged.push(name);
    else differences.push({ name, status: "changed", changes, ...digests, ...repeated });
  }
  for (const tool of reviewed) {
    const name = nameOf(tool);
    if (!seen.has(name)) differences.push({ name, status: "removed", changes: [], reviewedDigest: toolDigest(tool) });
  }
  return { differences, unchanged };
}

/** Where a change is, as logs and text output name it: `description`, `inputSchema /properties/amount/maximum`. */
export function changePath(change: Pick<FieldChange, "field" | "pointer">): string {
  return change.pointer === "" ? change.field : `${change.field} ${change.pointer}`;
}

/** Most paths one log entry lists: a schema rewritten wholesale must not make one log line megabytes long. */
export const MAX_LOGGED_PATHS = 20;
/** Longest path a log entry shows: property names come from the server and may be as long as it likes. */
export const MAX_LOGGED_PATH_CHARS = 200;
/** Hex digits of a digest a log entry shows: enough to tell definitions apart and find them again. */
export const SHORT_DIGEST_CHARS = 8;

/** What a log line says about one changed tool: where it changed and its digests, never the texts themselves. */
export interface ToolChangeSummary {
  readonly tool: string;
  /**
   * The changed paths (`description`, `inputSchema /properties/amount/maximum`, at most MAX_LOGGED_PATHS and then
   * `… N more`); `definition` when the reviewed definition is not at hand (only its digest); first `listed N times`
   * when the server lists the name N times.
   */
  readonly changed: readonly string[];
  /** `a1b2c3d4… → c3d4e5f6…`: reviewed → live; `none` for a name never reviewed, or a live definition without canonical JSON. */
  readonly digest: string;
}

/**
 * Summarises how the live `copies` of one tool (more than one when the server lists its name repeatedly) differ from
 * the reviewed definition, or from its digest alone when `reviewed.definition` is undefined: a guard compiled against
 * a tool list carries only digests. `reviewed.digest` is undefined for a name that was never reviewed.
 */
export function summarizeToolChange(
  copies: readonly [Readonly<Record<string, unknown>>, ...Readonly<Record<string, unknown>>[]],
  reviewed: { readonly definition?: Readonly<Record<string, unknown>> | undefined; readonly digest: string | undefined },
): ToolChangeSummary {
  const liveDigests = copies.map(toolDigestOrUndefined);
  const differing = liveDigests.findIndex((digest) => digest !== reviewed.digest);
  const digest = `${shortDigest(reviewed.digest)} → ${shortDigest(liveDigests[Math.max(differing, 0)])}`;
  const definition = reviewed.definition;
  const paths =
    reviewed.digest === undefined || differing === -1
      ? []
      : definition === undefined
        ? ["definition"]
        : [...new Set(copies.flatMap((copy) => diffTool(definition, copy).map((change) => clip(changePath(change)))))];
  const bounded = paths.length > MAX_LOGGED_PATHS ? [...paths.slice(0, MAX_LOGGED_PATHS), `… ${paths.length - MAX_LOGGED_PATHS} more`] : paths;
  return { tool: nameOf(copies[0]), changed: [...(copies.length > 1 ? [`listed ${copies.length} times`] : []), ...bounded], digest };
}

/** The first SHORT_DIGEST_CHARS hex digits and an ellipsis; `none` when there is no digest. */
export function shortDigest(digest: string | undefined): string {
  return digest === undefined ? "none" : `${digest.slice(0, SHORT_DIGEST_CHARS)}…`;
}

function clip(path: string): string {
  const chars = Array.from(path);
  return chars.length <= MAX_LOGGED_PATH_CHARS ? path : `${chars.slice(0, MAX_LOGGED_PATH_CHARS - 1).join("")}…`;
}

type ValueChange = Omit<FieldChange, "field">;

/** Reports to `emit` every place where `before` and `after` differ, as JSON values (key order does not matter). */
function diffValue(before: unknown, after: unknown, pointer: string, depth: number, emit: (change: ValueChange) => void): void {
  if (before === undefined && after === undefined) return;
  if (before === undefined) return emit({ pointer, kind: "added", after });
  if (after === undefined) return emit({ pointer, kind: "removed", before });
  if (sameJson(before, after)) return;
  if (depth < MAX_DIFF_DEPTH && isObject(before) && isObject(after)) {
    const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
    for (const key of keys) diffValue(ownValue(before, key), ownValue(after, key), `${pointer}/${escapeToken(key)}`, depth + 1, emit);
    return;
  }
  if (depth < MAX_DIFF_DEPTH && Array.isArray(before) && Array.isArray(after)) return diffArray(before, after, pointer, depth, emit);
  emit({ pointer, kind: "changed", before, after });
}

/**
 * Elements common to both ends are skipped first, so that one inserted or removed element is reported alone rather
 * than as every later element changed; what is left is compared index by index, and the longer side's rest is added
 * or removed. Linear, unlike a longest common subsequence, whose cost a hostile list could make quadratic.
 */
function diffArray(before: readonly unknown[], after: readonly unknown[], pointer: string, depth: number, emit: (change: ValueChange) => void): void {
  let start = 0;
  while (start < before.length && start < after.length && sameJson(before[start], after[start])) start++;
  let endBefore = before.length;
  let endAfter = after.length;
  while (endBefore > start && endAfter > start && sameJson(before[endBefore - 1], after[endAfter - 1])) {
    endBefore--;
    endAfter--;
  }
  const paired = Math.min(endBefore - start, endAfter - start);
  for (let i = start; i < start + paired; i++) diffValue(before[i], after[i], `${pointer}/${i}`, depth + 1, emit);
  for (let i = start + paired; i < endBefore; i++) emit({ pointer: `${pointer}/${i}`, kind: "removed", before: before[i] });
  for (let i = start + paired; i < endAfter; i++) emit({ pointer: `${pointer}/${i}`, kind: "added", after: after[i] });
}

/**
 * Equality of JSON values as their canonical JSON would have it: object key order and undefined members ignored.
 * Iterative, so that a value nested deeper than the stack allows is compared rather than thrown on.
 */
function sameJson(a: unknown, b: unknown): boolean {
  const pending: [unknown, unknown][] = [[a, b]];
  while (pending.length > 0) {
    const [x, y] = pending.pop()!;
    if (x === y) continue;
    if (Array.isArray(x) || Array.isArray(y)) {
      if (!Array.isArray(x) || !Array.isArray(y) || x.length !== y.length) return false;
      x.forEach((value, i) => pending.push([value, y[i]]));
      continue;
    }
    if (!isObject(x) || !isObject(y)) return false;
    const keys = definedKeys(x);
    if (keys.length !== definedKeys(y).length) return false;
    for (const key of keys) pending.push([x[key], ownValue(y, key)]);
  }
  return true;
}

function definedKeys(object: Record<string, unknown>): string[] {
  return Object.keys(object).filter((key) => object[key] !== undefined);
}

/** RFC 6901: `~` and `/` in a member name are written `~0` and `~1`. */
function escapeToken(key: string): string {
  return key.replaceAll("~", "~0").replaceAll("/", "~1");
}

/** An own member only: `constructor` or `__proto__` in a schema must not find the prototype's. */
function ownValue(object: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(object, key) ? object[key] : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function nameOf(tool: Readonly<Record<string, unknown>>): string {
  return typeof tool.name === "string" ? tool.name : "";
}
