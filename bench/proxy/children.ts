// The processes of the proxy benchmark: started, found again by pid to read their CPU time, and all stopped at the
// end, their own children (the upstreams a proxy starts) included, whatever way the benchmark ends.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readdirSync, readFileSync } from "node:fs";
import { createServer, connect as connectTcp } from "node:net";
import { join } from "node:path";
import process from "node:process";

/** How long a process may take to start listening; a proxy compiles its policy and starts its upstream first. */
const START_TIMEOUT_MS = 60_000;
/** Between SIGTERM and SIGKILL at clean-up: the proxy's own grace for its upstream is 1 s (`KILL_GRACE_MS`). */
const STOP_GRACE_MS = 3_000;

/** Clock ticks per second of /proc/PID/stat's utime and stime. */
const CLOCK_TICKS = clockTicks();

function clockTicks(): number {
  try {
    const value = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    if (Number.isInteger(value) && value > 0) return value;
  } catch {
    // No getconf: Linux's USER_HZ is 100 on every architecture Node runs on.
  }
  return 100;
}

/**
 * CPU time a process has used, in microseconds: the sum of its threads' run time in nanoseconds from
 * /proc/PID/task/TID/schedstat where the kernel keeps scheduler statistics, else `cpuMicrosFromStat`. A thread that
 * ends between two readings takes its time with it; a Node process's threads (V8's workers, libuv's pool) live as
 * long as it does.
 */
function cpuMicros(pid: number): number {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return cpuMicrosFromStat(pid);
  }
  let total = 0;
  for (const task of tasks) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, "utf8").split(" ", 1)[0]) / 1000;
    } catch {
      // The thread ended meanwhile; or the kernel keeps no schedstat at all, which the first thread tells.
      if (task === tasks[0]) return cpuMicrosFromStat(pid);
    }
  }
  return total;
}

/**
 * CPU time (user + system, all threads) from /proc/PID/stat. The kernel reports the precise total rounded down to a
 * clock tick (10 ms), so a delta over a batch is exact to within one tick.
 */
function cpuMicrosFromStat(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name, which is in parentheses and may itself hold spaces: state is field 3.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[14 - 3]);
  const stime = Number(fields[15 - 3]);
  return ((utime + stime) * 1e6) / CLOCK_TICKS;
}

/** The sum of `cpuMicros` over several processes. */
export function totalCpuMicros(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) total += cpuMicros(pid);
  return total;
}

/** Every living process whose parent chain leads to `root`, from /proc. */
function descendantsOf(root: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // The process ended while the list was read.
    }
  }
  const found: number[] = [];
  const visit = (pid: number): void => {
    for (const [child, parent] of parents) {
      if (parent === pid) {
        found.push(child);
        visit(child);
      }
    }
  };
  visit(root);
  return found;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * The benchmark's processes, by pid: those it spawns itself and those the SDK's stdio transport spawns for it. Stopping
 * sends SIGTERM to each and, after a grace period, SIGKILL to what is left of them and of their children.
 */
export class ProcessGroup {
  private readonly roots = new Set<number>();

  /** Registers a process started elsewhere (the SDK's `StdioClientTransport.pid`). */
  adopt(pid: number | null | undefined): number {
    if (pid === null || pid === undefined) throw new Error("bench proxy: a child process has no pid (it did not start)");
    this.roots.add(pid);
    return pid;
  }

  /** Starts `node ARGS` with stdin closed, stdout piped (to read what it prints) or to a file, stderr to `logFd`. */
  spawnNode(args: readonly string[], options: { cwd: string; stdout: "pipe" | number; logFd: number; env?: NodeJS.ProcessEnv }): ChildProcess {
    const child = spawn(process.execPath, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ["ignore", options.stdout, options.logFd] });
    this.adopt(child.pid);
    return child;
  }

  /** Stops one process and its children; resolves once none of them is alive. */
  async stop(pid: number): Promise<void> {
    this.roots.delete(pid);
    await stopTree([pid]);
  }

  async stopAll(): Promise<void> {
    const roots = [...this.roots];
    this.roots.clear();
    await stopTree(roots);
  }
}

async function stopTree(roots: readonly number[]): Promise<void> {
  const tree = [...new Set(roots.flatMap((pid) => [pid, ...descendantsOf(pid)]))];
  for (const pid of roots) signal(pid, "SIGTERM");
  const deadline = Date.now() + STOP_GRACE_MS;
  while (tree.some(alive) && Date.now() < deadline) await delay(50);
  for (const pid of tree.filter(alive)) signal(pid, "SIGKILL");
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A port that was free a moment ago on 127.0.0.1, for servers that cannot pick one themselves and report it. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("bench proxy: no port"))));
    });
  });
}

/** Resolves once 127.0.0.1:`port` accepts a connection; rejects when `child` exits first or after START_TIMEOUT_MS. */
export async function waitForPort(port: number, child: ChildProcess, what: string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`bench proxy: ${what} exited (${child.exitCode ?? child.signalCode}) before listening`);
    const accepted = await new Promise<boolean>((resolve) => {
      const socket = connectTcp(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (accepted) return;
    await delay(25);
  }
  throw new Error(`bench proxy: ${what} did not listen on port ${port} within ${START_TIMEOUT_MS} ms`);
}

/** Resolves with the first match of `pattern` in `child`'s stdout; rejects when it exits first or after START_TIMEOUT_MS. */
export function waitForLine(child: ChildProcess, pattern: RegExp, what: string): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => finish(new Error(`bench proxy: ${what} printed nothing matching ${pattern} within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
    const onData = (chunk: Buffer): void => {
      out += chunk.toString("utf8");
      const match = pattern.exec(out);
      if (match !== null) finish(match);
    };
    const onExit = (code: number | null): void => finish(new Error(`bench proxy: ${what} exited (${code}) before it was ready`));
    const finish = (result: RegExpExecArray | Error): void => {
      clearTimeout(timer);
      child.stdout!.off("data", onData);
      child.off("exit", onExit);
      // Whatever the process prints later must not fill the pipe and stall it.
      child.stdout!.resume();
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    child.stdout!.on("data", onData);
    child.once("exit", onExit);
  });
}

/** Resolves once the file at `path` contains `text` (a log line), polling; rejects after START_TIMEOUT_MS. */
export async function waitForText(path: string, text: string, what: string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (readFileSync(path, "utf8").includes(text)) return;
    await delay(10);
  }
  throw new Error(`bench proxy: ${what} did not log \`${text}\` within ${START_TIMEOUT_MS} ms`);
}

/** Log files (the processes' stderr), one per name, opened for appending in `dir`. */
export class LogFiles {
  private readonly fds: number[] = [];

  constructor(private readonly dir: string) {}

  open(name: string): { path: string; fd: number } {
    const path = join(this.dir, `${name}.log`);
    const fd = openSync(path, "a");
    this.fds.push(fd);
    return { path, fd };
  }

  closeAll(): void {
    for (const fd of this.fds.splice(0)) closeSync(fd);
  }
}
