// Errors of the proxy: typed values with a stable code, and the JSON-RPC error codes the proxy answers with.

/** JSON-RPC error codes the proxy sends downstream (server-defined range -32000..-32099). */
export const RPC_UPSTREAM_UNAVAILABLE = -32000; // same meaning as the SDK's ConnectionClosed
export const RPC_UPSTREAM_TIMEOUT = -32001; // same meaning as the SDK's RequestTimeout
/** A call the guard or the manifest pin refused; the handler upstream never saw it. */
export const RPC_CALL_DENIED = -32003;

export type ProxyErrorCode =
  | "PQG8001" // upstream did not start
  | "PQG8002" // upstream exited, could not be reached, or was restarting while a call was in flight
  | "PQG8003" // upstream did not answer in time
  | "PQG8004" // the proxy is closed
  | "PQG8005" // the upstream answered with an error
  | "PQG8006" // bad proxy configuration or request
  | "PQG8007" // the call was refused (guard, pin, approval); details in the error data
  | "PQG8008" // a request from the upstream could not be forwarded to a client (none, several, capability, timeout)
  | "PQG8009" // the client answered a request forwarded from the upstream with an error; relayed unchanged
  | "PQG8010" // a client asked for a method that is not an MCP client request; refused with -32601
  | "PQG8011" // per-session mode: every upstream session is taken, so this client has none
  | "PQG8012" // a client has MAX_REQUESTS_IN_FLIGHT requests in flight already
  | "PQG8020"; // a client speaks protocol revision 2026-07-28 (no initialize), which the upstream session does not

export class ProxyError extends Error {
  constructor(
    readonly code: ProxyErrorCode,
    message: string,
    /** The JSON-RPC error code to answer a downstream request with. */
    readonly rpcCode: number,
    readonly data?: unknown,
  ) {
    super(message);
    this.name = "ProxyError";
  }
}

/** An error response the upstream server sent for a request; relayed downstream unchanged. */
export class UpstreamRpcError extends ProxyError {
  constructor(readonly rpcError: { readonly code: number; readonly message: string; readonly data?: unknown }) {
    super("PQG8005", rpcError.message, rpcError.code, rpcError.data);
    this.name = "UpstreamRpcError";
  }
}
