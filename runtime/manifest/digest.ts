// Digests of tool definitions: SHA3-256 over the RFC 8785 canonical JSON of the fields a reviewer signs off.
// The compiler pins these into guard modules and signed manifests carry them, so both must use this one function.
import { createHash } from "node:crypto";
import canonicalize from "canonicalize";

/** The fields of a tool definition that are digested and signed; anything else a server sends is ignored. */
export const DIGESTED_TOOL_FIELDS = ["name", "title", "description", "inputSchema", "outputSchema", "annotations"] as const;

/** The digested view of a tool definition: only the fields above, absent ones left out. */
export function digestedToolView(tool: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const view: Record<string, unknown> = {};
  for (const field of DIGESTED_TOOL_FIELDS) {
    if (tool[field] !== undefined) view[field] = tool[field];
  }
  return view;
}

/** RFC 8785 (JCS) canonical JSON text of a JSON value. */
export function canonicalJson(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError("value has no JSON form");
  return text;
}

/** SHA3-256 (lowercase hex) of the canonical JSON of a tool definition's digested fields. */
export function toolDigest(tool: Readonly<Record<string, unknown>>): string {
  return createHash("sha3-256").update(canonicalJson(digestedToolView(tool)), "utf8").digest("hex");
}
