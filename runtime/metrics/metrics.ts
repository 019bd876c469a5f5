// Prometheus metrics of a pqguard deployment (prom-client): handshakes, handshake failures by reason, decisions,
// manifest mismatches, rekeys, open sessions and key ages. One PqguardMetrics per registry; the process has a current one.
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { SessionErrorCode, type SessionError } from "../session/errors.js";

/** Why a handshake failed, as an operator alerts on it. */
export type HandshakeFailureReason =
  | "mac_failure"
  | "bad_signature"
  | "untrusted_certificate"
  | "expired_certificate"
  | "downgrade"
  | "timeout"
  | "no_common_suite"
  | "client_auth_required"
  | "malformed"
  | "closed"
  | "other";

export type Side = "client" | "server";

/** What the transports report when a handshake fails. */
export interface HandshakeFailure {
  readonly side: Side;
  readonly reason: HandshakeFailureReason;
  /** Who was on the other end: a remote address (server side) or a server fingerprint or URL (client side). */
  readonly peer: string | undefined;
  readonly code: string;
}

/** A key the metrics report the age of (`pqguard_key_age_seconds`). */
export interface KeyAgeSource {
  readonly keyId: string;
  readonly algorithm: string;
  readonly state: string;
  /** Epoch ms. */
  readonly created: number;
}

/**
 * Handshake durations, in seconds: a warm hybrid handshake takes about a millisecond, a cold one with certificate
 * verification a few, one across a network tens; a handshake near its 10 s timeout lands in the last bucket.
 */
const HANDSHAKE_SECONDS_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The failure reason of a session error code: the classes an operator tells apart in alerts. */
export function failureReasonOf(error: SessionError): HandshakeFailureReason {
  switch (error.code) {
    case SessionErrorCode.KeyConfirmationFailed:
    case SessionErrorCode.BadRecordMac:
      return "mac_failure";
    case SessionErrorCode.BadCertificate:
    case SessionErrorCode.ClientAuthFailed:
      if (error.certificateFailure === "untrusted") return "untrusted_certificate";
      if (error.certificateFailure === "signature") return "bad_signature";
      return error.code === SessionErrorCode.BadCertificate ? "malformed" : "other";
    case SessionErrorCode.UntrustedServerKey:
      return "untrusted_certificate";
    case SessionErrorCode.CertificateExpired:
      return "expired_certificate";
    case SessionErrorCode.Downgrade:
    case SessionErrorCode.CertificateSuiteMismatch:
      return "downgrade";
    case SessionErrorCode.Timeout:
      return "timeout";
    case SessionErrorCode.NoCommonSuite:
      return "no_common_suite";
    case SessionErrorCode.ClientAuthRequired:
      return "client_auth_required";
    case SessionErrorCode.MalformedHandshake:
    case SessionErrorCode.UnexpectedMessage:
    case SessionErrorCode.KeyExchangeFailed:
    case SessionErrorCode.FrameTooLarge:
      return "malformed";
    case SessionErrorCode.PeerClosedDuringHandshake:
    case SessionErrorCode.Closed:
      return "closed";
    default:
      return "other";
  }
}

export interface PqguardMetricsOptions {
  /** The registry to register in (an application's own); a new one by default. */
  readonly registry?: Registry;
  /** Metric name prefix; `pqguard_` by default. */
  readonly prefix?: string;
}

/** The pqguard metrics on one registry. Recording costs a Map lookup and an increment: see docs/performance.md. */
export class PqguardMetrics {
  readonly registry: Registry;
  private readonly handshakes: Counter<"side" | "kem" | "signature" | "aead" | "outcome">;
  private readonly handshakeSeconds: Histogram<"side">;
  private readonly failures: Counter<"side" | "reason">;
  private readonly mismatches: Counter<"tool">;
  private readonly rekeys: Counter<"side">;
  private readonly sessionFailures: Counter<"side" | "reason">;
  private readonly sessionsOpen: Gauge<"side">;
  private readonly alerts: Counter<"kind">;
  /**
   * Decisions counted since the last scrape, by their joined labels. prom-client hashes the label set on every
   * increment (about 0.8 µs); a Map get and an addition cost a tenth of that, and the counter takes the sums when it
   * is collected, so what a scrape reads is the same.
   */
  private readonly pendingDecisions = new Map<string, Map<string, Map<string, Map<string, DecisionCount>>>>();
  private readonly decisionCounts: DecisionCount[] = [];
  private readonly failureListeners: ((failure: HandshakeFailure) => void)[] = [];
  private keySources: (() => readonly KeyAgeSource[])[] = [];
  private blockedSources: (() => number)[] = [];

  constructor(options: PqguardMetricsOptions = {}) {
    this.registry = options.registry ?? new Registry();
    const p = options.prefix ?? "pqguard_";
    const registers = [this.registry];
    this.handshakes = new Counter({
      name: `${p}handshakes_total`,
      help: "Completed and failed session handshakes, by side, negotiated suite (empty when none was agreed) and outcome.",
      labelNames: ["side", "kem", "signature", "aead", "outcome"],
      registers,
    });
    this.handshakeSeconds = new Histogram({
      name: `${p}handshake_duration_seconds`,
      help: "Time from the start of a session handshake to its confirmation.",
      labelNames: ["side"],
      buckets: HANDSHAKE_SECONDS_BUCKETS,
      registers,
    });
    this.failures = new Counter({
      name: `${p}handshake_failures_total`,
      help: "Failed session handshakes by reason: mac_failure, bad_signature, untrusted_certificate, downgrade, timeout, ...",
      labelNames: ["side", "reason"],
      registers,
    });
    const pending = this.decisionCounts;
    new Counter({
      name: `${p}decisions_total`,
      help: "Tool-call decisions by policy, determining rules, decision and refusal code (empty for the policy's own decision).",
      labelNames: ["policy", "rule", "decision", "code"],
      registers,
      collect() {
        for (const entry of pending) {
          if (entry.count === 0) continue;
          this.inc(entry.labels, entry.count);
          entry.count = 0;
        }
      },
    });
    this.mismatches = new Counter({
      name: `${p}manifest_mismatches_total`,
      help: "Tool definitions found to differ from their reviewed (signed) digest, or listed without one.",
      labelNames: ["tool"],
      registers,
    });
    this.rekeys = new Counter({ name: `${p}rekeys_total`, help: "Session rekeys (a new traffic key in one direction).", labelNames: ["side"], registers });
    this.sessionFailures = new Counter({
      name: `${p}session_failures_total`,
      help: "Established sessions that failed, by reason (mac_failure: a sealed frame that does not authenticate).",
      labelNames: ["side", "reason"],
      registers,
    });
    this.sessionsOpen = new Gauge({ name: `${p}sessions_open`, help: "Sessions established and not yet closed.", labelNames: ["side"], registers });
    this.alerts = new Counter({ name: `${p}alerts_total`, help: "Alerts raised: bursts of handshake failures or downgrade attempts from one peer.", labelNames: ["kind"], registers });
    const blocked = (): number => this.blockedSources.reduce((sum, source) => sum + source(), 0);
    new Gauge({
      name: `${p}peers_blocked`,
      help: "Peers currently blocked after a burst of failures.",
      registers,
      collect() {
        this.set(blocked());
      },
    });
    const sources = (): readonly KeyAgeSource[] => this.keySources.flatMap((source) => source());
    new Gauge({
      name: `${p}key_age_seconds`,
      help: "Age of each key in the keyring, by key id, algorithm and state.",
      labelNames: ["key_id", "algorithm", "state"],
      registers,
      collect() {
        this.reset();
        const now = Date.now();
        for (const key of sources()) this.labels(key.keyId, key.algorithm, key.state).set(Math.max(0, (now - key.created) / 1000));
      },
    });
  }

  /** A handshake that completed: its suite and how long it took. */
  handshakeCompleted(side: Side, suite: { readonly kem: string; readonly signature: string; readonly aead: string }, seconds: number): void {
    this.handshakes.labels(side, suite.kem, suite.signature, suite.aead, "ok").inc();
    this.handshakeSeconds.labels(side).observe(seconds);
  }

  /** A handshake that failed, and why. Listeners (the alarm) hear of it with the peer. */
  handshakeFailed(failure: HandshakeFailure): void {
    this.handshakes.labels(failure.side, "", "", "", "failed").inc();
    this.failures.labels(failure.side, failure.reason).inc();
    for (const listener of this.failureListeners) listener(failure);
  }

  /** Subscribes to handshake failures; returns the unsubscribe function. */
  onHandshakeFailure(listener: (failure: HandshakeFailure) => void): () => void {
    this.failureListeners.push(listener);
    return () => {
      const at = this.failureListeners.indexOf(listener);
      if (at >= 0) this.failureListeners.splice(at, 1);
    };
  }

  /** One decision; `rules` are the determining rules, `code` the refusal code of a refusal (empty for the guard's allow). */
  decision(policy: string, rules: readonly string[], decision: string, code: string): void {
    // Nested maps keyed by strings that already exist (their hashes cached): no string is built per decision.
    const rule = rules.length === 1 ? rules[0]! : rules.length === 0 ? "" : rules.join(",");
    const byPolicy = this.pendingDecisions.get(policy) ?? setNew(this.pendingDecisions, policy);
    const byDecision = byPolicy.get(decision) ?? setNew(byPolicy, decision);
    const byCode = byDecision.get(code) ?? setNew(byDecision, code);
    const entry = byCode.get(rule);
    if (entry !== undefined) entry.count += 1;
    else {
      const created: DecisionCount = { labels: { policy, rule, decision, code }, count: 1 };
      byCode.set(rule, created);
      this.decisionCounts.push(created);
    }
  }

  /** An established session that failed (a record that does not authenticate, a truncated stream, ...). */
  sessionFailed(side: Side, reason: HandshakeFailureReason): void {
    this.sessionFailures.labels(side, reason).inc();
  }

  manifestMismatch(tool: string): void {
    this.mismatches.labels(tool).inc();
  }

  rekey(side: Side): void {
    this.rekeys.labels(side).inc();
  }

  sessionOpened(side: Side): void {
    this.sessionsOpen.labels(side).inc();
  }

  sessionClosed(side: Side): void {
    this.sessionsOpen.labels(side).dec();
  }

  alert(kind: "handshake_failures" | "downgrade_attempts"): void {
    this.alerts.labels(kind).inc();
  }

  /** Adds a count of blocked peers read at each scrape (an alarm); returns the function that removes it. */
  watchBlocked(source: () => number): () => void {
    this.blockedSources.push(source);
    return () => {
      this.blockedSources = this.blockedSources.filter((s) => s !== source);
    };
  }

  /** Adds a source of keys whose ages are reported at each scrape (a keyring); returns the function that removes it. */
  watchKeys(source: () => readonly KeyAgeSource[]): () => void {
    this.keySources.push(source);
    return () => {
      this.keySources = this.keySources.filter((s) => s !== source);
    };
  }

  /** The Prometheus text exposition of the registry. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** One metric's value for a set of labels (tests and embedding applications); 0 when never recorded. */
  async value(name: string, labels: Readonly<Record<string, string>> = {}): Promise<number> {
    const metric = this.registry.getSingleMetric(name);
    if (metric === undefined) return 0;
    const data = await metric.get();
    let total = 0;
    for (const sample of data.values) {
      const sampleLabels = sample.labels as Record<string, string | number>;
      if (Object.entries(labels).every(([k, v]) => String(sampleLabels[k]) === v)) {
        // Histograms report buckets, a sum and a count under one name: count only the `_count` samples.
        const metricName = (sample as { metricName?: string }).metricName;
        if (metricName === undefined || metricName === name || metricName.endsWith("_count")) total += sample.value;
      }
    }
    return total;
  }
}

interface DecisionCount {
  readonly labels: Record<"policy" | "rule" | "decision" | "code", string>;
  count: number;
}

function setNew<V>(map: Map<string, Map<string, V>>, key: string): Map<string, V> {
  const made = new Map<string, V>();
  map.set(key, made);
  return made;
}

let current: PqguardMetrics | undefined;

/**
 * The process's current metrics, which transports, decision points and pins report to unless given their own. Made on
 * first use, on its own registry (not prom-client's global one, which an application may use for its own metrics).
 */
export function currentMetrics(): PqguardMetrics {
  current ??= new PqguardMetrics();
  return current;
}

/** Makes `metrics` the process's current metrics (an application's registry, say) and returns it. */
export function useMetrics(metrics: PqguardMetrics): PqguardMetrics {
  current = metrics;
  return metrics;
}
