// Protocol revision 2026-07-28 at the proxy: how a request of that revision is recognised (its `_meta` envelope, or
// `server/discover`), the envelope the proxy puts on its own requests to a modern upstream, and the PQG8020 refusal
// a client of that revision gets when the upstream does not speak it.
import type { ClientCapabilities } from "@modelcontextprotocol/sdk/types.js";
import { ProxyError } from "./errors.js";
import { JSONRPC_INVALID_PARAMS, JSONRPC_METHOD_NOT_FOUND } from "./framing.js";
import { SUPPORTED_MCP_REVISIONS } from "./methods.js";
import type { UpstreamSession } from "./upstream-session.js";

/** The first request of a client speaking revision 2026-07-28: it asks what the server supports. */
export const DISCOVER = "server/discover";
/** The request of revision 2026-07-28 that opens a stream of change notifications (list changes, resource updates). */
export const LISTEN = "subscriptions/listen";
/** Where the notifications of a change subscription carry its id (the id of the request that opened it). */
export const SUBSCRIPTION_ID_META_KEY = "io.modelcontextprotocol/subscriptionId";
/** Where a 2026-07-28 request names its protocol revision, its client's capabilities and its client's identity. */
export const PROTOCOL_VERSION_META_KEY = "io.modelcontextprotocol/protocolVersion";
export const CLIENT_CAPABILITIES_META_KEY = "io.modelcontextprotocol/clientCapabilities";
export const CLIENT_INFO_META_KEY = "io.modelcontextprotocol/clientInfo";
/** The JSON-RPC code of "unsupported protocol version" in revision 2026-07-28. */
export const JSONRPC_UNSUPPORTED_PROTOCOL_VERSION = -32022;
/** The stateless revisions the proxy passes through to an upstream that speaks them. */
export const MODERN_MCP_REVISIONS: readonly string[] = ["2026-07-28"];

/**
 * Largest `_meta` of a request of the revision, as JSON text: the envelope (a client's identity and capabilities) is a
 * few hundred bytes, and it goes upstream with every request, so a client cannot make each of its requests carry
 * megabytes of it to the server (or into the proxy's memory once per request in flight).
 */
export const MAX_META_BYTES = 64 * 1024;

/** Who the proxy says it is, as a client, on its own requests upstream. */
const PROXY_CLIENT_INFO = { name: "pqguard-proxy", version: "0.1.0" };

/** The revision a request names in its envelope; `server/discover` without one asks for the newest the proxy knows. */
export function modernRevisionOf(method: string, params: Record<string, unknown> | undefined): string | undefined {
  const meta = params?._meta;
  if (typeof meta === "object" && meta !== null && !Array.isArray(meta)) {
    const revision = (meta as Record<string, unknown>)[PROTOCOL_VERSION_META_KEY];
    if (typeof revision === "string") return revision.slice(0, 40);
  }
  return method === DISCOVER ? MODERN_MCP_REVISIONS[0] : undefined;
}

/** The envelope the proxy's own requests to a modern upstream carry: the revision, its capabilities, its identity. */
export function proxyEnvelope(revision: string, capabilities: ClientCapabilities): Record<string, unknown> {
  return { [PROTOCOL_VERSION_META_KEY]: revision, [CLIENT_CAPABILITIES_META_KEY]: capabilities, [CLIENT_INFO_META_KEY]: PROXY_CLIENT_INFO };
}

/** `params` with the proxy's envelope added where the request carries none of its own. */
export function withEnvelope(params: Record<string, unknown> | undefined, envelope: Record<string, unknown>): Record<string, unknown> {
  const meta = params?._meta;
  const own = typeof meta === "object" && meta !== null ? (meta as Record<string, unknown>) : {};
  if (typeof own[PROTOCOL_VERSION_META_KEY] === "string") return params!;
  return { ...params, _meta: { ...envelope, ...own } };
}

/**
 * The refusal of a client of a stateless revision that cannot be passed through (`why`: the upstream does not speak
 * it, or the revision is unknown). `server/discover` is answered -32601, which a negotiating client (`auto`) takes as
 * "initialize instead"; any other request -32022 with the revisions served. Both carry PQG8020.
 */
export function modernRefused(method: string, requested: string, why: string): ProxyError {
  const message = `revision ${requested} (stateless, \`${DISCOVER}\`) cannot be passed through: ${why}; connect with version negotiation \`auto\` or \`legacy\` to be served over \`initialize\` (revisions ${SUPPORTED_MCP_REVISIONS.join(", ")})`;
  const data = { code: "PQG8020", supported: [...SUPPORTED_MCP_REVISIONS].reverse(), requested, reason: why };
  return new ProxyError("PQG8020", message, method === DISCOVER ? JSONRPC_METHOD_NOT_FOUND : JSONRPC_UNSUPPORTED_PROTOCOL_VERSION, data);
}

/** What the upstream answered to `server/discover`, as far as the proxy passes it on. */
export interface DiscoverResult {
  /** The stateless revisions the server offers; the proxy's link speaks one of them. */
  readonly supportedVersions: string[];
  /** The server's capabilities, as it advertised them. */
  readonly capabilities: Record<string, unknown>;
  /** The server's instructions for its clients, if it gave any. */
  readonly instructions?: string;
  /** Any other field of the answer (`resultType`, `_meta`), passed on as it came. */
  readonly [key: string]: unknown;
}

/**
 * The proxy's answer to a client's `server/discover`: the upstream's, with `tools` (the proxy lists and decides them,
 * and relays their list changes on `subscriptions/listen` when the upstream announces them) and without the change
 * subscriptions of resources and prompts, which the proxy does not relay.
 */
export function discoverAnswer(upstream: DiscoverResult, revision: string): Record<string, unknown> {
  const announces = (upstream.capabilities.tools as { listChanged?: unknown } | undefined)?.listChanged === true;
  const capabilities: Record<string, unknown> = { ...upstream.capabilities, tools: announces ? { listChanged: true } : {} };
  for (const key of ["resources", "prompts"]) if (typeof capabilities[key] === "object" && capabilities[key] !== null) capabilities[key] = {};
  return {
    ...upstream,
    supportedVersions: upstream.supportedVersions.filter((version) => version === revision || MODERN_MCP_REVISIONS.includes(version)),
    capabilities,
  };
}

/** A revision the proxy does not know is refused before any upstream session is opened for it. */
export function checkModernRevision(method: string, revision: string): void {
  if (!MODERN_MCP_REVISIONS.includes(revision)) throw modernRefused(method, revision, `the proxy passes through only ${MODERN_MCP_REVISIONS.join(", ")}`);
}

/** What the gate of a stateless request decided: refuse it (`release`: the connection gives up its session), answer it, or go on. */
export interface ModernGate {
  readonly refused?: ProxyError | undefined;
  readonly release?: boolean | undefined;
  readonly answer?: Record<string, unknown> | undefined;
}

/**
 * The gate every request of a connection of the stateless revision passes, and every request naming that revision on
 * any connection: the revision must be the one its upstream session speaks, the session must have started (its start
 * discovers whether the upstream speaks the revision: PQG8020 when not), and every request carries its own envelope
 * (the proxy never lends a client its identity). `server/discover` is answered here, from the upstream's answer.
 */
export async function modernGate(upstream: UpstreamSession, method: string, params: Record<string, unknown> | undefined, revision: string | undefined): Promise<ModernGate> {
  const speaks = upstream.supervisor.modern;
  if (speaks === undefined) {
    return { refused: modernRefused(method, revision ?? "unknown", "this connection began with `initialize`, and its upstream session speaks the revision negotiated there") };
  }
  if (revision === undefined) {
    return { refused: new ProxyError("PQG8016", `invalid params: on a connection of revision ${speaks}, \`${method.slice(0, 200)}\` must carry the revision's \`_meta\` envelope`, JSONRPC_INVALID_PARAMS) };
  }
  if (revision !== speaks) return { refused: modernRefused(method, revision, `this connection speaks ${speaks}`) };
  const metaBytes = JSON.stringify(params?._meta).length;
  if (metaBytes > MAX_META_BYTES) {
    return { refused: new ProxyError("PQG8016", `invalid params: the request's \`_meta\` is ${metaBytes} bytes of JSON, more than the ${MAX_META_BYTES} the proxy takes`, JSONRPC_INVALID_PARAMS) };
  }
  try {
    await upstream.start();
  } catch (error) {
    if (error instanceof ProxyError && error.code === "PQG8020") {
      const reason = (error.data as { reason?: unknown } | undefined)?.reason;
      return { refused: modernRefused(method, revision, typeof reason === "string" ? reason : error.message), release: true };
    }
    throw error;
  }
  if (method === DISCOVER) return { answer: discoverAnswer(upstream.supervisor.discoverResult!, revision) };
  return {};
}

/**
 * A result the proxy makes itself (the pinned tool list, filtered for the caller): under the stateless revision it says
 * it is complete, is the caller's own (`private`) and is not to be cached (`ttlMs` 0: the list may be re-pinned).
 */
export function ownResult(upstream: UpstreamSession, result: Record<string, unknown>): Record<string, unknown> {
  return upstream.supervisor.modern === undefined ? result : { ...result, resultType: "complete", ttlMs: 0, cacheScope: "private" };
}
