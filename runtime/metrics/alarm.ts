// The alarm on handshake failures: a burst from one peer (failures, or downgrade attempts) within a window raises one
// structured alert line and, when configured, blocks that peer for a while. Thresholds are configuration.
import type { Logger } from "pino";
import type { HandshakeFailure, PqguardMetrics } from "./metrics.js";

export interface AlarmThresholds {
  /** The sliding window failures are counted in, ms. */
  readonly windowMs: number;
  /** Failed handshakes from one peer within the window that raise an alert (downgrades included). */
  readonly failures: number;
  /** Downgrade attempts from one peer within the window that raise an alert: an attack, so a lower threshold. */
  readonly downgrades: number;
  /** How long an alerted peer is refused new sessions, ms; 0 (default) alerts without blocking. */
  readonly blockMs: number;
}

/**
 * Defaults: a client with a wrong key or an expired certificate fails a few times before its operator notices; twenty
 * failures a minute is a scan or a broken deployment worth a page. A downgrade needs an active attacker on the path:
 * three in a minute is no accident.
 */
export const DEFAULT_ALARM_THRESHOLDS: AlarmThresholds = { windowMs: 60_000, failures: 20, downgrades: 3, blockMs: 0 };

/** Peers remembered at once: a flood from spoofed addresses cannot grow the table without bound (the oldest go first). */
export const MAX_TRACKED_PEERS = 10_000;

interface PeerRecord {
  failures: number[];
  downgrades: number[];
  blockedUntil: number;
  alertedAt: number;
}

/** Watches handshake failures per peer; `blocked(peer)` says whether new sessions from it are refused. */
export class HandshakeAlarm {
  readonly thresholds: AlarmThresholds;
  private readonly peers = new Map<string, PeerRecord>();
  private readonly unsubscribe: () => void;

  constructor(
    private readonly metrics: PqguardMetrics,
    private readonly logger: Logger,
    thresholds: Partial<AlarmThresholds> = {},
    private readonly now: () => number = Date.now,
  ) {
    this.thresholds = { ...DEFAULT_ALARM_THRESHOLDS, ...thresholds };
    for (const [name, value] of Object.entries(this.thresholds)) {
      if (!Number.isSafeInteger(value) || value < (name === "blockMs" ? 0 : 1)) {
        throw new RangeError(`alarm threshold \`${name}\` must be a ${name === "blockMs" ? "non-negative" : "positive"} whole number, not ${String(value)}`);
      }
    }
    const unsubscribe = metrics.onHandshakeFailure((failure) => this.record(failure));
    const unwatch = metrics.watchBlocked(() => {
      const now = this.now();
      let count = 0;
      for (const record of this.peers.values()) if (record.blockedUntil > now) count += 1;
      return count;
    });
    this.unsubscribe = () => {
      unsubscribe();
      unwatch();
    };
  }

  /** Whether `peer` is blocked now. */
  blocked(peer: string | undefined): boolean {
    if (peer === undefined) return false;
    const record = this.peers.get(peer);
    return record !== undefined && record.blockedUntil > this.now();
  }

  /** Stops listening to the metrics. */
  close(): void {
    this.unsubscribe();
  }

  private record(failure: HandshakeFailure): void {
    // A handshake the peer abandoned or that timed out on our side is counted, but says little about who: a peer we
    // cannot name is not tracked.
    if (failure.peer === undefined) return;
    const now = this.now();
    let record = this.peers.get(failure.peer);
    if (record === undefined) {
      if (this.peers.size >= MAX_TRACKED_PEERS) this.peers.delete(this.peers.keys().next().value!);
      record = { failures: [], downgrades: [], blockedUntil: 0, alertedAt: 0 };
      this.peers.set(failure.peer, record);
    }
    const since = now - this.thresholds.windowMs;
    record.failures = record.failures.filter((t) => t > since);
    record.downgrades = record.downgrades.filter((t) => t > since);
    record.failures.push(now);
    if (failure.reason === "downgrade") record.downgrades.push(now);
    const kind =
      record.downgrades.length >= this.thresholds.downgrades ? "downgrade_attempts" : record.failures.length >= this.thresholds.failures ? "handshake_failures" : undefined;
    // One alert per window per peer: a flood gives one line a minute, not one per failure.
    if (kind === undefined || record.alertedAt > since) return;
    record.alertedAt = now;
    if (this.thresholds.blockMs > 0) record.blockedUntil = now + this.thresholds.blockMs;
    this.metrics.alert(kind);
    this.logger.warn(
      {
        alert: kind,
        peer: failure.peer,
        side: failure.side,
        failures: record.failures.length,
        downgrades: record.downgrades.length,
        windowMs: this.thresholds.windowMs,
        lastReason: failure.reason,
        lastCode: failure.code,
        blockedUntil: record.blockedUntil > now ? new Date(record.blockedUntil).toISOString() : null,
      },
      kind === "downgrade_attempts" ? "alert: repeated downgrade attempts from one peer" : "alert: a burst of failed handshakes from one peer",
    );
  }
}
