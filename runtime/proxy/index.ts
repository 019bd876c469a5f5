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
import { APPROVAL_TIMEOUT_MS, FORWARDED_CLIENT_CAPABILITIES, MAX_UPSTREAM_SESSIONS, ProxyCore, type UpstreamMode } from "./core.js";
import { ProxyError } from "./errors.js";
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
export * from "./upstream-session.js";
export type { DiscoverResult } from "./modern.js";

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
  /**
   * `per-session` (default): each client gets its own upstream MCP session, started when it connects and ended when it
   * leaves; `shared`: every client shares one, for servers whose state must be one. See UpstreamMode.
   */
  readonly upstreamMode?: UpstreamMode | undefined;
  /** Most upstream sessions open at once in per-session mode; MAX_UPSTREAM_SESSIONS (32) by default. */
  readonly maxUpstreams?: number | undefined;
  /**
   * `enforce` (default) refuses what the policy refuses; `monitor` decides and audits every call as usual but lets
   * through the calls the policy denies or would ask about, marked in the audit log (DecisionOptions.monitor).
   */
  readonly mode?: "enforce" | "monitor" | undefined;
}

/**
 * A server can change a tool without sending `tools/list_changed`; the list is read again this often so that such a
 * change is refused within this time (plus one read). One `tools/list` per interval costs the upstream next to nothing.
 */
export const TOOL_RECHECK_INTERVAL_MS = 30_000;

export interface Proxy {
  readonly core: ProxyCore;
  /** The upstream session opened at set-up: the shared one, or in per-session mode the first client's. */
  readonly upstream: UpstreamSupervisor;
  /** Its pin. */
  readonly pin: ToolPin;
  readonly decisions: DecisionPoint;
  /** Starts (or connects to) the initial upstream session and pins its tool list; rejects (PQG8001) when that fails. */
  start(): Promise<void>;
  close(): Promise<void>;
}

export function createProxy(options: ProxyOptions): Proxy {
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
      monitor: options.mode === "monitor",
      ...(options.manifest === undefined ? {} : { manifest: options.manifest }),
    },
    options.manifest?.digest ?? guardTableDigest(options.guard),
  );
  const recheckMs = options.toolRecheckMs ?? TOOL_RECHECK_INTERVAL_MS;
  if (!Number.isFinite(recheckMs) || recheckMs < 0) throw new ProxyError("PQG8006", `the tool recheck interval must be 0 or a positive number of ms, not ${recheckMs}`, JSONRPC_INVALID_PARAMS);
  const maxUpstreams = options.maxUpstreams ?? MAX_UPSTREAM_SESSIONS;
  if (!Number.isSafeInteger(maxUpstreams) || maxUpstreams < 1) throw new ProxyError("PQG8006", `the most upstream sessions must be a positive whole number, not ${maxUpstreams}`, JSONRPC_INVALID_PARAMS);
  const core = new ProxyCore({
    openUpstream: (events, modern) => ({
      supervisor: new UpstreamSupervisor(options.upstream, {
        logger: options.logger,
        callTimeoutMs: options.callTimeoutMs,
        healthPingTimeoutMs: options.healthPingTimeoutMs,
        onReady: () => events.onReady(),
        onNotification: (notification) => events.onNotification(notification),
        onRequest: (request, signal) => events.onRequest(request, signal),
        capabilities: options.upstreamCapabilities ?? FORWARDED_CLIENT_CAPABILITIES,
        modern,
      }),
      pin: new ToolPin(options.guard, options.manifest),
    }),
    upstreamMode: options.upstreamMode,
    maxUpstreams,
    decisions,
    logger: options.logger,
    approver: options.approver,
    onDecision: options.onDecision,
    clientRequestTimeoutMs: options.clientRequestTimeoutMs,
    approvalTimeoutMs: options.approvalTimeoutMs,
  });
  let recheck: NodeJS.Timeout | undefined;
  return {
    core,
    get upstream() {
      return core.initialUpstream.supervisor;
    },
    get pin() {
      return core.initialUpstream.pin;
    },
    decisions,
    async start() {
      await core.start();
      if (recheckMs > 0 && recheck === undefined) {
        recheck = setInterval(() => core.recheckTools(), recheckMs);
        recheck.unref();
      }
    },
    async close() {
      clearInterval(recheck);
      await core.close();
    },
  };
}
