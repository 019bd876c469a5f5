// Wall-clock time in a policy's zone, both ways: the weekday, hour and minute of an instant, and the instant of a
// weekday, hour and minute near another one. The diff sets `time.hour` and `time.weekday` through these.

const clocks = new Map<string, WallClock>();

export const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;

const SHORT: Readonly<Record<string, number>> = { Mon: 0, Tue: 1, Wed: 2, Thu: 3, Fri: 4, Sat: 5, Sun: 6 };
const DAY_MS = 86_400_000;

export interface WallTime {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  /** 0 for Monday, as WEEKDAYS. */
  readonly weekday: number;
  readonly hour: number;
  readonly minute: number;
  /** Milliseconds into the minute. */
  readonly ms: number;
}

/** Wall times read per clock and kept: a search reads the same few thousand instants again and again. */
const CACHED_TIMES = 20_000;

/** The wall clock of one zone; `WallClock.of(zone)` shares one per zone. */
export class WallClock {
  private readonly format: Intl.DateTimeFormat;
  private readonly times = new Map<number, WallTime>();

  /** One clock per zone: an Intl formatter costs about a millisecond to make. */
  static of(zone: string): WallClock {
    let clock = clocks.get(zone);
    if (clock === undefined) {
      clock = new WallClock(zone);
      clocks.set(zone, clock);
    }
    return clock;
  }

  private constructor(readonly zone: string) {
    this.format = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      weekday: "short",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
  }

  at(t: number): WallTime {
    const cached = this.times.get(t);
    if (cached !== undefined) return cached;
    const wall = this.read(t);
    if (this.times.size >= CACHED_TIMES) this.times.clear();
    this.times.set(t, wall);
    return wall;
  }

  private read(t: number): WallTime {
    const parts: Record<string, string> = {};
    for (const p of this.format.formatToParts(t)) parts[p.type] = p.value;
    const second = Number(parts["second"]);
    return {
      year: Number(parts["year"]),
      month: Number(parts["month"]),
      day: Number(parts["day"]),
      weekday: SHORT[parts["weekday"] ?? "Mon"] ?? 0,
      hour: Number(parts["hour"]),
      minute: Number(parts["minute"]),
      ms: second * 1000 + (((t % 1000) + 1000) % 1000),
    };
  }

  /** Milliseconds the wall clock is ahead of UTC at `t`. */
  private offset(t: number): number {
    const w = this.at(t);
    return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute) + w.ms - t;
  }

  /** The instant showing this wall time, or undefined when the zone skips it (a daylight-saving gap). */
  instant(w: Omit<WallTime, "weekday">): number | undefined {
    const local = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute) + w.ms;
    const first = local - this.offset(local);
    for (const t of [first, local - this.offset(first)]) {
      const back = this.at(t);
      if (back.year === w.year && back.month === w.month && back.day === w.day && back.hour === w.hour && back.minute === w.minute) return t;
    }
    return undefined;
  }

  /** `t` moved to another weekday of its week (Monday first), hour or minute, the rest of its wall time kept. */
  with(t: number, change: { readonly weekday?: number; readonly hour?: number; readonly minute?: number }): number | undefined {
    const w = this.at(t);
    const shift = change.weekday === undefined ? 0 : change.weekday - w.weekday;
    const date = new Date(Date.UTC(w.year, w.month - 1, w.day) + shift * DAY_MS);
    return this.instant({
      year: date.getUTCFullYear(),
      month: date.getUTCMonth() + 1,
      day: date.getUTCDate(),
      hour: change.hour ?? w.hour,
      minute: change.minute ?? w.minute,
      ms: change.hour !== undefined || change.minute !== undefined ? 0 : w.ms,
    });
  }

  /** The start of the wall-clock minute, hour or day of `t`, when the zone shows it. */
  startOf(t: number, unit: "minute" | "hour" | "day"): number | undefined {
    const w = this.at(t);
    return this.instant({ ...w, hour: unit === "day" ? 0 : w.hour, minute: unit === "minute" ? w.minute : 0, ms: 0 });
  }
}
