// The MCP methods the proxy forwards from a client to the upstream: one list, by specification revision. A method
// not on it is refused with -32601, so that a name the upstream might normalise (`Tools/Call`, `tools/call `) never
// reaches it without a decision.

/** The MCP specification revisions whose client requests the proxy knows. */
export const SUPPORTED_MCP_REVISIONS = ["2025-03-26", "2025-06-18", "2025-11-25"] as const;

/**
 * Client-to-server requests of those revisions, exactly as the specification spells them. `initialize`, `ping`,
 * `tools/list` and `tools/call` are answered or decided by the proxy itself; the rest are forwarded as they are.
 */
export const CLIENT_REQUEST_METHODS: ReadonlySet<string> = new Set([
  "initialize",
  "ping",
  "tools/list",
  "tools/call",
  "resources/list",
  "resources/templates/list",
  "resources/read",
  "resources/subscribe",
  "resources/unsubscribe",
  "prompts/list",
  "prompts/get",
  "completion/complete",
  "logging/setLevel",
  // 2025-11-25: tasks, for requests the client asked to run as tasks.
  "tasks/get",
  "tasks/result",
  "tasks/list",
  "tasks/cancel",
]);

/** True for a client request the proxy forwards or handles; false for anything else, however close its name. */
export function isClientRequestMethod(method: string): boolean {
  return CLIENT_REQUEST_METHODS.has(method);
}
