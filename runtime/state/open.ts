// Opens a StateStore from its one-line description, as `pqguard proxy --state` and embedders give it: `memory`,
// `sqlite:PATH`, or `redis://[user:password@]host:port/db` (`rediss://` for TLS). Passwords are never echoed.
import type { Logger } from "pino";
import { DEFAULT_RETENTION_MS, MemoryStateStore } from "./memory.js";
import { RedisStateStore, redactedUrl } from "./redis.js";
import { SqliteStateStore } from "./sqlite.js";
import { StateError, type StateStore } from "./store.js";

/** Where a Redis password may come from instead of the URL, so that it stays out of process listings. */
export const REDIS_PASSWORD_ENV = "PQGUARD_REDIS_PASSWORD";

export interface OpenStateStoreOptions {
  /** The guard's longest window (GuardModule.longestWindowMs): the store keeps calls at least that long, 24 h at least. */
  readonly longestWindowMs?: number | undefined;
  /** Shared stores: names the deployment, so that two deployments on one Redis count apart. */
  readonly deployment?: string | undefined;
  /** Shared stores: the policy's name, so that two policies on one Redis count apart. */
  readonly policy?: string | undefined;
  readonly logger?: Logger | undefined;
  /** Redis: how long a session's `seen` marks outlive its last mark or decision when it never ends (7 days by default). */
  readonly seenRetentionMs?: number | undefined;
  /** The environment to read `PQGUARD_REDIS_PASSWORD` from; process.env by default. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** A store that can be closed: the proxy closes the one it opened when it stops. */
export type OpenedStateStore = StateStore & { close?(): unknown; health?(): { readonly ok: boolean; readonly reason?: string } };

/**
 * Opens the store `spec` names, keeping calls for the policy's longest window (24 h at least). A Redis store that does
 * not answer yet is returned all the same: it refuses calls until it does, and reports that in `health()`.
 */
export async function openStateStore(spec: string, options: OpenStateStoreOptions = {}): Promise<OpenedStateStore> {
  const window = options.longestWindowMs ?? 0;
  const retentionMs = Number.isFinite(window) ? Math.max(DEFAULT_RETENTION_MS, window) : DEFAULT_RETENTION_MS;
  if (spec === "memory") return new MemoryStateStore({ retentionMs });
  if (spec.startsWith("sqlite:")) {
    const path = spec.slice("sqlite:".length);
    if (path === "") throw new StateError("PQG7203", "`sqlite:` names no file: give `sqlite:PATH`");
    return SqliteStateStore.open(path, { retentionMs });
  }
  if (spec.startsWith("redis://") || spec.startsWith("rediss://")) {
    const password = (options.env ?? process.env)[REDIS_PASSWORD_ENV];
    return RedisStateStore.open({
      url: spec,
      retentionMs,
      ...(password === undefined || password === "" ? {} : { password }),
      ...(options.deployment === undefined ? {} : { deployment: options.deployment }),
      ...(options.policy === undefined ? {} : { policy: options.policy }),
      ...(options.logger === undefined ? {} : { logger: options.logger }),
      ...(options.seenRetentionMs === undefined ? {} : { seenRetentionMs: options.seenRetentionMs }),
    });
  }
  const shown = spec.includes("://") ? redactedUrl(spec) : `\`${spec}\``;
  throw new StateError("PQG7203", `${shown} is not a state store: use \`memory\`, \`sqlite:PATH\` or \`redis://HOST:PORT/DB\``);
}
