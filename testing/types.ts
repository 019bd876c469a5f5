// The types pqguard/testing's arbitraries produce and its assertions consume: one generated call with its context, and
// the forms of manifest a user holds.
import type { GuardContext } from "../runtime/guard/types.js";

/** One generated call with its context: what a guard decides on. */
export interface GeneratedRequest { readonly tool: string; readonly args: Readonly<Record<string, unknown>>; readonly context: GuardContext; }

/** A manifest as users hold it: a tools.json document `{ tools: [...] }`, a signed manifest, or a list of tool definitions. */
export type ManifestInput = unknown;
