// `pqguard proxy --keyring DIR` as a real process: SIGHUP reloads the keyring, says so in its own log line, and a new
// sealed handshake over the HTTP listener is then answered by the rotated keyring's active key.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ownScript } from "../../bin/commands/own-scripts.js";
import { initKeyring, rotateKeyring } from "../../runtime/identity/keyring.js";
import { PqcClientTransport } from "../../runtime/transport/index.js";
import { FLAKY_SERVER } from "./harness.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const PQGUARD = ownScript("bin/pqguard").args;

/** Resolves once `found` holds for the text read so far (checked on every chunk), or rejects after `ms` or an exit. */
function waitFor<T>(child: ChildProcess, stream: "stdout" | "stderr", found: (text: string) => T | undefined, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    let text = "";
    const timer = setTimeout(() => finish(new Error(`timed out after ${ms} ms waiting for ${what}; read:\n${text}`)), ms);
    const onData = (chunk: Buffer): void => {
      text += chunk.toString("utf8");
      const value = found(text);
      if (value !== undefined) finish(undefined, value);
    };
    const onExit = (code: number | null): void => finish(new Error(`the proxy exited (${code}) while waiting for ${what}`));
    const finish = (error: Error | undefined, value?: T): void => {
      clearTimeout(timer);
      child[stream]!.off("data", onData);
      child.off("exit", onExit);
      if (error !== undefined) reject(error);
      else resolve(value as T);
    };
    child[stream]!.on("data", onData);
    child.once("exit", onExit);
  });
}

/** Connects a sealed client that trusts only `keyId`, and returns the key that answered the handshake. */
async function answeredBy(url: URL, keyId: string): Promise<string | undefined> {
  const sealed = new PqcClientTransport(new StreamableHTTPClientTransport(url), { trust: { serverFingerprints: [keyId] } });
  const client = new Client({ name: "sighup-client", version: "1.0.0" });
  await client.connect(sealed);
  try {
    const echoed = await client.callTool({ name: "echo", arguments: { text: "after the reload" } });
    assert.match(JSON.stringify(echoed.content), /after the reload/);
    return sealed.sessionInfo?.peerFingerprint;
  } finally {
    await client.close();
  }
}

describe("pqguard proxy --keyring: SIGHUP", function () {
  this.timeout(90_000);

  it("reloads the keyring on SIGHUP, logs that reload, and new handshakes are answered by the new active key", async function () {
    if (process.platform === "win32") this.skip();
    const dir = await mkdtemp(join(tmpdir(), "pqguard-sighup-"));
    const ring = join(dir, "ring");
    const initial = await initKeyring(ring);
    const before = initial.active!.keyId;
    const child = spawn(
      process.execPath,
      [...PQGUARD, "proxy", "--policy", "test/proxy/fixtures/flaky.policy", "--upstream", `${process.execPath} --import tsx ${FLAKY_SERVER}`, "--listen", "http://127.0.0.1:0", "--keyring", ring, "--log-level", "info"],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    try {
      const url = await waitFor(child, "stdout", (out) => {
        const match = /listening on (\S+) \(post-quantum session\)/.exec(out);
        return match === null ? undefined : new URL(match[1]!);
      }, 60_000, "the proxy to listen");
      assert.equal(await answeredBy(url, before), before, "before the rotation, the first active key answers");

      const rotation = await rotateKeyring(ring);
      const after = rotation.activated.keyId;
      assert.notEqual(after, before);
      // Listen before signalling: the line names the key the reload made active.
      const logged = waitFor(child, "stderr", (err) => {
        for (const line of err.split("\n")) {
          if (!line.includes("keyring reloaded on SIGHUP")) continue;
          const entry = JSON.parse(line) as { active?: string | null };
          if (entry.active === after) return entry;
        }
        return undefined;
      }, 15_000, "the SIGHUP reload's log line");
      assert.ok(child.kill("SIGHUP"), "the signal was delivered");
      const entry = await logged;
      assert.equal(entry.active, after);
      assert.equal(child.exitCode, null, "SIGHUP does not end the proxy");

      assert.equal(await answeredBy(url, after), after, "after the reload, the rotated keyring's active key answers");
      const stale = new PqcClientTransport(new StreamableHTTPClientTransport(url), { trust: { serverFingerprints: [before] } });
      await assert.rejects(new Client({ name: "stale", version: "1.0.0" }).connect(stale), "a client that trusts only the retired key is not answered by it any more");
    } finally {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    }
  });
});
