// Shared set-up for the attack tests: the hand-written review server behind an in-process proxy with the proxy tests'
// hand-written guard, a file where each server process notes its pid, and a way to count the live ones.
import childProcess from "node:child_process";
import { syncBuiltinESMExports } from "node:module";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { silentLogger } from "../../../runtime/audit/index.js";
import { createProxy, type Proxy, type ProxyOptions } from "../../../runtime/proxy/index.js";
import { testGuard } from "../harness.js";

export const REVIEW_SERVER = fileURLToPath(new URL("./fixtures/review-server.mjs", import.meta.url));

/** Where the review server's processes note their pids. */
export class SpawnLog {
  readonly dir = mkdtempSync(join(tmpdir(), "pqguard-review-"));
  readonly file = join(this.dir, "spawned.log");

  constructor() {
    writeFileSync(this.file, "");
  }

  /** Pids of every server process started so far. */
  pids(): number[] {
    return readFileSync(this.file, "utf8").split("\n").filter((line) => line !== "").map(Number);
  }

  /** How many of them are still running. */
  alive(): number {
    return this.pids().filter((pid) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    }).length;
  }

  /** Kills what is left (a server ignoring SIGTERM) and removes the directory. */
  cleanUp(): void {
    for (const pid of this.pids()) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function reviewProxy(log: SpawnLog, overrides: Partial<ProxyOptions> = {}, env: Record<string, string> = {}): Proxy {
  return createProxy({
    upstream: { command: process.execPath, args: [REVIEW_SERVER], stderr: "ignore", env: { ...process.env, REVIEW_SPAWN_LOG: log.file, ...env } },
    guard: testGuard,
    logger: silentLogger(),
    toolRecheckMs: 0,
    ...overrides,
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `run` while noting every process spawned through node:child_process (the proxy's stdio link imports `spawn`
 * from it): a server killed before it reached its first line would not note its pid in a SpawnLog.
 */
export async function watchingSpawns<T>(run: (spawned: readonly childProcess.ChildProcess[]) => Promise<T>): Promise<T> {
  const original = childProcess.spawn;
  const spawned: childProcess.ChildProcess[] = [];
  childProcess.spawn = ((...args: Parameters<typeof original>) => {
    const child = original(...args);
    spawned.push(child);
    return child;
  }) as typeof original;
  syncBuiltinESMExports();
  try {
    return await run(spawned);
  } finally {
    childProcess.spawn = original;
    syncBuiltinESMExports();
  }
}
