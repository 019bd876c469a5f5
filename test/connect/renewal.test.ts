// A long-running client (`pqguard connect`) picks up a renewed certificate file and re-authenticates: the watcher hands
// on a certificate for the same key with a later not-after, once, and ignores one for another key or an older one.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { CertificateRenewal } from "../../runtime/connect/renewal.js";
import { certifyClient, writeCertificateFile } from "../../runtime/identity/certificate-files.js";
import { generateIdentity } from "../../runtime/identity/keys.js";

const HOUR = 3_600_000;

describe("certificate renewal for a long-running client", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "pqguard-renewal-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("hands on a renewed certificate for the same key once, and ignores another key's or an older one", async () => {
    const issuer = generateIdentity();
    const agent = generateIdentity();
    const other = generateIdentity();
    const file = path.join(dir, "agent.cert");
    const now = Date.now();
    const issue = (subject: typeof agent, issuedAt: number, lifetimeMs: number) =>
      certifyClient({ issuer, subject: { algorithm: subject.algorithm, publicKey: subject.publicKey }, claims: { id: "agent-7" }, lifetimeMs, now: issuedAt });
    await writeCertificateFile(file, issue(agent, now, HOUR));
    const renewed: number[] = [];
    const warnings: string[] = [];
    const logger = { warn: (_: unknown, message: string) => void warnings.push(message) } as unknown as import("pino").Logger;
    const renewal = new CertificateRenewal({ path: file, identity: agent, notAfter: now + HOUR, logger, onRenewed: (_bytes, notAfter) => void renewed.push(notAfter) });

    assert.equal(await renewal.check(), false, "the certificate in use is not a renewal");
    await writeCertificateFile(file, issue(other, now, 2 * HOUR), { force: true });
    assert.equal(await renewal.check(), false, "another key's certificate is not a renewal");
    assert.match(warnings.at(-1) ?? "", /cannot be used for a renewal/);
    await writeCertificateFile(file, issue(agent, now + 1000, 2 * HOUR), { force: true });
    assert.equal(await renewal.check(), true);
    assert.deepEqual(renewed, [now + 1000 + 2 * HOUR]);
    assert.equal(await renewal.check(), false, "handed on once");
    await writeCertificateFile(file, issue(agent, now, HOUR), { force: true });
    assert.equal(await renewal.check(), false, "an older certificate is not a renewal");
    assert.equal(renewed.length, 1);
  });
});
