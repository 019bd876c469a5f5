// `under` in the style the tool's schema and the root say: a `file:` URI where the schema's format is a URI (or the
// root is one), a Windows path where the root has a drive or a UNC share, POSIX otherwise. Decided alike by the
// interpreter and the compiled guard, and attacked with what Windows and URI parsers read in more than one way.
import assert from "node:assert/strict";
import { win32 } from "node:path";
import fc from "fast-check";
import { checkPolicySource } from "../../compiler/index.js";
import { interpret } from "../../compiler/interpreter.js";
import { requestFromJson } from "../../compiler/request.js";
import type { Decision, GuardModule } from "../../runtime/guard/types.js";
import { checked, compiledGuard } from "../support/guards.js";

const MANIFEST = {
  tools: [
    { name: "read_file", inputSchema: { type: "object", properties: { path: { type: "string" } }, required: ["path"] } },
    { name: "open_uri", inputSchema: { type: "object", properties: { uri: { type: "string", format: "uri" } }, required: ["uri"] } },
    { name: "open_many", inputSchema: { type: "object", properties: { uris: { type: "array", items: { type: "string", format: "uri-reference" } } }, required: ["uris"] } },
    { name: "plain_uri", inputSchema: { type: "object", properties: { uri: { type: "string" } }, required: ["uri"] } },
  ],
};

const POLICY = `policy styles
manifest "tools.json"

permit tool read_file
  when args.path under "C:\\\\srv\\\\docs"

// A share and a drive cannot be compared (\\\\localhost\\\\c$ is C:), so each has its own rule.
permit tool read_file
  when args.path under "\\\\\\\\fs01\\\\team"

permit tool open_uri
  when args.uri under "/srv/docs" or args.uri under "file:///C:/Data"

permit tool open_many
  when all u in args.uris: u under "/srv/docs"

permit tool plain_uri
  when args.uri under "file:///srv/docs"
`;

function call(tool: string, args: Record<string, unknown>): ReturnType<typeof requestFromJson> {
  return requestFromJson({ tool, args, client: { id: "agent", authenticated: true }, time: "2026-12-01T12:00:00Z" }, 0);
}

describe("under in the style of the schema and the root", function () {
  this.timeout(60_000);
  let compiled: GuardModule;
  let oracle: GuardModule;

  before(async () => {
    const policy = checked(POLICY, { "tools.json": MANIFEST }, "styles.policy");
    compiled = await compiledGuard(policy, "path-styles");
    oracle = interpret(policy);
  });

  function decide(tool: string, args: Record<string, unknown>): Decision {
    const { request, context } = call(tool, args);
    const expected = oracle.guard(request, context);
    assert.deepEqual(compiled.guard(request, context), expected, `${tool} ${JSON.stringify(args)}`);
    return expected;
  }
  const verdict = (tool: string, args: Record<string, unknown>): string => decide(tool, args).decision;

  describe("a Windows root: the argument is a Windows path", () => {
    it("holds drive letters and names in any case, with either separator, and UNC shares", () => {
      for (const path of ["C:\\srv\\docs", "C:\\srv\\docs\\a.txt", "c:/SRV/docs/x", "C:\\SRV\\Docs\\X", "C:\\srv/docs\\x", "C:/srv\\docs/a\\b", "C:\\srv\\docs\\a\\..\\b", "\\\\FS01\\Team\\plan.docx", "//fs01/team/x"]) {
        assert.equal(verdict("read_file", { path }), "allow", path);
      }
    });

    it("refuses climbing out, siblings, other drives and shares", () => {
      for (const path of ["C:\\srv\\docs\\..\\x", "C:\\srv\\docs\\..\\..\\Windows\\win.ini", "c:/srv/docs/../x", "C:\\srv\\docs-evil\\x", "D:\\srv\\docs\\x", "\\\\fs01\\team-old\\x", "\\\\fs02\\team\\x"]) {
        assert.equal(verdict("read_file", { path }), "deny", path);
      }
    });

    it("cannot compare a share with a drive: `\\\\localhost\\c$\\srv\\docs` is `C:\\srv\\docs`, and a drive may be a mapped share", () => {
      for (const [path, rule] of [["\\\\127.0.0.1\\c$\\srv\\docs\\x", "styles.policy:4"], ["\\\\localhost\\C$\\srv\\docs", "styles.policy:4"], ["Z:\\plan.docx", "styles.policy:8"], ["\\\\fs01\\..\\team\\x", "styles.policy:8"]] as const) {
        const d = decide("read_file", { path });
        assert.equal(d.decision, "deny", path);
        assert.match(d.explain.find((e) => e.rule === rule)!.detail, /could not be evaluated: .*(UNC share may be a folder of a local drive|drive letter may be a mapped network share|`\.` or `\.\.`)/, path);
      }
    });

    it("cannot place what Windows reads in more than one way: device paths, encodings, 8.3 names, streams, devices, relative forms", () => {
      for (const path of [
        "\\\\?\\C:\\srv\\docs\\x",
        "\\\\?\\UNC\\fs01\\team\\x",
        "\\\\.\\C:\\srv\\docs\\x",
        "\\??\\C:\\srv\\docs\\x",
        "C:\\srv\\docs\\..%5c..%5cWindows\\win.ini",
        "C:\\srv\\docs\\%2e%2e\\x",
        "C:\\srv\\DOCS~1\\x",
        "C:\\srv\\docs\\SECRE~1.TXT",
        "C:\\srv\\docs\\x::$DATA",
        "C:\\srv\\docs\\CON",
        "C:\\srv\\docs\\conout$",
        "C:srv\\docs\\x",
        "\\srv\\docs\\x",
        "srv\\docs\\x",
        "/srv/docs/x",
      ]) {
        const d = decide("read_file", { path });
        assert.equal(d.decision, "deny", path);
        assert.match(d.explain.find((e) => e.rule === "styles.policy:4")!.detail, /could not be evaluated: `args\.path` cannot be placed against/, path);
      }
    });

    it("agrees with node:path's win32 normalisation, without case, on drive paths", () => {
      const names = fc.constantFrom("srv", "SRV", "docs", "Docs", "docs-evil", "x", "..", ".", "");
      const path = fc.tuple(fc.constantFrom("C:", "c:", "D:"), fc.array(names, { maxLength: 6 }), fc.constantFrom("\\", "/")).map(([drive, parts, sep]) => `${drive}${sep}${parts.join(sep)}`);
      fc.assert(
        fc.property(path, (p) => {
          const normal = win32.normalize(p).toLowerCase().replace(/\\$/, "");
          const inside = normal === "c:\\srv\\docs" || normal.startsWith("c:\\srv\\docs\\");
          assert.equal(verdict("read_file", { path: p }), inside ? "allow" : "deny", p);
        }),
        { numRuns: 500 },
      );
    });
  });

  describe("a schema format of uri: the argument is a file: URI", () => {
    it("holds local file URIs under the root, POSIX or Windows", () => {
      for (const uri of ["file:///srv/docs/a.txt", "file://localhost/srv/docs/a", "file:///srv/docs/report%20final.txt", "file:///C:/Data/x.txt", "file:///c:/data/x", "file:///C|/Data/x", "file://localhost/C:/Data/x"]) {
        assert.equal(verdict("open_uri", { uri }), "allow", uri);
      }
      assert.equal(verdict("open_many", { uris: ["file:///srv/docs/a", "file:///srv/docs/b/c"] }), "allow");
    });

    it("refuses URIs outside, and cannot place remote hosts, encoded separators, double encoding or plain paths", () => {
      for (const uri of [
        "file:///srv/docs/%2e%2e/etc/passwd",
        "file:///srv/docs-evil/x",
        "file:///D:/Data/x",
        "file://attacker.example/srv/docs/x",
        "file://fs01/share/x",
        "file:///srv/docs/a%2f..%2f..%2fetc",
        "file:///srv/docs/a%5c..%5c..%5cetc",
        "file:///C:/Data/..%5c..%5cWindows",
        "file:///srv/docs/%252e%252e/x",
        "file:///C:/Data/PROGRA~1/x",
        "file:///C:/Data/x:stream",
        "file:///C:/Data/x%00",
        "file:////fs01/share/x",
        "file:///C:/Data/%2e%2e/x",
        "/srv/docs/x",
        "https://example.org/srv/docs/x",
      ]) {
        assert.equal(verdict("open_uri", { uri }), "deny", uri);
      }
      const d = decide("open_many", { uris: ["file:///srv/docs/a", "file://attacker.example/srv/docs/x"] });
      assert.equal(d.decision, "deny");
      assert.match(d.explain.find((e) => e.rule === "styles.policy:14")!.detail, /names the host `attacker\.example`, not this machine/);
    });

    it("reads a plain string argument as a file: URI when the root is one", () => {
      assert.equal(verdict("plain_uri", { uri: "file:///srv/docs/a" }), "allow");
      assert.equal(verdict("plain_uri", { uri: "/srv/docs/a" }), "deny");
    });
  });
});

describe("checking roots in their style", () => {
  function diagnostics(body: string): string[] {
    const source = `policy t\nmanifest "tools.json"\n${body}\n`;
    return checkPolicySource(source, { fileName: "t.policy", manifests: { "tools.json": MANIFEST } }).diagnostics.map((d) => `${d.code} ${d.message}`);
  }

  it("accepts Windows roots, and refuses drive-relative, device and climbing ones", () => {
    assert.deepEqual(diagnostics('permit tool read_file when args.path under "C:\\\\srv\\\\docs"'), []);
    assert.deepEqual(diagnostics('permit tool read_file when args.path under "c:/srv/docs"'), []);
    assert.match(diagnostics('permit tool read_file when args.path under "C:srv"').join("\n"), /PQG7603/);
    assert.match(diagnostics('permit tool read_file when args.path under "\\\\\\\\?\\\\C:\\\\srv"').join("\n"), /PQG7603 .*device path/);
    assert.match(diagnostics('permit tool read_file when args.path under "C:\\\\srv\\\\..\\\\docs"').join("\n"), /PQG7603 .*`\.\.`/);
    assert.match(diagnostics('permit tool read_file when args.path under "C:\\\\PROGRA~1"').join("\n"), /PQG7603 .*8\.3 short name/);
  });

  it("accepts a file: root for a URI argument, and refuses a remote one", () => {
    assert.deepEqual(diagnostics('permit tool open_uri when args.uri under "file:///srv/docs"'), []);
    assert.match(diagnostics('permit tool open_uri when args.uri under "file://host/share"').join("\n"), /PQG7603 .*names the host `host`/);
  });

  it("reads an argument as a plain path when the targeted tools disagree on its format", () => {
    const policy = checked('policy t\nmanifest "tools.json"\npermit tool open_uri, plain_uri when args.uri under "/srv/docs"\n', { "tools.json": MANIFEST }, "t.policy");
    const { request, context } = call("open_uri", { uri: "file:///srv/docs/a" });
    assert.equal(interpret(policy).guard(request, context).decision, "deny", "a file: URI is not a POSIX path: it fails closed");
    assert.equal(interpret(policy).guard(call("open_uri", { uri: "/srv/docs/a" }).request, context).decision, "allow");
  });
});
