// The stdio example as real processes: the test starts the example client, which starts the example server over
// stdio; both seal the session. A client that trusts another key is refused with the wrong-server-key code.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { generateIdentity, writeIdentity } from "../../runtime/identity/index.js";

const run = promisify(execFile);
const root = fileURLToPath(new URL("../../", import.meta.url));
const clientScript = fileURLToPath(new URL("../../runtime/transport/examples/stdio-client.ts", import.meta.url));

describe("stdio example (real processes)", function () {
  this.timeout(60_000);
  let dir: string;
  let key: string;
  let fingerprint: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "pqguard-stdio-"));
    const identity = generateIdentity("ML-DSA-65");
    key = (await writeIdentity(identity, join(dir, "server"))).secretKeyPath;
    fingerprint = identity.keyId;
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("calls a tool through a sealed stdio session", async () => {
    const { stdout } = await run(process.execPath, ["--import", "tsx", clientScript, "--key", key, "--trust", fingerprint, "--text", "over stdio"], { cwd: root });
    const output = JSON.parse(stdout.trim()) as { result: { content: unknown }; session: { peerFingerprint: string; suite: { hybrid: boolean }; sessionId: string } };
    assert.deepEqual(output.result.content, [{ type: "text", text: "over stdio" }]);
    assert.equal(output.session.peerFingerprint, fingerprint);
    assert.equal(output.session.suite.hybrid, true);
    assert.match(output.session.sessionId, /^[0-9a-f]{32}$/);
  });

  it("refuses a server whose key the client does not trust", async () => {
    const other = generateIdentity("ML-DSA-65").keyId;
    await assert.rejects(
      run(process.execPath, ["--import", "tsx", clientScript, "--key", key, "--trust", other], { cwd: root }),
      (error: { code?: number; stderr?: string }) => error.code === 1 && /PQG6004/.test(error.stderr ?? ""),
    );
  });
});
