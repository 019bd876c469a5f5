// How enforcement refuses a call: one JSON-RPC error code for every refusal, and a stable PQG73xx code, the reason
// and the determining rule ids in its `data`, so that a client (or a model) can tell why and an operator can grep.
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { PqguardError, errorCatalogue } from "../errors.js";
import type { ResultErrorCode } from "./results.js";

/** The JSON-RPC error code of every refused `tools/call` (implementation-defined server error range). */
export const GUARD_REFUSAL_ERROR = -32010;

export const ENFORCE_ERRORS = errorCatalogue("enforcement", "EnforceError", [[7301, 7399]], {
  PolicyDenied: ["PQG7301", "The policy denied the call (a forbid, an exceeded limit, or no permit)."],
  NoSession: ["PQG7302", "No established post-quantum session: the guard refuses to decide."],
  ToolChanged: ["PQG7303", "The tool's live definition differs from the one the policy or the signed manifest pinned (a rug pull)."],
  ToolUnknown: ["PQG7304", "The tool is not in the signed manifest or the policy's tool list, or the server does not offer it."],
  ToolListUnavailable: ["PQG7313", "The server's tool list could not be read to pin the tool: it failed, did not answer in time, or kept changing."],
  ApprovalRefused: ["PQG7305", "The policy asked for approval and it was refused, timed out, or could not be asked."],
  GuardFailed: ["PQG7306", "The guard threw while deciding."],
  StateFailed: ["PQG7307", "The call history could not be read or written."],
  BadArguments: ["PQG7308", "The arguments are not a JSON object or are larger than the limit."],
  AuditFailed: ["PQG7309", "The audit log cannot be written, so no call can be recorded."],
  UnsupportedSdk: ["PQG7310", "The object handed to `enforce`/`guardClient` is not an SDK Client or Server: it has no `connect(transport)`."],
  RetentionTooShort: ["PQG7311", "At set-up: the state store keeps calls for less time than the policy's longest window counts them."],
  Cancelled: ["PQG7312", "The request was cancelled, or its connection closed, before the call could be decided or while its approval was pending."],
  CertificateExpired: ["PQG7314", "A certificate the session rests on (the client's or the server's) reached its not-after without being renewed."],
  ManifestWrongServer: ["PQG7315", "The signed manifest is bound to other server identities than the session's server."],
  ManifestExpired: ["PQG7316", "The signed manifest calls are pinned to expired while the server, proxy or client kept running."],
  SessionlessState: ["PQG7317", "The policy reads session state (a per-session limit, `calls()`, `seen()`, `session.*`) and the request, of a sessionless protocol revision without a sealed session, has none."],
});

/** The codes by name, to throw with. */
export const EnforceErrorCode = ENFORCE_ERRORS.codes;

export type EnforceErrorCode = (typeof EnforceErrorCode)[keyof typeof EnforceErrorCode];

/** What a refused call's JSON-RPC error carries in `data`. */
export interface RefusalData {
  /** An enforcement code, or for a result a result rule withheld, a result code (PQG77xx). */
  readonly code: EnforceErrorCode | ResultErrorCode;
  readonly decision: "deny";
  readonly tool: string;
  readonly reason: string;
  /** Ids of the determining rules (`payments.policy:27`); empty when no rule decided. */
  readonly rules: readonly string[];
}

export function refusalError(data: RefusalData): McpError {
  return new McpError(GUARD_REFUSAL_ERROR, `call to \`${data.tool}\` refused: ${data.reason}`, data);
}

/**
 * Reads the refusal data back from an error a client received (SDK v1's McpError or v2's ProtocolError: any error with
 * the refusal's JSON-RPC code); undefined when the error is not a refusal.
 */
export function refusalOf(error: unknown): RefusalData | undefined {
  if (!(error instanceof Error) || (error as { code?: unknown }).code !== GUARD_REFUSAL_ERROR) return undefined;
  const data = (error as { data?: unknown }).data as Partial<RefusalData> | undefined;
  return typeof data?.code === "string" && typeof data.reason === "string" ? (data as RefusalData) : undefined;
}

/** Thrown by `enforce`/`guardClient` at set-up when they cannot attach. */
export class EnforceError extends PqguardError {
  declare readonly code: EnforceErrorCode;
  constructor(code: EnforceErrorCode, message: string) {
    super(code, message);
    this.name = "EnforceError";
  }
}
