// Test support: a redis-server of the tests' own on a free loopback port in a temporary directory, stoppable and
// restartable on the same port; tests skip loudly when the binary is absent.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../bench/proxy/children.js";

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
