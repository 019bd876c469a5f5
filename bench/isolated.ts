// Runs each benchmark variant in its own child process, as a real client and server would run: each has its own V8
// heap and JIT feedback, so the SDK's call sites see one transport class instead of every variant's at once. Rounds
// are interleaved (one variant at a time, never two in parallel, alternating the order) so all see the same machine state.
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { median } from "./echo.js";

export interface Variant {
  readonly name: string;
  /** Module exporting `factory`, as a URL (`import.meta.url` of the benchmark). */
  readonly module: string;
  /** An exported `(options) => Promise<Client>` in `module`. */
  readonly factory: string;
  /** JSON options for the factory. */
  readonly options?: unknown;
}

export interface Schedule {
  readonly warmupCalls: number;
  readonly rounds: number;
  readonly callsPerRound: number;
}

/** Round-trip samples in microseconds per variant name, one array per round (rounds ran interleaved, in order). */
export async function measureIsolated(variants: readonly Variant[], schedule: Schedule): Promise<Map<string, number[][]>> {
  const children = new Map<string, VariantProcess>();
  try {
    for (const variant of variants) children.set(variant.name, await VariantProcess.start(variant));
    for (const child of children.values()) await child.sample(schedule.warmupCalls);
    const samples = new Map<string, number[][]>(variants.map((v) => [v.name, []]));
    // Odd rounds run the variants in reverse order, so no variant always runs first (or right after another).
    const order = [...children];
    for (let round = 0; round < schedule.rounds; round++) {
      for (const [name, child] of round % 2 === 0 ? order : [...order].reverse()) samples.get(name)!.push(await child.sample(schedule.callsPerRound));
    }
    return samples;
  } finally {
    await Promise.all([...children.values()].map((child) => child.stop()));
  }
}

/** The median of all of a variant's samples. */
export function overallMedian(rounds: readonly number[][]): number {
  return median(rounds.flat());
}

/**
 * The median over rounds of (variant's round median ÷ baseline's round median). Each round runs the variants back to
 * back within milliseconds, so the ratio holds even when the machine's speed drifts between rounds (a shared VM's does,
 * by up to 2x over seconds); the overall medians do not cancel that drift.
 */
export function pairedRatio(variant: readonly number[][], baseline: readonly number[][]): number {
  return median(variant.map((round, i) => median(round) / median(baseline[i]!)));
}

class VariantProcess {
  private constructor(private readonly child: ChildProcess) {}

  static async start(variant: Variant): Promise<VariantProcess> {
    const entry = fileURLToPath(new URL("./variant-process.ts", import.meta.url));
    const child = fork(entry, [JSON.stringify(variant)], { execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
    const started = new VariantProcess(child);
    await started.reply();
    return started;
  }

  sample(calls: number): Promise<number[]> {
    this.child.send({ type: "sample", calls });
    return this.reply() as Promise<number[]>;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || !this.child.connected) return;
    this.child.send({ type: "stop" });
    await this.reply().catch(() => undefined);
    this.child.kill();
  }

  private reply(): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        this.child.off("message", onMessage);
        this.child.off("exit", onExit);
      };
      const onMessage = (message: { error?: string; value?: unknown }) => {
        cleanup();
        if (message.error !== undefined) reject(new Error(message.error));
        else resolve(message.value);
      };
      const onExit = (code: number | null) => {
        cleanup();
        reject(new Error(`a benchmark process exited (code ${code}) before answering`));
      };
      this.child.on("message", onMessage);
      this.child.on("exit", onExit);
    });
  }
}
