// The timing loop the per-item benchmarks share: batches sized to a fixed time, contenders interleaved round by
// round (so a change in machine load shifts all of them alike and their ratios stay fair), the median batch reported.
import process from "node:process";

/** Time per batch: short enough that a batch is rarely preempted on a busy machine, long enough to dwarf the timer. */
export const BATCH_NS = 300_000;

export interface Contender<T> {
  readonly name: string;
  /** Handles one input; a result other than undefined counts, so that the work cannot be optimised away. */
  readonly run: (input: T) => unknown;
}

/** Median nanoseconds per input of each contender over `rounds` interleaved rounds, inputs visited in turn. */
export function medianNsPerInput<T>(inputs: readonly T[], contenders: readonly Contender<T>[], rounds: number): number[] {
  let sink = 0;
  const batch = (c: Contender<T>, n: number, offset: number): void => {
    for (let i = 0; i < n; i++) if (c.run(inputs[(offset + i) % inputs.length]!) !== undefined) sink++;
  };
  const sizes = contenders.map((c) => {
    batch(c, 200, 0);
    const start = process.hrtime.bigint();
    batch(c, 500, 0);
    const estimate = Number(process.hrtime.bigint() - start) / 500;
    const size = Math.max(1, Math.min(100_000, Math.round(BATCH_NS / estimate)));
    batch(c, size * 10, 0); // warm-up: let the JIT optimise before timing
    return size;
  });
  const samples: number[][] = contenders.map(() => []);
  for (let round = 0; round < rounds; round++) {
    contenders.forEach((c, i) => {
      const start = process.hrtime.bigint();
      batch(c, sizes[i]!, round * sizes[i]!);
      samples[i]!.push(Number(process.hrtime.bigint() - start) / sizes[i]!);
    });
  }
  if (sink === 0) throw new Error("no results were produced");
  return samples.map((s) => s.sort((a, b) => a - b)[Math.floor(s.length / 2)]!);
}
