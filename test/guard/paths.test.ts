// Path containment as an attacker tries it: traversal, encodings, separators, case, NUL bytes, Windows prefixes and
// file: URIs. A path is under a root only when every way a server might read it is, and never for an escape.
import assert from "node:assert/strict";
import { posix, win32 } from "node:path";
import fc from "fast-check";
import { containment, isUnder, normalisePath, pathRoot, pathUnder, type PathContainment } from "../../runtime/guard/paths.js";
import { EvaluationFailure } from "../../runtime/guard/helpers.js";
import { LiteralError } from "../../runtime/guard/literal-errors.js";

const DOCS = pathRoot("/srv/docs");
const verdict = (path: string, root = DOCS): PathContainment["verdict"] => containment(path, root).verdict;

describe("paths: under a POSIX root", () => {
  it("holds the root itself and everything below it, however the separators are repeated", () => {
    for (const path of ["/srv/docs", "/srv/docs/", "/srv/docs/a.txt", "/srv/docs/a/b/c.md", "/srv//docs///a", "/srv/./docs/./a", "/srv/docs/a/../b", "/../srv/docs/a"]) {
      assert.equal(verdict(path), "under", path);
    }
  });

  it("refuses siblings that share a prefix and paths that climb out", () => {
    for (const path of ["/srv/docs-evil", "/srv/docs-evil/x", "/srv/docsx", "/srv/doc", "/srv", "/", "/srv/docs/../x", "/srv/docs/a/../../x", "/srv/docs/..", "/etc/passwd"]) {
      assert.equal(verdict(path), "outside", path);
    }
  });

  it("cannot place relative paths, empty paths, NUL bytes or over-long paths", () => {
    for (const path of ["docs/x", "./srv/docs/x", "srv/docs", "", "~/docs", "/srv/docs/x\0.txt", `/srv/docs/${"a".repeat(40_000)}`]) {
      assert.equal(verdict(path), "undecidable", JSON.stringify(path.slice(0, 40)));
    }
  });

  it("cannot place a path whose percent-decoded reading leaves the root (%2e%2e, double encoding, encoded slashes)", () => {
    for (const path of ["/srv/docs/%2e%2e/x", "/srv/docs/%2E%2E/x", "/srv/docs/.%2e/x", "/srv/docs/%252e%252e/x", "/srv/docs/%25252e%25252e/x", "/srv/docs/..%2f..%2fetc", "/srv/docs/%2e%2e%2f%2e%2e%2fetc"]) {
      assert.equal(verdict(path), "undecidable", path);
    }
    assert.match((containment("/srv/docs/%2e%2e/x", DOCS) as { reason: string }).reason, /reads as `\/srv\/docs\/%2e%2e\/x` as given but as `\/srv\/x` once `%` escapes are decoded/);
  });

  it("refuses encodings that never settle or are not UTF-8, and decoded NUL bytes", () => {
    assert.equal(verdict("/srv/docs/%2525252e%2525252e/x"), "undecidable");
    assert.equal(verdict("/srv/docs/%c0%ae%c0%ae/x"), "undecidable", "the overlong `.` of old IIS");
    assert.equal(verdict("/srv/docs/x%00.txt"), "undecidable");
  });

  it("keeps percent signs that are not escapes, and escapes that stay inside", () => {
    assert.equal(verdict("/srv/docs/100%/x"), "under");
    assert.equal(verdict("/srv/docs/report%20final.txt"), "under");
    assert.equal(verdict("/etc/%70asswd"), "outside");
  });

  it("cannot place a path whose backslashes, read as separators, leave the root", () => {
    assert.equal(verdict("/srv/docs/..\\..\\etc\\passwd"), "undecidable");
    assert.equal(verdict("/srv/docs/a\\b"), "under", "a backslash inside the root is inside either way");
    assert.equal(verdict("\\srv\\docs\\x"), "undecidable", "not absolute as given");
  });

  it("cannot place a path that is under the root only on a case-insensitive file system, either way round", () => {
    assert.equal(verdict("/srv/DOCS/x"), "undecidable");
    assert.equal(verdict("/Users/me/.SSH/id_rsa", pathRoot("/Users/me/.ssh")), "undecidable", "macOS would open the key");
    assert.equal(verdict("/srv/Docs/x", pathRoot("/srv/Docs")), "under");
    assert.equal(verdict("/srv/docs/x", pathRoot("/srv/Docs")), "undecidable");
    assert.equal(verdict("/srv/other/x", pathRoot("/srv/Docs")), "outside");
  });

  it("fails closed in a guard: a permit does not apply and a forbid does", () => {
    assert.equal(pathUnder("/srv/docs/a", DOCS, "args.path"), true);
    assert.equal(pathUnder("/srv/docs-evil", DOCS, "args.path"), false);
    assert.throws(() => pathUnder("/srv/docs/%2e%2e/etc", DOCS, "args.path"), (e: unknown) => e instanceof EvaluationFailure && /`args.path` cannot be placed against `\/srv\/docs`/.test(e.detail));
    assert.throws(() => pathUnder(undefined, DOCS, "args.path"), (e: unknown) => e instanceof EvaluationFailure && e.detail === "`args.path` is missing");
    assert.throws(() => pathUnder(["/srv/docs"], DOCS, "args.path"), EvaluationFailure);
    assert.equal(isUnder("/srv/docs/%2e%2e/etc", DOCS), false);
  });
});

describe("paths: roots written in a policy", () => {
  it("accepts absolute roots and normalises them", () => {
    assert.equal(pathRoot("/srv/docs/").text, "/srv/docs");
    assert.equal(pathRoot("/").text, "/");
    assert.equal(verdict("/anything", pathRoot("/")), "under");
    assert.equal(pathRoot("c:\\Data", "windows").text, "C:\\Data");
    assert.equal(pathRoot("file:///srv/docs", "file-uri").text, "/srv/docs");
  });

  it("refuses roots that are relative, climb, are encoded, hold NUL or backslashes on POSIX", () => {
    for (const root of ["docs", "/srv/../docs", "/srv/%2e%2e", "/srv/docs\0", "/srv\\docs", ""]) {
      assert.throws(() => pathRoot(root), (e: unknown) => e instanceof LiteralError && e.code === "PQG7603", JSON.stringify(root));
    }
    assert.throws(() => pathRoot("\\\\?\\C:\\x", "windows"), LiteralError);
    assert.throws(() => pathRoot("file://other/srv", "file-uri"), LiteralError);
  });
});

describe("paths: Windows", () => {
  const DATA = pathRoot("C:\\Data\\Docs", "windows");
  const win = (path: string): string => verdict(path, DATA);

  it("compares drive letters and names without case, with either separator", () => {
    for (const path of ["C:\\Data\\Docs", "c:/data/docs/x", "C:\\DATA\\DOCS\\x", "C:\\Data\\\\Docs\\x", "C:\\Data\\Docs\\a\\..\\b"]) assert.equal(win(path), "under", path);
  });

  it("strips trailing dots and spaces as Win32 does", () => {
    assert.equal(win("C:\\Data\\Docs.\\x"), "under");
    assert.equal(win("C:\\Data\\Docs \\x"), "under");
    assert.equal(win("C:\\Data\\Docs..\\x"), "under");
    // A name of dots and spaces alone may be `..` to Win32: `C:\Data\Docs\a\.. \..\x` is `C:\Data\x` then.
    for (const path of ["C:\\Data\\Docs\\a\\.. \\..\\x", "C:\\Data\\Docs\\...\\x", "C:\\Data\\Docs\\. .\\x"]) assert.equal(win(path), "undecidable", path);
  });

  it("refuses other drives, shares, climbing out and siblings", () => {
    for (const path of ["D:\\Data\\Docs\\x", "C:\\Data\\Docs\\..\\Secret", "C:\\Data\\Docs-old\\x", "C:/Data/Docs/../../Windows"]) assert.equal(win(path), "outside", path);
  });

  it("cannot compare a share with a drive: `\\\\localhost\\c$` is `C:`, and a drive letter may be a mapped share", () => {
    for (const path of ["\\\\server\\share\\Data\\Docs", "\\\\127.0.0.1\\c$\\Data\\Docs\\x", "//localhost/C$/Data/Docs"]) assert.equal(win(path), "undecidable", path);
    assert.equal(verdict("Z:\\team\\x", pathRoot("\\\\fs01\\team", "windows")), "undecidable");
    assert.equal(verdict("\\\\fs01\\..\\team\\x", pathRoot("\\\\fs01\\team", "windows")), "undecidable", "a share named `..`");
  });

  it("cannot place device paths, drive-relative paths, streams and device names", () => {
    for (const path of ["\\\\?\\C:\\Data\\Docs\\x", "\\\\.\\C:\\Data\\Docs\\x", "//?/C:/Data/Docs/x", "C:Data\\Docs\\x", "\\Data\\Docs\\x", "Data\\Docs", "C:\\Data\\Docs\\x::$DATA", "C:\\Data\\Docs\\NUL", "C:\\Data\\Docs\\com1.txt", "C:\\Data\\Docs\\NUL .txt", "C:\\Data\\Docs\\con  .log", "C:\\Data\\Docs\\%2e%2e\\x"]) {
      assert.equal(win(path), "undecidable", path);
    }
  });

  it("cannot place names holding look-alikes that Windows' best-fit mapping turns into separators, dots or spaces", () => {
    // A server that opens the path through an ANSI API reads `..∕..∕Secret` as `../../Secret`.
    for (const path of ["C:\\Data\\Docs\\..\u2215..\u2215Secret", "C:\\Data\\Docs\\..\uff0f..\uff0fSecret", "C:\\Data\\Docs\\..\uff3c..\uff3cSecret", "C:\\Data\\Docs\\\uff0e\uff0e\\Secret", "C:\\Data\\Docs\\..\u00a5..\u00a5Secret", "C:\\Data\\Docs\\..\u20a9Secret", "C:\\Data\\Docs\\..\u3000\\..\\Secret", "C:\\Data\\Docs\\x\uff1a\uff1a$DATA"]) {
      assert.equal(win(path), "undecidable", path);
    }
    assert.equal(verdict("file:///C:/Data/Docs/..%E2%88%95..%E2%88%95Secret", pathRoot("C:\\Data\\Docs", "file-uri")), "undecidable");
    // In a share's name as well: `\\fs01\team∕..` is the share `team` to an ANSI reader, another share to the guard.
    assert.equal(verdict("\\\\fs01\\team\u2215..\\x", pathRoot("\\\\fs01\\team", "windows")), "undecidable");
    // POSIX has no best-fit mapping: there `∕` is an ordinary character of a name.
    assert.equal(verdict("/srv/docs/..\u2215x"), "under");
  });

  it("cannot place a name whose case folding outside ASCII differs between file systems", () => {
    // NTFS upper-cases `ſ` to `S` and `ı` to `I`, and `µ` and `μ` to `Μ`: a forbid under `C:\Data\Secrets` must not miss them.
    const secrets = pathRoot("C:\\Data\\Secrets", "windows");
    for (const path of ["C:\\Data\\\u017fecrets\\key", "C:\\Data\\SECRET\u017f\\key"]) assert.equal(verdict(path, secrets), "undecidable", path);
    assert.equal(verdict("C:\\Data\\Idocs\\x", pathRoot("C:\\Data\\\u0131docs", "windows")), "undecidable");
    assert.equal(verdict("C:\\Data\\\u03bc\\x", pathRoot("C:\\Data\\\u00b5", "windows")), "undecidable");
    // NTFS does not normalise: `cafe\u0301` is another folder than `café`, which macOS would open.
    assert.equal(verdict("C:\\Data\\cafe\u0301\\x", pathRoot("C:\\Data\\caf\u00e9", "windows")), "undecidable");
    // The Kelvin sign lower-cases to `k` but NTFS keeps it apart; `İ` is no `i` to anyone.
    assert.equal(verdict("C:\\Data\\\u212aeys\\x", pathRoot("C:\\Data\\Keys", "windows")), "undecidable");
    assert.equal(verdict("C:\\Data\\\u0130docs\\x", pathRoot("C:\\Data\\idocs", "windows")), "outside");
    // The same name in the same letters is under, whatever its script.
    assert.equal(verdict("C:\\Data\\Caf\u00c9\\x", pathRoot("C:\\Data\\caf\u00e9", "windows")), "under");
    // APFS folds `ſ` to `s` as well: on POSIX the letter case already decides nothing alone.
    assert.equal(verdict("/srv/doc\u017f/x"), "undecidable");
    assert.equal(verdict("/srv/\u03bc/x", pathRoot("/srv/\u00b5")), "undecidable");
  });

  it("holds UNC paths under a UNC root, and not across shares", () => {
    const share = pathRoot("\\\\fs01\\Team", "windows");
    assert.equal(verdict("\\\\FS01\\team\\plans\\q3.docx", share), "under");
    assert.equal(verdict("//fs01/team/plans", share), "under");
    assert.equal(verdict("\\\\fs01\\Team-old\\x", share), "outside");
    assert.equal(verdict("\\\\fs01\\Team\\..\\admin$", share), "under", "`..` cannot leave a share: the share is the root");
  });
});

describe("paths: file: URIs", () => {
  const FILE = pathRoot("/srv/docs", "file-uri");
  const uri = (path: string): string => verdict(path, FILE);

  it("reads local file URIs as the WHATWG parser and fileURLToPath do", () => {
    assert.equal(uri("file:///srv/docs/a.txt"), "under");
    assert.equal(uri("file://localhost/srv/docs/a.txt"), "under");
    assert.equal(uri("file:///srv/docs/report%20final.txt"), "under");
    assert.equal(uri("file:///srv/docs/%2e%2e/etc/passwd"), "outside", "the URL parser itself resolves %2e%2e");
    assert.equal(uri("file:///srv/docs-evil/x"), "outside");
  });

  it("cannot place remote hosts, encoded separators, double encoding or plain paths", () => {
    for (const path of ["file://attacker.example/srv/docs/x", "file:///srv/docs/a%2f..%2f..%2fetc", "file:///srv/docs/%252e%252e/x", "/srv/docs/x", "http://localhost/srv/docs/x", "file:///srv/docs/a b"]) {
      assert.equal(uri(path), "undecidable", path);
    }
  });

  it("reads Windows file URIs against a Windows root", () => {
    const win = pathRoot("C:\\Data", "file-uri");
    assert.equal(verdict("file:///C:/Data/x.txt", win), "under");
    assert.equal(verdict("file:///c:/data/x.txt", win), "under");
    assert.equal(verdict("file:///D:/Data/x.txt", win), "outside");
  });
});

describe("paths: normalisePath", () => {
  it("gives the plain reading, or why there is none", () => {
    assert.deepEqual(normalisePath("/a//b/./c/../d/"), { ok: true, path: "/a/b/d" });
    assert.deepEqual(normalisePath("C:/a\\b", "windows"), { ok: true, path: "C:\\a\\b" });
    assert.equal(normalisePath("a/b").ok, false);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Properties: the oracle is node:path, applied to every decoding an attacker could count on.

/** Segments made of the characters traversal tricks are made of. */
const trickySegment = fc.stringMatching(/^(\.{1,3}|%2[eEfF]|%25|%5[cC]|[aAdD\\]|docs|DOCS|srv){1,3}$/);
/** Paths that mostly start inside the root, so that every verdict is reached often. */
const trickyPath = fc
  .tuple(fc.constantFrom("", "srv/docs/", "srv/docs/a/", "srv/DOCS/"), fc.array(fc.oneof(trickySegment, fc.constantFrom("docs", "srv", "..", ".", "")), { maxLength: 6 }))
  .map(([start, parts]) => `/${start}${parts.join("/")}`);

function decodeAll(text: string): string[] {
  const out = [text];
  for (let i = 0; i < 4; i++) {
    try {
      const next = decodeURIComponent(out[out.length - 1]!.replace(/%(?![0-9A-Fa-f]{2})/g, "%25"));
      if (next === out[out.length - 1]) break;
      out.push(next);
    } catch {
      break;
    }
  }
  return out;
}

const insidePosix = (normalised: string, root: string): boolean => normalised === root || normalised.startsWith(`${root}/`);

describe("paths: properties", () => {
  it("a path called under /srv/docs is under it for node:path after every decoding, with `\\` or `/`, in any letter case", () => {
    fc.assert(
      fc.property(trickyPath, (path) => {
        if (verdict(path) !== "under") return;
        for (const decoded of decodeAll(path)) {
          for (const reading of [decoded, decoded.replace(/\\/g, "/")]) {
            const normal = posix.normalize(reading);
            assert.ok(insidePosix(normal, "/srv/docs") && insidePosix(normal.toLowerCase(), "/srv/docs"), `${path} read as ${reading} is ${normal}`);
          }
        }
      }),
      { numRuns: 3000 },
    );
  });

  it("a path called outside /srv/docs is outside it for node:path after every decoding", () => {
    fc.assert(
      fc.property(trickyPath, (path) => {
        if (verdict(path) !== "outside") return;
        for (const decoded of decodeAll(path)) {
          for (const reading of [decoded, decoded.replace(/\\/g, "/")]) {
            assert.ok(!insidePosix(posix.normalize(reading).toLowerCase(), "/srv/docs"), `${path} read as ${reading}`);
          }
        }
      }),
      { numRuns: 3000 },
    );
  });

  it("plain paths get the verdict node:path gives them", () => {
    const plain = fc.array(fc.constantFrom("srv", "docs", "docs-evil", "a", "..", ".", ""), { maxLength: 7 }).map((parts) => `/${parts.join("/")}`);
    fc.assert(
      fc.property(plain, (path) => {
        assert.equal(verdict(path), insidePosix(posix.normalize(path), "/srv/docs") || posix.normalize(path) === "/srv/docs/" ? "under" : "outside", path);
      }),
      { numRuns: 2000 },
    );
  });

  it("Windows verdicts agree with node:path's win32 normalisation, without case", () => {
    const root = pathRoot("C:\\Data\\Docs", "windows");
    const names = fc.constantFrom("Data", "data", "Docs", "DOCS", "Docs-old", "x", "..", ".", "");
    const path = fc.tuple(fc.constantFrom("C:", "c:", "D:"), fc.array(names, { maxLength: 6 }), fc.constantFrom("\\", "/")).map(([drive, parts, sep]) => `${drive}${sep}${parts.join(sep)}`);
    fc.assert(
      fc.property(path, (p) => {
        const normal = win32.normalize(p).toLowerCase().replace(/\\$/, "");
        const expected = normal === "c:\\data\\docs" || normal.startsWith("c:\\data\\docs\\");
        assert.equal(verdict(p, root), expected ? "under" : "outside", p);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("paths: the plain fast path", () => {
  it("gives every plain path the verdict of the full reading", () => {
    const roots = ["/", "/srv/docs", "/srv/Docs", "/srv/dócs"].map((r) => pathRoot(r));
    const names = fc.constantFrom("srv", "docs", "Docs", "DOCS", "dócs", "docs-evil", "a", "é", "");
    const plainPath = fc.tuple(fc.array(names, { maxLength: 5 }), fc.boolean()).map(([parts, slash]) => `/${parts.join("/")}${slash ? "/" : ""}`);
    fc.assert(
      fc.property(plainPath, fc.constantFrom(...roots), (path, root) => {
        const full = containment(path, root).verdict;
        let fast: string;
        try {
          fast = pathUnder(path, root, "p") ? "under" : "outside";
        } catch {
          fast = "undecidable";
        }
        assert.equal(fast, full, `${path} against ${root.text}`);
      }),
      { numRuns: 3000 },
    );
  });
});
