// Pins a live tool list to a verified manifest: each tool is ok, changed (a rug pull), new (unlisted) or missing.
import { toolDigestOrUndefined } from "./digest.js";
import type { VerifiedManifest } from "./signed.js";

export type ToolStatus = "ok" | "changed" | "new" | "missing";

export interface ToolComparison {
  readonly name: string;
  readonly status: ToolStatus;
  /** The signed digest (absent for a new tool). */
  readonly expected?: string;
  /** The live digest (absent for a missing tool, and for a live one without canonical JSON, which matches nothing). */
  readonly actual?: string;
}

/** One entry per tool in either list: live tools in their order, then signed tools the live list lacks. */
export function compareToolList(
  liveTools: readonly Readonly<Record<string, unknown>>[],
  verified: Pick<VerifiedManifest, "digests">,
): ToolComparison[] {
  const result: ToolComparison[] = [];
  const seen = new Set<string>();
  for (const tool of liveTools) {
    const name = typeof tool.name === "string" ? tool.name : "";
    const actual = toolDigestOrUndefined(tool);
    const expected = Object.hasOwn(verified.digests, name) ? verified.digests[name] : undefined;
    // A repeated live name is treated as changed: which of the two a client would use is up to the client.
    const status: ToolStatus = expected === undefined ? "new" : seen.has(name) || expected !== actual ? "changed" : "ok";
    seen.add(name);
    result.push({ name, status, ...(expected === undefined ? {} : { expected }), ...(actual === undefined ? {} : { actual }) });
  }
  for (const [name, expected] of Object.entries(verified.digests)) {
    if (!seen.has(name)) result.push({ name, status: "missing", expected });
  }
  return result;
}

