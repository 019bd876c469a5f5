// `pqguard proxy` as a library: put an unmodified stdio MCP server behind a guard, with its tool list pinned.
// The guard is injected (a compiled module or the interpreter), so this layer never depends on the compiler.
import type { Logger } from "pino";
import type { AuditSink } from "../audit/index.js";
import type { GuardModule } from "../guard/types.js";
import { MemoryStateStore, type StateStore } from "../state/index.js";
import { ProxyCore } from "./core.js";
import { GuardGate, type Approver, type GateVerdict } from "./gate.js";
import { ToolPin } from "./pin.js";
import { UpstreamSupervisor, type UpstreamCommand } from "./upstream.js";

export * from "./core.js";
export * from "./errors.js";
export * from "./framing.js";
export * from "./gate.js";
export * from "./pin.js";
export * from "./stdio.js";
export * from "./upstream.js";

export interface ProxyOptions {
  readonly upstream: UpstreamCommand;
  readonly guard: GuardModule;
  /** Tool name → reviewed digest; the signed manifest's digests, else the guard's own `toolDigests`. */
  readonly reviewedDigests?: Readonly<Record<string, string>> | undefined;
  readonly manifestDigest?: string | undefined;
  readonly logger: Logger;
  readonly state?: StateStore | undefined;
  readonly audit?: AuditSink | undefined;
  /** Epoch ms; defaults to the system clock. */
  readonly clock?: (() => number) | undefined;
  readonly approver?: Approver | undefined;
  readonly approvalTimeoutMs?: number | undefined;
  readonly callTimeoutMs?: number | undefined;
  readonly onDecision?: ((tool: string, verdict: GateVerdict) => void) | undefined;
}

export interface Proxy {
  readonly core: ProxyCore;
  readonly upstream: UpstreamSupervisor;
  readonly pin: ToolPin;
  /** Starts the upstream and pins its tool list; rejects (PQG8001) when the upstream cannot start. */
  start(): Promise<void>;
  close(): Promise<void>;
}

export function createProxy(options: ProxyOptions): Proxy {
  const pin = new ToolPin(options.reviewedDigests ?? options.guard.toolDigests);
  const gate = new GuardGate({
    guard: options.guard,
    state: options.state ?? new MemoryStateStore(),
    audit: options.audit,
    clock: options.clock ?? Date.now,
    logger: options.logger,
    approvalTimeoutMs: options.approvalTimeoutMs,
    manifestDigest: options.manifestDigest,
  });
  let core: ProxyCore | undefined;
  const upstream = new UpstreamSupervisor(options.upstream, {
    logger: options.logger,
    callTimeoutMs: options.callTimeoutMs,
    onReady: () => core?.upstreamReady(),
    onNotification: (notification) => core?.upstreamNotification(notification),
  });
  core = new ProxyCore({ upstream, gate, pin, logger: options.logger, approver: options.approver, onDecision: options.onDecision });
  const started = core;
  return {
    core: started,
    upstream,
    pin,
    async start() {
      await upstream.start();
      await started.refreshTools();
    },
    async close() {
      await started.close();
      await upstream.close();
    },
  };
}
