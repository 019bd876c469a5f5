// The library policy for mcp-fetch-server, in front of the real server from npm and a stand-in for an internal service
// on 127.0.0.1: the server's own SSRF check lets an IPv4-mapped IPv6 address through to that service; the policy
// refuses it, and every other spelling of an internal address, before the server sees the call.
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import process from "node:process";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { GuardModule } from "../../runtime/guard/types.js";
import type { VerifiedManifest } from "../../runtime/manifest/signed.js";
import { guardedServer, libraryGuard, libraryManifest, textOf, type GuardedServer, type ServerCommand } from "./library.js";

const FOLDER = "mcp-fetch-server";
const MANIFEST = "mcp-fetch-server-1.1.2.manifest.json";
/** The key this folder's manifest is signed with (README.md); its secret half is not in the repository. */
const SIGNER = "mldsa65:qk6qh4nes57gkauobktidg6hx2xtzajtxpx7vhx4gdeurizmkxja";
/** `.invalid` never resolves (RFC 2606): an allowed call reaches the server and fails there, never on the internet. */
const DOCS = "docs.example.invalid";

function serverScript(): string | undefined {
  try {
    return join(dirname(createRequire(import.meta.url).resolve("mcp-fetch-server/package.json")), "dist", "index.js");
  } catch {
    return undefined;
  }
}

describe("policy library: mcp-fetch-server", function () {
  this.timeout(60_000);
  const script = serverScript();
  let server: ServerCommand;
  let guard: GuardModule;
  let manifest: VerifiedManifest;
  let internal: Server | undefined;
  let port: number;
  /** Requests the internal service received, as `host path`. */
  const hits: string[] = [];
  const open: GuardedServer[] = [];

  before(async function () {
    if (script === undefined) {
      console.warn("    skipped: the devDependency mcp-fetch-server@1.1.2 is not installed (npm install)");
      this.skip();
    }
    server = { command: process.execPath, args: [script] };
    manifest = libraryManifest(FOLDER, MANIFEST, SIGNER);
    guard = await libraryGuard(FOLDER, "mcp-fetch-server", MANIFEST, { "docs.example.org": DOCS });
    const service = createServer((req, res) => {
      hits.push(`${req.headers.host ?? ""} ${req.url ?? ""}`);
      res.end("internal admin token 7f3a");
    });
    await new Promise<void>((resolve) => service.listen(0, "127.0.0.1", resolve));
    internal = service;
    port = (service.address() as AddressInfo).port;
  });

  after(async () => {
    await Promise.allSettled(open.map((s) => s.close()));
    const service = internal;
    if (service !== undefined) await new Promise((resolve) => service.close(resolve));
  });

  beforeEach(() => {
    hits.length = 0;
  });

  async function as(role: string): Promise<GuardedServer> {
    const connected = await guardedServer(server, guard, manifest, role);
    open.push(connected);
    return connected;
  }

  it("unguarded, the server's own check stops 127.0.0.1 but lets [::ffff:127.0.0.1] reach the internal service", async function () {
    const client = new Client({ name: "unguarded", version: "1.0.0" });
    await client.connect(new StdioClientTransport({ command: server.command, args: [...server.args], stderr: "ignore" }));
    try {
      const direct = await client.callTool({ name: "fetch_txt", arguments: { url: `http://127.0.0.1:${port}/admin` } });
      assert.match(JSON.stringify(direct), /blocked request to private address/);
      const mapped = await client.callTool({ name: "fetch_txt", arguments: { url: `http://[::ffff:127.0.0.1]:${port}/admin` } });
      if (/Failed to fetch/.test(JSON.stringify(mapped)) && hits.length === 0) {
        // The server's check let the address through; only a host without IPv6 sockets cannot connect to it.
        console.warn("    skipped: this host cannot open IPv6 sockets, so the mapped address connects nowhere");
        this.skip();
      }
      assert.match(JSON.stringify(mapped), /internal admin token/);
      assert.deepEqual(hits, [`[::ffff:7f00:1]:${port} /admin`]);
    } finally {
      await client.close();
    }
  });

  it("guarded, no spelling of an internal address reaches the server, for any role", async () => {
    const researcher = await as("researcher");
    const assistant = await as("assistant");
    const spellings = [
      `http://[::ffff:127.0.0.1]:${port}/admin`,
      `http://[::ffff:7f00:1]:${port}/admin`,
      `https://[::ffff:127.0.0.1]:${port}/admin`,
      `http://127.0.0.1:${port}/admin`,
      `http://127.1:${port}/admin`,
      `http://2130706433:${port}/admin`,
      `http://0x7f.0.0.1:${port}/admin`,
      `http://0177.0.0.1:${port}/admin`,
      `http://[::1]:${port}/admin`,
      `http://localhost:${port}/admin`,
      `http://0.0.0.0:${port}/admin`,
      "http://[::ffff:169.254.169.254]/latest/meta-data/",
      "http://169.254.169.254/latest/meta-data/",
      // The user name, the fragment, an upper-case scheme, trailing dots, `*.localhost`, full-width digits, ideographic
      // full stops and percent-encoded digits (all of which the WHATWG parser maps to 127.0.0.1), `0` and `[::]`.
      `http://evil.example@127.0.0.1:${port}/admin`,
      `http://127.0.0.1:${port}#@news.example.invalid`,
      `HTTP://127.0.0.1:${port}/admin`,
      `http://127.0.0.1.:${port}/admin`,
      `http://localhost.:${port}/admin`,
      `http://admin.localhost:${port}/admin`,
      `http://\uff11\uff12\uff17.\uff10.\uff10.\uff11:${port}/admin`,
      `http://127\u30020\u30020\u30021:${port}/admin`,
      `http://%31%32%37.0.0.1:${port}/admin`,
      `http://0:${port}/admin`,
      `http://[::]:${port}/admin`,
      "http://metadata.google.internal./computeMetadata/v1/",
      // A zone id is no part of a WHATWG URL: the URL cannot be read, so the forbid applies.
      `http://[fe80::1%25lo]:${port}/admin`,
    ];
    for (const url of spellings) {
      assert.equal((await researcher.refused("fetch_txt", { url })).reason, "the fetcher never reaches internal addresses", url);
      // For an assistant the site rule, earlier in the policy, gives the reason; both deny.
      assert.match((await assistant.refused("fetch_txt", { url })).reason, /^(assistants fetch only the documentation site|the fetcher never reaches internal addresses)$/, url);
    }
    assert.deepEqual(hits, []);
  });

  it("refuses names that resolve only inside a network: dotless, .internal, .local, .home.arpa", async () => {
    const researcher = await as("researcher");
    const names = [
      `http://ip6-localhost:${port}/admin`,
      "http://redis:6379/",
      "http://instance-data/latest/meta-data/",
      "http://instance-data.ec2.internal/latest/meta-data/",
      "http://host.docker.internal/",
      "http://redis.default.svc.cluster.local./",
      "http://ROUTER.HOME.ARPA/",
    ];
    for (const url of names) assert.equal((await researcher.refused("fetch_txt", { url })).reason, "the fetcher never reaches names that resolve only inside a network", url);
    // The local-use NAT64 prefix reaches the network's own IPv4 addresses.
    assert.equal((await researcher.refused("fetch_txt", { url: "http://[64:ff9b:1::a00:5]/" })).reason, "the fetcher never reaches internal addresses");
    assert.deepEqual(hits, []);
  });

  it("passes a public name through to the server, and keeps an assistant on the documentation site", async () => {
    const researcher = await as("researcher");
    // Reached the real server, which could not resolve the name: its own error, not a refusal.
    assert.match(textOf(await researcher.call("fetch_markdown", { url: "https://news.example.invalid/story" })), /Failed to fetch/);
    const assistant = await as("assistant");
    assert.match(textOf(await assistant.call("fetch_html", { url: `https://${DOCS}/guide` })), /Failed to fetch/);
    assert.equal((await assistant.refused("fetch_html", { url: "https://news.example.invalid/story" })).reason, "assistants fetch only the documentation site");
    assert.equal((await assistant.refused("fetch_html", { url: `https://${DOCS}.evil.invalid/` })).reason, "assistants fetch only the documentation site");
  });

  it("refuses request headers, a proxy and credentials in the URL", async () => {
    const researcher = await as("researcher");
    assert.equal((await researcher.refused("fetch_txt", { url: "https://news.example.invalid/", headers: { Host: `127.0.0.1:${port}` } })).reason, "no request headers or proxy");
    assert.equal((await researcher.refused("fetch_txt", { url: "https://news.example.invalid/", proxy: `http://127.0.0.1:${port}` })).reason, "no request headers or proxy");
    assert.match((await researcher.refused("fetch_txt", { url: "https://user:pw@news.example.invalid/" })).reason, /no rule permits/);
    assert.deepEqual(hits, []);
  });
});
