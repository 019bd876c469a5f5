// Monitor mode: every call is decided and audited, and the ones the policy denies or would ask about go through
// anyway, marked in a verifiable audit log; what is not the policy's decision (a changed tool) is still refused.
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { AuditLog, silentLogger, verifyAuditLog } from "../../runtime/audit/index.js";
import { createProxy, type Proxy } from "../../runtime/proxy/index.js";
import { startHttpUpstream, type HttpUpstream } from "./fixtures/http-server.js";
import { connectClient, failureOf, httpGuard } from "./harness.js";

describe("proxy in monitor mode", function () {
  this.timeout(30_000);
  let dir: string;
  let upstream: HttpUpstream;
  let audit: AuditLog;
  let proxy: Proxy;
  let client: Client;
  /** How many times the approver was asked: monitor mode must not ask anyone. */
  let asked: number;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "pqguard-monitor-"));
    upstream = await startHttpUpstream();
    audit = await AuditLog.open(join(dir, "audit.log"));
    asked = 0;
    proxy = createProxy({
      upstream: { url: upstream.url },
      guard: httpGuard,
      logger: silentLogger(),
      audit,
      mode: "monitor",
      approver: async () => {
        asked++;
        return false;
      },
      toolRecheckMs: 0,
    });
    await proxy.start();
    client = await connectClient(proxy);
  });

  afterEach(async () => {
    await client.close();
    await proxy.close();
    await upstream.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const lines = async (): Promise<Record<string, unknown>[]> => {
    await audit.close();
    return (await readFile(join(dir, "audit.log"), "utf8"))
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  };

  it("lets through a call the policy denies and one it would ask about, unasked, each marked in the audit log", async () => {
    await client.callTool({ name: "secret", arguments: {} });
    await client.callTool({ name: "slow", arguments: { ms: 1_500 } });
    await client.callTool({ name: "echo", arguments: { text: "plain" } });
    assert.deepEqual(upstream.calls.map((c) => c.tool), ["secret", "slow", "echo"]);
    assert.equal(asked, 0, "no human was asked");
    const written = await lines();
    assert.deepEqual(
      written.map((line) => [line.tool, line.decision, line.outcome, line.monitor ?? null]),
      [
        ["secret", "deny", "allowed", "would-deny"],
        ["slow", "ask", "allowed", "would-ask"],
        ["echo", "allow", "allowed", null],
      ],
    );
    assert.match(String(written[0]!.reason), /secrets never leave/);
    const verified = await verifyAuditLog(join(dir, "audit.log"));
    assert.ok(verified.ok, JSON.stringify(verified));
  });

  it("still refuses a call to a tool whose definition changed: a pin is not the policy's to monitor", async () => {
    upstream.rugPull({ silent: true });
    await client.listTools();
    const refused = await failureOf(client.callTool({ name: "echo", arguments: { text: "after" } }));
    assert.equal(refused.data?.code, "PQG7303");
    assert.deepEqual(upstream.calls, []);
  });
});
