// A StateStore in a SQLite file for one machine: limits and windows hold across restarts without Redis. It answers
// synchronously (snapshot → guard → record without yielding) and holds the file exclusively, one process at a time.
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import type { AggregateFunction, CallHistory, LimitScope } from "../guard/types.js";
import { aggregateValues, DEFAULT_MAX_FOLDED_VALUES, keptValues, tooManyToFold } from "./values.js";
import { DEFAULT_RETENTION_MS, EXPIRY_SLACK_MS, MAX_CALLED_TOOLS_PER_SESSION, MAX_SEEN_LABELS_PER_SESSION } from "./memory.js";
import { StateError, type CallRecord, type HistoryKey, type HistorySnapshot, type StateStore, type SyncStateOperations } from "./store.js";

/** About 1 GB of history at most before new calls are refused. */
export const DEFAULT_SQLITE_MAX_ENTRIES = 10_000_000;
/** Expiry deletes rows, so it runs at most once per this much decision time. */
const EXPIRY_INTERVAL_MS = 1000;
/** How long a statement waits for the file's lock before the call is refused. */
const BUSY_TIMEOUT_MS = 2000;

export interface SqliteStateStoreOptions {
  readonly retentionMs?: number;
  readonly maxEntries?: number;
  /** `normal` (the default) survives a crash of the process; `full` also a loss of power, at a cost per call. */
  readonly durability?: "normal" | "full";
  /** The most calls one `sum()`, `max()` or `min()` folds (DEFAULT_MAX_FOLDED_VALUES); more refuse the call. */
  readonly maxFoldedValues?: number;
}

/** The few methods both bindings (node:sqlite and better-sqlite3) share. */
interface Statement {
  run(...params: unknown[]): unknown;
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}
interface Database {
  exec(sql: string): unknown;
  prepare(sql: string): Statement;
  close(): unknown;
}

/**
 * node:sqlite where the runtime has it (Node 22.13 and later), else better-sqlite3, an optional peer dependency.
 * Exported for tests that read a store's file as it is; not part of the package's API.
 */
export async function openDatabase(path: string): Promise<{ db: Database; binding: string }> {
  const builtin = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule?.("node:sqlite") as { DatabaseSync?: new (path: string) => Database } | undefined;
  if (builtin?.DatabaseSync !== undefined) return { db: new builtin.DatabaseSync(path), binding: "node:sqlite" };
  let Better: new (path: string) => Database;
  try {
    Better = createRequire(import.meta.url)("better-sqlite3") as typeof Better;
  } catch {
    throw new StateError("PQG7203", "a SQLite state store needs Node 22.13 or later (node:sqlite) or the `better-sqlite3` package: npm install better-sqlite3");
  }
  return { db: new Better(path), binding: "better-sqlite3" };
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS calls (seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, tool TEXT NOT NULL, session TEXT NOT NULL, client TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS calls_at ON calls (at);
CREATE INDEX IF NOT EXISTS calls_tool ON calls (tool, at);
CREATE INDEX IF NOT EXISTS calls_client ON calls (client, at);
CREATE INDEX IF NOT EXISTS calls_client_tool ON calls (client, tool, at);
CREATE INDEX IF NOT EXISTS calls_session ON calls (session, at);
CREATE INDEX IF NOT EXISTS calls_session_tool ON calls (session, tool, at);
CREATE TABLE IF NOT EXISTS sessions (session TEXT PRIMARY KEY, calls INTEGER NOT NULL, last INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS called (session TEXT NOT NULL, tool TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (session, tool));
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS seen (session TEXT NOT NULL, label TEXT NOT NULL, PRIMARY KEY (session, label));
CREATE TABLE IF NOT EXISTS call_values (seq INTEGER NOT NULL, pointer TEXT NOT NULL, value REAL NOT NULL, PRIMARY KEY (seq, pointer));
`;

/** Ids as stored: hashed, so the file holds no session id (a bearer value in some deployments) or raw client input. */
function idOf(id: string): string {
  return createHash("sha256").update(id).digest("hex").slice(0, 32);
}

export class SqliteStateStore implements StateStore {
  readonly retentionMs: number;
  readonly binding: string;
  private readonly maxFoldedValues: number;
  private readonly maxEntries: number;
  private entries: number;
  private expiredBefore: number;
  private lastExpiry = -Infinity;
  private readonly statements: Record<string, Statement> = {};

  private constructor(
    private readonly db: Database,
    binding: string,
    options: SqliteStateStoreOptions,
  ) {
    this.binding = binding;
    this.retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
    this.maxFoldedValues = options.maxFoldedValues ?? DEFAULT_MAX_FOLDED_VALUES;
    this.maxEntries = options.maxEntries ?? DEFAULT_SQLITE_MAX_ENTRIES;
    this.entries = Number((this.statement("SELECT count(*) AS n FROM calls").get() as { n: number }).n);
    const expired = this.statement("SELECT value FROM meta WHERE name = 'expired_before'").get() as { value: number } | undefined;
    this.expiredBefore = expired === undefined ? -Infinity : Number(expired.value);
  }

  /** Opens (creating) the file and holds it exclusively: a second process opening it is refused, not silently inexact. */
  static async open(path: string, options: SqliteStateStoreOptions = {}): Promise<SqliteStateStore> {
    const { db, binding } = await openDatabase(path);
    try {
      db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
      db.exec("PRAGMA journal_mode = WAL");
      db.exec(`PRAGMA synchronous = ${options.durability === "full" ? "FULL" : "NORMAL"}`);
      db.exec("PRAGMA locking_mode = EXCLUSIVE");
      db.exec(`BEGIN IMMEDIATE; ${SCHEMA} COMMIT;`);
      return new SqliteStateStore(db, binding, options);
    } catch (error) {
      db.close();
      throw new StateError("PQG7203", `the SQLite state store \`${path}\` could not be opened (is another process using it?): ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  readonly sync: SyncStateOperations = {
    record: (call) => this.guarded(() => this.recordNow(call)),
    snapshot: (key, now) => this.guarded(() => this.snapshotNow(key, now)),
  };

  async record(call: CallRecord): Promise<void> {
    this.sync.record(call);
  }

  async snapshot(key: HistoryKey, now: number): Promise<HistorySnapshot> {
    return this.sync.snapshot(key, now);
  }

  async endSession(sessionId: string): Promise<void> {
    this.guarded(() => {
      const id = idOf(sessionId);
      this.statement("DELETE FROM sessions WHERE session = ?").run(id);
      this.statement("DELETE FROM called WHERE session = ?").run(id);
      this.statement("DELETE FROM seen WHERE session = ?").run(id);
    });
  }

  /** Marks last until the session ends, not the retention period: a mark says what the session holds. */
  async markSeen(sessionId: string, label: string): Promise<void> {
    this.guarded(() => {
      const id = idOf(sessionId);
      if (this.statement("SELECT 1 AS k FROM seen WHERE session = ? AND label = ?").get(id, label) !== undefined) return;
      const n = Number((this.statement("SELECT count(*) AS n FROM seen WHERE session = ?").get(id) as { n: number }).n);
      if (n >= MAX_SEEN_LABELS_PER_SESSION) throw new StateError("PQG7201", `session carries ${MAX_SEEN_LABELS_PER_SESSION} \`seen\` labels, the limit`);
      this.statement("INSERT INTO seen (session, label) VALUES (?, ?)").run(id, label);
    });
  }

  close(): void {
    this.db.close();
  }

  /** Any failure of the file is a StateError, so that the call is refused with the state code. */
  private guarded<T>(step: () => T): T {
    try {
      return step();
    } catch (error) {
      if (error instanceof StateError) throw error;
      throw new StateError("PQG7203", `the SQLite state store failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  private all(sql: string, ...params: unknown[]): unknown[] {
    return this.statement(sql).all(...params);
  }

  private statement(sql: string): Statement {
    let statement = this.statements[sql];
    if (statement === undefined) {
      statement = this.db.prepare(sql);
      this.statements[sql] = statement;
    }
    return statement;
  }

  private recordNow(call: CallRecord): void {
    finiteTime(call.at);
    this.expireIfDue(call.at);
    if (this.entries + 1 > this.maxEntries) throw new StateError("PQG7201", `state store holds ${this.entries} entries, its limit; the call is refused`);
    const session = idOf(call.sessionId);
    const at = Math.floor(call.at);
    const known = this.statement("SELECT 1 AS k FROM called WHERE session = ? AND tool = ?").get(session, call.tool) !== undefined;
    if (!known) {
      const tools = (this.statement("SELECT count(*) AS n FROM called WHERE session = ?").get(session) as { n: number }).n;
      if (Number(tools) >= MAX_CALLED_TOOLS_PER_SESSION) throw new StateError("PQG7201", `session called ${MAX_CALLED_TOOLS_PER_SESSION} distinct tools, the limit; the call is refused`);
    }
    this.db.exec("BEGIN");
    try {
      const inserted = this.statement("INSERT INTO calls (at, tool, session, client) VALUES (?, ?, ?, ?) RETURNING seq").get(at, call.tool, session, idOf(call.clientId)) as { seq: number };
      this.statement("INSERT INTO sessions (session, calls, last) VALUES (?, 1, ?) ON CONFLICT (session) DO UPDATE SET calls = calls + 1, last = max(last, excluded.last)").run(session, at);
      if (!known) this.statement("INSERT INTO called (session, tool, seq) VALUES (?, ?, ?)").run(session, call.tool, inserted.seq);
      for (const [pointer, value] of Object.entries(keptValues(call.values) ?? {})) {
        this.statement("INSERT INTO call_values (seq, pointer, value) VALUES (?, ?, ?)").run(inserted.seq, pointer, value);
      }
      this.db.exec("COMMIT");
    } catch (error) {
      this.db.exec("ROLLBACK");
      throw error;
    }
    this.entries++;
  }

  private snapshotNow(key: HistoryKey, now: number): HistorySnapshot {
    finiteTime(now);
    this.expireIfDue(now);
    const session = idOf(key.sessionId);
    const client = idOf(key.clientId);
    // Calls recorded after the snapshot are not in it, as with the in-memory store.
    const seqLimit = Number((this.statement("SELECT coalesce(max(seq), 0) AS s FROM calls").get() as { s: number }).s) + 1;
    const row = this.statement("SELECT calls FROM sessions WHERE session = ?").get(session) as { calls: number } | undefined;
    const sessionCalls = row === undefined ? 0 : Number(row.calls);
    const store = this;
    const history: CallHistory = {
      count(tools: readonly string[] | "*", since: number, scope: LimitScope): number {
        return store.guarded(() => {
          if (since < store.expiredBefore) store.refuseIncomplete();
          const who = scope === "global" ? "" : scope === "client" ? " AND client = ?" : " AND session = ?";
          const whoParams = scope === "global" ? [] : [scope === "client" ? client : session];
          const list = tools === "*" ? [] : [...new Set(tools)];
          const which = tools === "*" ? "" : ` AND tool IN (${list.map(() => "?").join(", ")})`;
          if (tools !== "*" && list.length === 0) return 0;
          const sql = `SELECT count(*) AS n FROM calls WHERE at >= ?${who}${which} AND seq < ?`;
          return Number((store.statement(sql).get(Math.ceil(since), ...whoParams, ...list, seqLimit) as { n: number }).n);
        });
      },
      aggregate(fn: AggregateFunction, tool: string, pointer: string, since: number, scope: LimitScope): number {
        return store.guarded(() => {
          if (since < store.expiredBefore) store.refuseIncomplete();
          const who = scope === "global" ? "" : scope === "client" ? " AND c.client = ?" : " AND c.session = ?";
          const whoParams = scope === "global" ? [] : [scope === "client" ? client : session];
          // Folded here in sequence order, not by SQL's sum(), so that every store adds the same numbers in one order.
          const sql = `SELECT v.value AS value FROM calls c JOIN call_values v ON v.seq = c.seq AND v.pointer = ? WHERE c.tool = ? AND c.at >= ?${who} AND c.seq < ? ORDER BY c.seq LIMIT ?`;
          const max = store.maxFoldedValues;
          const rows = store.all(sql, pointer, tool, Math.ceil(since), ...whoParams, seqLimit, max + 1) as { value: number }[];
          if (rows.length > max) throw tooManyToFold(max);
          return aggregateValues(fn, rows.map((r) => Number(r.value)));
        });
      },
      called(tool: string): boolean {
        return store.guarded(() => {
          const sql = tool === "*" ? "SELECT 1 AS k FROM called WHERE session = ? AND seq < ? LIMIT 1" : "SELECT 1 AS k FROM called WHERE session = ? AND seq < ? AND tool = ?";
          return store.statement(sql).get(session, seqLimit, ...(tool === "*" ? [] : [tool])) !== undefined;
        });
      },
      seen(label: string): boolean {
        return store.guarded(() => store.statement("SELECT 1 AS k FROM seen WHERE session = ? AND label = ?").get(session, label) !== undefined);
      },
    };
    return { history, sessionCalls };
  }

  private refuseIncomplete(): never {
    throw new StateError("PQG7202", `the call history is incomplete for the requested window: calls expired after the retention period of ${this.retentionMs} ms and ${EXPIRY_SLACK_MS} ms of slack, so a limit cannot be checked`);
  }

  private expireIfDue(now: number): void {
    const elapsed = now - this.lastExpiry;
    if (elapsed < EXPIRY_INTERVAL_MS && elapsed >= -EXPIRY_SLACK_MS) return;
    this.lastExpiry = now;
    const before = Math.floor(now - this.retentionMs - EXPIRY_SLACK_MS);
    if (before <= this.expiredBefore) return;
    this.db.exec("BEGIN");
    try {
      this.statement("DELETE FROM call_values WHERE seq IN (SELECT seq FROM calls WHERE at < ?)").run(before);
      const removed = this.statement("DELETE FROM calls WHERE at < ?").run(before) as { changes: number | bigint };
      // A session idle past the retention period is let go, with its `called()` facts.
      this.statement("DELETE FROM called WHERE session IN (SELECT session FROM sessions WHERE last < ?)").run(before);
      this.statement("DELETE FROM sessions WHERE last < ?").run(before);
      this.statement("INSERT INTO meta (name, value) VALUES ('expired_before', ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value").run(before);
      this.db.exec("COMMIT");
      this.entries -= Number(removed.changes);
      this.expiredBefore = before;
    } catch (error) {
      this.db.exec("ROLLBACK");
      throw error;
    }
  }
}

function finiteTime(at: number): void {
  if (!Number.isFinite(at)) throw new StateError("PQG7203", `the clock reads \`${at}\`, which is not a time, so the call history cannot be used`);
}
