// URLs and hosts as an attacker writes them: look-alike hosts, userinfo tricks, parser differentials, IDN, trailing dots
// and numeric hosts. `within` compares whole labels; `url()` reads as the WHATWG parser does or refuses.
import assert from "node:assert/strict";
import { domainToASCII } from "node:url";
import fc from "fast-check";
import { EvaluationFailure } from "../../runtime/guard/helpers.js";
import { LiteralError } from "../../runtime/guard/literal-errors.js";
import { domainName, hostAddressOf, hostOf, hostWithin, readHost, readUrl, urlHost, urlOf, urlPort, type ParsedUrl } from "../../runtime/guard/urls.js";

const EXAMPLE = domainName("example.org");
const url = (text: string): ParsedUrl => urlOf(text, "args.url");
const within = (text: string, domain = EXAMPLE): boolean => hostWithin(hostOf(text, "args.url"), domain);

describe("urls: url()", () => {
  it("reads scheme, host, port and path as the WHATWG parser does", () => {
    assert.deepEqual(url("HTTPS://Example.ORG:443/a/./b/../c?x=1#frag"), { scheme: "https", host: "example.org", port: 443, path: "/a/c", query: "x=1", credentials: false });
    assert.equal(url("http://example.org/").port, 80);
    assert.equal(url("http://example.org:8080/").port, 8080);
    assert.equal(url("wss://example.org/").port, 443);
    assert.equal(url("https://example.org./").host, "example.org", "one trailing dot is the same host");
    assert.equal(url("https://example.org/%2e%2e/admin").path, "/admin", "the parser resolves %2e%2e");
  });

  it("gives the host the URL really connects to, not the one a reader sees first", () => {
    assert.equal(url("https://example.org@evil.example/").host, "evil.example");
    assert.equal(url("https://example.org:pw@evil.example/").credentials, true);
    assert.equal(url("https://evil.example#@example.org/").host, "evil.example");
    assert.equal(url("https://evil.example?@example.org/").host, "evil.example");
    assert.equal(url("https://%65vil.example/").host, "evil.example", "percent-encoded hosts are decoded");
  });

  it("normalises numeric and IPv6 hosts", () => {
    assert.equal(url("http://127.1/").host, "127.0.0.1");
    assert.equal(url("http://2130706433/").host, "127.0.0.1");
    assert.equal(url("http://0x7f.0.0.1/").host, "127.0.0.1");
    assert.equal(url("http://0177.0.0.1/").host, "127.0.0.1");
    assert.equal(url("http://[0:0:0:0:0:ffff:7f00:1]/").host, "[::ffff:7f00:1]");
  });

  it("canonicalises IDN hosts to punycode, and fullwidth letters to ASCII", () => {
    assert.equal(url("https://bücher.example/").host, "xn--bcher-kva.example");
    assert.equal(url("https://ｅｘａｍｐｌｅ.org/").host, "example.org");
    assert.equal(url("git://EXAMPLE.org/repo").host, "example.org", "non-special schemes too");
  });

  it("refuses what URL parsers read differently: spaces, controls, backslashes", () => {
    for (const text of ["http://evil.example\\@example.org/", " https://example.org/", "https://example.org/\n", "https://exa\tmple.org/", "https://example.org/a b"]) {
      assert.throws(() => url(text), (e: unknown) => e instanceof EvaluationFailure && /read differently/.test(e.detail), JSON.stringify(text));
    }
  });

  it("refuses relative URLs, empty labels, over-long texts and non-strings, failing closed", () => {
    for (const text of ["/relative", "example.org/x", "https://exa..mple.org/", "https://.example.org/", `https://example.org/${"a".repeat(20_000)}`]) {
      assert.equal(readUrl(text).ok, false, text.slice(0, 40));
    }
    assert.throws(() => urlOf(42, "args.url"), (e: unknown) => e instanceof EvaluationFailure && e.detail === "`args.url` is not a string");
  });

  it("fails `.host` without a host and `.port` without a default", () => {
    assert.throws(() => urlHost(url("mailto:a@example.org"), "url(args.url).host"), EvaluationFailure);
    assert.throws(() => urlPort(url("git://example.org/x"), "url(args.url).port"), EvaluationFailure);
    assert.equal(urlPort(url("git://example.org:9418/x"), "p"), 9418);
  });
});

describe("urls: host() and within", () => {
  it("holds the domain and its subdomains, by whole labels", () => {
    for (const text of ["https://example.org/", "https://api.example.org/", "https://a.b.example.org/", "https://EXAMPLE.ORG./", "example.org", "Api.Example.Org."]) assert.equal(within(text), true, text);
  });

  it("refuses look-alikes: suffix tricks, prefix tricks, userinfo, other TLDs, confusables", () => {
    for (const text of ["https://example.org.evil.com/", "https://evilexample.org/", "https://example.org@evil.com/", "https://example.organ/", "https://example.com/", "https://exаmple.org/", "https://example.org-evil.com/"]) {
      assert.equal(within(text), false, text);
    }
  });

  it("compares IDN domains in punycode on both sides", () => {
    const bucher = domainName("Bücher.example");
    assert.equal(bucher.text, "xn--bcher-kva.example");
    assert.equal(within("https://shop.xn--bcher-kva.example/", bucher), true);
    assert.equal(within("https://shop.bücher.example/", bucher), true);
  });

  it("treats IP addresses as themselves only: no address is `within` a shorter one", () => {
    const ip = domainName("10.0.0.1");
    assert.equal(ip.ip, true);
    assert.equal(within("http://10.0.0.1/", ip), true);
    assert.equal(within("http://10.1/", ip), true, "`10.1` is `10.0.0.1`");
    assert.equal(within("http://110.0.0.1/", ip), false);
    assert.equal(within("http://167772161/", ip), true, "the same address written as one number");
    assert.equal(readHost("http://1.10.0.0.1/").ok, false, "five numeric labels are neither an address nor a name");
    assert.equal(hostWithin("10.0.0.1", domainName("0.1")), false);
  });

  it("reads bare hosts, refusing ports, paths and users", () => {
    assert.deepEqual(readHost("Example.org."), { ok: true, host: "example.org" });
    assert.deepEqual(readHost("::1"), { ok: true, host: "[::1]" });
    assert.deepEqual(readHost("127.1"), { ok: true, host: "127.0.0.1" });
    for (const text of ["example.org:443", "example.org/x", "user@example.org", "", "exa mple.org", "a..b"]) assert.equal(readHost(text).ok, false, text);
    assert.throws(() => hostOf("example.org:80", "args.host"), (e: unknown) => e instanceof EvaluationFailure && /`args.host` is not a host/.test(e.detail));
  });

  it("refuses domains that cannot mean a host", () => {
    for (const text of ["*.example.org", "https://example.org", "example.org/x", "example.org:443", "", "a..b"]) {
      assert.throws(() => domainName(text), (e: unknown) => e instanceof LiteralError && e.code === "PQG7604", text);
    }
  });

  it("tells names from addresses", () => {
    assert.equal(hostAddressOf("[::1]").kind, "ip");
    assert.equal(hostAddressOf("127.0.0.1").kind, "ip");
    assert.equal(hostAddressOf("metadata.google.internal").kind, "name");
  });
});

// ---------------------------------------------------------------------------------------------------------

/** LDH labels; `xn--` labels are punycode and must decode, which random letters do not. */
const label = fc.stringMatching(/^[a-z][a-z0-9-]{0,6}[a-z0-9]$/).filter((l) => !l.startsWith("xn--"));
const domain = fc.array(label, { minLength: 1, maxLength: 4 }).map((labels) => labels.join("."));

describe("urls: properties", () => {
  it("within is exactly: equal, or ends with `.` + domain, on canonical names", () => {
    fc.assert(
      fc.property(domain, domain, fc.boolean(), (host, d, join) => {
        const h = join ? `${host}.${d}` : host;
        const expected = h === d || h.endsWith(`.${d}`);
        assert.equal(hostWithin(hostOf(`https://${h}/`, "u"), domainName(d)), expected, `${h} within ${d}`);
      }),
      { numRuns: 2000 },
    );
  });

  it("a host that merely contains the domain, or has it as a string suffix without a dot, is never within", () => {
    fc.assert(
      fc.property(domain, label, domain, (d, glue, tail) => {
        assert.equal(within(`https://${d}.${tail}/`, domainName(d)), `${d}.${tail}` === d || `${d}.${tail}`.endsWith(`.${d}`));
        assert.equal(within(`https://${glue}${d}/`, domainName(d)), false);
      }),
      { numRuns: 1000 },
    );
  });

  it("hosts are what node:url's domainToASCII makes of them, whatever the letter case", () => {
    fc.assert(
      fc.property(domain, fc.array(fc.boolean(), { maxLength: 40 }), (d, upper) => {
        const mixed = [...d].map((c, i) => (upper[i] === true ? c.toUpperCase() : c)).join("");
        assert.equal(hostOf(`https://${mixed}/`, "u"), domainToASCII(mixed));
      }),
      { numRuns: 500 },
    );
  });
});

describe("urls: hostAddressFrom (ip() of a host)", () => {
  it("reads addresses in every form and names canonically, and refuses URLs and junk", async () => {
    const { hostAddressFrom } = await import("../../runtime/guard/urls.js");
    const { hostInSet, hostInRange, IP_SETS, ipRange } = await import("../../runtime/guard/addresses.js");
    assert.equal(hostInSet(hostAddressFrom("0x7f.1", "x"), IP_SETS.loopback), true);
    assert.equal(hostInSet(hostAddressFrom("[::ffff:169.254.169.254]", "x"), IP_SETS.metadata), true);
    assert.equal(hostInSet(hostAddressFrom("Metadata.Google.Internal.", "x"), IP_SETS.metadata), true);
    assert.equal(hostInRange(hostAddressFrom("10.9.8.7", "x"), ipRange("10.0.0.0/8")), true);
    assert.equal(hostInRange(hostAddressFrom("ten.example.org", "x"), ipRange("0.0.0.0/0")), false, "a name is in no range");
    assert.throws(() => hostAddressFrom("http://10.0.0.1/", "args.u"), (e: unknown) => e instanceof EvaluationFailure && /write `host\(args.u\)`/.test(e.detail));
    assert.throws(() => hostAddressFrom("exa mple", "x"), EvaluationFailure);
  });
});

describe("urls: UrlReadings (one decision's parses)", () => {
  /** What a plain helper gives for a call: its answer, or the failure's sentence. */
  function outcome(run: () => unknown): unknown {
    try {
      return { value: run() };
    } catch (error) {
      if (error instanceof EvaluationFailure) return { failed: error.detail };
      throw error;
    }
  }

  it("parses a text once: the same URL object for url() at every use, and host() reads it", async () => {
    const { UrlReadings } = await import("../../runtime/guard/urls.js");
    const readings = new UrlReadings();
    const first = readings.url("https://API.example.org/x", "args.u");
    assert.equal(readings.url("https://API.example.org/x", "url(args.u)"), first, "the second read is the first parse");
    assert.equal(readings.host("https://API.example.org/x", "args.u"), "api.example.org");
    assert.notEqual(new UrlReadings().url("https://API.example.org/x", "args.u"), first, "another decision parses again");
  });

  it("keeps a URL's host as a bare host only because a canonical host reads as itself", () => {
    const hosts = fc.oneof(fc.domain(), fc.ipV4(), fc.ipV4Extended(), fc.ipV6().map((h) => `[${h}]`), fc.constantFrom("bücher.example", "EXAMPLE.org.", "ｅｘａｍｐｌｅ.org", "[::ffff:127.0.0.1]", "0x7f.1", "_x.example"), fc.string({ maxLength: 12 }));
    fc.assert(
      fc.property(hosts, fc.constantFrom("http", "https", "git", "ftp", "ws", "file"), (host, scheme) => {
        const reading = readUrl(`${scheme}://${host}/x`);
        if (!reading.ok || reading.url.host === "") return;
        assert.deepEqual(readHost(reading.url.host), { ok: true, host: reading.url.host }, `${scheme}://${host}`);
      }),
      { numRuns: 3000 },
    );
  });

  it("words each failure with its own expression's text, however often the text was read", async () => {
    const { UrlReadings } = await import("../../runtime/guard/urls.js");
    const readings = new UrlReadings();
    assert.throws(() => readings.url("not a url", "args.a"), (e: unknown) => e instanceof EvaluationFailure && e.detail.startsWith("`args.a` is not a URL"));
    assert.throws(() => readings.url("not a url", "args.b"), (e: unknown) => e instanceof EvaluationFailure && e.detail.startsWith("`args.b` is not a URL"));
    assert.throws(() => readings.address("http://10.0.0.1/", "args.u"), (e: unknown) => e instanceof EvaluationFailure && /write `host\(args.u\)`/.test(e.detail));
    assert.throws(() => readings.host(undefined, "args.u"), (e: unknown) => e instanceof EvaluationFailure && e.detail === "`args.u` is missing");
  });

  it("answers every sequence of reads exactly as urlOf, hostOf and hostAddressFrom do", async () => {
    const { UrlReadings, hostAddressFrom } = await import("../../runtime/guard/urls.js");
    const texts = fc.constantFrom(
      "https://example.org/a", "HTTPS://Example.ORG.", "http://127.1/", "http://[::ffff:127.0.0.1]/", "mailto:a@example.org", "example.org", "10.0.0.1",
      "::1", "[::1]", "not a url", "https://a b/", "http://x/\\y", "", "metadata.google.internal", "0x7f.1", "https://u:p@example.org/",
    );
    const value = fc.oneof(texts, fc.constant(undefined), fc.constant(7));
    const read = fc.tuple(fc.constantFrom("url", "host", "address", "addressOfHost"), value, fc.constantFrom("args.u", "x"));
    fc.assert(
      fc.property(fc.array(read, { maxLength: 12 }), (reads) => {
        const readings = new UrlReadings();
        for (const [method, v, text] of reads) {
          if (method === "addressOfHost") {
            // `ip(host(u))`: the host of a URL, read again as a host, comes from the decision's readings.
            const kept = outcome(() => readings.address(readings.host(v, text), `host(${text})`));
            assert.deepEqual(kept, outcome(() => hostAddressFrom(hostOf(v, text), `host(${text})`)), `ip(host(${JSON.stringify(v)}))`);
            continue;
          }
          const plain = { url: urlOf, host: hostOf, address: hostAddressFrom }[method];
          assert.deepEqual(outcome(() => readings[method](v, text)), outcome(() => plain(v, text)), `${method}(${JSON.stringify(v)})`);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
