// A server's keys from a keyring that changes while it runs: new connections answer with the active key, sessions on
// a revoked key (or a retiring one past its grace) drain and close, and a revocation list of client certificates is
// applied to new handshakes and to live sessions. Reloads on file changes (fs.watch) and on demand (SIGHUP).
import { watch, type FSWatcher } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { Logger } from "pino";
import { Keyring, KEYRING_FILE, type KeyringEntry } from "../identity/keyring.js";
import type { Identity } from "../identity/keys.js";
import { loadRevocationList } from "../identity/revocation-list.js";
import { exportTrustList, type TrustList } from "../identity/trust-list.js";
import { currentMetrics, type PqguardMetrics } from "../metrics/metrics.js";
import { loadCryptoConfig, suitesOf, type CryptoConfig } from "../crypto/config-file.js";
import type { SuiteConfig } from "../crypto/registry.js";
import { ServerCredentials, type ClientTrust } from "../session/certificate.js";
import { SessionError, SessionErrorCode } from "../session/errors.js";
import type { PqcServerTransport, ServerKeySource } from "./server.js";

/** File events come in bursts (a rename is two); one reload after the burst settles. */
const RELOAD_DEBOUNCE_MS = 50;

export interface KeyringServerOptions {
  readonly directory: string;
  /** Put in the server certificates of every key. */
  readonly label?: string;
  /** Issuers and pinned clients to believe (from `--trust-issuer`, `--trust-client`, `--require-client-auth`). */
  readonly clientTrust?: ClientTrust;
  /** A `pqguard-crypto/1` file: the algorithms new connections accept, read again with the keyring. */
  readonly cryptoConfig?: string;
  /** A `pqguard-revocation-list/1` file of client (or issuer) fingerprints, read again when it changes. */
  readonly revokedClients?: string;
  readonly logger?: Logger;
  readonly now?: () => number;
  readonly metrics?: PqguardMetrics;
  /**
   * At a rotation, move established sessions to the new key in place (re-authentication, docs/protocol.md) instead
   * of draining them when the grace period ends. A client that does not trust the new key yet refuses it and its
   * session closes (it reconnects); calls in flight on such a session are lost, so turn this on where clients pin the
   * pre-published next key or follow the trust list. Sessions on a revoked key always drain.
   */
  readonly reauthenticateOnRotation?: boolean;
}

/** What a reload changed. */
export interface KeyringReload {
  readonly active: string | undefined;
  /** Sessions told to drain, and why. */
  readonly drained: number;
}

export class KeyringServer implements ServerKeySource {
  private keyring: Keyring | undefined;
  private active: { readonly entry: KeyringEntry; readonly credentials: ServerCredentials; readonly identity: Identity } | undefined;
  private revokedClients: ReadonlySet<string> = new Set();
  private config: CryptoConfig | undefined;
  private readonly sessions = new Map<PqcServerTransport, string>();
  private readonly watchers: FSWatcher[] = [];
  private debounce: NodeJS.Timeout | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  private readonly unwatchKeys: () => void;
  private readonly now: () => number;
  private reloading: Promise<KeyringReload> | undefined;
  private trustListCache: TrustList | undefined;

  private constructor(private readonly options: KeyringServerOptions) {
    this.now = options.now ?? Date.now;
    this.unwatchKeys = (options.metrics ?? currentMetrics()).watchKeys(() =>
      (this.keyring?.keys ?? []).map((key) => ({ keyId: key.keyId, algorithm: key.algorithm, state: key.state, created: Date.parse(key.created) })),
    );
  }

  /** Reads the keyring (and the revocation list); throws when it cannot, or when it has no active key. */
  static async open(options: KeyringServerOptions): Promise<KeyringServer> {
    const server = new KeyringServer(options);
    try {
      await server.reload();
    } catch (error) {
      server.close();
      throw error;
    }
    if (server.active === undefined) {
      server.close();
      throw new SessionError(SessionErrorCode.InvalidConfiguration, `the keyring \`${options.directory}\` has no active key: run \`pqguard keys rotate --keyring ${options.directory}\``);
    }
    return server;
  }

  /** The active key's entry. */
  get activeKey(): KeyringEntry | undefined {
    return this.active?.entry;
  }

  get currentKeyring(): Keyring | undefined {
    return this.keyring;
  }

  /** Sessions being served (or handshaking), counted by the key they rest on. */
  sessionsByKey(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const fingerprint of this.sessions.values()) counts.set(fingerprint, (counts.get(fingerprint) ?? 0) + 1);
    return counts;
  }

  credentials(): ServerCredentials {
    if (this.active === undefined) {
      // Fail closed: with the active key revoked and none to take its place, no handshake may use a key at all.
      throw new SessionError(SessionErrorCode.InvalidConfiguration, "the keyring has no active key (it was revoked): no new sessions until a rotation");
    }
    return this.active.credentials;
  }

  suites(): Partial<SuiteConfig> | undefined {
    return suitesOf(this.config);
  }

  /** The crypto configuration last read. */
  get cryptoConfig(): CryptoConfig | undefined {
    return this.config;
  }

  clientTrust(): ClientTrust | undefined {
    const base = this.options.clientTrust;
    if (base === undefined && this.revokedClients.size === 0) return undefined;
    return { ...(base ?? {}), revoked: this.revokedClients };
  }

  track(transport: PqcServerTransport, fingerprint: string): void {
    this.sessions.set(transport, fingerprint);
    void transport.closed.then(() => this.sessions.delete(transport));
  }

  /** The keyring's trust list, signed by the active key (what clients fetch to follow rotations). */
  async trustList(): Promise<TrustList> {
    if (this.trustListCache !== undefined) return this.trustListCache;
    const keyring = this.keyring!;
    const active = this.active!;
    this.trustListCache = await exportTrustList(keyring, await keyring.loadSecret(active.entry), this.now());
    return this.trustListCache;
  }

  /**
   * Reads the keyring and the revocation list again and applies them: new connections use the active key at once;
   * sessions on a revoked key, on a retiring key past its not-after, or of a revoked client drain. A keyring that
   * cannot be read leaves the previous one in force (and throws, for the caller to report).
   */
  reload(): Promise<KeyringReload> {
    // One reload at a time; a request during one runs after it, so the last change is always applied.
    const run = async (): Promise<KeyringReload> => {
      const keyring = await Keyring.open(this.options.directory);
      const revoked = this.options.revokedClients === undefined ? new Set<string>() : await loadRevocationList(this.options.revokedClients);
      const config = this.options.cryptoConfig === undefined ? undefined : await loadCryptoConfig(this.options.cryptoConfig);
      if (config?.signature !== undefined && keyring.active !== undefined && !config.signature.includes(keyring.active.algorithm)) {
        throw new SessionError(
          SessionErrorCode.InvalidConfiguration,
          `the active key is \`${keyring.active.algorithm}\`, which the configured signature algorithms leave out: rotate to a key of a listed algorithm (\`pqguard keys rotate --alg ...\`)`,
        );
      }
      const now = this.now();
      const entry = keyring.active;
      const previous = this.active;
      if (entry?.keyId !== this.active?.entry.keyId) {
        let next: KeyringServer["active"];
        if (entry !== undefined) {
          const identity = await keyring.loadSecret(entry);
          next = {
            entry,
            identity,
            credentials: new ServerCredentials({ identity, now: this.now, ...(this.options.label === undefined ? {} : { label: this.options.label }) }),
          };
        }
        this.active = next;
      } else if (entry !== undefined && this.active !== undefined) {
        this.active = { ...this.active, entry };
      }
      this.keyring = keyring;
      this.revokedClients = revoked;
      this.config = config;
      this.trustListCache = undefined;
      const rotatedFrom = previous !== undefined && previous.entry.keyId !== this.active?.entry.keyId ? previous.entry.keyId : undefined;
      if (this.options.reauthenticateOnRotation === true && rotatedFrom !== undefined) this.moveSessions(keyring, rotatedFrom);
      const drained = this.drainWhatEnded(keyring, now);
      this.armGraceTimer(keyring, now);
      this.options.logger?.info(
        { active: entry?.keyId ?? null, keys: keyring.keys.length, revoked: keyring.revoked().length, revokedClients: revoked.size, drained },
        "keyring loaded",
      );
      return { active: entry?.keyId, drained };
    };
    const previous = this.reloading ?? Promise.resolve(undefined);
    const next = previous.catch(() => undefined).then(run);
    this.reloading = next;
    void next.finally(() => {
      if (this.reloading === next) this.reloading = undefined;
    }).catch(() => undefined);
    return next;
  }

  /**
   * Re-authenticates the established sessions on `from` with the active key (a certificate for the session's KEM),
   * unless `from` was revoked: a session that rested on a key that may be in someone else's hands is drained instead.
   */
  private moveSessions(keyring: Keyring, from: string): void {
    const active = this.active;
    if (active === undefined || keyring.keys.find((k) => k.keyId === from)?.state === "revoked") return;
    for (const [transport, fingerprint] of this.sessions) {
      const info = transport.sessionInfo;
      if (fingerprint !== from || info === undefined || transport.isDraining) continue;
      const credential = active.credentials.forKem(info.suite.kem);
      if (credential === undefined) continue;
      // Counted as moved at once: a refusal closes the session, which forgets it either way.
      this.sessions.set(transport, active.entry.keyId);
      transport.reauthenticate(credential.certificate, active.identity).then(
        () => this.options.logger?.info({ from, to: active.entry.keyId, sessionId: info.sessionId }, "session moved to the new key"),
        (error: unknown) => this.options.logger?.warn({ from, sessionId: info.sessionId, err: error instanceof Error ? error.message : String(error) }, "a session could not be moved to the new key"),
      );
    }
  }

  /** Drains sessions on revoked keys, on retiring keys past their not-after, and of revoked clients. */
  private drainWhatEnded(keyring: Keyring, now: number): number {
    let drained = 0;
    for (const [transport, fingerprint] of this.sessions) {
      if (transport.isDraining) continue;
      const key = keyring.keys.find((k) => k.keyId === fingerprint);
      const client = transport.sessionInfo?.client?.fingerprint;
      let reason: string | undefined;
      if (key === undefined || key.state === "revoked") reason = `the server key \`${fingerprint}\` was revoked`;
      else if (key.state !== "active" && key.state !== "next" && !(now < Date.parse(key.notAfter))) reason = `the server key \`${fingerprint}\` was retired`;
      else if (client !== undefined && this.revokedClients.has(client)) reason = `the client key \`${client}\` was revoked`;
      if (reason === undefined) continue;
      drained += 1;
      this.options.logger?.info({ key: fingerprint, sessionId: transport.sessionInfo?.sessionId ?? null }, `draining a session: ${reason}`);
      void transport.drain(reason);
    }
    return drained;
  }

  /** Reloads when the earliest retiring key's grace ends, so its sessions drain on time without a file change. */
  private armGraceTimer(keyring: Keyring, now: number): void {
    clearTimeout(this.graceTimer);
    const ends = keyring.keys.filter((k) => k.state === "retiring").map((k) => Date.parse(k.notAfter)).filter((t) => t > now);
    if (ends.length === 0) return;
    this.graceTimer = setTimeout(() => void this.reload().catch((error: unknown) => this.reportReloadFailure(error)), Math.min(Math.min(...ends) - now + 1, 2 ** 31 - 1));
    this.graceTimer.unref();
  }

  /** Watches keyring.json and the revocation list; each change reloads (errors are logged, the last good keys stay). */
  watch(): void {
    const onChange = (file: string) => (_event: string, name: string | Buffer | null) => {
      if (name !== null && String(name) !== file) return;
      clearTimeout(this.debounce);
      this.debounce = setTimeout(() => void this.reload().catch((error: unknown) => this.reportReloadFailure(error)), RELOAD_DEBOUNCE_MS);
      this.debounce.unref();
    };
    // Directories, not files: keyring.json is replaced by a rename, which a watch on the old file would not follow.
    this.watchers.push(watch(this.options.directory, { persistent: false }, onChange(KEYRING_FILE)));
    for (const file of [this.options.revokedClients, this.options.cryptoConfig]) {
      if (file !== undefined) this.watchers.push(watch(dirname(file), { persistent: false }, onChange(basename(file))));
    }
  }

  private reportReloadFailure(error: unknown): void {
    const code = (error as { code?: unknown } | null)?.code;
    this.options.logger?.error(
      { code: typeof code === "string" ? code : null, keyring: join(this.options.directory, KEYRING_FILE) },
      `the keyring could not be reloaded; the keys loaded before stay in force: ${error instanceof Error ? error.message : String(error)}`,
    );
  }

  close(): void {
    for (const watcher of this.watchers) watcher.close();
    this.watchers.length = 0;
    clearTimeout(this.debounce);
    clearTimeout(this.graceTimer);
    this.unwatchKeys();
  }
}
