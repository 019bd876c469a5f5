// The dimensions of the clock: the weekday, hour and minute in a policy's zone, each set on its own (the rest of the
// wall time kept), and `time.now` around the timestamps a policy compares it with. The classes of the first three are
// exact only when every policy that reads the clock reads it in one zone.
import type { Type } from "../../compiler/ir.js";
import { coherent, type Probe } from "./probe.js";
import type { Read } from "./reads.js";
import { constantsOf, oneOfEachClass } from "./values.js";
import { WallClock, WEEKDAYS } from "./wallclock.js";
import { hintsOf, isOpaque, numberHints, ranges, unique, usesOf, type Dimension } from "./dimension.js";

const WEEK_MS = 7 * 86_400_000;

type ClockField = "weekday" | "hour" | "minute";

/** `time.weekday`, `time.hour` or `time.minute` in one zone; `single` when no other zone and no `time.now` is read. */
export function clockDimension(field: ClockField, zone: string, reads: readonly Read[], single: boolean): Dimension {
  const clock = WallClock.of(zone);
  const uses = usesOf(reads);
  const opaque = isOpaque(reads);
  const type: Type = field === "weekday" ? { kind: "string" } : { kind: "number" };
  const all: unknown[] = field === "weekday" ? [...WEEKDAYS] : Array.from({ length: field === "hour" ? 24 : 60 }, (_v, i) => i);
  const classes = opaque || !single ? undefined : oneOfEachClass(all, uses, type);
  const label = `time.${field}`;
  const get = (p: Probe): unknown => {
    const w = clock.at(p.now);
    return field === "weekday" ? WEEKDAYS[w.weekday] : field === "hour" ? w.hour : w.minute;
  };
  const constants = constantsOf(uses).filter((c): c is number => typeof c === "number");
  const marks = field === "minute" ? unique([0, 59, 30, ...constants.flatMap((c) => [c - 1, c, c + 1])]).filter((m) => (m as number) >= 0 && (m as number) < 60) : all;
  return {
    key: `time.${field}@${zone}`,
    label: `${label} (${zone})`,
    inputs: [`time.${field}@${zone}`],
    candidates: classes ?? marks,
    classes,
    ...(classes === undefined ? { opaqueBecause: opaque ? `\`${label}\` is read by an expression` : "the two policies read the clock in different time zones" } : {}),
    get,
    set: (p, value) => {
      const change = field === "weekday" ? { weekday: WEEKDAYS.indexOf(value as (typeof WEEKDAYS)[number]) } : field === "hour" ? { hour: value as number } : { minute: value as number };
      // A wall time a daylight-saving change skips this week exists the week before or after; earlier calls are kept
      // as ages, so they move along.
      const now = [0, WEEK_MS, -WEEK_MS].map((shift) => clock.with(p.now + shift, change)).find((t) => t !== undefined);
      if (now === undefined) return undefined;
      const next = { ...p, now };
      return coherent(next) ? next : undefined;
    },
    simpler: () => [],
    regionValues: () => all,
    describe: (sample) => {
      if (sample.keeps.every((k) => k)) return undefined;
      const kept = sample.values.filter((_v, i) => sample.keeps[i]);
      if (kept.length === 1) return `${label} = ${String(kept[0])} (${zone})`;
      if (field === "weekday") return `${label} in [${kept.join(", ")}] (${zone})`;
      return `${label} in ${ranges(kept as number[])} (${zone})`;
    },
  };
}

/** `time.now`, around the timestamps it is compared with: never finite. */
export function nowDimension(reads: readonly Read[]): Dimension {
  const instants = numberHints(hintsOf(reads), "number");
  const candidates = unique(instants.flatMap((t) => [t - 1, t, t + 1, t - 86_400_000, t + 86_400_000]));
  return {
    key: "time.now",
    label: "time.now",
    inputs: ["time.now"],
    candidates,
    classes: undefined,
    opaqueBecause: "`time.now` is compared with timestamps",
    get: (p) => p.now,
    set: (p, value) => ({ ...p, now: value as number }),
    simpler: () => [],
    regionValues: () => candidates,
    describe: (sample) => (sample.keeps.every((k) => k) ? undefined : `time.now = ${new Date(sample.current as number).toISOString()}`),
  };
}
