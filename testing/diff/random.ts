// The diff's own source of choices: a small seeded generator, so that the same `--seed` makes the same choices and
// prints the same report. fast-check draws the requests themselves from seeds this generator hands out.

/** mulberry32: 32 bits of state, fast, and good enough to pick among candidates; not for anything secret. */
export class Choices {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.next() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
  }

  /** A 32-bit signed seed for fast-check. */
  seed(): number {
    return (this.below(2 ** 32) | 0);
  }
}
