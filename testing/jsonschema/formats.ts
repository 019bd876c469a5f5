// The `format`s the generator honours: for each, values that have it (checked against ajv-formats' full mode in
// test/testing/), a check at least as lenient as ajv's, and values of the right type that lack it, offered as
// violations only when the check rejects them. A format not listed here is reported, not treated as any string.
import fc from "fast-check";

export interface FormatSpec {
  /** The JSON type the format constrains: strings, or numbers for OpenAPI's `int32` and friends. */
  readonly applies: "string" | "number";
  /** Whether a value of that type has the format; never stricter than ajv-formats, so a value it rejects ajv rejects too. */
  readonly check: (value: string | number) => boolean;
  /** Values with the format (string formats). */
  readonly arbitrary?: () => fc.Arbitrary<string>;
  /** The range of a number format, both ends included; absent for formats any number has. */
  readonly integerRange?: readonly [number, number];
  /** Values of the right type without the format. */
  readonly invalid: readonly (string | number)[];
}

const DAYS = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const MIN_INT32 = -(2 ** 31);
const MAX_INT32 = 2 ** 31 - 1;
/** Dates generated for `date`, `date-time` and `time`: the years a real call carries, far from four-digit limits. */
const DATES = { min: new Date("1970-01-01T00:00:00Z"), max: new Date("2099-12-31T23:59:59Z"), noInvalidDate: true };
/** UTC offsets in minutes that `date-time` and `time` values carry beside `Z`: whole, negative and half hours. */
const OFFSETS = [0, 60, -300, 330, 840, -720];

function isLeapYear(year: number): boolean {
  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
}

function isDate(text: string): boolean {
  const match = /^(\d\d\d\d)-(\d\d)-(\d\d)$/.exec(text);
  if (match === null) return false;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  return month >= 1 && month <= 12 && day >= 1 && day <= (month === 2 && isLeapYear(year) ? 29 : DAYS[month]!);
}

/** RFC 3339 full-time with its zone, as ajv-formats reads it (a leap second only at 23:59 UTC). */
function isTime(text: string): boolean {
  const match = /^(\d\d):(\d\d):(\d\d(?:\.\d+)?)(z|([+-])(\d\d)(?::?(\d\d))?)$/i.exec(text);
  if (match === null) return false;
  const [hour, minute, second] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const sign = match[5] === "-" ? -1 : 1;
  const zoneHour = Number(match[6] ?? 0);
  const zoneMinute = Number(match[7] ?? 0);
  if (zoneHour > 23 || zoneMinute > 59) return false;
  if (hour <= 23 && minute <= 59 && second < 60) return true;
  const utcMinute = minute - zoneMinute * sign;
  const utcHour = hour - zoneHour * sign - (utcMinute < 0 ? 1 : 0);
  return (utcHour === 23 || utcHour === -1) && (utcMinute === 59 || utcMinute === -1) && second < 61;
}

function isDateTime(text: string): boolean {
  const parts = text.split(/t|\s/i);
  return parts.length === 2 && isDate(parts[0]!) && isTime(parts[1]!);
}

function pad(n: number, width = 2): string {
  return String(Math.abs(n)).padStart(width, "0");
}

/** An instant written in a zone `offset` minutes from UTC: `2031-04-05T10:20:30.456+05:30`. */
function zoned(instant: Date, offset: number, withDate: boolean): string {
  const local = new Date(instant.getTime() + offset * 60_000).toISOString().slice(0, -1);
  const zone = offset === 0 ? "Z" : `${offset < 0 ? "-" : "+"}${pad(Math.trunc(offset / 60))}:${pad(offset % 60)}`;
  return `${withDate ? local : local.slice(11)}${zone}`;
}

const onString = (test: (text: string) => boolean) => (value: string | number) => typeof value === "string" && test(value);
const anyString = (): fc.Arbitrary<string> => fc.string();

export const FORMATS: Readonly<Record<string, FormatSpec>> = {
  "date-time": {
    applies: "string",
    check: onString(isDateTime),
    arbitrary: () => fc.tuple(fc.date(DATES), fc.constantFrom(...OFFSETS)).map(([d, o]) => zoned(d, o, true)),
    invalid: ["2024-13-01T00:00:00Z", "2023-02-29T10:00:00Z", "2024-01-01", "2024-01-01T10:00:00", "not a date-time"],
  },
  date: {
    applies: "string",
    check: onString(isDate),
    arbitrary: () => fc.date(DATES).map((d) => d.toISOString().slice(0, 10)),
    invalid: ["2024-02-30", "2023-02-29", "2024-1-5", "2024-01-01T00:00:00Z", "not a date"],
  },
  time: {
    applies: "string",
    check: onString(isTime),
    arbitrary: () => fc.tuple(fc.date(DATES), fc.constantFrom(...OFFSETS)).map(([d, o]) => zoned(d, o, false)),
    invalid: ["24:00:00Z", "10:60:00Z", "10:00:00", "not a time"],
  },
  email: {
    applies: "string",
    check: onString((t) => /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/i.test(t)),
    arbitrary: () => fc.emailAddress(),
    invalid: ["not-an-email", "two@@example.com", "@example.com", "user@", "user name@example.com"],
  },
  hostname: {
    applies: "string",
    check: onString((t) => /^(?=.{1,253}\.?$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[-0-9a-z]{0,61}[0-9a-z])?)*\.?$/i.test(t)),
    arbitrary: () => fc.domain(),
    invalid: ["-leading-hyphen.example", "under_score.example", "two..dots", ""],
  },
  ipv4: {
    applies: "string",
    check: onString((t) => /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/.test(t)),
    arbitrary: () => fc.ipV4(),
    invalid: ["256.1.1.1", "1.2.3", "01.2.3.4", "not an ip"],
  },
  ipv6: {
    applies: "string",
    // Lenient on purpose (hex digits, colons and dots with at least one colon): ajv's full check is a long regex.
    check: onString((t) => /^[0-9a-f:.]+$/i.test(t) && t.includes(":")),
    arbitrary: () => fc.ipV6(),
    invalid: ["not:an:ip", "12345::g", "1.2.3.4"],
  },
  uri: {
    applies: "string",
    // ajv-formats' fast-mode check: every URI its full mode accepts passes it.
    check: onString((t) => /^(?:[a-z][a-z0-9+\-.]*:)(?:\/?\/)?[^\s]*$/i.test(t)),
    arbitrary: () => fc.webUrl({ withQueryParameters: true, withFragments: true }),
    invalid: ["not a uri", "relative/path", "//no-scheme.example", ""],
  },
  "uri-reference": {
    applies: "string",
    check: onString((t) => /^(?:(?:[a-z][a-z0-9+\-.]*:)?\/?\/)?(?:[^\\\s#][^\s#]*)?(?:#[^\\\s]*)?$/i.test(t)),
    arbitrary: () => fc.oneof(fc.webUrl(), fc.array(fc.stringMatching(/^[a-z0-9]{1,6}$/), { minLength: 1, maxLength: 3 }).map((s) => `/${s.join("/")}`)),
    invalid: ["with space", "back\\slash", "a#b#c"],
  },
  uuid: {
    applies: "string",
    check: onString((t) => /^(?:urn:uuid:)?[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}$/i.test(t)),
    arbitrary: () => fc.uuid(),
    invalid: ["not-a-uuid", "123e4567-e89b-12d3-a456-42661417400", "123e4567e89b12d3a456426614174000", ""],
  },
  duration: {
    applies: "string",
    check: onString((t) => /^P(?!$)((\d+Y)?(\d+M)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?|(\d+W)?)$/.test(t)),
    arbitrary: () =>
      fc.oneof(
        fc.tuple(fc.nat(30), fc.nat(23), fc.nat(59)).map(([d, h, m]) => `P${d}DT${h}H${m}M`),
        fc.nat(52).map((w) => `P${w}W`),
      ),
    invalid: ["P", "PT", "1D", "P1H", "not a duration"],
  },
  "json-pointer": {
    applies: "string",
    check: onString((t) => /^(?:\/(?:[^~/]|~0|~1)*)*$/.test(t)),
    arbitrary: () => fc.array(fc.stringMatching(/^[a-z0-9]{0,6}$/), { maxLength: 3 }).map((s) => s.map((t) => `/${t}`).join("")),
    invalid: ["no-leading-slash", "/bad~escape"],
  },
  byte: {
    applies: "string",
    check: onString((t) => /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(t)),
    arbitrary: () => fc.base64String(),
    invalid: ["not base64!", "abc", "a===="],
  },
  binary: { applies: "string", check: () => true, arbitrary: anyString, invalid: [] },
  password: { applies: "string", check: () => true, arbitrary: anyString, invalid: [] },
  int32: {
    applies: "number",
    check: (v) => typeof v === "number" && Number.isInteger(v) && v >= MIN_INT32 && v <= MAX_INT32,
    integerRange: [MIN_INT32, MAX_INT32],
    invalid: [MAX_INT32 + 1, MIN_INT32 - 1, 1.5],
  },
  int64: {
    applies: "number",
    check: (v) => typeof v === "number" && Number.isInteger(v),
    integerRange: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
    invalid: [1.5, -0.25],
  },
  float: { applies: "number", check: () => true, invalid: [] },
  double: { applies: "number", check: () => true, invalid: [] },
};

export function formatSpec(name: string): FormatSpec | undefined {
  return Object.hasOwn(FORMATS, name) ? FORMATS[name] : undefined;
}
