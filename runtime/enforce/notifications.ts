// What the result rules make of the notifications a server sends beside its results: the text of a progress message
// or a log message is inspected as a result would be (of the call it reports on), then put back in place or dropped.
import { isJsonObject } from "../guard/helpers.js";
import type { SessionView } from "./context.js";
import { MARKS_META_KEY } from "./results.js";

export const PROGRESS = "notifications/progress";
export const LOG_MESSAGE = "notifications/message";

/** A call whose result (and notifications) are on their way back: what its result rules are decided on. */
export interface ReturningCall {
  readonly tool: string;
  readonly args: Readonly<Record<string, unknown>>;
  readonly session: SessionView | undefined;
}

/**
 * The tool name a notification no call owns is inspected under: a name no rule can name, so only the rules written
 * for `result of *` apply to it.
 */
export const ANY_TOOL = "*";

/**
 * The calls of one connection whose results are on their way back, by request id, and by the progress token their
 * request carried. A notification is inspected as a result of every call in flight: a log message names none, and the
 * token a progress message names is the server's choice, so a server could report one call's secret under the token
 * of a call whose tool no rule covers. Progress is inspected as its token's call first, then as the others.
 */
export class ReturningCalls {
  readonly #byId = new Map<unknown, ReturningCall & { readonly token: unknown }>();
  readonly #byToken = new Map<unknown, ReturningCall>();

  get size(): number {
    return this.#byId.size;
  }

  /** Records an allowed call; `meta` is its request's `_meta`, whose `progressToken` ties progress to it. */
  set(id: unknown, call: ReturningCall, meta: unknown): void {
    const token = isJsonObject(meta) ? meta["progressToken"] : undefined;
    const valid = typeof token === "string" || typeof token === "number";
    const entry = { ...call, token: valid ? token : undefined };
    this.#byId.set(id, entry);
    if (valid) this.#byToken.set(token, entry);
  }

  /** The call answered by `id`, forgotten now that its result is back. */
  take(id: unknown): ReturningCall | undefined {
    const call = this.#byId.get(id);
    if (call === undefined) return undefined;
    this.#byId.delete(id);
    if (call.token !== undefined) this.#byToken.delete(call.token);
    return call;
  }

  /** The calls a notification is inspected as a result of: every call in flight, a progress token's own call first. */
  owners(notification: { readonly method?: unknown; readonly params?: unknown }): ReturningCall[] {
    const all: ReturningCall[] = [...this.#byId.values()];
    if (notification.method !== PROGRESS) return all;
    const owner = this.#byToken.get(isJsonObject(notification.params) ? notification.params["progressToken"] : undefined);
    if (owner === undefined) return all;
    return [owner, ...all.filter((call) => call !== owner)];
  }

  clear(): void {
    this.#byId.clear();
    this.#byToken.clear();
  }
}

/** The texts of a notification the rules read, and how to put (redacted) texts and mark labels back. */
export interface NotificationTexts {
  readonly what: "progress notification" | "log message";
  readonly texts: readonly string[];
  rebuild(texts: readonly string[], marks: readonly string[]): Record<string, unknown>;
}

/**
 * The texts of a progress message (`message`) or a log message (its `logger` name, and `data`: a string, or every key
 * and string of a JSON value, in document order); undefined for any other notification, or one with no text to read.
 */
export function notificationTexts(method: unknown, params: unknown): NotificationTexts | undefined {
  if (!isJsonObject(params)) return undefined;
  if (method === PROGRESS) {
    const message = params["message"];
    if (typeof message !== "string") return undefined;
    return { what: "progress notification", texts: [message], rebuild: (texts, marks) => withMarks({ ...params, message: texts[0] }, marks) };
  }
  if (method !== LOG_MESSAGE) return undefined;
  const texts: string[] = [];
  const logger = params["logger"];
  if (typeof logger === "string") texts.push(logger);
  collectStrings(params["data"], texts);
  if (texts.length === 0) return undefined;
  return {
    what: "log message",
    texts,
    rebuild: (redacted, marks) => {
      const next = { at: 0 };
      const out: Record<string, unknown> = { ...params };
      if (typeof logger === "string") out["logger"] = redacted[next.at++];
      if ("data" in params) out["data"] = replaceStrings(params["data"], redacted, next);
      return withMarks(out, marks);
    },
  };
}

/** Keys are read as well as values: a log line has no schema, and a server may put anything in a key. */
function collectStrings(value: unknown, into: string[]): void {
  if (typeof value === "string") into.push(value);
  else if (Array.isArray(value)) for (const item of value) collectStrings(item, into);
  else if (isJsonObject(value)) {
    for (const [key, item] of Object.entries(value)) {
      into.push(key);
      collectStrings(item, into);
    }
  }
}

/** The value with its strings (keys included) replaced, in the order collectStrings read them. */
function replaceStrings(value: unknown, texts: readonly string[], next: { at: number }): unknown {
  if (typeof value === "string") return texts[next.at++];
  if (Array.isArray(value)) return value.map((item) => replaceStrings(item, texts, next));
  if (isJsonObject(value)) {
    const entries: [string, unknown][] = [];
    for (const item of Object.values(value)) {
      const name = texts[next.at++]!;
      entries.push([name, replaceStrings(item, texts, next)]);
    }
    // Own properties, `__proto__` included: a key a server sent is data, never the object's prototype. Keys a
    // redaction made equal merge, the last one kept.
    return Object.fromEntries(entries);
  }
  return value;
}

function withMarks(params: Record<string, unknown>, marks: readonly string[]): Record<string, unknown> {
  if (marks.length === 0) return params;
  const meta = isJsonObject(params["_meta"]) ? params["_meta"] : {};
  return { ...params, _meta: { ...meta, [MARKS_META_KEY]: [...marks] } };
}

/** A notification's texts as the result the rules inspect: one text item each. */
export function asResult(texts: readonly string[]): Record<string, unknown> {
  return { content: texts.map((text) => ({ type: "text", text })) };
}

/** The texts and mark labels back out of an inspected result (asResult's shape, redacted and maybe marked). */
export function fromResult(result: Readonly<Record<string, unknown>>, count: number): { texts: string[]; marks: string[] } {
  const content = Array.isArray(result["content"]) ? (result["content"] as unknown[]) : [];
  const texts: string[] = [];
  for (let i = 0; i < count; i++) {
    const item = content[i];
    const text = isJsonObject(item) ? item["text"] : undefined;
    // Fail closed: the inspected result must still carry every text, else nothing of it is passed on.
    if (typeof text !== "string") throw new TypeError("the inspected notification lost a text");
    texts.push(text);
  }
  const meta = result["_meta"];
  const marks = isJsonObject(meta) && Array.isArray(meta[MARKS_META_KEY]) ? (meta[MARKS_META_KEY] as unknown[]).filter((m): m is string => typeof m === "string") : [];
  return { texts, marks };
}

/**
 * Keeps what one connection passes on under result rules (results, progress, log messages) in the order it arrived,
 * though each inspection waits on the state store for its own time: progress delivered after its call's result would
 * be lost to the client, which forgets a call's progress token once it is answered.
 */
export class InOrder {
  #tail: Promise<unknown> = Promise.resolve();

  /** Runs `deliver` with what `inspected` answers, once everything queued before it was delivered. */
  queue<T>(inspected: Promise<T>, deliver: (value: T) => unknown): Promise<void> {
    const done = Promise.all([inspected, this.#tail]).then(([value]) => deliver(value));
    this.#tail = done.catch(() => undefined);
    return done.then(() => undefined);
  }
}
