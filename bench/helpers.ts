// Per-element cost of the path, URL and address helpers guards call (`under`, `url()`, `host() within`, `ip() in`),
// on a varied workload with no caching across inputs, each beside the baseline a policy or a server would otherwise
// use in the same run: a string prefix test, node:path, the bare WHATWG parser, node:net's isIP and BlockList.
import { BlockList, isIP } from "node:net";
import { cpus } from "node:os";
import { posix } from "node:path";
import process from "node:process";
import { hostInSet, IP_SETS, ipOf, parseIp } from "../runtime/guard/addresses.js";
import { isUnder, pathRoot } from "../runtime/guard/paths.js";
import { domainName, hostAddressOf, hostOf, hostWithin, urlOf } from "../runtime/guard/urls.js";
import { medianNsPerInput, type Contender } from "./measure.js";

/** Timed rounds; the median batch is reported, so a stray GC pause or a busy core does not count. */
const ROUNDS = 201;
/** Distinct inputs per workload, visited in turn: more than any cache a guard could keep would hold for free. */
const INPUTS = 512;

function measure(inputs: readonly string[], contenders: readonly Contender<string>[]): number[] {
  return medianNsPerInput(inputs, contenders, ROUNDS);
}

/** A deterministic generator, so every run times the same inputs. */
function pseudoRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

function workloads(): { paths: string[]; urls: string[]; hosts: string[]; ips: string[] } {
  const random = pseudoRandom(16);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const word = (): string => pick(["reports", "q3", "notes", "img", "src", "2026", "draft", "final", "a", "index"]);
  const paths: string[] = [];
  const urls: string[] = [];
  const hosts: string[] = [];
  const ips: string[] = [];
  for (let i = 0; i < INPUTS; i++) {
    const depth = 1 + Math.floor(random() * 5);
    const tail = Array.from({ length: depth }, word).join("/");
    paths.push(pick([`/srv/docs/${tail}.md`, `/srv/docs/${tail}`, `/srv/docs-old/${tail}`, `/etc/${tail}`, `/srv/docs/${tail}/../x.txt`, `/srv/docs/${tail}/%2e%2e/x`, `/srv/docs/${tail}-${i}.txt`]));
    const host = pick([`${word()}.example.org`, "example.org", `api-${i}.example.org`, `example.org.${word()}.com`, `${word()}${i}.test`, "169.254.169.254", `10.0.${i % 256}.1`, "[::1]"]);
    urls.push(`${pick(["https", "http"])}://${host}/${tail}?page=${i}`);
    hosts.push(hostOf(`https://${host}/`, "u"));
    ips.push(pick([`10.${i % 256}.0.1`, `8.8.${i % 256}.8`, "169.254.169.254", `192.168.1.${i % 256}`, `2001:db8::${i.toString(16)}`, `::ffff:127.0.0.${i % 256}`, `2606:4700::${i.toString(16)}`, `172.${16 + (i % 16)}.0.1`]));
  }
  return { paths, urls, hosts, ips };
}

/** A BlockList holding the `internal` set's ranges: what a server-side check built on node:net would consult. */
function internalBlockList(): BlockList {
  const list = new BlockList();
  for (const range of IP_SETS.internal.ranges) {
    const [address, prefix] = range.text.split("/");
    list.addSubnet(address!, Number(prefix), range.family === 4 ? "ipv4" : "ipv6");
  }
  return list;
}

export async function run({ json }: { json: boolean }): Promise<void> {
  const { paths, urls, hosts, ips } = workloads();
  const docs = pathRoot("/srv/docs");
  const example = domainName("example.org");
  const blockList = internalBlockList();

  const [underNs, prefixNs, normalizeNs] = measure(paths, [
    { name: "under", run: (p) => isUnder(p, docs) },
    { name: "startsWith", run: (p) => p.startsWith("/srv/docs/") },
    { name: "posix.normalize", run: (p) => posix.normalize(p).startsWith("/srv/docs/") },
  ]) as [number, number, number];
  const [urlNs, whatwgNs] = measure(urls, [
    { name: "url()", run: (u) => urlOf(u, "u").host },
    { name: "new URL", run: (u) => new URL(u).hostname },
  ]) as [number, number];
  const [withinNs, endsWithNs] = measure(hosts, [
    { name: "within", run: (h) => hostWithin(h, example) },
    { name: "endsWith", run: (h) => h.endsWith(".example.org") },
  ]) as [number, number];
  const [ipParseNs, isIpNs] = measure(ips, [
    { name: "ip()", run: (a) => ipOf(a, "a").family },
    { name: "isIP", run: (a) => isIP(a) },
  ]) as [number, number];
  const [ipInNs, blockListNs] = measure(ips, [
    { name: "ip() in internal", run: (a) => hostInSet({ kind: "ip", ip: parseIp(a)! }, IP_SETS.internal) },
    { name: "BlockList.check", run: (a) => blockList.check(a, a.includes(":") ? "ipv6" : "ipv4") },
  ]) as [number, number];
  const [ssrfNs] = measure(urls, [{ name: "ssrf", run: (u) => hostInSet(hostAddressOf(urlOf(u, "u").host), IP_SETS.internal) }]) as [number];

  const ns = (x: number): number => Math.round(x);
  const result = {
    inputs: INPUTS,
    under_ns: ns(underNs),
    path_startswith_ns: ns(prefixNs),
    path_normalize_ns: ns(normalizeNs),
    url_ns: ns(urlNs),
    new_url_ns: ns(whatwgNs),
    within_ns: ns(withinNs),
    endswith_ns: ns(endsWithNs),
    ip_parse_ns: ns(ipParseNs),
    isip_ns: ns(isIpNs),
    ip_in_internal_ns: ns(ipInNs),
    blocklist_check_ns: ns(blockListNs),
    url_host_in_internal_ns: ns(ssrfNs),
    node: process.version,
    cpu: cpus()[0]?.model ?? "unknown",
  };
  if (json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  const row = (name: string, value: number, note: string): string => `  ${name.padEnd(34)}${`${ns(value)} ns`.padStart(9)}   ${note}\n`;
  const times = (a: number, b: number): string => `${(a / b).toFixed(1)}×`;
  process.stdout.write(
    [
      `helpers: median per element over ${INPUTS} varied inputs (${result.node}, ${result.cpu})\n`,
      row("args.path under \"/srv/docs\"", underNs, `${times(underNs, prefixNs)} startsWith, ${times(underNs, normalizeNs)} posix.normalize + startsWith`),
      row("  baseline: startsWith", prefixNs, "(wrong for /srv/docs-evil, .., %2e%2e)"),
      row("  baseline: posix.normalize", normalizeNs, "(wrong for %2e%2e, \\, letter case)"),
      row("url(args.u).host", urlNs, `${times(urlNs, whatwgNs)} new URL alone`),
      row("  baseline: new URL(u).hostname", whatwgNs, ""),
      row("host within \"example.org\"", withinNs, `${times(withinNs, endsWithNs)} endsWith (host already parsed)`),
      row("  baseline: endsWith", endsWithNs, ""),
      row("ip(x)", ipParseNs, `${times(ipParseNs, isIpNs)} node:net isIP`),
      row("  baseline: isIP", isIpNs, ""),
      row("ip(x) in internal (parse + 24 ranges)", ipInNs, `${times(ipInNs, blockListNs)} BlockList.check`),
      row("  baseline: BlockList.check", blockListNs, ""),
      row("ip(url(u).host) in internal", ssrfNs, "the whole SSRF test, per URL"),
    ].join(""),
  );
}
