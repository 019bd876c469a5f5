// What the mcp-fetch-server policy guarantees for every request, on the real server's tool list. Run with
// `pqguard test policies/mcp-fetch-server`: each property decides with the compiled guard and the interpreter at once.
import fc from "fast-check";
import { alwaysDenies, decides, neverAllows, request, session, toolCall } from "pqguard/testing";

const STRONG = ["X25519MLKEM768", "ML-KEM-768", "ML-KEM-1024"];
const admitted = (role) => session({ role, kem: STRONG });
const ROLES = ["researcher", "assistant"];
const TOOLS = ["fetch_html", "fetch_markdown", "fetch_txt", "fetch_json", "fetch_readable", "fetch_youtube_transcript"];
const withArgs = (call, extra) => fc.tuple(call, extra).map(([c, args]) => ({ ...c, args: { ...c.args, ...args } }));
const byte = fc.integer({ min: 0, max: 255 });

/** An internal IPv4 address: loopback, private, carrier-grade NAT, link-local (the metadata service) or unspecified. */
const internalV4 = fc.oneof(
  fc.tuple(fc.constant(127), byte, byte, byte),
  fc.tuple(fc.constant(10), byte, byte, byte),
  fc.tuple(fc.constant(172), fc.integer({ min: 16, max: 31 }), byte, byte),
  fc.tuple(fc.constant(192), fc.constant(168), byte, byte),
  fc.tuple(fc.constant(100), fc.integer({ min: 64, max: 127 }), byte, byte),
  fc.tuple(fc.constant(169), fc.constant(254), byte, byte),
  fc.tuple(fc.constant(0), byte, byte, byte),
);
const hex = (n) => n.toString(16);
/** The address in a spelling some parser reads as it: dotted, one number, hexadecimal, octal, IPv4-mapped IPv6. */
const spelled = fc.tuple(internalV4, fc.integer({ min: 0, max: 5 })).map(([[a, b, c, d], form]) => {
  const n = ((a << 24) >>> 0) + (b << 16) + (c << 8) + d;
  return [
    `${a}.${b}.${c}.${d}`,
    String(n),
    `0x${hex(a)}.${b}.${c}.${d}`,
    `0${a.toString(8)}.${b}.${c}.${d}`,
    `[::ffff:${a}.${b}.${c}.${d}]`,
    `[::ffff:${hex((a << 8) + b)}:${hex((c << 8) + d)}]`,
  ][form];
});
const internalUrl = fc
  .tuple(fc.constantFrom("http", "https"), spelled, fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }), fc.webPath())
  .map(([scheme, host, port, path]) => `${scheme}://${host}${port === undefined ? "" : `:${port}`}${path}`);
/** Public web URLs by name: no credentials, no name an address set lists. */
const publicUrl = fc
  .webUrl({ validSchemes: ["https", "http"], withQueryParameters: true, withFragments: true })
  .filter((u) => !/@|localhost|metadata|internal|\\/i.test(u));

export default (t) => {
  const anyTool = fc.oneof(...TOOLS.map((tool) => toolCall(t.manifest, tool)));
  const fetching = (urls, extra = fc.constant({})) => withArgs(withArgs(anyTool, urls.map((url) => ({ url }))), extra);

  t.it("no internal address is ever fetched, in whatever spelling and by whatever role", () => {
    alwaysDenies(t.guard, request({ call: fetching(internalUrl), session: admitted(ROLES) }));
  });

  t.it("an assistant never fetches outside the documentation site", () => {
    neverAllows(t.guard, request({ call: fetching(publicUrl), session: admitted("assistant") }), (r) => !/^https?:\/\/([^/?#]*\.)?docs\.example\.org([:/?#]|$)/i.test(String(r.args.url)));
  });

  t.it("request headers and a proxy are never passed on", () => {
    const headers = fc.dictionary(fc.constantFrom("Authorization", "Cookie", "Host", "X-Forwarded-For"), fc.string({ maxLength: 8 }), { minKeys: 0, maxKeys: 2 });
    alwaysDenies(t.guard, request({ call: fetching(publicUrl, headers.map((h) => ({ headers: h }))), session: admitted(ROLES) }));
    alwaysDenies(t.guard, request({ call: fetching(publicUrl, fc.webUrl().map((proxy) => ({ proxy }))), session: admitted(ROLES) }));
  });

  t.it("a researcher reads any public page by name", () => {
    const plain = fc.tuple(fc.constantFrom(...TOOLS), publicUrl).map(([tool, url]) => ({ tool, args: { url } }));
    decides(t.guard, request({ call: plain, session: admitted("researcher") }), "allow");
  });
};
