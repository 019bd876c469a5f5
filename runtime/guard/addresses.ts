// IP addresses, CIDR ranges and the named address sets (`private`, `loopback`, `metadata`, ...) that policies test
// hosts against: parsed as the WHATWG URL parser and the C library's inet_aton read them, compared without allocation.
import { fail } from "./helpers.js";
import { LiteralError, LiteralErrorCode } from "./literal-errors.js";

/**
 * An IP address as 16-bit words: two for IPv4, eight for IPv6. Words rather than bytes or a bigint: a range check is
 * then at most eight integer comparisons, and the words are what the textual forms are made of.
 */
export interface IpAddress {
  readonly family: 4 | 6;
  readonly words: readonly number[];
  /** The canonical text: dotted quad, or RFC 5952 IPv6 (`::ffff:127.0.0.1` for IPv4-mapped). No zone, no brackets. */
  readonly text: string;
}

/** A CIDR range: an address whose bits past `prefix` are zero. */
export interface IpRange {
  readonly family: 4 | 6;
  readonly words: readonly number[];
  readonly prefix: number;
  /** `10.0.0.0/8`, `fd00:ec2::254/128`. */
  readonly text: string;
}

/** A named address set: ranges, plus the host names that mean the same place (`localhost`, `metadata.google.internal`). */
export interface IpSet {
  readonly name: IpSetName;
  readonly ranges: readonly IpRange[];
  /** Canonical (lower-case, no trailing dot) names; a name starting with `.` matches that name's subdomains. */
  readonly names: readonly string[];
}

/** The longest text `ip()` reads: far above the 45 characters of the longest IPv6 text plus a zone. */
export const IP_INPUT_LIMIT = 256;

// ---------------------------------------------------------------------------------------------------------
// Parsing

const ZONE = /^[0-9A-Za-z._-]{1,64}$/;

/** The value of a hex digit's character code, or -1. */
function hexDigit(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  const lower = code | 0x20;
  return lower >= 97 && lower <= 102 ? lower - 87 : -1;
}

/** Past this, an IPv4 part is too large whatever follows; stops the sum before it loses precision. */
const IPV4_PART_CAP = 2 ** 40;

/**
 * One part of an IPv4 text, `text[from, to)`, as the WHATWG IPv4 number parser reads it (the forms inet_aton(3)
 * accepts too, so a host name handed to getaddrinfo reads the same): `0x`/`0X` hex, a leading `0` octal, otherwise
 * decimal. NaN for anything else.
 */
function ipv4Number(text: string, from: number, to: number): number {
  if (from === to) return Number.NaN;
  let radix = 10;
  let i = from;
  if (to - from >= 2 && text.charCodeAt(from) === 48) {
    const second = text.charCodeAt(from + 1) | 0x20;
    if (second === 120 /* x */) {
      radix = 16;
      i = from + 2;
    } else {
      radix = 8;
      i = from + 1;
    }
  }
  let value = 0;
  for (; i < to; i++) {
    const digit = hexDigit(text.charCodeAt(i));
    if (digit < 0 || digit >= radix) return Number.NaN;
    if (value < IPV4_PART_CAP) value = value * radix + digit;
  }
  return value;
}

/**
 * An IPv4 text in any form the WHATWG URL host parser accepts: `127.0.0.1`, `127.1`, `2130706433`, `0177.0.0.1`,
 * `0x7f.0.0.1`, with at most one trailing dot. -1 when the text is not one.
 */
function parseIpv4(text: string): number {
  let end = text.length;
  if (end > 1 && text.charCodeAt(end - 1) === 46) end--;
  let value = 0;
  let parts = 0;
  let from = 0;
  for (let i = 0; i <= end; i++) {
    if (i < end && text.charCodeAt(i) !== 46) continue;
    const n = ipv4Number(text, from, i);
    if (Number.isNaN(n) || ++parts > 4) return -1;
    if (i === end) {
      if (n >= 256 ** (5 - parts)) return -1;
      return value + n;
    }
    if (n > 255) return -1;
    value += n * 256 ** (4 - parts);
    from = i + 1;
  }
  return -1;
}

/** The eight words of an IPv6 text, by the WHATWG IPv6 parser (dotted IPv4 tail allowed), or undefined. */
function parseIpv6(text: string): number[] | undefined {
  const words = [0, 0, 0, 0, 0, 0, 0, 0];
  const length = text.length;
  let piece = 0;
  let compress = -1;
  let p = 0;
  if (text.charCodeAt(0) === 58) {
    if (text.charCodeAt(1) !== 58) return undefined;
    p = 2;
    piece = 1;
    compress = 1;
  }
  while (p < length) {
    if (piece === 8) return undefined;
    if (text.charCodeAt(p) === 58) {
      if (compress >= 0) return undefined;
      p++;
      piece++;
      compress = piece;
      continue;
    }
    let value = 0;
    let digits = 0;
    while (digits < 4 && p < length && hexDigit(text.charCodeAt(p)) >= 0) {
      value = value * 16 + hexDigit(text.charCodeAt(p));
      p++;
      digits++;
    }
    if (p < length && text.charCodeAt(p) === 46) {
      if (digits === 0 || piece > 6) return undefined;
      p -= digits;
      let seen = 0;
      while (p < length) {
        if (seen > 0) {
          if (text.charCodeAt(p) !== 46 || seen >= 4) return undefined;
          p++;
        }
        let octet = -1;
        const first = p;
        while (p < length && text.charCodeAt(p) >= 48 && text.charCodeAt(p) <= 57) {
          const d = text.charCodeAt(p) - 48;
          if (octet === 0 && p > first) return undefined;
          octet = octet < 0 ? d : octet * 10 + d;
          if (octet > 255) return undefined;
          p++;
        }
        if (octet < 0) return undefined;
        words[piece] = words[piece]! * 256 + octet;
        seen++;
        if (seen === 2 || seen === 4) piece++;
      }
      if (seen !== 4) return undefined;
      break;
    }
    if (p < length) {
      if (text.charCodeAt(p) !== 58) return undefined;
      p++;
      if (p === length) return undefined;
    }
    words[piece] = value;
    piece++;
  }
  if (compress >= 0) {
    let swaps = piece - compress;
    piece = 7;
    while (piece !== 0 && swaps > 0) {
      const other = compress + swaps - 1;
      [words[piece], words[other]] = [words[other]!, words[piece]!];
      piece--;
      swaps--;
    }
  } else if (piece !== 8) return undefined;
  return words;
}

function ipv4Text(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

/** RFC 5952 text: lower case, the longest run of two or more zero words as `::`, IPv4-mapped with a dotted tail. */
function ipv6Text(words: readonly number[]): string {
  if (words[0] === 0 && words[1] === 0 && words[2] === 0 && words[3] === 0 && words[4] === 0 && words[5] === 0xffff) {
    return `::ffff:${ipv4Text(words[6]! * 65536 + words[7]!)}`;
  }
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  const hex = (from: number, to: number): string => words.slice(from, to).map((w) => w.toString(16)).join(":");
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLength, 8)}`;
}

/** An address whose canonical text is written only when something reads it: a range check never does. */
class ParsedIp implements IpAddress {
  #text: string | undefined;
  constructor(
    readonly family: 4 | 6,
    readonly words: readonly number[],
  ) {}
  get text(): string {
    this.#text ??= this.family === 4 ? ipv4Text(this.words[0]! * 65536 + this.words[1]!) : ipv6Text(this.words);
    return this.#text;
  }
  toJSON(): { family: 4 | 6; text: string } {
    return { family: this.family, text: this.text };
  }
}

function ipv4Address(value: number): IpAddress {
  return new ParsedIp(4, [value >>> 16, value & 0xffff]);
}

/**
 * An IP address from its text, or undefined when the text is not one. IPv4 in every form the WHATWG URL parser
 * normalises (`127.1`, `2130706433`, `0177.0.0.1`, `0x7f.1`, one trailing dot); IPv6 with or without brackets, with
 * a dotted IPv4 tail, and with a zone (`fe80::1%eth0`, which is dropped: a zone names an interface, not a place).
 */
export function parseIp(text: string): IpAddress | undefined {
  const length = text.length;
  if (length === 0 || length > IP_INPUT_LIMIT) return undefined;
  let body = text;
  const bracketed = text.charCodeAt(0) === 91; /* [ */
  if (bracketed) {
    if (text.charCodeAt(length - 1) !== 93) return undefined;
    body = text.slice(1, -1);
  }
  if (body.includes(":")) {
    const zoneAt = body.indexOf("%");
    if (zoneAt >= 0) {
      const zone = body.slice(zoneAt + (body.startsWith("25", zoneAt + 1) ? 3 : 1));
      if (!ZONE.test(zone)) return undefined;
      body = body.slice(0, zoneAt);
    }
    const words = parseIpv6(body);
    return words === undefined ? undefined : new ParsedIp(6, words);
  }
  if (bracketed) return undefined;
  const v4 = parseIpv4(body);
  return v4 < 0 ? undefined : ipv4Address(v4);
}

/** `ip(x)` in a guard: the address x names, or an evaluation failure when x is not an IP address. */
export function ipOf(value: unknown, text: string): IpAddress {
  if (typeof value !== "string") fail(value === undefined ? `\`${text}\` is missing` : `\`${text}\` is not a string`);
  return parseIp(value) ?? fail(`\`${text}\` is not an IP address`);
}

/**
 * A CIDR range from its text, as written in a policy: `169.254.0.0/16`, `fc00::/7`, or one address (`/32`, `/128`).
 * Only canonical dotted quads are accepted here (a policy is read by people; `0177.1/8` is not a way to write a range),
 * and host bits must be zero, since `10.0.0.1/8` is more often a typo than a range.
 */
export function ipRange(text: string): IpRange {
  const slash = text.indexOf("/");
  const addressText = slash < 0 ? text : text.slice(0, slash);
  const address = parseIp(addressText);
  if (address === undefined || (address.family === 4 && !/^\d{1,3}(\.\d{1,3}){3}$/.test(addressText)) || addressText.includes("%") || addressText.startsWith("[")) {
    throw new LiteralError(LiteralErrorCode.BadRange, `\`${text}\` is not a CIDR range: \`${addressText}\` is not an IP address written in full`);
  }
  const bits = address.family === 4 ? 32 : 128;
  const prefixText = slash < 0 ? String(bits) : text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > bits) {
    throw new LiteralError(LiteralErrorCode.BadRange, `\`${text}\` is not a CIDR range: the prefix length must be 0 to ${bits}`);
  }
  const prefix = Number(prefixText);
  const words = address.words.map((word, i) => word & maskOf(prefix, i));
  if (words.some((word, i) => word !== address.words[i])) {
    const base = address.family === 4 ? ipv4Text(words[0]! * 65536 + words[1]!) : ipv6Text(words);
    throw new LiteralError(LiteralErrorCode.BadRange, `\`${text}\` has bits set past its prefix; the range is \`${base}/${prefix}\``);
  }
  return { family: address.family, words, prefix, text: `${address.text}/${prefix}` };
}

/** The 16-bit mask of word i under a prefix length. */
function maskOf(prefix: number, i: number): number {
  const bits = Math.min(16, Math.max(0, prefix - 16 * i));
  return bits === 0 ? 0 : (0xffff << (16 - bits)) & 0xffff;
}

// ---------------------------------------------------------------------------------------------------------
// Membership

function wordsInRange(words: readonly number[], range: IpRange): boolean {
  for (let i = 0; i < range.words.length; i++) {
    const mask = maskOf(range.prefix, i);
    if (mask === 0) return true;
    if ((words[i]! & mask) !== range.words[i]) return false;
  }
  return true;
}

/** Whether the IPv4-mapped form (`::ffff:a.b.c.d`) of two IPv4 words is in an IPv6 range, without building it. */
function mappedInRange(high: number, low: number, range: IpRange): boolean {
  for (let i = 0; i < 8; i++) {
    const mask = maskOf(range.prefix, i);
    if (mask === 0) return true;
    const word = i < 5 ? 0 : i === 5 ? 0xffff : i === 6 ? high : low;
    if ((word & mask) !== range.words[i]) return false;
  }
  return true;
}

/** Whether two IPv4 words are in an IPv4 range. */
function v4InRange(high: number, low: number, range: IpRange): boolean {
  const highMask = maskOf(range.prefix, 0);
  const lowMask = maskOf(range.prefix, 1);
  return (high & highMask) === range.words[0] && (low & lowMask) === range.words[1];
}

/**
 * Where the IPv4 address an IPv6 address carries sits in its words (see embeddedIpv4): the index of its high word,
 * or -1 when it carries none.
 */
function embeddedAt(w: readonly number[]): number {
  if (w[0] === 0x2002) return 1;
  if (w[0] === 0x64 && w[1] === 0xff9b && w[2] === 0 && w[3] === 0 && w[4] === 0 && w[5] === 0) return 6;
  if (w[0] !== 0 || w[1] !== 0 || w[2] !== 0 || w[3] !== 0 || w[4] !== 0) return -1;
  if (w[5] === 0xffff) return 6;
  if (w[5] === 0 && (w[6] !== 0 || w[7]! > 1)) return 6;
  return -1;
}

/**
 * The IPv4 address an IPv6 address carries to an IPv4 host, or undefined: IPv4-mapped `::ffff:0:0/96` (a dual-stack
 * socket connects to the IPv4 address), IPv4-compatible `::/96` (deprecated; `::` and `::1` excluded), NAT64
 * `64:ff9b::/96` (RFC 6052: a NAT64 gateway forwards to the IPv4 address) and 6to4 `2002::/16` (RFC 3056).
 */
export function embeddedIpv4(address: IpAddress): IpAddress | undefined {
  if (address.family === 4) return undefined;
  const at = embeddedAt(address.words);
  return at < 0 ? undefined : ipv4Address(address.words[at]! * 65536 + address.words[at + 1]!);
}

/**
 * Whether an address is in a range. An IPv6 address that carries an IPv4 address (embeddedIpv4) is in an IPv4 range
 * when that address is; an IPv4 address is in an IPv6 range when its IPv4-mapped form is. Both, because either form
 * reaches the same IPv4 host.
 */
export function ipInRange(address: IpAddress, range: IpRange): boolean {
  const w = address.words;
  if (address.family === range.family) return range.family === 4 ? v4InRange(w[0]!, w[1]!, range) : wordsInRange(w, range);
  if (range.family === 6) return mappedInRange(w[0]!, w[1]!, range);
  const at = embeddedAt(w);
  return at >= 0 && v4InRange(w[at]!, w[at + 1]!, range);
}

/** The first range of `ranges` that holds the address, for explanations; undefined when none does. */
export function ipRangeHolding(address: IpAddress, ranges: readonly IpRange[]): IpRange | undefined {
  for (const range of ranges) if (ipInRange(address, range)) return range;
  return undefined;
}

export function ipInRanges(address: IpAddress, ranges: readonly IpRange[]): boolean {
  return ipRangeHolding(address, ranges) !== undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Named sets, from the IANA special-purpose address registries (RFC 6890 and its updates) and the cloud providers'
// documented metadata endpoints. `internal` is their union: every address that is not public unicast.

export type IpSetName = "loopback" | "private" | "link-local" | "metadata" | "multicast" | "unspecified" | "reserved" | "internal";

const SET_SOURCES: Readonly<Record<Exclude<IpSetName, "internal">, { ranges: readonly string[]; names: readonly string[] }>> = {
  // RFC 1122 §3.2.1.3, RFC 4291 §2.5.3; `localhost` and its subdomains by RFC 6761 §6.3.
  loopback: { ranges: ["127.0.0.0/8", "::1/128"], names: ["localhost", ".localhost"] },
  // RFC 1918, RFC 6598 shared address space (carrier-grade NAT: not the internet either), RFC 4193 unique local.
  private: { ranges: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"], names: [] },
  // RFC 3927, RFC 4291 §2.5.6. The cloud metadata endpoints live here too.
  "link-local": { ranges: ["169.254.0.0/16", "fe80::/10"], names: [] },
  // AWS, Azure, GCP, OpenStack and Oracle 169.254.169.254; AWS ECS task metadata 169.254.170.2; AWS IPv6
  // fd00:ec2::254; Alibaba 100.100.100.200; Azure's WireServer 168.63.129.16 (a public address every Azure VM reaches
  // as its platform's: extension settings, certificates, health); GCP's names for its metadata server.
  metadata: {
    ranges: ["169.254.169.254/32", "169.254.170.2/32", "fd00:ec2::254/128", "100.100.100.200/32", "168.63.129.16/32"],
    names: ["metadata.google.internal", "metadata"],
  },
  // RFC 5771, RFC 4291 §2.7.
  multicast: { ranges: ["224.0.0.0/4", "ff00::/8"], names: [] },
  // "This network" (RFC 791; a connect to 0.0.0.0 reaches the local host on Linux) and the IPv6 unspecified address.
  unspecified: { ranges: ["0.0.0.0/8", "::/128"], names: [] },
  // IETF protocol assignments, documentation, benchmarking, future use and broadcast, discard-only, local-use IPv4/IPv6
  // translation (RFC 8215: a network's own NAT64 prefix, which reaches its IPv4 addresses, private ones included), IPv6
  // documentation and ORCHID, and the IETF protocol block (Teredo included).
  reserved: {
    ranges: [
      "192.0.0.0/24",
      "192.0.2.0/24",
      "198.18.0.0/15",
      "198.51.100.0/24",
      "203.0.113.0/24",
      "240.0.0.0/4",
      "100::/64",
      "64:ff9b:1::/48",
      "2001::/23",
      "2001:db8::/32",
      "3fff::/20",
    ],
    names: [],
  },
};

/** The set each range of `internal` comes from, so an explanation names `loopback`, not `internal`. */
const RANGE_ORIGIN = new WeakMap<IpRange, IpSetName>();

function buildSets(): Readonly<Record<IpSetName, IpSet>> {
  const sets = {} as Record<IpSetName, IpSet>;
  for (const [name, source] of Object.entries(SET_SOURCES)) {
    const ranges = source.ranges.map(ipRange);
    for (const range of ranges) RANGE_ORIGIN.set(range, name as IpSetName);
    sets[name as IpSetName] = { name: name as IpSetName, ranges, names: source.names };
  }
  const parts = Object.values(sets);
  sets.internal = { name: "internal", ranges: parts.flatMap((s) => s.ranges), names: [...new Set(parts.flatMap((s) => s.names))] };
  return sets;
}

/** Every named set, built once when the module loads. */
export const IP_SETS: Readonly<Record<IpSetName, IpSet>> = buildSets();

export function isIpSetName(name: string): name is IpSetName {
  return Object.hasOwn(IP_SETS, name);
}

/** A named set by its name; a LiteralError for a name that is none (the checker reports it with a suggestion). */
export function ipSet(name: string): IpSet {
  if (!isIpSetName(name)) throw new LiteralError(LiteralErrorCode.UnknownSet, `\`${name}\` is not a named address set; the sets are ${Object.keys(IP_SETS).map((n) => `\`${n}\``).join(", ")}`);
  return IP_SETS[name];
}

// ---------------------------------------------------------------------------------------------------------
// Hosts: a URL's host is an IP address or a name, and a rule about addresses must say what it does with names.

/** A host as a policy sees it: an IP address, or a canonical name (lower case, punycode, no trailing dot). */
export type HostAddress = { readonly kind: "ip"; readonly ip: IpAddress } | { readonly kind: "name"; readonly name: string };

/** A name matches a set's name list exactly, or below a `.suffix` entry. */
function nameInSet(name: string, set: IpSet): boolean {
  for (const entry of set.names) {
    if (entry[0] === "." ? name.endsWith(entry) || name === entry.slice(1) : name === entry) return true;
  }
  return false;
}

/**
 * Whether a host is in a named set. An IP address is in it when one of its ranges holds it; a name only when it is one
 * of the names the set lists (`localhost`, `metadata.google.internal`). A name is a name: what it resolves to is
 * decided later, by DNS, and may change between the check and the connection (DNS rebinding) — see docs/language.md.
 */
export function hostInSet(host: HostAddress, set: IpSet): boolean {
  return host.kind === "ip" ? ipInRanges(host.ip, set.ranges) : nameInSet(host.name, set);
}

/** Why a host is in a set, for an explanation: the range or the name that holds it; undefined when it is not in it. */
export function hostInSetBecause(host: HostAddress, set: IpSet): string | undefined {
  if (host.kind === "name") return nameInSet(host.name, set) ? `\`${host.name}\` is a name of \`${set.name}\`` : undefined;
  const range = ipRangeHolding(host.ip, set.ranges);
  return range === undefined ? undefined : `\`${host.ip.text}\` is in \`${range.text}\` (\`${RANGE_ORIGIN.get(range) ?? set.name}\`)`;
}

/** Whether a host is in a CIDR range: an IP address when the range holds it; a name never (it is a name, not a place). */
export function hostInRange(host: HostAddress, range: IpRange): boolean {
  return host.kind === "ip" && ipInRange(host.ip, range);
}
