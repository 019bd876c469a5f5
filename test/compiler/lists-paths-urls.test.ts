// Quantifiers, `under`, `url()`, `host()`, `within` and `ip() in`: typed by the checker, decided alike by the reference
// interpreter and the compiled guard, with explanations that name the deciding element, and attacked with the inputs
// that break prefix checks (`/srv/docs-evil`, `%2e%2e`, `example.org.evil.com`, `0x7f.1`, IPv4-mapped IPv6).
import assert from "node:assert/strict";
import { posix } from "node:path";
import fc from "fast-check";
import { checkPolicySource } from "../../compiler/index.js";
import { generateGuardModule } from "../../compiler/codegen.js";
import { interpret } from "../../compiler/interpreter.js";
import type { CheckedPolicy } from "../../compiler/ir.js";
import { requestFromJson } from "../../compiler/request.js";
import type { Decision, GuardModule } from "../../runtime/guard/types.js";
import { checked, compiledGuard } from "../support/guards.js";

const string = { type: "string" };
const MANIFEST = {
  tools: [
    { name: "read_file", inputSchema: { type: "object", properties: { path: string }, required: ["path"] } },
    { name: "read_multiple_files", inputSchema: { type: "object", properties: { paths: { type: "array", items: string } }, required: ["paths"] } },
    {
      name: "edit_file",
      inputSchema: {
        type: "object",
        properties: {
          path: string,
          edits: { type: "array", items: { type: "object", properties: { oldText: string, newText: string }, required: ["oldText", "newText"] } },
          groups: { type: "array", items: { type: "array", items: string } },
        },
        required: ["path", "edits"],
      },
    },
    { name: "fetch", inputSchema: { type: "object", properties: { url: string, port: { type: "integer" } }, required: ["url"] } },
  ],
};

const POLICY = `policy lists
manifest "tools.json"

permit tool read_file
  when args.path under "/srv/docs"

permit tool read_multiple_files
  when len(args.paths) <= 10 and all p in args.paths: p under "/srv/docs"

permit tool edit_file
  when args.path under "/srv/docs" and all e in args.edits: len(e.newText) <= 100 and not (e.newText contains "BEGIN PRIVATE KEY")

forbid tool edit_file
  when has args.groups and any g in args.groups: any p in g: p under "/srv/docs/secret"
  because "no group may touch the secret folder"

permit tool fetch
  when url(args.url).scheme in ["https"] and host(args.url) within "docs.example.org" and not url(args.url).credentials

forbid tool fetch
  when ip(host(args.url)) in internal or ip(host(args.url)) in "198.18.0.0/15"
  because "no internal addresses"
`;

function policy(): CheckedPolicy {
  return checked(POLICY, { "tools.json": MANIFEST }, "lists.policy");
}

const CONTEXT_JSON = {
  client: { id: "agent", authenticated: true },
  time: "2026-12-01T12:00:00Z",
};

function call(tool: string, args: Record<string, unknown>): ReturnType<typeof requestFromJson> {
  return requestFromJson({ tool, args, ...CONTEXT_JSON }, 0);
}

describe("quantifiers, paths, URLs and addresses", function () {
  this.timeout(60_000);
  let compiled: GuardModule;
  let oracle: GuardModule;

  before(async () => {
    const p = policy();
    compiled = await compiledGuard(p, "lists-paths-urls");
    oracle = interpret(p);
  });

  /** Both back ends decide the call; they must agree in every field, and the decision is returned. */
  function decide(tool: string, args: Record<string, unknown>): Decision {
    const { request, context } = call(tool, args);
    const expected = oracle.guard(request, context);
    assert.deepEqual(compiled.guard(request, context), expected, `${tool} ${JSON.stringify(args)}`);
    return expected;
  }

  const allowed = (tool: string, args: Record<string, unknown>): void => assert.equal(decide(tool, args).decision, "allow", JSON.stringify(args));
  const denied = (tool: string, args: Record<string, unknown>): void => assert.equal(decide(tool, args).decision, "deny", JSON.stringify(args));

  describe("under", () => {
    it("holds for the root and what lies below it", () => {
      for (const path of ["/srv/docs", "/srv/docs/", "/srv/docs/a/b.txt", "/srv//docs/./a", "/srv/docs/a/../b"]) allowed("read_file", { path });
    });

    it("refuses siblings, traversal, encodings, relative paths and NUL bytes", () => {
      for (const path of [
        "/srv/docs-evil/a",
        "/srv/docsx",
        "/srv/docs/../secrets",
        "/srv/docs/%2e%2e/x",
        "/srv/docs/%252e%252e/x",
        "/srv/docs/..\\..\\etc\\passwd",
        "docs/a",
        "../srv/docs/a",
        "~/a",
        "",
        "/srv/docs/a\u0000.txt",
        "/srv/docs/a%00.txt",
        "/SRV/DOCS/a",
        "/etc/passwd",
      ]) {
        denied("read_file", { path });
      }
    });

    it("fails closed on a value that is not a string", () => {
      denied("read_file", { path: ["/srv/docs/a"] });
      denied("read_file", { path: 7 });
      denied("read_file", {});
    });
  });

  it("never allows a path that some reading of it puts outside the root (attacker property)", () => {
    const segment = fc.constantFrom("srv", "docs", "docs-evil", "..", ".", "", "%2e%2e", "%2E%2e", "%252e%252e", "%2f", "%5c", "a", "DOCS", "..\\..", "%00", "~");
    const pathArb = fc.tuple(fc.constantFrom("/", "", "/srv/docs/", "\\"), fc.array(segment, { maxLength: 7 }), fc.constantFrom("/", "\\")).map(([start, parts, sep]) => start + parts.join(sep));
    /** Every way a server might read the text: decoded up to three times, `\\` as a separator or not, case folded. */
    const readings = (path: string): string[] => {
      const out = new Set<string>();
      let text = path;
      for (let round = 0; round < 4; round++) {
        for (const t of [text, text.replace(/\\/g, "/")]) for (const u of [t, t.toLowerCase()]) out.add(u);
        try {
          text = decodeURIComponent(text);
        } catch {
          break;
        }
      }
      return [...out];
    };
    let allowedCalls = 0;
    fc.assert(
      fc.property(fc.array(pathArb, { minLength: 1, maxLength: 3 }), (paths) => {
        if (decide("read_multiple_files", { paths }).decision !== "allow") return;
        allowedCalls++;
        for (const path of paths) {
          for (const reading of readings(path)) {
            assert.ok(reading.startsWith("/") && !reading.includes("\u0000"), `${path} allowed, read as ${reading}`);
            const normal = posix.normalize(reading);
            assert.ok(normal === "/srv/docs" || normal.startsWith("/srv/docs/") || normal === "/srv/docs/", `${path} allowed, read as ${normal}`);
          }
        }
      }),
      { numRuns: 2000 },
    );
    assert.ok(allowedCalls > 20, `only ${allowedCalls} generated calls were allowed: the property would prove little`);
  });

  describe("all and any", () => {
    it("all holds when every element holds, and for the empty list", () => {
      allowed("read_multiple_files", { paths: ["/srv/docs/a", "/srv/docs/b/c"] });
      allowed("read_multiple_files", { paths: [] });
    });

    it("one element outside the root denies the call, and the explanation names it", () => {
      const d = decide("read_multiple_files", { paths: ["/srv/docs/a", "/srv/docs/b", "/etc/passwd", "/srv/docs-evil"] });
      assert.equal(d.decision, "deny");
      const permit = d.explain.find((e) => e.rule === "lists.policy:7");
      assert.equal(permit?.detail, '`all p in args.paths: p under "/srv/docs"` was false: `args.paths[2]` = `/etc/passwd` was not under `/srv/docs`');
    });

    it("an element that cannot be read fails the whole condition closed, wherever it stands", () => {
      const d = decide("read_multiple_files", { paths: ["/srv/docs/a", 42] });
      assert.equal(d.decision, "deny");
      assert.match(d.explain.find((e) => e.rule === "lists.policy:7")!.detail, /could not be evaluated: `p` is not a string/);
      denied("read_multiple_files", { paths: ["/srv/docs/a", "/srv/docs/%2e%2e/x"] });
      denied("read_multiple_files", { paths: "/srv/docs/a" });
    });

    it("types the variable's fields from the item schema, and names the element that failed", () => {
      allowed("edit_file", { path: "/srv/docs/a", edits: [{ oldText: "a", newText: "b" }] });
      const d = decide("edit_file", { path: "/srv/docs/a", edits: [{ oldText: "a", newText: "b" }, { oldText: "c", newText: "-----BEGIN PRIVATE KEY-----" }] });
      assert.equal(d.decision, "deny");
      assert.match(d.explain.find((e) => e.rule === "lists.policy:10")!.detail, /`args\.edits\[1\]` = `\{"oldText":"c","newText":"-----BEGIN PRIVATE KEY-----"\}` did not satisfy/);
      denied("edit_file", { path: "/srv/docs/a", edits: [{ oldText: "a" }] });
    });

    it("compiles a variable that hides an outer one of the same name, with a third nested inside it, as the interpreter reads it", async () => {
      // Found by the differential test: parameters numbered by bound names gave the innermost variable the same
      // JavaScript name as the hiding one.
      const source = `policy shadow\nmanifest "tools.json"\npermit tool edit_file\n  when all e in args.edits: any e in args.edits: any t in ["b", "d"]: e.newText == t\n`;
      const p = checked(source, { "tools.json": MANIFEST }, "shadow.policy");
      const compiledShadow = await compiledGuard(p, "lists-paths-urls", "shadow");
      for (const edits of [[{ oldText: "a", newText: "b" }], [{ oldText: "a", newText: "x" }], [{ oldText: "a", newText: "x" }, { oldText: "c", newText: "d" }]]) {
        const { request, context } = call("edit_file", { path: "/srv/docs/a", edits });
        const expected = interpret(p).guard(request, context);
        assert.deepEqual(compiledShadow.guard(request, context), expected, JSON.stringify(edits));
      }
      assert.equal(interpret(p).guard(call("edit_file", { path: "/x", edits: [{ oldText: "a", newText: "b" }] }).request, call("edit_file", {}).context).decision, "allow");
    });

    it("nests: any group with any path under the secret folder is forbidden", () => {
      allowed("edit_file", { path: "/srv/docs/a", edits: [], groups: [["/srv/docs/a"], ["/srv/docs/b", "/srv/docs/c"]] });
      const d = decide("edit_file", { path: "/srv/docs/a", edits: [], groups: [["/srv/docs/a"], ["/srv/docs/b", "/srv/docs/secret/k"]] });
      assert.equal(d.decision, "deny");
      assert.equal(d.reason, "no group may touch the secret folder");
      // An inner element that cannot be placed makes the forbid apply: forbid fails closed.
      denied("edit_file", { path: "/srv/docs/a", edits: [], groups: [["/srv/docs/secret/%2e%2e/x"]] });
    });
  });

  describe("url, host, within and ip", () => {
    it("allows the documentation site by its canonical host", () => {
      for (const url of ["https://docs.example.org/guide", "https://DOCS.example.org./x", "https://api.docs.example.org/", "https://docs.example.org:8443/"]) {
        allowed("fetch", { url });
      }
    });

    it("refuses look-alike hosts, other schemes, credentials and URLs parsers disagree on", () => {
      for (const url of [
        "https://docs.example.org.evil.com/",
        "https://evildocs.example.org/",
        "https://docs.example.org@evil.com/",
        "https://user:pw@docs.example.org/",
        "http://docs.example.org/",
        "javascript:alert(1)//docs.example.org",
        "https://docs.example.org\\@evil.com/",
        "https://evil.com/#https://docs.example.org/",
        " https://docs.example.org/",
        "/relative/docs.example.org",
        "https://docs.exаmple.org/",
      ]) {
        denied("fetch", { url });
      }
    });

    it("forbids internal addresses in every spelling, with the because text", () => {
      for (const url of [
        "http://127.0.0.1/",
        "http://127.1/",
        "http://2130706433/",
        "http://0x7f.0.0.1/",
        "http://0177.0.0.1/",
        "http://[::1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://169.254.169.254/latest/meta-data",
        "http://10.1.2.3/",
        "http://localhost/",
        "http://metadata.google.internal/",
        "http://198.18.0.1/",
        "http://0.0.0.0/",
      ]) {
        const d = decide("fetch", { url });
        assert.equal(d.decision, "deny", url);
        assert.equal(d.reason, "no internal addresses", url);
      }
    });

    it("reads each URL once per decision, in the decision's own function, and keeps nothing across decisions", async () => {
      const source = await generateGuardModule(policy(), { runtimeImport: "pqguard/guard" });
      const fetchFunction = /\/\/ fetch\nfunction (tool\d+)\([^]*?\n}\n/.exec(source)![0];
      assert.match(fetchFunction, /\n {2}let urls: UrlReadings \| undefined;\n/);
      // url(args.url).scheme, .credentials, host(args.url) twice and ip(host(...)) twice: all through the one `urls`.
      assert.equal(fetchFunction.match(/\(urls \?\?= new UrlReadings\(\)\)\.(url|host|address)\(/g)?.length, 7);
      assert.doesNotMatch(fetchFunction, /\b(urlOf|hostOf|hostAddressFrom)\(/);
      assert.doesNotMatch(source.replace(/\nfunction [^]*?\n}\n/g, ""), /UrlReadings\(/, "no readings at module level");
      // Read as the interpreter reads it, call after call with other URLs: nothing of one decision is reused.
      for (const url of ["https://docs.example.org/a", "http://127.0.0.1/", "https://docs.example.org/b", "not a url", "https://docs.example.org/a"]) decide("fetch", { url });
    });

    it("fails closed when the URL cannot be read: the forbid applies", () => {
      const d = decide("fetch", { url: "not a url" });
      assert.equal(d.decision, "deny");
      assert.equal(d.reason, "no internal addresses");
    });
  });
});

describe("checking the new syntax", () => {
  function diagnostics(body: string): string[] {
    const source = `policy t\nmanifest "tools.json"\n${body}\n`;
    return checkPolicySource(source, { fileName: "t.policy", manifests: { "tools.json": MANIFEST } }).diagnostics.map((d) => `${d.code} ${d.message}`);
  }

  it("accepts well-typed uses", () => {
    assert.deepEqual(diagnostics('permit tool edit_file when all e in args.edits: e.oldText != e.newText and any g in args.groups: len(g) > 0'), []);
    assert.deepEqual(diagnostics('permit tool fetch when url(args.url).port == 443 and ip(url(args.url).host) not in private'), []);
  });

  it("reports bad literals at the literal, with their PQG76xx code", () => {
    assert.deepEqual(diagnostics('permit tool read_file when args.path under "docs"').map((d) => d.slice(0, 7)), ["PQG7603"]);
    assert.deepEqual(diagnostics('permit tool fetch when host(args.url) within "*.example.org"').map((d) => d.slice(0, 7)), ["PQG7604"]);
    assert.deepEqual(diagnostics('permit tool fetch when ip(args.url) in "10.0.0.1/8"').map((d) => d.slice(0, 7)), ["PQG7601"]);
    assert.deepEqual(diagnostics("permit tool fetch when ip(args.url) in privat").map((d) => d.slice(0, 7)), ["PQG7602"]);
  });

  it("types the variable from the item schema", () => {
    assert.match(diagnostics("permit tool edit_file when all e in args.edits: e.oldTxt == \"a\"").join("\n"), /PQG2002 unknown field `oldTxt`/);
    assert.match(diagnostics("permit tool edit_file when all e in args.edits: e.oldText == 1").join("\n"), /PQG3001/);
    assert.match(diagnostics("permit tool read_file when all c in args.path: true").join("\n"), /PQG3002 operator `all` does not apply to a string/);
    assert.match(diagnostics("permit tool read_multiple_files when all p in args.paths: len(p)").join("\n"), /PQG3008/);
  });

  it("reports URL fields that do not exist and a URL without a field", () => {
    assert.match(diagnostics("permit tool fetch when url(args.url).hostname == \"a\"").join("\n"), /PQG2020 a URL has no field `hostname`/);
    assert.match(diagnostics("permit tool fetch when url(args.url) == \"a\"").join("\n"), /PQG3017/);
    assert.match(diagnostics("permit tool fetch when host(args.url).x == \"a\"").join("\n"), /PQG3011/);
  });

  it("warns about startsWith on a path or a URL", () => {
    assert.match(diagnostics('permit tool read_file when args.path startsWith "/srv/docs"').join("\n"), /PQG4006 `args.path startsWith "\/srv\/docs"` compares a path by its text; `args.path under "\/srv\/docs"`/);
    assert.match(diagnostics('permit tool fetch when args.url startsWith "https://docs.example.org"').join("\n"), /PQG4006 .*compares a URL/);
    assert.deepEqual(diagnostics('permit tool fetch when args.url endsWith ".pdf"'), []);
  });
});
