// TLS under the sealed session, tried as an attacker would: the proxy's https listener speaks TLS 1.3 only and prefers
// the hybrid X25519MLKEM768 group where OpenSSL has it; the client side (what `connect`, an https upstream and
// `manifest --from-url` use) refuses a server below TLS 1.3, an unknown CA, a wrong host name and a wrong pin.
// Certificates come from a throwaway CA made with the `openssl` command in a temporary folder.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpsServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { silentLogger } from "../../runtime/audit/index.js";
import { listenHttp, listenUrlOf, type HttpListener, type Proxy } from "../../runtime/proxy/index.js";
import { SessionError, SessionErrorCode } from "../../runtime/session/errors.js";
import { HYBRID_TLS_GROUP, hybridTlsAvailable, pinOf, tlsClientFetch, tlsGroups, type TlsClientOptions } from "../../runtime/transport/tls.js";
import { main } from "../../bin/cli.js";
import { generateIdentity } from "../../runtime/identity/keys.js";
import { flakyProxy } from "./harness.js";

function hasOpenssl(): boolean {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

interface Pki {
  readonly dir: string;
  readonly ca: Buffer;
  readonly otherCa: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
  /** Signed by the same CA for another host name. */
  readonly wrongNameCert: Buffer;
  readonly wrongNameKey: Buffer;
}

/** A CA, a server certificate for 127.0.0.1 and localhost, one for another name, and an unrelated CA: P-256, one day. */
function makePki(): Pki {
  const dir = mkdtempSync(join(tmpdir(), "pqguard-tls-"));
  const run = (...args: string[]): void => void execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  run("req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=pqguard test CA", "-days", "1");
  run("req", "-x509", ...ec, "-keyout", "other.key", "-out", "other.pem", "-subj", "/CN=someone else's CA", "-days", "1");
  const issue = (name: string, san: string): void => {
    writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\n`);
    run("req", ...ec, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`);
    run("x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", `${name}.pem`, "-days", "1", "-extfile", `${name}.ext`);
  };
  issue("server", "IP:127.0.0.1,DNS:localhost");
  issue("elsewhere", "DNS:elsewhere.example");
  const read = (file: string): Buffer => readFileSync(join(dir, file));
  return {
    dir,
    ca: read("ca.pem"),
    otherCa: read("other.pem"),
    cert: read("server.pem"),
    key: read("server.key"),
    wrongNameCert: read("elsewhere.pem"),
    wrongNameKey: read("elsewhere.key"),
  };
}

/** Connects an SDK client over `fetch` and makes one call; resolves with the echoed text. */
async function callThrough(url: URL, tls: TlsClientOptions): Promise<string> {
  const client = new Client({ name: "tls-test", version: "1" });
  await client.connect(new StreamableHTTPClientTransport(url, { fetch: tlsClientFetch(tls) }));
  try {
    const result = await client.callTool({ name: "echo", arguments: { text: "over tls" } });
    return JSON.stringify(result.content);
  } finally {
    await client.close();
  }
}

/** The error a refused connection ends in, with its causes (the SDK and fetch wrap it). */
async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    const parts: string[] = [];
    for (let e: unknown = error; e instanceof Error; e = (e as { cause?: unknown }).cause) parts.push(`${(e as { code?: string }).code ?? ""} ${e.message}`);
    return parts.join(" <- ");
  }
  assert.fail("the connection was not refused");
}

describe("TLS under the sealed session", function () {
  this.timeout(60_000);
  let pki: Pki;
  let proxy: Proxy;
  let listener: HttpListener;
  const protocols: string[] = [];

  before(async function () {
    if (!hasOpenssl()) {
      console.warn("    SKIPPED: the `openssl` command is not on PATH; the TLS tests need it to make a throwaway CA");
      this.skip();
    }
    pki = makePki();
    proxy = flakyProxy();
    await proxy.start();
    listener = await listenHttp({ url: listenUrlOf("https://127.0.0.1:0", false, true), tls: { cert: pki.cert, key: pki.key }, core: proxy.core, logger: silentLogger() });
  });

  after(async () => {
    await listener?.close();
    await proxy?.close();
    if (pki !== undefined) rmSync(pki.dir, { recursive: true, force: true });
  });

  it("serves MCP over https to a client that verifies the server against the given CA", async () => {
    assert.equal(listener.url.protocol, "https:");
    assert.match(await callThrough(listener.url, { ca: pki.ca }), /over tls/);
  });

  it("speaks TLS 1.3 only, with the hybrid X25519MLKEM768 group where OpenSSL offers it", async () => {
    const socket = await new Promise<TLSSocket>((resolve, reject) => {
      const s = tlsConnect({ host: "127.0.0.1", port: Number(listener.url.port), ca: pki.ca, ecdhCurve: tlsGroups() }, () => resolve(s));
      s.once("error", reject);
    });
    protocols.push(String(socket.getProtocol()));
    const group = socket.getEphemeralKeyInfo() as { name?: string };
    socket.destroy();
    assert.equal(protocols[0], "TLSv1.3");
    if (hybridTlsAvailable()) assert.equal(group.name, HYBRID_TLS_GROUP);
    else {
      console.warn(`    note: this runtime's OpenSSL (${process.versions.openssl}) has no ${HYBRID_TLS_GROUP}; classical groups are used (${group.name ?? "?"})`);
      assert.ok(!tlsGroups().includes(HYBRID_TLS_GROUP));
    }
    // A client that offers at most TLS 1.2 is refused by the listener.
    const old = await refusal(
      new Promise((resolve, reject) => {
        const s = tlsConnect({ host: "127.0.0.1", port: Number(listener.url.port), ca: pki.ca, maxVersion: "TLSv1.2" }, () => resolve(s.destroy()));
        s.once("error", reject);
      }),
    );
    assert.match(old, /version|alert/i);
  });

  it("bounds the time a request may take to arrive over TLS too: a trickled body gets 408 and a closed connection", async () => {
    const bounded = await listenHttp({ url: listenUrlOf("https://127.0.0.1:0", false, true), tls: { cert: pki.cert, key: pki.key }, core: proxy.core, logger: silentLogger(), requestTimeoutMs: 1_000 });
    const socket = await new Promise<TLSSocket>((resolve, reject) => {
      const s = tlsConnect({ host: "127.0.0.1", port: Number(bounded.url.port), ca: pki.ca, servername: "localhost" }, () => resolve(s));
      s.once("error", reject);
    });
    let answer = "";
    socket.on("data", (chunk: Buffer) => (answer += chunk.toString("latin1")));
    socket.on("error", () => undefined);
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    socket.write(`POST /mcp HTTP/1.1\r\nHost: ${bounded.url.host}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 60000\r\n\r\n{`);
    const trickle = setInterval(() => socket.write(" "), 100);
    let timer: NodeJS.Timeout | undefined;
    try {
      const ended = await Promise.race([closed.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), 10_000)))]);
      assert.equal(ended, true, "the connection was closed within 10 s");
    } finally {
      clearTimeout(timer);
      clearInterval(trickle);
      socket.destroy();
      await bounded.close();
    }
    assert.match(answer, /^HTTP\/1\.1 408 /, answer);
  });

  it("refuses a server whose certificate no trusted CA signed: the system store by default, or another CA", async () => {
    assert.match(await refusal(callThrough(listener.url, {})), /SELF_SIGNED|UNABLE_TO_GET_ISSUER|UNABLE_TO_VERIFY|unable to get local issuer|self-signed/i);
    assert.match(await refusal(callThrough(listener.url, { ca: pki.otherCa })), /SELF_SIGNED|UNABLE_TO_GET_ISSUER|unable to get local issuer|self-signed|UNABLE_TO_VERIFY/i);
  });

  it("refuses a certificate from the trusted CA for another host name", async () => {
    const elsewhere = await listenHttp({
      url: listenUrlOf("https://127.0.0.1:0", false, true),
      tls: { cert: pki.wrongNameCert, key: pki.wrongNameKey },
      core: proxy.core,
      logger: silentLogger(),
    });
    try {
      assert.match(await refusal(callThrough(elsewhere.url, { ca: pki.ca })), /ALTNAME|does not match|not in the cert's altnames/i);
    } finally {
      await elsewhere.close();
    }
  });

  it("accepts a self-signed server by its pinned key, and refuses a wrong pin before sending the request", async () => {
    assert.match(await callThrough(listener.url, { pins: [pinOf(pki.cert)] }), /over tls/);
    const before = listener.sessions;
    const wrong = await refusal(callThrough(listener.url, { pins: [pinOf(pki.otherCa)] }));
    assert.match(wrong, /PQG6030 the server's TLS certificate carries none of the pinned keys/);
    assert.equal(listener.sessions, before, "the request reached the server");
    assert.throws(() => tlsClientFetch({ pins: ["sha256/short"] }), (error: unknown) => error instanceof SessionError && error.code === SessionErrorCode.InvalidConfiguration);
  });

  it("refuses a server that offers nothing above TLS 1.2", async () => {
    let reached = 0;
    const old: Server = createHttpsServer({ cert: pki.cert, key: pki.key, maxVersion: "TLSv1.2" }, (_req, res) => {
      reached += 1;
      res.end("{}");
    });
    await new Promise<void>((resolve) => old.listen(0, "127.0.0.1", resolve));
    try {
      const url = new URL(`https://127.0.0.1:${(old.address() as AddressInfo).port}/mcp`);
      assert.match(await refusal(tlsClientFetch({ ca: pki.ca })(url, { method: "POST", body: "{}" })), /version|alert/i);
      assert.equal(reached, 0);
    } finally {
      old.closeAllConnections();
      await new Promise((resolve) => old.close(resolve));
    }
  });

  it("will not listen on https without a certificate, nor on http with one", () => {
    assert.throws(() => listenUrlOf("https://127.0.0.1:8443", true), /needs its certificate/);
    assert.throws(() => listenUrlOf("http://127.0.0.1:8080", true, true), /listen on `https:\/\//);
    assert.equal(listenUrlOf("https://127.0.0.1:443", true, true).href, "https://127.0.0.1/mcp");
  });
});

describe("TLS and balancer options on the command line", () => {
  /** Runs the CLI in-process; usage errors come before anything is read or started. */
  async function usage(...argv: string[]): Promise<{ code: number; err: string }> {
    let err = "";
    const code = await main(argv, { cwd: tmpdir(), out: () => undefined, err: (text) => void (err += text) });
    return { code, err };
  }

  it("refuses TLS, balancer, request-time and pin options that could not work, before starting anything (exit 2)", async () => {
    const proxy = ["proxy", "--policy", "p.policy", "--upstream", "node server.js"];
    const cases: [string[], RegExp][] = [
      [[...proxy, "--key", "k.key", "--listen", "https://127.0.0.1:8443"], /needs its certificate and key/],
      [[...proxy, "--key", "k.key", "--listen", "http://127.0.0.1:8080", "--tls-cert", "c.pem", "--tls-key", "k.pem"], /listen on `https:\/\//],
      [[...proxy, "--key", "k.key", "--listen", "https://127.0.0.1:8443", "--tls-cert", "c.pem"], /`--tls-cert FILE` and `--tls-key FILE` go together/],
      [[...proxy, "--tls-cert", "c.pem", "--tls-key", "k.pem"], /apply to an HTTP listener/],
      [[...proxy, "--request-timeout", "5000"], /apply to an HTTP listener/],
      [[...proxy, "--key", "k.key", "--listen", "http://127.0.0.1:8080", "--request-timeout", "0"], /`--request-timeout` must be a positive number of milliseconds/],
      [[...proxy, "--key", "k.key", "--listen", "http://127.0.0.1:8080", "--request-timeout", "1m"], /`--request-timeout` must be a positive number of milliseconds/],
      [[...proxy, "--key", "k.key", "--listen", "http://127.0.0.1:8080", "--request-timeout", "999"], /`--request-timeout` must be at least 1000 milliseconds/],
      [[...proxy, "--key", "k.key", "--listen", "http://127.0.0.1:8080", "--trust-proxy", "10.0.0.0/99"], /not an address or an ADDRESS\/PREFIX/],
      [[...proxy, "--upstream-tls-pin", "sha256/AAAA"], /verify an `https:\/\/` upstream|not a public key pin/],
      [["proxy", "--policy", "p.policy", "--upstream-url", "https://example.org/mcp", "--upstream-tls-pin", "sha256/short"], /not a public key pin/],
      [["connect", "--url", "http://127.0.0.1:8080/mcp", "--trust", generateFingerprint(), "--tls-ca", "ca.pem"], /verify an `https:\/\/` proxy/],
      [["manifest", "sign", "--key", "k.key", "--from-server", "node s.js", "--tls-pin", pinLike(), "--out", "m.json"], /verify an `https:\/\/` server/],
    ];
    for (const [argv, pattern] of cases) {
      const { code, err } = await usage(...argv);
      assert.equal(code, 2, `${argv.join(" ")}: ${err}`);
      assert.match(err, pattern, argv.join(" "));
    }
  });
});

function generateFingerprint(): string {
  return generateIdentity().keyId;
}

/** A well-formed pin (of nothing in particular). */
function pinLike(): string {
  return `sha256/${Buffer.alloc(32, 7).toString("base64")}`;
}
