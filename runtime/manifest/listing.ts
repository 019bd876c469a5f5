// Reading a server's tool list: every page of a paginated `tools/list`, and reading again a list that a change
// (`notifications/tools/list_changed`) overtook while it was read, so that a stale list is never pinned or decided on.

/** Pages of a paginated tools/list read from a live server; more means a misbehaving server. */
export const MAX_TOOL_LIST_PAGES = 100;
/** Reads in a row that a change overtook before the list counts as unreadable (calls that need it are refused). */
export const MAX_STALE_READS = 5;

/** One page of a tools/list result, as far as reading it needs. */
export interface ToolListPage {
  readonly tools?: unknown;
  readonly nextCursor?: unknown;
}

/** Every tool of a listing, following its cursors for at most MAX_TOOL_LIST_PAGES pages. */
export async function readToolList(fetchPage: (cursor: string | undefined) => Promise<ToolListPage>): Promise<Record<string, unknown>[]> {
  const tools: Record<string, unknown>[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_TOOL_LIST_PAGES; page++) {
    const result = await fetchPage(cursor);
    if (Array.isArray(result.tools)) tools.push(...(result.tools as Record<string, unknown>[]));
    cursor = typeof result.nextCursor === "string" ? result.nextCursor : undefined;
    if (cursor === undefined) break;
  }
  return tools;
}

/**
 * `read()` until one read completes in the same `generation()` it started in (no change overtook it), at most
 * MAX_STALE_READS times; undefined when every read was overtaken (the caller refuses with its own error). `take`, when
 * given, receives that read's value in the same step as the check: code run after awaiting the result could run
 * after a change announced meanwhile, and keep a list the change made stale.
 */
export function readUnchanged<T>(generation: () => number, read: () => Promise<T>): Promise<T | undefined>;
export function readUnchanged<T, R>(generation: () => number, read: () => Promise<T>, take: (value: T) => R): Promise<R | undefined>;
export async function readUnchanged<T, R>(generation: () => number, read: () => Promise<T>, take?: (value: T) => R): Promise<T | R | undefined> {
  for (let attempt = 0; attempt < MAX_STALE_READS; attempt++) {
    const started = generation();
    const value = await read();
    if (started === generation()) return take === undefined ? value : take(value);
  }
  return undefined;
}
