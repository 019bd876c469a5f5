// The proxy's call gate: builds the guard context from the downstream session, asks the injected guard, runs
// approvals for `ask`, records allowed calls, and audits every decision. Any failure on the way denies.
import type { Logger } from "pino";
import type { AuditDecision, AuditSink, AuditSuite } from "../audit/index.js";
import type { Decision, GuardContext, GuardModule, GuardRequest } from "../guard/types.js";
import type { SessionInfo } from "../session/facts.js";
import type { StateStore } from "../state/index.js";

/** How long an `ask` waits for a human before it becomes a deny. */
export const DEFAULT_APPROVAL_TIMEOUT_MS = 60_000;

/** Refusal codes, shared with the enforcement layer's audit lines. */
export const CODE_POLICY_DENY = "PQG7301";
export const CODE_NO_SESSION = "PQG7302";
export const CODE_TOOL_NOT_PINNED = "PQG8101";
export const CODE_APPROVAL_REFUSED = "PQG8102";
export const CODE_GATE_FAILURE = "PQG8103";

/** What the proxy knows about the downstream peer of one connection. */
export type DownstreamFacts =
  /** A post-quantum sealed connection; `session` is undefined until the handshake completed. */
  | { readonly kind: "sealed"; readonly session: SessionInfo | undefined }
  /** Plain stdio for a client that cannot speak the sealed transport: unauthenticated and classical. */
  | { readonly kind: "plain"; readonly connectionId: string; readonly connectedAt: number };

export interface ApprovalRequest {
  readonly tool: string;
  readonly args: Readonly<Record<string, unknown>>;
  readonly decision: Decision;
}

/** Asks a human; resolves true to approve. Rejections and timeouts deny. */
export type Approver = (request: ApprovalRequest, signal: AbortSignal) => Promise<boolean>;

export interface GateCall {
  readonly tool: string;
  readonly args: Readonly<Record<string, unknown>>;
  readonly facts: DownstreamFacts;
  /** Set when the tool list pin already refuses the tool: the guard is not consulted. */
  readonly pinRefusal?: string | undefined;
  readonly approver?: Approver | undefined;
}

export interface GateVerdict {
  readonly allowed: boolean;
  /** The guard's decision (or the refusal standing in for one). */
  readonly decision: Decision;
  /** The PQG code of a refusal. */
  readonly code: string | undefined;
  /** The reason to answer a refused call with. */
  readonly reason: string;
  readonly approval: AuditDecision["approval"];
}

export interface GuardGateOptions {
  readonly guard: GuardModule;
  readonly state: StateStore;
  readonly audit?: AuditSink | undefined;
  /** Epoch ms; injected so that tests and demos control business-hours rules. */
  readonly clock: () => number;
  readonly logger: Logger;
  readonly approvalTimeoutMs?: number | undefined;
  /** Digest of the signed manifest in force, for audit lines. */
  readonly manifestDigest?: string | undefined;
}

function refusal(reason: string): Decision {
  return { decision: "deny", determining: [], reason, explain: [] };
}

function claim(session: SessionInfo, key: string): string | undefined {
  const value = session.client?.claims[key];
  return typeof value === "string" ? value : undefined;
}

/** Who the call counts against: the session and, for `per client` limits, the client. */
function historyKey(facts: DownstreamFacts): { sessionId: string; clientId: string } {
  if (facts.kind === "plain") return { sessionId: facts.connectionId, clientId: `unauthenticated:${facts.connectionId}` };
  const session = facts.session!;
  return { sessionId: session.sessionId, clientId: session.client?.fingerprint ?? `unauthenticated:${session.sessionId}` };
}

export function guardContext(facts: DownstreamFacts, now: number, history: GuardContext["history"], calls: number): GuardContext {
  if (facts.kind === "plain") {
    return {
      client: { authenticated: false },
      peer: {},
      transport: { hybrid: false, level: 0 },
      session: { id: facts.connectionId, ageMs: now - facts.connectedAt, calls },
      now,
      history,
    };
  }
  const session = facts.session!;
  return {
    client: {
      id: claim(session, "id"),
      role: claim(session, "role"),
      authenticated: session.client !== undefined,
      fingerprint: session.client?.fingerprint,
      claims: session.client?.claims,
    },
    peer: { fingerprint: session.peerFingerprint, label: session.peerLabel },
    transport: {
      kem: session.suite.kem,
      signature: session.suite.signature,
      aead: session.suite.aead,
      hybrid: session.suite.hybrid,
      level: session.suite.level,
    },
    session: { id: session.sessionId, ageMs: now - session.establishedAt, calls },
    now,
    history,
  };
}

function suiteOf(facts: DownstreamFacts): AuditSuite | undefined {
  if (facts.kind !== "sealed" || facts.session === undefined) return undefined;
  const { kem, signature, aead, hybrid, level } = facts.session.suite;
  return { kem, signature, aead, hybrid, level };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class GuardGate {
  readonly #options: GuardGateOptions;

  constructor(options: GuardGateOptions) {
    this.#options = options;
  }

  get guard(): GuardModule {
    return this.#options.guard;
  }

  /** Decides one `tools/call`. Never rejects: every failure is a deny verdict, and every verdict is audited. */
  async decide(call: GateCall): Promise<GateVerdict> {
    const now = this.#options.clock();
    let verdict = await this.#evaluate(call, now);
    if (verdict.allowed) {
      try {
        await this.#options.state.record({ tool: call.tool, at: now, ...historyKey(call.facts) });
      } catch (error) {
        verdict = this.#failure(verdict.decision, `the call history could not be updated: ${describe(error)}`);
      }
    }
    return this.#audit(call, now, verdict);
  }

  async #evaluate(call: GateCall, now: number): Promise<GateVerdict> {
    if (call.pinRefusal !== undefined) {
      return { allowed: false, decision: refusal(call.pinRefusal), code: CODE_TOOL_NOT_PINNED, reason: call.pinRefusal, approval: undefined };
    }
    if (call.facts.kind === "sealed" && call.facts.session === undefined) {
      const reason = "no post-quantum session is established; the guard refuses to decide";
      return { allowed: false, decision: refusal(reason), code: CODE_NO_SESSION, reason, approval: undefined };
    }
    const auditFailure = this.#options.audit?.failure;
    if (auditFailure !== undefined) return this.#failure(undefined, `the audit log cannot be written: ${auditFailure.message}`);
    let decision: Decision;
    try {
      const snapshot = await this.#options.state.snapshot(historyKey(call.facts), now);
      const request: GuardRequest = { tool: call.tool, args: call.args };
      decision = this.#options.guard.guard(request, guardContext(call.facts, now, snapshot.history, snapshot.sessionCalls));
    } catch (error) {
      return this.#failure(undefined, `the guard could not decide: ${describe(error)}`);
    }
    if (decision.decision === "allow") return { allowed: true, decision, code: undefined, reason: decision.reason, approval: undefined };
    if (decision.decision === "deny") return { allowed: false, decision, code: CODE_POLICY_DENY, reason: decision.reason, approval: undefined };
    return this.#approve(call, decision);
  }

  async #approve(call: GateCall, decision: Decision): Promise<GateVerdict> {
    const denied = (approval: AuditDecision["approval"], why: string): GateVerdict => ({
      allowed: false,
      decision,
      code: CODE_APPROVAL_REFUSED,
      reason: `${decision.reason} (${why})`,
      approval,
    });
    if (call.approver === undefined) return denied("unavailable", "no approver is available");
    const timeoutMs = this.#options.approvalTimeoutMs ?? DEFAULT_APPROVAL_TIMEOUT_MS;
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    try {
      const answer = await Promise.race([call.approver({ tool: call.tool, args: call.args, decision }, controller.signal), timeout]);
      if (answer === "timeout") {
        controller.abort();
        this.#options.logger.warn({ tool: call.tool }, "approval timed out; denied");
        return denied("timeout", "approval timed out");
      }
      return answer ? { allowed: true, decision, code: undefined, reason: decision.reason, approval: "approved" } : denied("refused", "approval refused");
    } catch (error) {
      return denied("unavailable", `approval failed: ${describe(error)}`);
    } finally {
      clearTimeout(timer);
    }
  }

  #failure(decision: Decision | undefined, reason: string): GateVerdict {
    this.#options.logger.error({ code: CODE_GATE_FAILURE }, reason);
    return { allowed: false, decision: decision ?? refusal(reason), code: CODE_GATE_FAILURE, reason, approval: undefined };
  }

  #audit(call: GateCall, now: number, verdict: GateVerdict): GateVerdict {
    const audit = this.#options.audit;
    if (audit === undefined) return verdict;
    const session = call.facts.kind === "sealed" ? call.facts.session : undefined;
    const decided = verdict.code === CODE_TOOL_NOT_PINNED || verdict.code === CODE_NO_SESSION || verdict.code === CODE_GATE_FAILURE;
    try {
      audit.append({
        time: now,
        side: "server",
        tool: call.tool,
        decision: decided ? "deny" : verdict.decision.decision,
        outcome: verdict.allowed ? "allowed" : "denied",
        approval: verdict.approval,
        code: verdict.code,
        rules: verdict.decision.determining,
        reason: verdict.reason,
        sessionId: session?.sessionId ?? (call.facts.kind === "plain" ? call.facts.connectionId : undefined),
        peerFingerprint: session?.peerFingerprint,
        clientFingerprint: session?.client?.fingerprint,
        suite: suiteOf(call.facts),
        manifestDigest: this.#options.manifestDigest,
        policyDigest: this.#options.guard.policyDigest,
        args: call.args,
      });
      return verdict;
    } catch (error) {
      // A decision that cannot be recorded is not carried out.
      const reason = `the audit log cannot be written: ${describe(error)}`;
      this.#options.logger.error({ code: CODE_GATE_FAILURE }, reason);
      return { allowed: false, decision: verdict.decision, code: CODE_GATE_FAILURE, reason, approval: verdict.approval };
    }
  }
}
