// The library policy for @modelcontextprotocol/server-everything, in front of the real server from npm: its harmless
// tools run; its environment dump never does; its URL download reaches GitHub's raw files or data: URIs only, so
// the cloud metadata address and look-alike hosts are refused before the server opens a connection.
import assert from "node:assert/strict";
import type { GuardModule } from "../../runtime/guard/types.js";
import type { VerifiedManifest } from "../../runtime/manifest/signed.js";
import { EVERYTHING_STDIO } from "../support/everything.js";
import { guardedServer, libraryGuard, libraryManifest, textOf, type GuardedServer } from "./library.js";

const FOLDER = "server-everything";
const MANIFEST = "server-everything-2026.8.31.manifest.json";

describe("policy library: server-everything", function () {
  this.timeout(60_000);
  let guard: GuardModule;
  let manifest: VerifiedManifest;
  let tester: GuardedServer;

  before(async () => {
    manifest = libraryManifest(FOLDER, MANIFEST);
    guard = await libraryGuard(FOLDER, "server-everything", MANIFEST);
    tester = await guardedServer({ command: EVERYTHING_STDIO.command, args: EVERYTHING_STDIO.args }, guard, manifest, "tester");
  });

  after(async () => {
    await tester.close();
  });

  it("runs the harmless tools", async () => {
    assert.equal(textOf(await tester.call("get-sum", { a: 2, b: 3 })), "The sum of 2 and 3 is 5.");
    assert.match(textOf(await tester.call("echo", { message: "hello" })), /hello/);
  });

  it("never returns the server's environment", async () => {
    assert.equal((await tester.refused("get-env", {})).reason, "the server's environment holds its credentials");
  });

  it("compresses a data: URI, and refuses internal addresses, look-alikes and other schemes", async () => {
    const result = await tester.call("gzip-file-as-resource", { data: "data:text/plain;base64,aGVsbG8=", name: "hello.txt.gz", outputType: "resource" });
    assert.equal(result.isError ?? false, false, JSON.stringify(result));
    for (const data of ["http://169.254.169.254/latest/meta-data/", "http://[::ffff:a9fe:a9fe]/", "https://raw.githubusercontent.com.evil.example/x", "https://raw.githubusercontent.com@evil.example/", "file:///etc/passwd"]) {
      const refusal = await tester.refused("gzip-file-as-resource", { data });
      assert.match(refusal.reason, /no rule permits `gzip-file-as-resource`|never fetches from private, loopback, link-local or metadata addresses/, data);
    }
  });

  it("keeps long operations short and phishing links out", async () => {
    assert.match((await tester.refused("trigger-long-running-operation", { duration: 3600, steps: 5 })).reason, /no rule permits/);
    assert.match((await tester.refused("trigger-url-elicitation", { url: "https://login.example.org.evil.example/" })).reason, /no rule permits/);
    assert.match((await tester.refused("toggle-simulated-logging", {})).reason, /no rule permits/);
  });
});
