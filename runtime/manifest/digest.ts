// Digests of tool definitions: SHA3-256 over the RFC 8785 canonical JSON of the fields a reviewer signs off.
// The compiler pins these into guard modules and signed manifests carry them, so both must use this one function.
import { createHash } from "node:crypto";
import canonicalize from "canonicalize";
import { ManifestError, ManifestErrorCode } from "./errors.js";

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

/**
 * RFC 8785 (JCS) canonical JSON text of a JSON value. A value without one (a lone surrogate, which JSON text can
 * spell as `"\ud800"`, a non-finite number, a cycle) is a `ManifestError` (PQG7001), never an untyped error.
 */
export function canonicalJson(value: unknown): string {
  let text: string | undefined;
  try {
    text = canonicalize(value);
  } catch (error) {
    throw new ManifestError(ManifestErrorCode.Malformed, `value has no canonical JSON form: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (text === undefined) throw new ManifestError(ManifestErrorCode.Malformed, "value has no JSON form");
  return text;
}

/** SHA3-256 (lowercase hex) of the canonical JSON of a tool definition's digested fields; PQG7001 naming the tool without one. */
export function toolDigest(tool: Readonly<Record<string, unknown>>): string {
  let text: string;
  try {
    text = canonicalJson(digestedToolView(tool));
  } catch (error) {
    const name = typeof tool.name === "string" ? tool.name : "";
    throw new ManifestError(ManifestErrorCode.Malformed, `tool \`${name}\` ${(error as ManifestError).message.replace(/^value /, "")}`, name);
  }
  return createHash("sha3-256").update(text, "utf8").digest("hex");
}

/**
 * A live tool's digest; undefined for one without canonical JSON, which then matches no reviewed digest: one malformed
 * tool must not hide the others' status.
 */
export function toolDigestOrUndefined(tool: Readonly<Record<string, unknown>>): string | undefined {
  try {
    return toolDigest(tool);
  } catch (error) {
    if (error instanceof ManifestError) return undefined;
    throw error;
  }
}
