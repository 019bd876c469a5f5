// IP addresses and ranges as an attacker writes them to reach what a fetch tool must not: shorthand, decimal, octal and
// hex IPv4, IPv4-mapped and NAT64 IPv6, zones; checked against the WHATWG URL parser and node:net's BlockList.
import assert from "node:assert/strict";
import { BlockList, isIPv6 } from "node:net";
import fc from "fast-check";
import {
  embeddedIpv4,
  hostInSet,
  hostInSetBecause,
  IP_SETS,
  ipInRange,
  ipOf,
  ipRange,
  ipSet,
  parseIp,
  type IpSetName,
} from "../../runtime/guard/addresses.js";
import { EvaluationFailure } from "../../runtime/guard/helpers.js";
import { LiteralError } from "../../runtime/guard/literal-errors.js";
import { hostAddressOf, hostOf } from "../../runtime/guard/urls.js";

const text = (t: string): string | undefined => parseIp(t)?.text;
const setsOf = (host: string): IpSetName[] => (Object.keys(IP_SETS) as IpSetName[]).filter((name) => hostInSet(hostAddressOf(host), IP_SETS[name]));

describe("addresses: parsing", () => {
  it("reads every IPv4 form the WHATWG URL parser and inet_aton read", () => {
    for (const form of ["127.0.0.1", "127.1", "127.0.1", "2130706433", "0177.0.0.1", "0x7f.0.0.1", "0x7F.1", "0x7f000001", "017700000001", "127.0.0.1.", "0177.0.0.01"]) {
      assert.equal(text(form), "127.0.0.1", form);
    }
    assert.equal(text("0"), "0.0.0.0");
    assert.equal(text("0x"), "0.0.0.0", "WHATWG reads a bare 0x as zero");
    assert.equal(text("4294967295"), "255.255.255.255");
  });

  it("refuses what is not an address", () => {
    for (const form of ["256.0.0.1", "1.2.3.4.5", "4294967296", "09.1.1.1", "0x1g.1", "1..2", "", ".", "example.org", "1.2.3.4/8", "[127.0.0.1]", "127.0.0.1:80", "1e3", "-1", "1 .2.3.4", "99999999999999999999"]) {
      assert.equal(parseIp(form), undefined, form);
    }
  });

  it("reads IPv6 with brackets, compression, dotted tails and zones, in RFC 5952 form", () => {
    assert.equal(text("[::1]"), "::1");
    assert.equal(text("0:0:0:0:0:0:0:1"), "::1");
    assert.equal(text("::ffff:127.0.0.1"), "::ffff:127.0.0.1");
    assert.equal(text("::FFFF:7F00:1"), "::ffff:127.0.0.1");
    assert.equal(text("fe80::1%eth0"), "fe80::1");
    assert.equal(text("[fe80::1%25eth0]"), "fe80::1");
    assert.equal(text("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");
    for (const form of ["::1::", "1:2:3:4:5:6:7:8:9", "12345::", "::ffff:127.1", "::ffff:0177.0.0.1", "fe80::1%", "fe80::1%a b", "[::1", ":::"]) assert.equal(parseIp(form), undefined, form);
  });

  it("fails closed on a non-address in a guard", () => {
    assert.throws(() => ipOf("metadata.google.internal", "host(args.url)"), (e: unknown) => e instanceof EvaluationFailure && e.detail === "`host(args.url)` is not an IP address");
    assert.throws(() => ipOf(undefined, "args.ip"), EvaluationFailure);
  });
});

describe("addresses: ranges and sets", () => {
  it("parses CIDR ranges written in full, and refuses shorthand, host bits and bad prefixes", () => {
    assert.equal(ipRange("169.254.0.0/16").text, "169.254.0.0/16");
    assert.equal(ipRange("fd00:ec2::254").text, "fd00:ec2::254/128");
    assert.equal(ipRange("0.0.0.0/0").prefix, 0);
    for (const bad of ["10.0.0.1/8", "127.1/8", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/-1", "example.org/8", "[::1]/128", "fe80::%eth0/64"]) {
      assert.throws(() => ipRange(bad), (e: unknown) => e instanceof LiteralError && e.code === "PQG7601", bad);
    }
    assert.throws(() => ipRange("10.0.0.1/8"), /the range is `10.0.0.0\/8`/);
  });

  it("puts the SSRF targets in their sets, whatever form they are written in", () => {
    assert.deepEqual(setsOf("169.254.169.254"), ["link-local", "metadata", "internal"]);
    assert.deepEqual(setsOf("[::ffff:169.254.169.254]"), ["link-local", "metadata", "internal"]);
    assert.deepEqual(setsOf("[::ffff:a9fe:a9fe]"), ["link-local", "metadata", "internal"]);
    assert.deepEqual(setsOf("[64:ff9b::a9fe:a9fe]"), ["link-local", "metadata", "internal"], "through a NAT64 gateway");
    assert.deepEqual(setsOf("[2002:a9fe:a9fe::1]"), ["link-local", "metadata", "internal"], "6to4 carries the address too");
    assert.deepEqual(setsOf("[fd00:ec2::254]"), ["private", "metadata", "internal"]);
    // Azure's WireServer: a public address, and the platform's own endpoint on every Azure VM.
    assert.deepEqual(setsOf("168.63.129.16"), ["metadata", "internal"]);
    assert.deepEqual(setsOf(hostOf("http://2822734096/", "u")), ["metadata", "internal"], "168.63.129.16 as one number");
    assert.deepEqual(setsOf(hostOf("http://2852039166/", "u")), ["link-local", "metadata", "internal"], "169.254.169.254 as one number");
    assert.deepEqual(setsOf(hostOf("http://0251.0376.0251.0376/", "u")), ["link-local", "metadata", "internal"], "in octal");
    assert.deepEqual(setsOf("metadata.google.internal"), ["metadata", "internal"]);
    assert.deepEqual(setsOf(hostOf("http://METADATA.google.internal./", "u")), ["metadata", "internal"]);
    assert.deepEqual(setsOf("127.0.0.1"), ["loopback", "internal"]);
    assert.deepEqual(setsOf(hostOf("http://127.1/", "u")), ["loopback", "internal"]);
    assert.deepEqual(setsOf("[::1]"), ["loopback", "internal"]);
    assert.deepEqual(setsOf("localhost"), ["loopback", "internal"]);
    assert.deepEqual(setsOf("api.localhost"), ["loopback", "internal"]);
    assert.deepEqual(setsOf("0.0.0.0"), ["unspecified", "internal"]);
    assert.deepEqual(setsOf("[::]"), ["unspecified", "internal"]);
    assert.deepEqual(setsOf("10.1.2.3"), ["private", "internal"]);
    assert.deepEqual(setsOf("172.31.255.255"), ["private", "internal"]);
    assert.deepEqual(setsOf("100.64.0.1"), ["private", "internal"]);
    assert.deepEqual(setsOf("[fc00::1]"), ["private", "internal"]);
    assert.deepEqual(setsOf("[fe80::1]"), ["link-local", "internal"]);
    assert.deepEqual(setsOf("224.0.0.251"), ["multicast", "internal"]);
    assert.deepEqual(setsOf("[ff02::1]"), ["multicast", "internal"]);
    assert.deepEqual(setsOf("255.255.255.255"), ["reserved", "internal"]);
    assert.deepEqual(setsOf("[2001:db8::1]"), ["reserved", "internal"]);
    // A network's own NAT64 prefix (RFC 8215) translates to its IPv4 addresses, 10.0.0.5 here.
    assert.deepEqual(setsOf("[64:ff9b:1::a00:5]"), ["reserved", "internal"]);
  });

  it("leaves public addresses and ordinary names out of every set", () => {
    for (const host of ["8.8.8.8", "172.32.0.1", "192.169.0.1", "100.128.0.1", "169.255.0.1", "[2606:4700::1111]", "example.org", "localhost.example.org", "metadata.example.org"]) {
      assert.deepEqual(setsOf(host), [], host);
    }
  });

  it("explains which range or name holds a host", () => {
    assert.equal(hostInSetBecause(hostAddressOf("[::ffff:169.254.169.254]"), IP_SETS.metadata), "`::ffff:169.254.169.254` is in `169.254.169.254/32` (`metadata`)");
    assert.equal(hostInSetBecause(hostAddressOf("metadata.google.internal"), IP_SETS.metadata), "`metadata.google.internal` is a name of `metadata`");
    assert.equal(hostInSetBecause(hostAddressOf("8.8.8.8"), IP_SETS.internal), undefined);
  });

  it("refuses unknown set names", () => {
    assert.throws(() => ipSet("privat"), (e: unknown) => e instanceof LiteralError && e.code === "PQG7602");
    assert.throws(() => ipSet("__proto__"), LiteralError);
  });

  it("unwraps only the IPv6 forms that carry an IPv4 address", () => {
    assert.equal(embeddedIpv4(parseIp("::ffff:10.0.0.1")!)?.text, "10.0.0.1");
    assert.equal(embeddedIpv4(parseIp("::10.0.0.1")!)?.text, "10.0.0.1");
    assert.equal(embeddedIpv4(parseIp("::1")!), undefined);
    assert.equal(embeddedIpv4(parseIp("::")!), undefined);
    assert.equal(embeddedIpv4(parseIp("2001:db8::10.0.0.1")!), undefined);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Properties: the WHATWG URL parser is the oracle for IPv4 forms and IPv6 text; BlockList for membership.

const uint32 = fc.integer({ min: 0, max: 0xffffffff });

/** An IPv4 address written in one of the forms inet_aton and WHATWG accept. */
const ipv4Form = fc.tuple(uint32, fc.integer({ min: 1, max: 4 }), fc.array(fc.constantFrom("dec", "oct", "hex", "HEX"), { minLength: 4, maxLength: 4 })).map(([value, parts, radices]) => {
  const bytes = [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255];
  const numbers = [...bytes.slice(0, parts - 1), bytes.slice(parts - 1).reduce((a, b) => a * 256 + b, 0)];
  const write = (n: number, radix: string): string => (radix === "oct" ? `0${n.toString(8)}` : radix === "hex" ? `0x${n.toString(16)}` : radix === "HEX" ? `0X${n.toString(16).toUpperCase()}` : String(n));
  return { value, form: numbers.map((n, i) => write(n, radices[i]!)).join(".") };
});

const v4Text = (v: number): string => `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
const words = fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 });

function blockListOf(range: string): { list: BlockList; family: "ipv4" | "ipv6" } {
  const [address, prefix] = range.split("/");
  const family = address!.includes(":") ? "ipv6" : "ipv4";
  const list = new BlockList();
  list.addSubnet(address!, Number(prefix), family);
  return { list, family };
}

describe("addresses: properties", () => {
  it("reads every IPv4 form as the WHATWG URL parser does", () => {
    fc.assert(
      fc.property(ipv4Form, ({ value, form }) => {
        assert.equal(text(form), v4Text(value), form);
        assert.equal(new URL(`http://${form}/`).hostname, v4Text(value), form);
      }),
      { numRuns: 3000 },
    );
  });

  it("accepts exactly the dotted-and-numeric texts the WHATWG parser reads as IPv4", () => {
    const numericish = fc.stringMatching(/^[0-9xX.a-f]{1,20}$/);
    fc.assert(
      fc.property(numericish, (form) => {
        let whatwg: string | undefined;
        try {
          const host = new URL(`http://${form}/`).hostname;
          whatwg = /^\d+\.\d+\.\d+\.\d+$/.test(host) ? host : undefined;
        } catch {
          whatwg = undefined;
        }
        assert.equal(text(form), whatwg, form);
      }),
      { numRuns: 5000 },
    );
  });

  it("writes IPv6 as the WHATWG parser serialises it, and only accepts what node:net calls IPv6", () => {
    fc.assert(
      fc.property(words, (w) => {
        const full = w.map((x) => x.toString(16)).join(":");
        const parsed = parseIp(full)!;
        assert.ok(isIPv6(full));
        const whatwg = new URL(`http://[${full}]/`).hostname.slice(1, -1);
        assert.equal(parseIp(whatwg)!.text, parsed.text);
        assert.equal(parseIp(parsed.text)!.text, parsed.text, "the canonical text reads back to itself");
        if (!parsed.text.startsWith("::ffff:")) assert.equal(parsed.text, whatwg);
      }),
      { numRuns: 2000 },
    );
  });

  it("agrees with BlockList on membership, for IPv4, IPv6 and IPv4-mapped addresses", () => {
    fc.assert(
      fc.property(uint32, fc.integer({ min: 0, max: 32 }), uint32, fc.boolean(), fc.boolean(), (base, prefix, low, near, mapped) => {
        const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
        const range = `${v4Text((base & mask) >>> 0)}/${prefix}`;
        // Half the probes share the range's prefix, so that both answers are reached.
        const text4 = v4Text(near ? ((base & mask) | (low & ~mask)) >>> 0 : low);
        const candidate = mapped ? `::ffff:${text4}` : text4;
        const { list } = blockListOf(range);
        assert.equal(ipInRange(parseIp(candidate)!, ipRange(range)), list.check(candidate, mapped ? "ipv6" : "ipv4"), `${candidate} in ${range}`);
      }),
      { numRuns: 3000 },
    );
    fc.assert(
      fc.property(words, fc.integer({ min: 0, max: 128 }), words, (base, prefix, probe) => {
        const masked = base.map((word, i) => word & (Math.min(16, Math.max(0, prefix - 16 * i)) === 0 ? 0 : (0xffff << (16 - Math.min(16, prefix - 16 * i))) & 0xffff));
        // Some probes share the range's prefix, so that both answers are reached.
        const near = probe.map((word, i) => (i * 16 < prefix - 16 ? masked[i]! : word));
        const r = `${masked.map((x) => x.toString(16)).join(":")}/${prefix}`;
        const candidate = near.map((x) => x.toString(16)).join(":");
        const { list } = blockListOf(r);
        const range = ipRange(r);
        const address = parseIp(candidate)!;
        // BlockList knows no embedded IPv4 in IPv6 ranges; compare on addresses that carry none.
        if (embeddedIpv4(address) === undefined) assert.equal(ipInRange(address, range), list.check(candidate, "ipv6"), `${candidate} in ${r}`);
      }),
      { numRuns: 3000 },
    );
  });

  it("an address and every way of writing it are in the same sets", () => {
    fc.assert(
      fc.property(ipv4Form, ({ value, form }) => {
        const canonical = v4Text(value);
        for (const name of Object.keys(IP_SETS) as IpSetName[]) {
          const expected = hostInSet(hostAddressOf(canonical), IP_SETS[name]);
          assert.equal(hostInSet(hostAddressOf(hostOf(`http://${form}/`, "u")), IP_SETS[name]), expected, `${form} in ${name}`);
          assert.equal(hostInSet(hostAddressOf(`[::ffff:${canonical}]`), IP_SETS[name]), expected, `mapped ${canonical} in ${name}`);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
