// The fetch the Streamable HTTP clients here use. `nodeFetch`: through node:http(s) with keep-alive agents, a body of
// known length handed over as one buffer; the SDK's client then costs a third of what it does over undici's fetch
// (docs/performance.md). Both this and `requestScopedFetch` (undici, kept for what passes no agent) let go of the
// transport's abort signal once a POST's response has arrived: the SDK passes its transport's one signal to every
// fetch, and undici adds an abort listener to it per request that goes only when the request is garbage-collected:
// listeners pile up (a MaxListenersExceededWarning on every call past a few thousand) and every request walks them.
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { Readable } from "node:stream";
import type { FetchLike } from "@modelcontextprotocol/sdk/shared/transport.js";

/**
 * `fetch` with a per-request signal that aborts when the transport's does. A POST lets go of the transport's signal
 * once its response has arrived; a GET (the event stream a client keeps open) keeps it until the transport aborts.
 */
export const requestScopedFetch: FetchLike = async (url, init) => {
  const shared = init?.signal;
  if (shared === undefined || shared === null) return fetch(url, init);
  const own = new AbortController();
  const abort = (): void => own.abort(shared.reason);
  if (shared.aborted) abort();
  else shared.addEventListener("abort", abort, { once: true });
  try {
    return await fetch(url, { ...init, signal: own.signal });
  } finally {
    if (init?.method !== "GET") shared.removeEventListener("abort", abort);
  }
};

/** The agents `nodeFetch` sends through: `http:` and `https:` URLs each take their own. */
export interface NodeFetchAgents {
  readonly http?: HttpAgent | undefined;
  readonly https?: HttpsAgent | undefined;
}

/** Bodies of known length up to this size are read whole before the Response is made; larger ones are streamed. */
const BUFFERED_BODY_BYTES = 1 << 20;

/**
 * A fetch over node:http and node:https for what the SDK's Streamable HTTP client sends (a method, headers, a text or
 * byte body, an abort signal), with keep-alive agents of its own unless `agents` are given. Redirects are not
 * followed (a 3xx is returned as it is, as MCP clients treat it: an error). Aborting the signal destroys the request
 * and rejects, or errors the body being read, with the signal's reason.
 */
export function nodeFetch(agents: NodeFetchAgents = {}): FetchLike {
  const http = agents.http ?? new HttpAgent({ keepAlive: true });
  const https = agents.https ?? new HttpsAgent({ keepAlive: true });
  return (url, init) => {
    const target = url instanceof URL ? url : new URL(url);
    if (target.protocol !== "http:" && target.protocol !== "https:") return Promise.reject(new TypeError(`fetch: unsupported protocol \`${target.protocol}\``));
    // As the web's fetch: credentials in a URL would go out as a Basic authorization header, in the clear over http:.
    if (target.username !== "" || target.password !== "") return Promise.reject(new TypeError("fetch: a URL with credentials (user:password@) is refused"));
    return send(target, init, target.protocol === "https:" ? https : http);
  };
}

function send(url: URL, init: RequestInit | undefined, agent: HttpAgent | HttpsAgent): Promise<Response> {
  return new Promise((resolve, reject) => {
    const body = init?.body;
    if (body !== undefined && body !== null && typeof body !== "string" && !(body instanceof Uint8Array)) {
      reject(new TypeError("fetch: this fetch sends text or byte bodies only"));
      return;
    }
    const signal = init?.signal ?? undefined;
    if (signal?.aborted === true) {
      reject(abortReason(signal));
      return;
    }
    const method = init?.method ?? "GET";
    const options = { method, headers: headerRecord(init?.headers), agent };
    const req = url.protocol === "https:" ? httpsRequest(url, options as Parameters<typeof httpsRequest>[1]) : httpRequest(url, options);
    let response: IncomingMessage | undefined;
    // One listener on the shared signal per request in flight, removed when the exchange is over (for an event
    // stream: when it ends), never left behind.
    const onAbort = (): void => {
      const reason = abortReason(signal!);
      if (response === undefined) reject(reason);
      req.destroy(reason);
      response?.destroy(reason);
    };
    const release = (): void => signal?.removeEventListener("abort", onAbort);
    signal?.addEventListener("abort", onAbort, { once: true });
    req.once("error", (error) => {
      release();
      reject(error);
    });
    req.once("response", (res) => {
      response = res;
      res.once("close", release);
      const status = res.statusCode ?? 502;
      const init = { status, statusText: res.statusMessage ?? "", headers: headersOf(res.headers) };
      // What a server answers is not to be trusted: a status or reason phrase a Response cannot carry (205 with a body,
      // 600, control characters) is a rejected fetch, never an exception thrown in an event handler.
      const answer = (body: ConstructorParameters<typeof Response>[0]): void => {
        try {
          resolve(new Response(body, init));
        } catch (error) {
          res.destroy();
          reject(new TypeError(`fetch: the server's answer cannot be read (status ${status}): ${error instanceof Error ? error.message : String(error)}`));
        }
      };
      if (status === 204 || status === 304 || method === "HEAD") {
        res.resume();
        answer(null);
        return;
      }
      const length = Number(res.headers["content-length"] ?? Number.NaN);
      if (!(length >= 0 && length <= BUFFERED_BODY_BYTES)) {
        answer(Readable.toWeb(res) as ReadableStream<Uint8Array>);
        return;
      }
      // A body of known length (an answer as one JSON body, or as events with their length): read whole, then one
      // Response over the bytes, without a web stream to pull them through.
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.once("end", () => answer(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
      res.once("error", reject);
      // Also emitted when the body is cut short by an abort here: then the abort's reason is the answer.
      res.once("aborted", () => reject(signal?.aborted === true ? abortReason(signal) : new Error("fetch: the server closed the connection before the body was complete")));
    });
    req.end(body ?? undefined);
  });
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new DOMException("This operation was aborted", "AbortError");
}

function headerRecord(headers: RequestInit["headers"]): Record<string, string> {
  const record: Record<string, string> = {};
  if (headers === undefined) return record;
  new Headers(headers).forEach((value, name) => {
    record[name] = value;
  });
  return record;
}

/** A response's headers as a web Headers object, repeated ones appended in order. */
export function headersOf(incoming: IncomingHttpHeaders): Headers {
  const headers = new Headers();
  for (const name in incoming) {
    const value = incoming[name];
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const item of value) headers.append(name, item);
    else headers.append(name, value);
  }
  return headers;
}
