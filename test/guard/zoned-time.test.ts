// The cached clock compiled guards read `time.hour`, `time.minute` and `time.weekday` from gives, for every instant,
// the fields Intl gives for that instant, which is what the reference interpreter reads.
import assert from "node:assert/strict";
import fc from "fast-check";
import { zonedClock, zoneFormat, zonedTimeOf } from "../../runtime/guard/helpers.js";

/** Zones whose offsets once had seconds (Monrovia was -0:44:30 until 1972), and zones with DST or odd offsets. */
const ZONES = ["Africa/Monrovia", "Europe/Dublin", "America/Sao_Paulo", "Australia/Adelaide", "Asia/Kathmandu", "Europe/Berlin", "UTC"];

describe("zoned clock", () => {
  it("reads the same fields as Intl for the exact instant, in zones whose past offsets had seconds", () => {
    const monrovia = Date.parse("1970-06-01T12:00:45Z");
    assert.deepEqual(zonedClock("Africa/Monrovia")(monrovia), { hour: 11, minute: 16, weekday: "mon" });
    fc.assert(
      fc.property(
        fc.constantFrom(...ZONES),
        fc.integer({ min: Date.parse("1900-01-01T00:00:00Z"), max: Date.parse("2100-01-01T00:00:00Z") }),
        fc.array(fc.integer({ min: -90_000, max: 90_000 }), { maxLength: 4 }),
        (zone, start, steps) => {
          // One clock read several times, close together, as a guard reads it call after call.
          const clock = zonedClock(zone);
          const format = zoneFormat(zone);
          for (const at of [start, ...steps.map((s) => start + s)]) assert.deepEqual(clock(at), zonedTimeOf(format, at), `${zone} ${new Date(at).toISOString()}`);
        },
      ),
      { numRuns: 500 },
    );
  });
});
