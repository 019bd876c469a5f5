// A StateStore shared by several proxies through Redis: each decision reads its counts and reserves its call in one
// Lua script, so limits are exact across replicas (docs/state.md argues why); any doubt about Redis refuses the call.
import { createHash, randomInt } from "node:crypto";
import type { Logger } from "pino";
import type { AggregateFunction, CallHistory, LimitScope } from "../guard/types.js";
import { DEFAULT_MAX_FOLDED_VALUES, keptValues, tooManyToFold } from "./values.js";
import { DEFAULT_RETENTION_MS, EXPIRY_SLACK_MS, MAX_SEEN_LABELS_PER_SESSION } from "./memory.js";
import { RESERVE_SCRIPT } from "./redis-script.js";
import { StateError, type CallRecord, type HistoryKey, type HistorySnapshot, type Judge, type Judgement, type StateStore } from "./store.js";

/** A Redis command that takes longer than this refuses the call: a limit must not wait on a slow store. */
export const DEFAULT_REDIS_COMMAND_TIMEOUT_MS = 500;
/** Reconnecting waits this long at first, doubling to the maximum below, so a restarting Redis is not hammered. */
const RECONNECT_MIN_MS = 50;
const RECONNECT_MAX_MS = 2000;
/**
 * A reservation still pending after this long counts as recorded: its replica died between reserving and resolving,
 * and the call may have run. Far above the time from a reservation to its resolution (a guard run and one command,
 * at most the command timeout); a decision that waits takes its reservation back meanwhile.
 */
export const PENDING_LEASE_MS = 10_000;
/** Resolutions wait this long for the next reservation to carry them, then go on their own. */
const RESOLVE_DELAY_MS = 1;
/** A decision waiting for earlier reservations to be resolved reads again after this long, doubling up to 16 ms. */
const WAIT_MIN_MS = 1;
const WAIT_MAX_MS = 16;
/** A decision that cannot be settled in this long (earlier reservations never resolved) is refused. */
const DECIDE_DEADLINE_MS = 3000;
/** Reading again because the guard asked for a count not fetched: bounded, because each read learns at least one. */
const MAX_LEARNING_READS = 8;
/** Counts one tool's decisions asked for, remembered so that one read fetches them; bounded against made-up tools. */
const MAX_LEARNED_TOOLS = 4096;
const MAX_QUERIES_PER_TOOL = 256;
/**
 * A session's `seen` marks last this long after its last mark or decision, unless it ends first: a session that ends
 * without telling the store (its replica died) must not hold them forever, and a live one must not lose them, since a
 * lost mark lets through what a `forbid ... when seen(...)` refused. A week outlasts any session a client keeps open.
 */
export const DEFAULT_SEEN_RETENTION_MS = 7 * 86_400_000;
/** Per key (global, one client, one session): a key holding this many calls in the retention period refuses more. */
export const DEFAULT_REDIS_MAX_ENTRIES_PER_KEY = 1_000_000;

export interface RedisStateStoreOptions {
  /** `redis://[user:password@]host:port/db` or `rediss://` for TLS. The password is never logged. */
  readonly url: string;
  /** Names this deployment: stores with the same deployment and policy share counts. */
  readonly deployment?: string;
  /** The policy's name: versions of one policy share counts, so a rolling upgrade keeps them. */
  readonly policy?: string;
  readonly retentionMs?: number;
  readonly commandTimeoutMs?: number;
  readonly maxEntriesPerKey?: number;
  readonly logger?: Logger;
  /** Password when not in the URL (for example from the environment). */
  readonly password?: string;
  /** How long a reservation may stay pending, by Redis's clock, before it counts as recorded; PENDING_LEASE_MS by default. */
  readonly pendingLeaseMs?: number;
  /**
   * How long, by Redis's clock, a session's `seen` marks outlive its last mark or decision when it never ends
   * (DEFAULT_SEEN_RETENTION_MS); never shorter than the retention period.
   */
  readonly seenRetentionMs?: number;
  /** The most calls one `sum()`, `max()` or `min()` folds (DEFAULT_MAX_FOLDED_VALUES); more refuse the call. */
  readonly maxFoldedValues?: number;
}

/** One count the guard reads, relative to the decision's time so that it is the same query from call to call. */
type Query =
  | { readonly kind: "n"; readonly scope: LimitScope; readonly tools: readonly string[] | "*"; readonly back: number }
  | { readonly kind: "k"; readonly tool: string }
  | { readonly kind: "a"; readonly fn: AggregateFunction; readonly scope: LimitScope; readonly tool: string; readonly pointer: string; readonly back: number };

interface Resolution {
  readonly op: "c" | "r";
  readonly seq: number;
  readonly tool: string;
  readonly cid: string;
  readonly sid: string;
  /** The reservation's values as the script stored them (pointer, text), so that taking it back removes them. */
  readonly values: readonly (readonly [string, string])[];
}

/** A call's values as the script stores them: JavaScript's shortest text of each number, which Lua reads back exactly. */
function valueArgs(call: CallRecord): [string, string][] {
  return Object.entries(keptValues(call.values) ?? {}).map(([pointer, value]) => [pointer, String(value)]);
}

/** The part of ioredis this store uses, so that the module is loaded only when a Redis store is opened. */
interface RedisClient {
  status: string;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  evalsha(sha: string, numKeys: number, ...args: string[]): Promise<unknown>;
  eval(script: string, numKeys: number, ...args: string[]): Promise<unknown>;
  script(op: "LOAD", script: string): Promise<unknown>;
  ping(): Promise<unknown>;
  quit(): Promise<unknown>;
  disconnect(): void;
}

const SCOPE_LETTER: Record<LimitScope, "g" | "c" | "s"> = { global: "g", client: "c", session: "s" };

/** An id as it appears in a key: hashed, so keys carry no session id (a bearer value in some deployments) or raw input. */
function keyId(id: string): string {
  return createHash("sha256").update(id).digest("hex").slice(0, 32);
}

/** The URL without its password, for logs and errors. */
export function redactedUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== "") u.password = "***";
    return u.toString();
  } catch {
    return "(a Redis URL that does not parse)";
  }
}

export class RedisStateStore implements StateStore {
  readonly retentionMs: number;
  private readonly maxFoldedValues: number;
  private readonly prefix: string;
  private readonly maxEntriesPerKey: number;
  private readonly commandTimeoutMs: number;
  private readonly learned = new Map<string, Map<string, Query>>();
  private queue: Resolution[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  private sha: string;
  private ready = false;
  private lastProblem: string | undefined = "not connected yet";

  private constructor(
    private readonly client: RedisClient,
    private readonly options: RedisStateStoreOptions,
    private readonly secrets: readonly string[],
  ) {
    this.retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
    this.maxFoldedValues = options.maxFoldedValues ?? DEFAULT_MAX_FOLDED_VALUES;
    this.maxEntriesPerKey = options.maxEntriesPerKey ?? DEFAULT_REDIS_MAX_ENTRIES_PER_KEY;
    this.commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_REDIS_COMMAND_TIMEOUT_MS;
    // One hash tag: every key of a deployment and policy is in one slot, so the script may touch them all in a cluster.
    this.prefix = `pqg:{${keyId(`${options.deployment ?? "default"}\n${options.policy ?? ""}`).slice(0, 16)}}:`;
    this.sha = createHash("sha1").update(RESERVE_SCRIPT).digest("hex");
  }

  /**
   * Connects (loading ioredis only now: a deployment without Redis never loads it) and waits for the first answer up
   * to the command timeout; a Redis that is down at start is not an error here, since the store reconnects and every
   * call is refused until it answers (see `health`).
   */
  static async open(options: RedisStateStoreOptions): Promise<RedisStateStore> {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new StateError("PQG7203", `the state store URL ${redactedUrl(options.url)} is not a URL`);
    }
    if (url.protocol !== "redis:" && url.protocol !== "rediss:") {
      throw new StateError("PQG7203", `the state store URL ${redactedUrl(options.url)} is not a \`redis://\` or \`rediss://\` URL`);
    }
    const db = url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0;
    if (!Number.isSafeInteger(db) || db < 0) throw new StateError("PQG7203", `the state store URL ${redactedUrl(options.url)} names database \`${url.pathname.slice(1)}\`, not a number`);
    let Redis: (typeof import("ioredis"))["Redis"];
    try {
      ({ Redis } = await import("ioredis"));
    } catch {
      throw new StateError("PQG7203", "a Redis state store needs the `ioredis` package: npm install ioredis");
    }
    const password = url.password !== "" ? decodeURIComponent(url.password) : options.password;
    const timeout = options.commandTimeoutMs ?? DEFAULT_REDIS_COMMAND_TIMEOUT_MS;
    const client = new Redis({
      host: url.hostname,
      port: url.port === "" ? 6379 : Number(url.port),
      db,
      ...(url.username !== "" ? { username: decodeURIComponent(url.username) } : {}),
      ...(password !== undefined ? { password } : {}),
      ...(url.protocol === "rediss:" ? { tls: { servername: url.hostname } } : {}),
      // Fail fast instead of queueing: a call waiting for a reconnect is a call that should be refused now.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: timeout,
      connectTimeout: Math.max(timeout, 1000),
      retryStrategy: (times: number) => Math.min(RECONNECT_MIN_MS * 2 ** Math.min(times, 10), RECONNECT_MAX_MS),
      lazyConnect: false,
    }) as unknown as RedisClient;
    const store = new RedisStateStore(client, options, password === undefined ? [] : [password, encodeURIComponent(password)]);
    store.watch(url);
    await store.waitReady(Math.max(timeout, 1000));
    return store;
  }

  /** Whether the store answers now, and why not: readiness reports it, and a refused call's reason says it. */
  health(): { readonly ok: boolean; readonly reason?: string } {
    return this.ready ? { ok: true } : { ok: false, reason: this.lastProblem ?? "Redis is not connected" };
  }

  async close(): Promise<void> {
    await this.flush().catch(() => undefined);
    clearTimeout(this.flushTimer);
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }

  private watch(url: URL): void {
    const where = `${url.protocol}//${url.hostname}:${url.port === "" ? "6379" : url.port}${url.pathname}`;
    const log = this.options.logger;
    this.client.on("ready", () => {
      if (!this.ready) log?.info({ redis: where }, "the Redis state store is connected");
      this.ready = true;
      this.lastProblem = undefined;
    });
    this.client.on("error", (error: unknown) => {
      const problem = this.clean(error instanceof Error ? error.message : String(error));
      if (this.ready || problem !== this.lastProblem) log?.error({ redis: where }, `the Redis state store failed, so calls that need the call history are refused until it answers: ${problem}`);
      this.ready = false;
      this.lastProblem = problem;
    });
    this.client.on("close", () => {
      if (this.ready) log?.warn({ redis: where }, "the Redis state store disconnected; reconnecting with backoff");
      this.ready = false;
      this.lastProblem ??= "the connection to Redis closed";
    });
  }

  private async waitReady(ms: number): Promise<void> {
    const until = Date.now() + ms;
    while (!this.ready && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  }

  /** A message with any password removed: Redis and its client may echo what they were given. */
  private clean(message: string): string {
    let out = message;
    for (const secret of this.secrets) if (secret.length > 0) out = out.split(secret).join("***");
    return out;
  }

  async record(call: CallRecord): Promise<void> {
    await this.transact(call, () => ({ record: true, verdict: "", outcome: undefined }));
  }

  async snapshot(key: HistoryKey, now: number): Promise<HistorySnapshot> {
    // A read without a decision: no reservation, the counts asked before (under the empty tool) fetched at once.
    const call: CallRecord = { tool: "", at: now, sessionId: key.sessionId, clientId: key.clientId };
    const queries = [...(this.learned.get("") ?? new Map<string, Query>()).values()];
    const answer = await this.run("-read", call, 0, queries);
    const view = this.view(answer, queries, call, "pessimistic", "refuse");
    return { history: this.learning(view.history, "", now), sessionCalls: view.sessionCalls };
  }

  async endSession(sessionId: string): Promise<void> {
    await this.run("e", { tool: "", at: Date.now(), sessionId, clientId: "" }, 0, []);
  }

  /** Records the label in the session's marks in Redis: every replica's next snapshot of the session reads it. */
  async markSeen(sessionId: string, label: string): Promise<void> {
    await this.run("-", { tool: "", at: Date.now(), sessionId, clientId: "" }, 0, [], [label]);
  }

  async transact<T>(call: CallRecord, judge: Judge<T>): Promise<T> {
    if (!Number.isFinite(call.at)) throw new StateError("PQG7203", `the clock reads \`${call.at}\`, which is not a time, so the call history cannot be used`);
    let queries = this.queriesFor(call, judge);
    let seq = 0;
    let wait = WAIT_MIN_MS;
    const deadline = Date.now() + DECIDE_DEADLINE_MS;
    const values = valueArgs(call);
    const settle = (op: "c" | "r"): void => {
      this.resolve({ op, seq, tool: call.tool, cid: keyId(call.clientId), sid: keyId(call.sessionId), values });
      seq = 0;
    };
    try {
      for (let reads = 0; ; ) {
        // Every read reserves anew (a previous reservation is taken back in the same script, before it), so at the
        // read this reservation is the latest: every other pending one is earlier, and nothing later exists yet.
        const answer = await this.run("n", call, 0, queries);
        seq = answer.seq;
        const pessimistic = this.view(answer, queries, call, "pessimistic");
        const optimistic = this.view(answer, queries, call, "optimistic");
        const worst = judge(pessimistic);
        const best = judge(optimistic);
        const missed = [...pessimistic.missed, ...optimistic.missed];
        if (missed.length > 0) {
          if (++reads > MAX_LEARNING_READS) throw new StateError("PQG7203", `the guard kept asking for counts not fetched after ${MAX_LEARNING_READS} reads of Redis`);
          queries = this.learn(call.tool, missed, queries);
          settle("r");
          continue;
        }
        if (same(worst, best)) {
          settle(worst.record ? "c" : "r");
          return worst.outcome;
        }
        // The decision depends on calls other replicas are deciding now. Its reservation is taken back while it waits
        // (so that it holds up nobody, and two such decisions cannot wait for each other), then it reads again.
        settle("r");
        if (Date.now() + wait > deadline) throw new StateError("PQG7204", `calls decided at the same time on other replicas were not resolved within ${DECIDE_DEADLINE_MS} ms`);
        // Jittered, so that deciders which met at a limit's edge do not read again in step and meet again.
        await new Promise((r) => setTimeout(r, wait / 2 + randomInt(Math.max(1, Math.floor(wait / 2)) + 1)));
        wait = Math.min(wait * 2, WAIT_MAX_MS);
      }
    } finally {
      // Anything that stopped the decision takes its reservation back: a refused call does not count.
      if (seq !== 0) settle("r");
    }
  }

  /** The queries this tool's decisions asked before; for a tool not yet seen, those the guard asks on an empty history. */
  private queriesFor<T>(call: CallRecord, judge: Judge<T>): Query[] {
    const known = this.learned.get(call.tool);
    if (known !== undefined) return [...known.values()];
    const probe = this.view(undefined, [], call, "pessimistic");
    try {
      judge(probe);
    } catch {
      // The probe only collects what the guard reads; what it throws on an empty history does not matter here.
    }
    return this.learn(call.tool, probe.missed, []);
  }

  private learn(tool: string, missed: readonly Query[], current: readonly Query[]): Query[] {
    let known = this.learned.get(tool);
    if (known === undefined) {
      if (this.learned.size >= MAX_LEARNED_TOOLS) this.learned.clear();
      known = new Map();
      this.learned.set(tool, known);
    }
    for (const q of [...current, ...missed]) {
      // Most recently asked last; the longest unasked goes first when the bound is reached. A window that starts at the
      // session's start (`calls(x, session.age)`) is a new query at each decision, so it must not crowd out the rest.
      const key = queryKey(q);
      known.delete(key);
      if (known.size >= MAX_QUERIES_PER_TOOL) known.delete(known.keys().next().value!);
      known.set(key, q);
    }
    return [...known.values()];
  }

  /** Queues a reservation's resolution: the next script carries it, or a flush shortly after. */
  private resolve(resolution: Resolution): void {
    this.queue.push(resolution);
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = undefined;
      this.flush().catch((error: unknown) => {
        // Unresolved reservations count as recorded once their lease ends: over-counting, never under-counting.
        this.options.logger?.warn(`reservations could not be resolved in Redis; they count as recorded until their lease of ${PENDING_LEASE_MS} ms ends: ${this.clean(String(error))}`);
      });
    }, RESOLVE_DELAY_MS);
  }

  private async flush(): Promise<void> {
    if (this.queue.length === 0) return;
    await this.run("-", { tool: "", at: Date.now(), sessionId: "", clientId: "" }, 0, []);
  }

  /** Runs the script once: the queued resolutions, then the read (and reservation) `mode` asks for. */
  private async run(mode: "n" | "-" | "-read" | "e", call: CallRecord, seq: number, queries: readonly Query[], marks: readonly string[] = []): Promise<Answer> {
    // Refusals reach clients: they say what failed, not where Redis is or what its client said (the log has that).
    if (!this.ready) throw new StateError("PQG7203", "Redis is unreachable, so the call history cannot be read");
    const resolutions = this.queue;
    this.queue = [];
    const now = Math.floor(call.at);
    const args: string[] = [
      this.prefix,
      String(now),
      String(now - this.retentionMs - EXPIRY_SLACK_MS),
      String(this.retentionMs + EXPIRY_SLACK_MS),
      String(this.maxEntriesPerKey),
      String(this.options.pendingLeaseMs ?? PENDING_LEASE_MS),
      mode === "-read" ? "x" : mode,
      String(seq),
      call.tool,
      keyId(call.clientId),
      keyId(call.sessionId),
      String(resolutions.length),
    ];
    for (const r of resolutions) args.push(r.op, String(r.seq), r.tool, r.cid, r.sid, String(r.values.length), ...r.values.flat());
    const seenTtl = Math.max(this.options.seenRetentionMs ?? DEFAULT_SEEN_RETENTION_MS, this.retentionMs);
    args.push(String(seenTtl), String(MAX_SEEN_LABELS_PER_SESSION), String(marks.length), ...marks);
    args.push(String(queries.length));
    for (const q of queries) {
      if (q.kind === "k") args.push("k", q.tool);
      else if (q.kind === "a") args.push("a", q.fn, SCOPE_LETTER[q.scope], String(now - q.back), q.tool, q.pointer, String(this.maxFoldedValues));
      else {
        const tools = q.tools === "*" ? [] : q.tools;
        args.push("n", SCOPE_LETTER[q.scope], String(now - q.back), String(tools.length), ...tools);
      }
    }
    const values = mode === "n" ? valueArgs(call) : [];
    args.push(String(values.length), ...values.flat());
    let reply: unknown;
    try {
      reply = await this.evalScript(args);
    } catch (error) {
      // The resolutions may or may not have been applied: applying one twice is harmless, so they are queued again.
      this.queue.unshift(...resolutions);
      const message = this.clean(error instanceof Error ? error.message : String(error));
      if (/timed out/i.test(message)) throw new StateError("PQG7204", `Redis did not answer the call-history script within ${this.commandTimeoutMs} ms`);
      this.options.logger?.warn(`the Redis call-history script failed: ${message}`);
      throw new StateError("PQG7203", "Redis failed to run the call-history script, so the call history cannot be read");
    }
    return parseAnswer(reply, queries, mode === "n" || mode === "-read");
  }

  private async evalScript(args: string[]): Promise<unknown> {
    try {
      return await this.client.evalsha(this.sha, 1, `${this.prefix}g`, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
      this.sha = String(await this.client.script("LOAD", RESERVE_SCRIPT));
      return this.client.evalsha(this.sha, 1, `${this.prefix}g`, ...args);
    }
  }

  /**
   * The history one reply shows: `pessimistic` counts the calls other deciders reserved and have not resolved yet,
   * `optimistic` does not (a read-only snapshot, which reserves nothing, takes the pessimistic view).
   * A count the reply does not hold is recorded in `missed`; inside a decision it reads as zero (the judgement is then
   * discarded and the decision read again with it), in a read-only snapshot as a refusal.
   */
  private view(
    answer: Answer | undefined,
    queries: readonly Query[],
    call: CallRecord,
    stance: "pessimistic" | "optimistic",
    onMiss: "zero" | "refuse" = "zero",
  ): HistorySnapshot & { missed: Query[] } {
    const missed: Query[] = [];
    const values = new Map<string, number>();
    const take = (total: number, earlier: number, later: number): number => total - later - (stance === "optimistic" ? earlier : 0);
    const expired = new Set<string>();
    const overfull = new Set<string>();
    queries.forEach((q, i) => {
      const [total, earlier, later] = answer === undefined ? [0, 0, 0] : answer.values.slice(3 * i, 3 * i + 3);
      // An aggregate answers its fold with every entry, then without those pending earlier, then whether it expired.
      if (q.kind === "a") {
        if (later === -2) overfull.add(queryKey(q));
        else if (later! < 0) expired.add(queryKey(q));
        values.set(queryKey(q), stance === "optimistic" ? earlier! : total!);
      } else if (total! < 0) expired.add(queryKey(q));
      else values.set(queryKey(q), take(total!, earlier!, later!));
    });
    const sessionCalls = answer === undefined ? 0 : Math.max(0, take(answer.sessionCalls, answer.sessionEarlier, answer.sessionLater));
    const lookup = (q: Query): number => {
      const value = values.get(queryKey(q));
      if (overfull.has(queryKey(q))) throw tooManyToFold(this.maxFoldedValues);
      if (value === undefined && !expired.has(queryKey(q))) {
        missed.push(q);
        if (onMiss === "zero") return 0;
        throw new StateError("PQG7203", "a count was asked for that was not read from Redis yet; it is read from the next call on");
      }
      if (value === undefined) throw new StateError("PQG7202", `the call history in Redis is incomplete for the requested window: calls before it expired after the retention period of ${this.retentionMs} ms, so a limit cannot be checked`);
      return value;
    };
    const marks = answer?.marks;
    const history: CallHistory = {
      // No tools is no calls; it must not reach the script, which reads an empty list as every tool.
      count: (tools, since, scope) => (tools !== "*" && tools.length === 0 ? 0 : lookup({ kind: "n", scope, tools: tools === "*" ? "*" : [...tools], back: call.at - since })),
      called: (tool) => (tool === "*" ? sessionCalls > 0 : lookup({ kind: "k", tool }) > 0),
      // Read in the same script as the counts: a mark is in the snapshot or was set after it. The probe before the
      // first read has none, and its judgement is never used.
      seen: (label) => marks?.has(label) ?? false,
      aggregate: (fn, tool, pointer, since, scope) => lookup({ kind: "a", fn, scope, tool, pointer, back: call.at - since }),
    };
    return { history, sessionCalls, missed };
  }

  /** A read-only history that remembers what it was asked and could not answer, for the next read. */
  private learning(history: CallHistory, tool: string, now: number): CallHistory {
    return {
      ...(history.seen === undefined ? {} : { seen: history.seen }),
      count: (tools, since, scope) => {
        try {
          return history.count(tools, since, scope);
        } catch (error) {
          if (error instanceof StateError && error.code === "PQG7203") this.learn(tool, [{ kind: "n", scope, tools: tools === "*" ? "*" : [...tools], back: now - since }], []);
          throw error;
        }
      },
      called: (name) => {
        try {
          return history.called(name);
        } catch (error) {
          if (error instanceof StateError && error.code === "PQG7203") this.learn(tool, [{ kind: "k", tool: name }], []);
          throw error;
        }
      },
      aggregate: (fn, name, pointer, since, scope) => {
        try {
          return history.aggregate!(fn, name, pointer, since, scope);
        } catch (error) {
          if (error instanceof StateError && error.code === "PQG7203") this.learn(tool, [{ kind: "a", fn, scope, tool: name, pointer, back: now - since }], []);
          throw error;
        }
      },
    };
  }
}

interface Answer {
  readonly seq: number;
  readonly sessionCalls: number;
  readonly sessionEarlier: number;
  readonly sessionLater: number;
  readonly values: readonly number[];
  /** The session's `seen` labels, read with the counts (modes `n` and `x`). */
  readonly marks: ReadonlySet<string> | undefined;
}

const isInteger = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v);

/**
 * The script's reply, checked whole: integers, but for an aggregate's two folds, decimal texts of finite numbers;
 * then, with `marks`, a count and that many labels. Anything else is a store answering garbage, and the call is
 * refused.
 */
function parseAnswer(reply: unknown, queries: readonly Query[], marks: boolean): Answer {
  const garbage = (): StateError => new StateError("PQG7203", "Redis answered the call-history script with something that is not its reply, so the call history cannot be trusted");
  if (!Array.isArray(reply) || !isInteger(reply[0])) throw garbage();
  const status = reply[0];
  if (status === 1) throw new StateError("PQG7201", "a key of the Redis state store holds as many calls as it may in the retention period; the call is refused");
  if (status === 2) throw new StateError("PQG7201", `the session carries ${MAX_SEEN_LABELS_PER_SESSION} \`seen\` labels, the limit`);
  if (status !== 0) throw new StateError("PQG7203", `Redis answered the call-history script with status ${status}, which it never gives`);
  const length = 5 + 3 * queries.length;
  const counted = marks ? reply[length] : 0;
  if (!isInteger(counted) || counted < 0 || reply.length !== length + (marks ? 1 + counted : 0)) throw garbage();
  const labels = reply.slice(length + 1);
  if (!labels.every((l) => typeof l === "string")) throw garbage();
  const numbers = reply.slice(0, length).map((v: unknown, i) => {
    const fold = i >= 5 && (i - 5) % 3 < 2 && queries[Math.floor((i - 5) / 3)]!.kind === "a";
    // Lua prints an overflowed fold as `inf` and an undefined one as `nan`: read as the guard reads them (it refuses both).
    if (fold && typeof v === "string" && /^-?(inf|nan)$/i.test(v)) return v.toLowerCase().endsWith("nan") ? Number.NaN : v.startsWith("-") ? -Infinity : Infinity;
    if (fold && typeof v === "string" && /^-?[0-9.eE+-]+$/.test(v) && Number.isFinite(Number(v))) return Number(v) + 0; // never -0, as in the other stores
    if (!fold && isInteger(v)) return v;
    throw garbage();
  });
  const [, seq, sessionCalls, sessionEarlier, sessionLater, ...values] = numbers;
  return { seq: seq!, sessionCalls: sessionCalls!, sessionEarlier: sessionEarlier!, sessionLater: sessionLater!, values, marks: marks ? new Set(labels as string[]) : undefined };
}

function queryKey(q: Query): string {
  if (q.kind === "k") return `k ${q.tool}`;
  if (q.kind === "a") return `a ${q.fn} ${q.scope} ${q.back} ${JSON.stringify([q.tool, q.pointer])}`;
  return `n ${q.scope} ${q.back} ${JSON.stringify(q.tools)}`;
}

/** Two judgements agree when the call is treated alike: recorded or not, the same decision and rules. */
function same<T>(a: Judgement<T>, b: Judgement<T>): boolean {
  return a.record === b.record && a.verdict === b.verdict;
}
