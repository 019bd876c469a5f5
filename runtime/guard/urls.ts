// URLs and host names as policies read them: parsed by the WHATWG URL parser (what Node's fetch, undici and browsers
// use), hosts compared label by label (`host(u) within "example.org"`), names told apart from IP addresses.
import { parseIp, type HostAddress } from "./addresses.js";
import { fail } from "./helpers.js";
import { LiteralError, LiteralErrorCode } from "./literal-errors.js";
import { parseWhatwgUrl, type WhatwgUrl } from "./whatwg-url.js";

/** The longest text `url()` and `host()` read, in UTF-16 code units: far above real URLs, bounded like `matches`. */
export const URL_INPUT_LIMIT = 16_384;

/** The parts of a URL a policy reads. */
export interface ParsedUrl {
  /** Lower case, without the colon: `https`, `file`, `mailto`. */
  readonly scheme: string;
  /**
   * The canonical host: lower case, IDN as punycode, IPv4 in dotted-quad form (`127.1` → `127.0.0.1`), IPv6 in
   * brackets and compressed, one trailing dot dropped (`example.org.` is `example.org`). Empty when the URL has none.
   */
  readonly host: string;
  /** The explicit port, or the scheme's default (http/ws 80, https/wss 443, ftp 21); undefined when neither exists. */
  readonly port: number | undefined;
  /** The path as the parser leaves it: dot segments resolved (`%2e%2e` counts as `..`), still percent-encoded. */
  readonly path: string;
  /** The query without `?`, empty when there is none. */
  readonly query: string;
  /** Whether the URL carries a user name or password (`https://user:pw@host/`); their values are never exposed. */
  readonly credentials: boolean;
}

/** Default ports of the WHATWG special schemes; `new URL` drops an explicit port equal to these. */
const DEFAULT_PORTS: Readonly<Record<string, number>> = { http: 80, https: 443, ws: 80, wss: 443, ftp: 21 };

/**
 * Characters the WHATWG parser strips or rewrites silently while other URL parsers (Python's urllib, Go's net/url,
 * curl) keep or refuse them: ASCII control characters and space (removed or trimmed), and `\` (read as `/` in http and
 * https URLs). A URL holding one can mean two places, depending on who reads it, so `url()` refuses it.
 */
const PARSER_DIFFERENTIAL = /[\u0000-\u0020\u007f\\]/;

/** Why a text is not a URL a policy can read, or the parsed URL. */
export type UrlReading = { readonly ok: true; readonly url: ParsedUrl } | { readonly ok: false; readonly reason: string };

function dropTrailingDot(host: string): string {
  return host.length > 1 && host.endsWith(".") && !host.endsWith("..") ? host.slice(0, -1) : host;
}

/**
 * A host as the special schemes canonicalise it. Hosts of other schemes (`git://`, `ssh://`) are opaque to the WHATWG
 * parser, so they are put through the http host parser here: otherwise `git://EXAMPLE.org` and `git://example.org`
 * would be two hosts.
 */
function canonicalHostOf(url: WhatwgUrl): string | undefined {
  const hostname = url.hostname;
  if (hostname === "" || Object.hasOwn(DEFAULT_PORTS, url.protocol.slice(0, -1)) || url.protocol === "file:") return dropTrailingDot(hostname);
  try {
    return dropTrailingDot(parseWhatwgUrl(`http://${hostname}/`).hostname);
  } catch {
    return undefined;
  }
}

/** Reads a URL, or says why it cannot be read. Relative URLs have no meaning without a base, so they are refused. */
export function readUrl(text: string): UrlReading {
  if (text.length > URL_INPUT_LIMIT) return { ok: false, reason: `it has ${text.length} characters, more than the ${URL_INPUT_LIMIT} that \`url()\` reads` };
  if (PARSER_DIFFERENTIAL.test(text)) return { ok: false, reason: "it holds a space, a control character or a backslash, which URL parsers read differently" };
  let url: WhatwgUrl;
  try {
    url = parseWhatwgUrl(text);
  } catch {
    return { ok: false, reason: "it is not an absolute URL" };
  }
  const scheme = url.protocol.slice(0, -1);
  const host = canonicalHostOf(url);
  if (host === undefined) return { ok: false, reason: `its host \`${url.hostname}\` is not a host name` };
  if (host.includes("..") || host.startsWith(".")) return { ok: false, reason: `its host \`${host}\` has an empty label` };
  const port = url.port === "" ? DEFAULT_PORTS[scheme] : Number(url.port);
  return {
    ok: true,
    url: { scheme, host, port, path: url.pathname, query: url.search.slice(1), credentials: url.username !== "" || url.password !== "" },
  };
}

function stringOf(value: unknown, text: string): string {
  return typeof value === "string" ? value : fail(value === undefined ? `\`${text}\` is missing` : `\`${text}\` is not a string`);
}

function parsedOrFail(reading: UrlReading, text: string): ParsedUrl {
  return reading.ok ? reading.url : fail(`\`${text}\` is not a URL a policy can read: ${reading.reason}`);
}

/** `url(x)` in a guard: the parsed URL, or an evaluation failure saying why x is not one. */
export function urlOf(value: unknown, text: string): ParsedUrl {
  return parsedOrFail(readUrl(stringOf(value, text)), text);
}

/** `url(x).host`: a URL without a host (`mailto:`, `data:`) cannot be evaluated, rather than compare as `""`. */
export function urlHost(url: ParsedUrl, text: string): string {
  return url.host === "" ? fail(`\`${text}\` has no host`) : url.host;
}

/** `url(x).port`: the explicit or default port; a scheme without a default and no port given cannot be evaluated. */
export function urlPort(url: ParsedUrl, text: string): number {
  return url.port ?? fail(`\`${text}\` has no port and its scheme has no default`);
}

/** What a bare host may hold before the WHATWG host parser sees it: no path, query, user, port or whitespace. */
const BARE_HOST_FORBIDDEN = /[\u0000-\u0020\u007f\\/?#@]/;

/**
 * A host from a text that is either a URL (it holds `://`) or a bare host (`example.org`, `127.1`, `[::1]`), in the
 * canonical form of ParsedUrl.host. A bare host with a port, a path or a user is refused: it is not a host.
 */
export function readHost(text: string): HostReading {
  return text.includes("://") ? hostOfReading(readUrl(text)) : readBareHost(text);
}

/** Why a text is not a host a policy can read, or its canonical host. */
export type HostReading = { readonly ok: true; readonly host: string } | { readonly ok: false; readonly reason: string };

/** The host of a URL reading: a URL without one (`mailto:`) is no host. */
function hostOfReading(reading: UrlReading): HostReading {
  if (!reading.ok) return reading;
  return reading.url.host === "" ? { ok: false, reason: "the URL has no host" } : { ok: true, host: reading.url.host };
}

function readBareHost(text: string): HostReading {
  if (text.length === 0) return { ok: false, reason: "it is empty" };
  if (text.length > URL_INPUT_LIMIT || BARE_HOST_FORBIDDEN.test(text)) return { ok: false, reason: "it is not a host name or an IP address" };
  if (text.includes(":") && !(text.startsWith("[") && text.endsWith("]"))) {
    // An IPv6 address without brackets is still an address; anything else with a colon carries a port.
    const ip = parseIp(text);
    return ip?.family === 6 ? { ok: true, host: `[${ip.text}]` } : { ok: false, reason: "a host has no port" };
  }
  let url: WhatwgUrl;
  try {
    url = parseWhatwgUrl(`http://${text}/`);
  } catch {
    return { ok: false, reason: "it is not a host name or an IP address" };
  }
  const host = dropTrailingDot(url.hostname);
  if (host === "" || host.includes("..") || host.startsWith(".")) return { ok: false, reason: `\`${host}\` has an empty label` };
  return { ok: true, host };
}

function hostOrFail(reading: HostReading, text: string): string {
  return reading.ok ? reading.host : fail(`\`${text}\` is not a host: ${reading.reason}`);
}

/** `host(x)` in a guard: the canonical host of a URL or bare host, or an evaluation failure. */
export function hostOf(value: unknown, text: string): string {
  return hostOrFail(readHost(stringOf(value, text)), text);
}

/**
 * The URL and host readings of the texts one decision reads, each text parsed at most once: a compiled guard keeps one
 * per decision, so `url(args.u).scheme`, `url(args.u).host` and `host(args.u) within …` in several rules parse
 * `args.u` once, and `host(u)` reuses the parse of `url(u)`. A reading depends on the text alone, so this changes no
 * answer and no explanation (each failure is worded with its own expression's text). Nothing outlives the decision:
 * a workload of distinct URLs would not hit a longer-lived cache, and it would grow with texts an attacker chooses.
 */
export class UrlReadings {
  private urls: Map<string, UrlReading> | undefined;
  private bareHosts: Map<string, HostReading> | undefined;
  private addresses: Map<string, HostAddress> | undefined;

  /** `url(x)`, as urlOf. */
  url(value: unknown, text: string): ParsedUrl {
    return parsedOrFail(this.readUrl(stringOf(value, text)), text);
  }

  /**
   * `host(x)`, as hostOf. The host of a URL is also kept as a bare host that reads as itself (a canonical host is
   * canonical: test/guard/urls.test.ts checks it), so that `ip(host(u))` does not parse the name again.
   */
  host(value: unknown, text: string): string {
    const s = stringOf(value, text);
    this.bareHosts ??= new Map();
    if (s.includes("://")) {
      const reading = hostOfReading(this.readUrl(s));
      if (reading.ok) this.bareHosts.set(reading.host, reading);
      return hostOrFail(reading, text);
    }
    let reading = this.bareHosts.get(s);
    if (reading === undefined) this.bareHosts.set(s, (reading = readBareHost(s)));
    return hostOrFail(reading, text);
  }

  /** `ip(x)`, as hostAddressFrom; only answers are kept, so each failure is worded with its own text. */
  address(value: unknown, text: string): HostAddress {
    const s = stringOf(value, text);
    const known = this.addresses?.get(s);
    if (known !== undefined) return known;
    const address = addressFrom(s, text, (host, t) => this.host(host, t));
    (this.addresses ??= new Map()).set(s, address);
    return address;
  }

  private readUrl(text: string): UrlReading {
    this.urls ??= new Map();
    let reading = this.urls.get(text);
    if (reading === undefined) this.urls.set(text, (reading = readUrl(text)));
    return reading;
  }
}

/** A canonical host as an address or a name, for `ip(...) in SET`: brackets dropped from IPv6. */
export function hostAddressOf(host: string): HostAddress {
  const ip = parseIp(host);
  return ip === undefined ? { kind: "name", name: host } : { kind: "ip", ip };
}

/** A domain written in a policy for `within`, canonical as hosts are; `ip` when it is an address literal. */
export interface DomainName {
  readonly text: string;
  readonly ip: boolean;
}

/**
 * A `within` domain from its literal: a host name (IDN allowed, one trailing dot allowed) or an IP address literal,
 * never a URL, a port, a wildcard or an empty label. A LiteralError says what is wrong.
 */
export function domainName(text: string): DomainName {
  const bad = (why: string): never => {
    throw new LiteralError(LiteralErrorCode.BadDomain, `\`${text}\` is not a domain for \`within\`: ${why}`);
  };
  if (text.includes("*")) bad("write the domain itself; `within` already includes its subdomains");
  if (text.includes("://") || text.includes("/")) bad("write the host name alone, without scheme or path");
  const reading = readHost(text);
  if (!reading.ok) bad(reading.reason);
  const host = (reading as { host: string }).host;
  return { text: host, ip: hostAddressOf(host).kind === "ip" };
}

/**
 * `host within domain`: the host is the domain or a subdomain of it, compared by whole labels, so `example.org.evil.com`
 * and `evilexample.org` are not within `example.org`. An IP address is within only itself: addresses have no
 * subdomains, and `10.0.0.1` is not "within" `0.1`. `host` is canonical (urlOf, hostOf); the domain comes from
 * domainName. No Public Suffix List is consulted: `within "co.uk"` means every host under `co.uk`.
 */
export function hostWithin(host: string, domain: DomainName): boolean {
  const d = domain.text;
  if (host === d) return true;
  if (domain.ip || host.length <= d.length + 1) return false;
  if (host.charCodeAt(host.length - d.length - 1) !== 46 /* . */ || !host.endsWith(d)) return false;
  return hostAddressOf(host).kind === "name";
}

/**
 * `ip(x)` in a guard where x is a host or an address text (`host(args.url)`, `url(args.u).host`, `args.address`): the
 * IP address it is, in any form the WHATWG parser reads, or the canonical name it is. A name is in a named set only
 * when the set lists it (`localhost`, `metadata.google.internal`) and in no CIDR range; what it resolves to is DNS's
 * answer at connection time, which a policy cannot see (docs/language.md, "DNS rebinding"). An evaluation failure when
 * x is neither an address nor a host name.
 */
export function hostAddressFrom(value: unknown, text: string): HostAddress {
  return addressFrom(stringOf(value, text), text, hostOf);
}

/** hostAddressFrom, reading a name's canonical host with `host` (hostOf, or a decision's UrlReadings). */
function addressFrom(value: string, text: string, host: (value: string, text: string) => string): HostAddress {
  const ip = parseIp(value);
  if (ip !== undefined) return { kind: "ip", ip };
  if (value.includes("://")) fail(`\`${text}\` is a URL, not a host: write \`host(${text})\``);
  return hostAddressOf(host(value, text));
}
