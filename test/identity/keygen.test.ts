// `pqguard keygen`: run in-process against a temporary directory, as a user would, reading what it prints.
import assert from "node:assert/strict";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { UsageError } from "../../bin/commands/io.js";
import { run } from "../../bin/commands/keygen.js";
import { loadPublicKey, loadSecretKey } from "../../runtime/identity/keys.js";

interface Outcome {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

async function keygen(cwd: string, ...argv: string[]): Promise<Outcome> {
  let out = "";
  let err = "";
  const code = await run({ argv, cwd, out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

describe("pqguard keygen", () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "pqguard-keygen-"));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("writes NAME.key (0600) and NAME.pub with ML-DSA-65 by default and prints the fingerprint", async () => {
    const result = await keygen(dir, "--out", "server");
    assert.equal(result.code, 0);
    assert.match(result.out, /^mldsa65:[a-z2-7]{52}\n$/);
    assert.match(result.err, /wrote server\.key \(secret, mode 0600\) and server\.pub/);
    if (process.platform !== "win32") assert.equal((await stat(path.join(dir, "server.key"))).mode & 0o777, 0o600);
    const secret = await loadSecretKey(path.join(dir, "server.key"));
    const pub = await loadPublicKey(path.join(dir, "server.pub"));
    assert.equal(secret.keyId, result.out.trim());
    assert.equal(pub.keyId, result.out.trim());
  });

  it("honours --alg, including the --alg=NAME spelling", async () => {
    assert.match((await keygen(dir, "--alg", "ML-DSA-87", "--out", "a")).out, /^mldsa87:/);
    assert.match((await keygen(dir, "--alg=ML-DSA-44", "--out=b")).out, /^mldsa44:/);
    assert.equal((await loadPublicKey(path.join(dir, "b.pub"))).algorithm, "ML-DSA-44");
  });

  it("refuses to overwrite an existing key without --force, and replaces it with --force", async () => {
    const first = await keygen(dir, "--out", "id");
    const again = await keygen(dir, "--out", "id");
    assert.equal(again.code, 1);
    assert.match(again.err, /^error PQG5105: key file `.*id\.key` already exists; pass --force to replace it\n$/);
    assert.equal((await loadPublicKey(path.join(dir, "id.pub"))).keyId, first.out.trim());
    const forced = await keygen(dir, "--out", "id", "--force");
    assert.equal(forced.code, 0);
    assert.notEqual(forced.out, first.out);
    assert.equal((await loadSecretKey(path.join(dir, "id.key"))).keyId, forced.out.trim());
  });

  it("treats a NAME given with .key as the base name", async () => {
    await keygen(dir, "--out", "svc.key");
    await stat(path.join(dir, "svc.key"));
    await stat(path.join(dir, "svc.pub"));
  });

  it("reports command-line mistakes as usage errors", async () => {
    const usage = async (args: string[], message: RegExp) =>
      assert.rejects(keygen(dir, ...args), (error: unknown) => error instanceof UsageError && message.test(error.message));
    await usage([], /missing `--out NAME`/);
    await usage(["--out"], /option `--out` needs a value/);
    await usage(["--out", "x", "--alg", "RSA"], /unknown key algorithm `RSA`; valid names are `ML-DSA-65`/);
    await usage(["--out", "x", "--bits", "4096"], /unknown option `--bits`/);
    await usage(["--out", "x", "extra"], /unexpected argument `extra`/);
  });
});
