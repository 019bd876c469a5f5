// Review: a sealed session delivers any JSON object with `jsonrpc: "2.0"` (runtime/transport/session-transport.ts,
// parseRecord) without the schema check the plain stdio side makes (framing.ts, classifyLine), and the proxy core reads
// `params.requestId` of a `notifications/cancelled` whose params are `null`. Over sealed stdio (`pqguard proxy --key`,
// the transport `pqguard connect --command "ssh host pqguard proxy ..."` uses) the TypeError is thrown from a stream's
// data listener and ends the proxy process.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { ownScript } from "../../../bin/commands/own-scripts.js";
import { generateIdentity, writeIdentity } from "../../../runtime/identity/index.js";
import { PqcClientTransport } from "../../../runtime/transport/index.js";
import { REVIEW_SERVER, sleep } from "./support.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const CLI = ownScript("bin/pqguard");

describe("attack: malformed messages inside a sealed session", function () {
  this.timeout(60_000);

  it("keeps serving a sealed stdio client after a `notifications/cancelled` whose params are null", async () => {
    const dir = await mkdtemp(join(tmpdir(), "pqguard-review-malformed-"));
    const identity = generateIdentity();
    await writeIdentity(identity, join(dir, "proxy"));
    const stdio = new StdioClientTransport({
      command: CLI.command,
      args: [...CLI.args, "proxy", "--policy", "test/proxy/fixtures/flaky.policy", "--upstream", `"${process.execPath}" "${REVIEW_SERVER}"`, "--key", join(dir, "proxy.key"), "--log-level", "error"],
      cwd: ROOT,
      stderr: process.env.PQGUARD_TEST_DEBUG === undefined ? "pipe" : "inherit",
    });
    let stderr = "";
    const sealed = new PqcClientTransport(stdio, { trust: { serverFingerprints: [identity.keyId] } });
    const client = new Client({ name: "malformed", version: "1" });
    try {
      await client.connect(sealed, { timeout: 30_000 });
      stdio.stderr?.on("data", (chunk: Buffer) => void (stderr += chunk.toString("utf8")));
      assert.ok((await client.listTools()).tools.some((tool) => tool.name === "echo"));
      // A JSON-RPC notification as JSON allows it; the SDK's own schema would refuse it, the sealed session does not.
      await sealed.send({ jsonrpc: "2.0", method: "notifications/cancelled", params: null } as unknown as JSONRPCMessage);
      await sleep(1_000);
      const pong = await client.ping({ timeout: 5_000 }).then(
        () => "answered",
        (error: unknown) => `no answer: ${String(error)}`,
      );
      assert.equal(pong, "answered", `the proxy stopped serving; its stderr:\n${stderr.slice(0, 2_000)}`);
    } finally {
      await client.close().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
