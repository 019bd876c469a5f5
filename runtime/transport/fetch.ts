// The fetch the Streamable HTTP clients here use: each request gets an abort signal of its own, tied to the
// transport's. The SDK passes its transport's one signal to every fetch, and undici adds an abort listener to it per
// request that goes only when the request is garbage-collected: listeners pile up (a MaxListenersExceededWarning on
// every call past a few thousand) and every request walks them.
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
