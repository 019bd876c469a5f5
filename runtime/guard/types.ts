// The stable contract between a guard (compiled module or reference interpreter) and whoever asks it to decide.
// Generated guard modules import only from runtime/guard/, so this file changes rarely and never imports the compiler.

export type DecisionKind = "allow" | "deny" | "ask";

/** One step of a decision's explanation, in the order the decision procedure considered it. */
export interface Explanation {
  /** The rule or requirement id, `payments.policy:27`, or `default` for the default deny. */
  readonly rule: string;
  readonly effect: "permit" | "forbid" | "ask" | "limit" | "require";
  /** Whether the rule matched (its condition held, or the limit was exceeded, or the requirement failed). */
  readonly matched: boolean;
  /** One sentence: what held or which clause failed, e.g. "`args.amount <= 1000` was false". */
  readonly detail: string;
}

export interface Decision {
  readonly decision: DecisionKind;
  /** Ids of the rules that determined the decision, in source order; empty for the default deny. */
  readonly determining: readonly string[];
  /** The `because` text of the first determining rule, or a generated sentence. */
  readonly reason: string;
  readonly explain: readonly Explanation[];
}

/** What the caller asks: the tool and its arguments as received. */
export interface GuardRequest {
  readonly tool: string;
  readonly args: Readonly<Record<string, unknown>>;
}

export interface ClientFacts {
  readonly id?: string | undefined;
  readonly role?: string | undefined;
  readonly authenticated: boolean;
  readonly fingerprint?: string | undefined;
  readonly claims?: Readonly<Record<string, unknown>> | undefined;
}

export interface PeerFacts {
  readonly fingerprint?: string | undefined;
  readonly label?: string | undefined;
}

/** The negotiated suite. Algorithm names are registry names (`X25519MLKEM768`, `ML-DSA-65`, `AES-256-GCM`). */
export interface TransportFacts {
  readonly kem?: string | undefined;
  readonly signature?: string | undefined;
  readonly aead?: string | undefined;
  readonly hybrid: boolean;
  /** NIST security category of the weakest negotiated post-quantum algorithm (1, 3 or 5); 0 when classical only. */
  readonly level: number;
}

export interface SessionFacts {
  readonly id?: string | undefined;
  /** Milliseconds since the session was established. */
  readonly ageMs: number;
  /** Calls made in this session before this one. */
  readonly calls: number;
}

export type LimitScope = "global" | "client" | "session";

/**
 * The call history a guard may read. Implementations answer from a snapshot taken before the guard runs,
 * so the guard stays synchronous; the current call is never counted.
 */
export interface CallHistory {
  /** Calls to any of `tools` (every tool when `"*"`) at or after `since` (epoch ms), in the given scope. */
  count(tools: readonly string[] | "*", since: number, scope: LimitScope): number;
  /** Whether this session called `tool` (any tool when `"*"`) before. */
  called(tool: string): boolean;
}

export interface GuardContext {
  readonly client: ClientFacts;
  readonly peer: PeerFacts;
  readonly transport: TransportFacts;
  readonly session: SessionFacts;
  /** The decision time, epoch milliseconds; injected so that tests control the clock. */
  readonly now: number;
  readonly history: CallHistory;
}

/** The shape every compiled guard module exports, and the interpreter mirrors. */
export interface GuardModule {
  readonly policyName: string;
  /** SHA3-256 (hex) of the canonical policy text. */
  readonly policyDigest: string;
  /** Tool name → SHA3-256 (hex) of the canonical JSON of the tool definition the policy was compiled against. */
  readonly toolDigests: Readonly<Record<string, string>>;
  /**
   * The longest window, in ms, over which the policy counts calls (its limits and `calls()` windows); 0 or absent
   * when it counts none, `Infinity` when a window grows with `session.age` and no requirement bounds that age.
   * A state store must keep calls at least this long: enforcement checks it at set-up.
   */
  readonly longestWindowMs?: number;
  guard(request: GuardRequest, context: GuardContext): Decision;
  /**
   * The tools this session could ever be allowed to call: none when a session requirement fails, else every
   * manifest tool that some `permit` or `ask` targets and no unconditional `forbid` does. `tools/list` shows only these.
   */
  reachableTools?(context: GuardContext): readonly string[];
}
