// The stable contract between a guard (compiled module or reference interpreter) and whoever asks it to decide.
// Generated guard modules import only from runtime/guard/, so this file changes rarely and never imports the compiler.

export type DecisionKind = "allow" | "deny" | "ask";

/** One step of a decision's explanation, in the order the decision procedure considered it. */
export interface Explanation {
  /** The rule or requirement id, `payments.policy:27`, or `default` for the default deny. */
  readonly rule: string;
  readonly effect: "permit" | "forbid" | "ask" | "limit" | "require" | "refuse" | "redact" | "mark";
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

/** What `sum()`, `max()` and `min()` compute over the values a call history kept. */
export type AggregateFunction = "sum" | "max" | "min";

/**
 * The call history a guard may read. Implementations answer from a snapshot taken before the guard runs,
 * so the guard stays synchronous; the current call is never counted.
 */
export interface CallHistory {
  /** Calls to any of `tools` (every tool when `"*"`) at or after `since` (epoch ms), in the given scope. */
  count(tools: readonly string[] | "*", since: number, scope: LimitScope): number;
  /** Whether this session called `tool` (any tool when `"*"`) before. */
  called(tool: string): boolean;
  /**
   * The sum, maximum or minimum of the numeric argument at `pointer` (a JSON Pointer, `/amount`) over the calls to
   * `tool` at or after `since` (epoch ms) in the given scope, the current call not counted; 0 over no values. Calls
   * without a number there are not counted. Absent on a history that keeps no argument values: an aggregate then
   * cannot be evaluated, so a `forbid` on it applies.
   */
  aggregate?(fn: AggregateFunction, tool: string, pointer: string, since: number, scope: LimitScope): number;
  /**
   * Whether a result rule marked this session with `label` (`mark ... as seen "label"`). Absent on a history that
   * keeps no marks: `seen()` then cannot be evaluated, so a `forbid` on it applies.
   */
  seen?(label: string): boolean;
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

/** A `tools/call` result as the server sent it: `content`, `structuredContent`, `isError`, `_meta`. */
export type CallResult = Readonly<Record<string, unknown>>;

/** One `redact` rule that applied: every match of the pattern, in every string of the result, becomes `replacement`. */
export interface ResultRedaction {
  readonly rule: string;
  /** The pattern's source and flags as written (enforcement adds `g`). */
  readonly source: string;
  readonly flags: string;
  readonly replacement: string;
}

/** What the result rules made of one result. */
export interface ResultDecision {
  /** `refuse`: the result must not reach the client; `pass`: it may, after the redactions. */
  readonly decision: "pass" | "refuse";
  /** Ids of the rules that applied (for `refuse`, the refusing ones), in source order. */
  readonly determining: readonly string[];
  readonly reason: string;
  /** Redactions to apply, in source order; empty when refused. */
  readonly redactions: readonly ResultRedaction[];
  /** Labels of `mark ... as "label"` that applied: carried on the result for the client to see. */
  readonly marks: readonly string[];
  /** Labels of `mark ... as seen "label"` that applied: recorded in the session's history for `seen()`. */
  readonly seen: readonly string[];
  readonly explain: readonly Explanation[];
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
   * Applies the policy's result rules to what tool `request.tool` sent back for `request`. Absent on modules compiled
   * before result rules existed; such a module has none.
   */
  inspectResult?(request: GuardRequest, result: CallResult, context: GuardContext): ResultDecision;
  /** The `seen` labels the policy records or reads; enforcement refuses at set-up a state store that keeps none. */
  readonly seenLabels?: readonly string[];
  /**
   * Tool name → JSON Pointers of the numeric arguments the policy aggregates (`sum(refund.amount, 1d)` gives
   * `{ refund: ["/amount"] }`). A state store records these values of an allowed call and no other argument.
   */
  readonly aggregatedValues?: Readonly<Record<string, readonly string[]>>;
  /** How many result rules the policy has; 0 or absent: enforcement passes results on without inspecting them. */
  readonly resultRuleCount?: number;
  /** Tool name → the outputSchema the policy was compiled against, for tools with one; redactions are checked against it. */
  readonly outputSchemas?: Readonly<Record<string, unknown>>;
  /**
   * The tools this session could ever be allowed to call: none when a session requirement fails, else every
   * manifest tool that some `permit` or `ask` targets and no unconditional `forbid` does. `tools/list` shows only these.
   */
  reachableTools?(context: GuardContext): readonly string[];
}
