// `pqguard proxy` as a library: put an unmodified MCP server (stdio command or Streamable HTTP URL) behind a guard,
// with its tool list pinned.
// The guard is injected (a compiled module or the interpreter), so this layer never depends on the compiler.
import type { Logger } from "pino";
import type { AuditSink } from "../audit/index.js";
import { DecisionPoint, guardTableDigest, type ApprovalCallback, type Verdict } from "../enforce/index.js";
import type { GuardModule } from "../guard/types.js";
import type { VerifiedManifest } from "../manifest/signed.js";
import type { StateStore } from "../state/index.js";
import type { ClientCapabilities } from "@modelcontextprotocol/sdk/types.js";
import { APPROVAL_TIMEOUT_MS, FORWARDED_CLIENT_CAPABILITIES, ProxyCore } from "./core.js";
import { ProxyError, RPC_UPSTREAM_UNAVAILABLE } from "./errors.js";
import { JSONRPC_INVALID_PARAMS } from "./framing.js";
import { ToolPin } from "./pin.js";
import { UpstreamSupervisor, type UpstreamTarget } from "./upstream.js";

export * from "./core.js";
export * from "./errors.js";
export * from "./framing.js";
export * from "./methods.js";
export * from "./http.js";
export * from "./pin.js";
export * from "./stdio.js";
export * from "./upstream.js";

export interface ProxyOptions {
  /** The server to put behind the guard: a command run over stdio, or the URL of a Streamable HTTP server. */
  readonly upstream: UpstreamTarget;
  readonly guard: GuardModule;
  /** The verified signed manifest; without one, tools are pinned to the definitions the guard was compiled against. */
  readonly manifest?: VerifiedManifest | undefined;
  readonly logger: Logger;
  /**
   * Call history shared by every connection; by default a fresh in-memory store that keeps calls for the policy's
   * longest window (24 h at least). A store keeping them for less is refused when the proxy is created (PQG7311).
   */
  readonly state?: StateStore | undefined;
  readonly audit?: AuditSink | undefined;
  /** Epoch ms; the system clock by default. */
  readonly clock?: (() => number) | undefined;
  /** Overrides MCP elicitation to the downstream client as the way `ask` decisions are put to a human. */
  readonly approver?: ApprovalCallback | undefined;
  /** How long a human may take to approve an `ask`; APPROVAL_TIMEOUT_MS (25 s) by default. */
  readonly approvalTimeoutMs?: number | undefined;
  /** How long the upstream may take to answer a call once it is forwarded; DEFAULT_CALL_TIMEOUT_MS (30 s) by default. */
  readonly callTimeoutMs?: number | undefined;
  readonly healthPingTimeoutMs?: number | undefined;
  readonly onDecision?: ((tool: string, verdict: Verdict) => void) | undefined;
  /** How long a client may take to answer an elicitation, sampling or roots request forwarded from the upstream. */
  readonly clientRequestTimeoutMs?: number | undefined;
  /** The client capabilities declared to the upstream; FORWARDED_CLIENT_CAPABILITIES (elicitation, sampling, roots) by default. */
  readonly upstreamCapabilities?: ClientCapabilities | undefined;
  /**
   * How often the upstream's tool list is read again without a notice, in ms; TOOL_RECHECK_INTERVAL_MS (30 s) by
   * default, 0 to read it only at start, on `tools/list_changed` and when a client lists tools.
   */
  readonly toolRecheckMs?: number | undefined;
}

/**
 * A server can change a tool without sending `tools/list_changed`; the list is read again this often so that such a
 * change is refused within this time (plus one read). One `tools/list` per interval costs the upstream next to nothing.
 */
export const TOOL_RECHECK_INTERVAL_MS = 30_000;

export interface Proxy {
  readonly core: ProxyCore;
  readonly upstream: UpstreamSupervisor;
  readonly pin: ToolPin;
  readonly decisions: DecisionPoint;
  /** Starts (or connects to) the upstream and pins its tool list; rejects (PQG8001) when that fails. */
  start(): Promise<void>;
  close(): Promise<void>;
}

export function createProxy(options: ProxyOptions): Proxy {
  const pin = new ToolPin(options.guard, options.manifest);
  const decisions = new DecisionPoint(
    options.guard,
    "server",
    {
      // Without a store, the decision point creates one sized to the guard's longest window.
      ...(options.state === undefined ? {} : { store: options.state }),
      ...(options.audit === undefined ? {} : { audit: options.audit }),
      now: options.clock ?? Date.now,
      logger: options.logger,
      approvalTimeoutMs: options.approvalTimeoutMs ?? APPROVAL_TIMEOUT_MS,
    },
    options.manifest?.digest ?? guardTableDigest(options.guard),
  );
  let core: ProxyCore | undefined;
  const upstream = new UpstreamSupervisor(options.upstream, {
    logger: options.logger,
    callTimeoutMs: options.callTimeoutMs,
    healthPingTimeoutMs: options.healthPingTimeoutMs,
    onReady: () => core?.upstreamReady(),
    onNotification: (notification) => core?.upstreamNotification(notification),
    onRequest: async (request, signal): Promise<unknown> => {
      if (core === undefined) throw new ProxyError("PQG8008", "the proxy is not serving clients yet", RPC_UPSTREAM_UNAVAILABLE);
      return core.upstreamRequest(request.method, request.params, signal);
    },
    capabilities: options.upstreamCapabilities ?? FORWARDED_CLIENT_CAPABILITIES,
  });
  const started = new ProxyCore({
    upstream,
    decisions,
    pin,
    logger: options.logger,
    approver: options.approver,
    onDecision: options.onDecision,
    clientRequestTimeoutMs: options.clientRequestTimeoutMs,
    approvalTimeoutMs: options.approvalTimeoutMs,
  });
  core = started;
  let recheck: NodeJS.Timeout | undefined;
  const recheckMs = options.toolRecheckMs ?? TOOL_RECHECK_INTERVAL_MS;
  if (!Number.isFinite(recheckMs) || recheckMs < 0) throw new ProxyError("PQG8006", `the tool recheck interval must be 0 or a positive number of ms, not ${recheckMs}`, JSONRPC_INVALID_PARAMS);
  return {
    core: started,
    upstream,
    pin,
    decisions,
    async start() {
      await upstream.start();
      await started.refreshTools();
      if (recheckMs > 0 && recheck === undefined) {
        recheck = setInterval(() => {
          started.recheckTools().catch((error: unknown) => options.logger.warn({ err: String(error) }, "tool list could not be read again"));
        }, recheckMs);
        recheck.unref();
      }
    },
    async close() {
      clearInterval(recheck);
      await started.close();
      await upstream.close();
    },
  };
}
