// Errors of the proxy: typed values with a stable code, and the JSON-RPC error codes the proxy answers with.
import { PqguardError, errorCatalogue } from "../errors.js";

/** JSON-RPC error codes the proxy sends downstream (server-defined range -32000..-32099). */
export const RPC_UPSTREAM_UNAVAILABLE = -32000; // same meaning as the SDK's ConnectionClosed
export const RPC_UPSTREAM_TIMEOUT = -32001; // same meaning as the SDK's RequestTimeout
/** A call the guard or the manifest pin refused; the handler upstream never saw it. */
export const RPC_CALL_DENIED = -32003;

export const PROXY_ERRORS = errorCatalogue("proxy", "ProxyError", [[8001, 8099]], {
  UpstreamDidNotStart: ["PQG8001", "The upstream server did not start, or could not be reached when the proxy started."],
  UpstreamUnavailable: ["PQG8002", "The upstream exited, could not be reached, or was restarting while a call was in flight."],
  UpstreamTimeout: ["PQG8003", "The upstream did not answer in time."],
  ProxyClosed: ["PQG8004", "The proxy is closed or closing."],
  UpstreamRpcError: ["PQG8005", "The upstream answered with a JSON-RPC error; relayed unchanged."],
  BadConfiguration: ["PQG8006", "A proxy option, listener or upstream URL that cannot work, or the proxy used out of order."],
  CallRefused: ["PQG8007", "The call was refused (guard, pin, approval); details in the error data."],
  NotForwarded: ["PQG8008", "A request from the upstream could not be forwarded to a client (none, several, capability, timeout)."],
  ClientRpcError: ["PQG8009", "The client answered a request forwarded from the upstream with an error; relayed unchanged."],
  NotAClientRequest: ["PQG8010", "A client asked for a method that is not an MCP client request; refused with -32601."],
  NoUpstreamSession: ["PQG8011", "Per-session mode: every upstream session is taken, so this client has none."],
  TooManyInFlight: ["PQG8012", "A client has MAX_REQUESTS_IN_FLIGHT requests in flight already."],
  Cancelled: ["PQG8013", "The client cancelled the request before it was answered."],
  UpstreamMalformed: ["PQG8014", "The upstream answered with a response that is not a valid JSON-RPC response for the request."],
  ClientClosed: ["PQG8015", "The client's connection closed before its call could be decided."],
  BadClientMessage: ["PQG8016", "A client sent a request with invalid params, or a malformed answer to a request from the upstream."],
  ToolListUnstable: ["PQG8017", "The upstream's tool list kept changing while it was read, so it could not be pinned."],
  ProtocolNotServed: ["PQG8020", "A client of the stateless protocol revision (2026-07-28, no initialize) cannot be passed through to the upstream."],
  TooManySubscriptions: ["PQG8021", "MAX_LISTEN_SUBSCRIPTIONS change subscriptions (`subscriptions/listen`) are open through the proxy already."],
  DuplicateRequestId: ["PQG8022", "A client sent a request with the id of one of its requests still in flight; refused with -32600, the one in flight kept."],
});

/** The codes by name. */
export const ProxyErrorCode = PROXY_ERRORS.codes;
export type ProxyErrorCode = (typeof ProxyErrorCode)[keyof typeof ProxyErrorCode];

export class ProxyError extends PqguardError {
  declare readonly code: ProxyErrorCode;
  constructor(
    code: ProxyErrorCode,
    message: string,
    /** The JSON-RPC error code to answer a downstream request with. */
    readonly rpcCode: number,
    readonly data?: unknown,
  ) {
    super(code, message);
    this.name = "ProxyError";
  }
}

/** An error response the upstream server sent for a request; relayed downstream unchanged. */
export class UpstreamRpcError extends ProxyError {
  constructor(readonly rpcError: { readonly code: number; readonly message: string; readonly data?: unknown }) {
    super(ProxyErrorCode.UpstreamRpcError, rpcError.message, rpcError.code, rpcError.data);
    this.name = "UpstreamRpcError";
  }
}
