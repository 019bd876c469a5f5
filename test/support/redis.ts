// Test support: a redis-server of the tests' own on a free loopback port in a temporary directory, stoppable and
// restartable on the same port, and the set-up of a suite of Redis state store tests; tests skip loudly when the
// binary is absent.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../bench/proxy/children.js";
import { RedisStateStore, type RedisStateStoreOptions } from "../../runtime/state/redis.js";

export { freePort };

export const REDIS_SERVER = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"].find((p) => existsSync(p));

/** Skips the running test or suite, saying why on stderr so that a skip is never silent. */
export function skipLoudly(context: Mocha.Context, why: string): never {
  console.warn(`SKIPPED: ${why}`);
  context.skip();
}

/** Resolves once something accepts connections on the port, or rejects after `ms`. */
export async function waitForPort(port: number, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = new Socket();
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
      socket.connect(port, "127.0.0.1");
    });
    if (open) return;
    if (Date.now() > until) throw new Error(`nothing listened on port ${port} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  dispose(): Promise<void>;
}

/**
 * Starts redis-server on a free port, with an optional password; `stop`/`start` keep the port. `persistent` writes
 * every change to an append-only file before answering (as a production Redis holding limits should), so a stopped
 * and restarted server still has them; otherwise nothing is kept.
 */
export async function startRedis(options: { password?: string; persistent?: boolean } = {}): Promise<RedisServer> {
  if (REDIS_SERVER === undefined) throw new Error("redis-server is not installed");
  const dir = await mkdtemp(join(tmpdir(), "pqguard-redis-"));
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    const persistence = options.persistent === true ? ["--appendonly", "yes", "--appendfsync", "always"] : ["--appendonly", "no"];
    const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", ...persistence, "--dir", dir];
    if (options.password !== undefined) args.push("--requirepass", options.password);
    child = spawn(REDIS_SERVER, args, { stdio: "ignore" });
    await waitForPort(port);
  };
  const stop = async (): Promise<void> => {
    const running = child;
    child = undefined;
    if (running === undefined || running.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once("exit", () => resolve()));
    // A persistent server is shut down as an operator would, so that it writes what it holds; others are killed.
    running.kill(options.persistent === true ? "SIGTERM" : "SIGKILL");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  };
  await start();
  const auth = options.password === undefined ? "" : `:${encodeURIComponent(options.password)}@`;
  return {
    port,
    url: `redis://${auth}127.0.0.1:${port}/0`,
    stop,
    start,
    dispose: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** What `redisStoreSuite` gives a suite: its server, and stores of a fresh deployment closed after each test. */
export interface RedisStoreSuite {
  /** The suite's redis-server (started in `before`). */
  readonly redis: RedisServer;
  /** A store under this test's deployment prefix (`PREFIX-N`), with the suite's options and `extra` over them. */
  open(extra?: Partial<RedisStateStoreOptions>): Promise<RedisStateStore>;
  /** Moves to a new deployment prefix within a test: stores opened next share nothing with earlier ones. */
  nextDeployment(): void;
  /** Closes `store` after the test too (one opened otherwise, on another server). */
  adopt<T extends RedisStateStore>(store: T): T;
}

/**
 * The mocha set-up of a suite of RedisStateStore tests, registered in the calling `describe`: one redis-server for the
 * suite (the suite skips loudly, naming `what`, where redis-server is not installed), a new deployment prefix for each
 * test, and every store opened through `open` closed after each test.
 */
export function redisStoreSuite(what: string, prefix: string, options: Omit<RedisStateStoreOptions, "url" | "deployment">): RedisStoreSuite {
  let redis: RedisServer | undefined;
  let deployment = 0;
  const stores: RedisStateStore[] = [];
  before(async function () {
    if (REDIS_SERVER === undefined) skipLoudly(this, `redis-server is not installed (apt-get install redis-server): ${what} not tested`);
    redis = await startRedis();
  });
  beforeEach(() => void deployment++);
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
  });
  after(async () => {
    await redis?.dispose();
  });
  return {
    get redis() {
      return redis!;
    },
    async open(extra = {}) {
      const store = await RedisStateStore.open({ url: redis!.url, deployment: `${prefix}-${deployment}`, ...options, ...extra });
      stores.push(store);
      return store;
    },
    nextDeployment() {
      deployment++;
    },
    adopt(store) {
      stores.push(store);
      return store;
    },
  };
}
