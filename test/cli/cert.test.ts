// `pqguard cert issue` and `pqguard cert show` run through the dispatcher as a user would, against real key files:
// issue → show → a sealed session whose server sees the claims; exit codes for valid, expired, untrusted, altered and
// unreadable certificates and for usage errors; the proxy's client-trust options, and a proxy process that refuses a
// client without a certificate and serves one with a valid certificate, its claims reaching the policy.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { main } from "../../bin/cli.js";
import { ownScript } from "../../bin/commands/own-scripts.js";
import { generateIdentity, loadSecretKey, writeIdentity, type Identity } from "../../runtime/identity/keys.js";
import { certifyClient, checkCertificateKey, loadClientCertificate, writeCertificateFile } from "../../runtime/identity/certificate-files.js";
import { PqcClientTransport, PqcServerTransport } from "../../runtime/transport/index.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const FLAKY_SERVER = fileURLToPath(new URL("../proxy/fixtures/flaky-server.ts", import.meta.url));
const FLAKY_TOOLS = fileURLToPath(new URL("../proxy/fixtures/flaky.tools.json", import.meta.url));
const HOUR = 3_600_000;

interface Outcome {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

async function cli(cwd: string, ...argv: string[]): Promise<Outcome> {
  let out = "";
  let err = "";
  const code = await main(argv, { cwd, out: (t) => void (out += t), err: (t) => void (err += t) });
  return { code, out, err };
}

describe("pqguard cert", () => {
  let dir: string;
  let ca: Identity;
  let agent: Identity;

  before(async () => {
    ca = generateIdentity();
    agent = generateIdentity();
  });

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "pqguard-cert-cli-"));
    await writeIdentity(ca, path.join(dir, "ca"));
    await writeIdentity(agent, path.join(dir, "agent"));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const issue = (...extra: string[]) =>
    cli(dir, "cert", "issue", "--issuer", "ca.key", "--key", "agent.pub", "--subject", "agent-7", "--claim", "role=billing-agent", "--out", "agent.cert", ...extra);

  it("issues a certificate, shows it, and a sealed session's server sees its claims", async () => {
    const issued = await issue("--claim-json", "tier=3", "--ttl", "7d");
    assert.equal(issued.code, 0, issued.err);
    assert.match(issued.out, new RegExp(`^issued agent\\.cert: ${agent.keyId} as agent-7, signed by ${ca.keyId}, valid until \\d{4}-\\d\\d-\\d\\dT`));
    if (process.platform !== "win32") assert.equal((await stat(path.join(dir, "agent.cert"))).mode & 0o777 & ~0o022, 0o644 & ~process.umask() & ~0o022);

    const shown = await cli(dir, "cert", "show", "agent.cert", "--trust-issuer", ca.keyId);
    assert.equal(shown.code, 0, shown.out + shown.err);
    assert.match(shown.out, /^agent\.cert: valid\n/);
    assert.match(shown.out, new RegExp(`subject +${agent.keyId} \\(ML-DSA-65\\)`));
    assert.match(shown.out, /claims +id = "agent-7"\n +role = "billing-agent"\n +tier = 3\n/);
    assert.match(shown.out, new RegExp(`issuer +${ca.keyId} \\(ML-DSA-65\\)\n`));
    assert.match(shown.out, /not after +\S+Z \(in 6d 23h\)/);
    assert.match(shown.out, /trust +trusted by the given/);

    const json = await cli(dir, "cert", "show", "agent.cert", "--format", "json");
    assert.equal(json.code, 0);
    const report = JSON.parse(json.out) as Record<string, unknown>;
    assert.deepEqual(report.claims, { id: "agent-7", role: "billing-agent", tier: 3 });
    assert.deepEqual([report.status, report.trusted, report.signatureValid, report.selfIssued], ["valid", null, true, false]);
    assert.equal(Date.parse(report.notAfter as string) - Date.parse(report.notBefore as string), 7 * 24 * HOUR);

    const identity = await loadSecretKey(path.join(dir, "agent.key"));
    const certificate = await loadClientCertificate(path.join(dir, "agent.cert"));
    checkCertificateKey(certificate, identity);
    const server = generateIdentity();
    const [serverSide, clientSide] = InMemoryTransport.createLinkedPair();
    const serverTransport = new PqcServerTransport(serverSide, { identity: server, clientTrust: { issuers: [ca.keyId], required: true } });
    const clientTransport = new PqcClientTransport(clientSide, { trust: { serverFingerprints: [server.keyId] }, clientIdentity: identity, clientCertificate: certificate.bytes });
    try {
      await Promise.all([serverTransport.start(), clientTransport.start()]);
      const { notAfter, ...client } = serverTransport.sessionInfo!.client!;
      assert.deepEqual(client, { fingerprint: agent.keyId, claims: { id: "agent-7", role: "billing-agent", tier: 3 } });
      assert.ok(typeof notAfter === "number" && notAfter > Date.now(), "the facts carry the certificate's not-after");
    } finally {
      await Promise.allSettled([clientTransport.close(), serverTransport.close()]);
    }
  });

  it("never prints secret key material", async () => {
    const issued = await issue();
    const shown = await cli(dir, "cert", "show", "agent.cert", "--format", "json");
    const seeds = await Promise.all(["ca.key", "agent.key"].map(async (name) => (JSON.parse(await readFile(path.join(dir, name), "utf8")) as { key: string }).key));
    for (const seed of seeds) {
      for (const text of [issued.out, issued.err, shown.out, shown.err, await readFile(path.join(dir, "agent.cert"), "utf8")]) {
        assert.ok(!text.includes(seed) && !text.includes(Buffer.from(seed, "base64").toString("base64url")));
      }
    }
  });

  it("issues a self-issued certificate with the client's own key, trusted where it is pinned", async () => {
    const issued = await cli(dir, "cert", "issue", "--issuer", "agent.key", "--key", "agent.pub", "--subject", "me", "--out", "self.cert");
    assert.equal(issued.code, 0, issued.err);
    assert.match(issued.out, /as me, self-issued, valid until/);
    const pinned = await cli(dir, "cert", "show", "self.cert", "--trust-client", agent.keyId);
    assert.equal(pinned.code, 0, pinned.out);
    assert.match(pinned.out, /self-issued: accepted where a server pins the subject/);
    const notPinned = await cli(dir, "cert", "show", "self.cert", "--trust-issuer", ca.keyId);
    assert.equal(notPinned.code, 1);
    assert.match(notPinned.out, /^self\.cert: untrusted: client `mldsa65:\S+` is neither pinned nor certified by a trusted issuer\n/);
  });

  it("renews: replaces a certificate only with --force, keeping the key", async () => {
    assert.equal((await issue()).code, 0);
    const again = await issue();
    assert.equal(again.code, 1);
    assert.match(again.err, /^error PQG5206: certificate file `.*agent\.cert` already exists; pass --force to replace it\n$/);
    const before = await loadClientCertificate(path.join(dir, "agent.cert"));
    const renewed = await issue("--force");
    assert.equal(renewed.code, 0, renewed.err);
    const after = await loadClientCertificate(path.join(dir, "agent.cert"));
    assert.equal(after.fingerprint, before.fingerprint);
    assert.notDeepEqual(after.bytes, before.bytes);
  });

  it("exits 1 for an expired, not yet valid, untrusted or altered certificate, saying which", async () => {
    const expired = certifyClient({ issuer: ca, subject: agent, claims: { id: "old" }, lifetimeMs: HOUR, now: Date.now() - 3 * HOUR });
    await writeCertificateFile(path.join(dir, "expired.cert"), expired);
    const shownExpired = await cli(dir, "cert", "show", "expired.cert", "--trust-issuer", ca.keyId);
    assert.equal(shownExpired.code, 1);
    assert.match(shownExpired.out, /^expired\.cert: expired: the certificate expired at \S+Z\n/);
    assert.match(shownExpired.out, /not after +\S+ \(2h 0m ago\)|not after +\S+ \(1h 59m ago\)/);
    assert.equal((JSON.parse((await cli(dir, "cert", "show", "expired.cert", "--format", "json")).out) as { status: string }).status, "expired");

    const future = certifyClient({ issuer: ca, subject: agent, claims: { id: "later" }, lifetimeMs: HOUR, now: Date.now() + 2 * HOUR });
    await writeCertificateFile(path.join(dir, "future.cert"), future);
    const shownFuture = await cli(dir, "cert", "show", "future.cert");
    assert.equal(shownFuture.code, 1);
    assert.match(shownFuture.out, /^future\.cert: not-yet-valid: the certificate is not valid before/);

    assert.equal((await issue()).code, 0);
    const untrusted = await cli(dir, "cert", "show", "agent.cert", "--trust-issuer", agent.keyId);
    assert.equal(untrusted.code, 1);
    assert.match(untrusted.out, /^agent\.cert: untrusted: /);

    const file = path.join(dir, "agent.cert");
    const doc = JSON.parse(await readFile(file, "utf8")) as { format: string; certificate: string };
    const at = doc.certificate.length - 10;
    const flipped = doc.certificate[at] === "A" ? "B" : "A";
    await writeFile(file, JSON.stringify({ ...doc, certificate: doc.certificate.slice(0, at) + flipped + doc.certificate.slice(at + 1) }));
    const altered = await cli(dir, "cert", "show", "agent.cert", "--trust-issuer", ca.keyId);
    assert.equal(altered.code, 1);
    assert.match(altered.out, /^agent\.cert: bad-signature: the signature does not verify with the issuer's key `mldsa65:\S+`: the certificate was altered or damaged\n/);
    assert.match(altered.out, /trust +not checked: the signature does not verify/);
  });

  it("exits 1 with a typed error for a file it cannot read: missing, another format, an unknown version", async () => {
    const missing = await cli(dir, "cert", "show", "none.cert");
    assert.deepEqual([missing.code, missing.out], [1, ""]);
    assert.match(missing.err, /^error PQG5201: cannot read certificate file `.*none\.cert`: ENOENT\n$/);
    const keyFile = await cli(dir, "cert", "show", "agent.pub");
    assert.equal(keyFile.code, 1);
    assert.match(keyFile.err, /^error PQG5203: `.*agent\.pub` is a `pqguard-key\/1` document, not a client certificate/);
    assert.equal((await issue()).code, 0);
    const doc = JSON.parse(await readFile(path.join(dir, "agent.cert"), "utf8")) as Record<string, unknown>;
    await writeFile(path.join(dir, "v2.cert"), JSON.stringify({ ...doc, format: "pqguard-client-certificate/2" }));
    const newer = await cli(dir, "cert", "show", "v2.cert");
    assert.equal(newer.code, 1);
    assert.match(newer.err, /^error PQG5203: certificate file `.*v2\.cert` is `pqguard-client-certificate\/2`, a version this pqguard does not read/);
  });

  it("exits 1 with the key file's error for a wrong or unsuitable key", async () => {
    const secretAsSubject = await cli(dir, "cert", "issue", "--issuer", "ca.key", "--key", "agent.key", "--subject", "a", "--out", "a.cert");
    assert.equal(secretAsSubject.code, 1);
    assert.match(secretAsSubject.err, /^error PQG5104: key file `.*agent\.key` holds a secret key, expected a public key/);
    await writeIdentity(generateIdentity("ML-KEM-768"), path.join(dir, "kem"));
    const kem = await cli(dir, "cert", "issue", "--issuer", "ca.key", "--key", "kem.pub", "--subject", "a", "--out", "a.cert");
    assert.equal(kem.code, 1);
    assert.match(kem.err, /^error PQG5207: the subject key is a `ML-KEM-768` key/);
  });

  it("answers --help with its usage, and exits 2 for usage errors", async () => {
    const help = await cli(dir, "cert", "--help");
    assert.equal(help.code, 0);
    assert.match(help.out, /^usage: pqguard cert issue --issuer CA\.key --key CLIENT\.pub --subject ID .*\| cert show CLIENT\.cert/);
    const usage = async (pattern: RegExp, ...argv: string[]) => {
      const result = await cli(dir, "cert", ...argv);
      assert.equal(result.code, 2, `${argv.join(" ")}: ${result.err}`);
      assert.match(result.err, pattern, argv.join(" "));
      assert.equal(result.out, "");
    };
    const base = ["issue", "--issuer", "ca.key", "--key", "agent.pub", "--subject", "a", "--out", "a.cert"];
    await usage(/no cert subcommand given/);
    await usage(/unknown cert subcommand `revoke`/, "revoke");
    await usage(/`--issuer NAME\.key` is required/, "issue", "--key", "agent.pub", "--subject", "a", "--out", "a.cert");
    await usage(/`--key CLIENT\.pub` is required/, "issue", "--issuer", "ca.key", "--subject", "a", "--out", "a.cert");
    await usage(/`--subject ID` is required/, "issue", "--issuer", "ca.key", "--key", "agent.pub", "--out", "a.cert");
    await usage(/`--out CLIENT\.cert` is required/, "issue", "--issuer", "ca.key", "--key", "agent.pub", "--subject", "a");
    await usage(/`--ttl 5x` is not a duration such as `30m`, `24h` or `7d`/, ...base, "--ttl", "5x");
    await usage(/`--ttl` must be longer than nothing/, ...base, "--ttl", "0h");
    await usage(/ends later than a certificate can say/, ...base, "--ttl", "99999999999999d");
    await usage(/`--claim role` needs the form NAME=VALUE/, ...base, "--claim", "role");
    await usage(/the `id` claim is the subject/, ...base, "--claim", "id=b");
    await usage(/claim `role` is given twice/, ...base, "--claim", "role=a", "--claim-json", "role=1");
    await usage(/the value is not JSON/, ...base, "--claim-json", "tier={");
    await usage(/give exactly one certificate file/, "show");
    await usage(/`--format` is `text` or `json`/, "show", "a.cert", "--format", "yaml");
    await usage(/`--trust-issuer`: malformed fingerprint/, "show", "a.cert", "--trust-issuer", "mldsa65:nope");
    await usage(/names a `ML-KEM-768` key; issuers and clients are signature keys/, "show", "a.cert", "--trust-client", generateIdentity("ML-KEM-768").keyId);
  });
});

describe("pqguard proxy client trust", function () {
  this.timeout(90_000);

  it("names the client-trust options in its usage", async () => {
    const { out } = await cli(ROOT, "proxy", "--help");
    for (const option of ["--trust-issuer", "--trust-client", "--require-client-auth"]) assert.ok(out.includes(option), option);
  });

  it("refuses client trust that could not work, before starting anything (exit 2)", async () => {
    const base = ["proxy", "--policy", "p.policy", "--upstream", "node server.js"];
    const fp = generateIdentity().keyId;
    const cases: [string[], RegExp][] = [
      [["--require-client-auth", "--trust-issuer", fp], /`--require-client-auth` needs the post-quantum session: give the proxy's identity with `--key NAME\.key`/],
      [["--key", "proxy.key", "--require-client-auth"], /`--require-client-auth` with no `--trust-issuer FP` or `--trust-client FP` would refuse every client/],
      [["--trust-client", fp], /`--trust-issuer` and `--trust-client` apply to the post-quantum session/],
      [["--key", "proxy.key", "--trust-issuer", "mldsa65:abc"], /`--trust-issuer`: malformed fingerprint/],
      [["--key", "proxy.key", "--trust-client", "sha256:abc"], /`--trust-client`: malformed fingerprint/],
    ];
    for (const [args, pattern] of cases) {
      const { code, err } = await cli(ROOT, ...base, ...args);
      assert.equal(code, 2, args.join(" "));
      assert.match(err, pattern, args.join(" "));
    }
  });

  it("as a process with --require-client-auth: serves a client with a valid certificate, its claims reaching the policy, and refuses one without", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "pqguard-cert-proxy-"));
    const proxyIdentity = generateIdentity();
    const ca = generateIdentity();
    const agent = generateIdentity();
    await writeIdentity(proxyIdentity, path.join(dir, "proxy"));
    await writeIdentity(ca, path.join(dir, "ca"));
    await writeIdentity(agent, path.join(dir, "agent"));
    const issued = await cli(dir, "cert", "issue", "--issuer", "ca.key", "--key", "agent.pub", "--subject", "agent-7", "--claim", "role=billing-agent", "--out", "agent.cert");
    assert.equal(issued.code, 0, issued.err);
    const policy = path.join(dir, "certified.policy");
    await writeFile(policy, `policy certified version 1\nmanifest "${FLAKY_TOOLS}"\n\npermit tool echo\n  when client.role == "billing-agent" and client.id == "agent-7"\n`);
    const child = spawn(
      process.execPath,
      [
        ...ownScript("bin/pqguard").args, "proxy", "--policy", policy, "--upstream", `${process.execPath} --import tsx ${FLAKY_SERVER}`,
        "--listen", "http://127.0.0.1:0", "--key", path.join(dir, "proxy.key"), "--trust-issuer", ca.keyId, "--require-client-auth", "--log-level", "warn",
      ],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    let log = "";
    child.stderr.on("data", (chunk: Buffer) => (log += chunk.toString("utf8")));
    try {
      const url = await new Promise<URL>((resolve, reject) => {
        let out = "";
        child.stdout.on("data", (chunk: Buffer) => {
          out += chunk.toString("utf8");
          log += chunk.toString("utf8");
          const match = /listening on (\S+) \(post-quantum session\)/.exec(out);
          if (match !== null) resolve(new URL(match[1]!));
        });
        child.once("exit", (code) => reject(new Error(`the proxy exited (${code}) before listening: ${log}`)));
      });
      const trust = { serverFingerprints: [proxyIdentity.keyId] };

      // The certified client comes first: it is served by the upstream session the proxy starts with.
      const identity = await loadSecretKey(path.join(dir, "agent.key"));
      const certificate = await loadClientCertificate(path.join(dir, "agent.cert"));
      checkCertificateKey(certificate, identity);
      const sealed = new PqcClientTransport(new StreamableHTTPClientTransport(url), { trust, clientIdentity: identity, clientCertificate: certificate.bytes, handshakeTimeoutMs: 20_000 });
      const client = new Client({ name: "certified", version: "1.0.0" });
      await client.connect(sealed);
      const allowed = await client.callTool({ name: "echo", arguments: { text: "with claims" } });
      assert.match(JSON.stringify(allowed.content), /with claims/);
      await client.close();

      const anonymous = new Client({ name: "anonymous", version: "1.0.0" });
      await assert.rejects(anonymous.connect(new PqcClientTransport(new StreamableHTTPClientTransport(url), { trust, handshakeTimeoutMs: 20_000 })));
      await anonymous.close();
      const refusal = /this server requires client authentication and the client offered none/;
      for (const deadline = Date.now() + 10_000; !refusal.test(log) && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 50));
      assert.match(log, refusal);
    } finally {
      child.kill("SIGTERM");
      const exited = await new Promise<boolean>((resolve) => {
        if (child.exitCode !== null) return resolve(true);
        const timer = setTimeout(() => resolve(false), 15_000);
        child.once("exit", () => (clearTimeout(timer), resolve(true)));
      });
      if (!exited) child.kill("SIGKILL");
      await rm(dir, { recursive: true, force: true });
      assert.ok(exited, `the proxy did not exit on SIGTERM: ${log}`);
    }
  });
});
