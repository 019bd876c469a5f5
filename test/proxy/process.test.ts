// `pqguard proxy` and `pqguard demo` as real processes: junk on the proxy's stdin, a plain session's denials,
// and the end-to-end payments demo over the post-quantum transport.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import process from "node:process";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const PQGUARD = fileURLToPath(new URL("../../bin/pqguard.js", import.meta.url));

describe("pqguard proxy as a process", function () {
  this.timeout(90_000);

  it("answers junk on stdin with JSON-RPC errors, and denies a plain (unauthenticated, classical) session by its identity rules", async () => {
    const child = spawn(
      process.execPath,
      [PQGUARD, "proxy", "--policy", "policies/payments/payments.policy", "--upstream", `${process.execPath} --import tsx policies/payments/server.ts`, "--log-level", "error"],
      { cwd: ROOT, stdio: ["pipe", "pipe", "ignore"] },
    );
    const replies: Record<string, unknown>[] = [];
    let buffered = "";
    child.stdout.on("data", (chunk: Buffer) => {
      buffered += chunk.toString("utf8");
      const lines = buffered.split("\n");
      buffered = lines.pop()!;
      for (const line of lines) replies.push(JSON.parse(line) as Record<string, unknown>);
    });
    const send = (value: unknown): boolean => child.stdin.write(`${typeof value === "string" ? value : JSON.stringify(value)}\n`);
    send("\u0001\u0002 not json at all");
    send('{"jsonrpc":"2.0","id":1,"method":');
    send({ jsonrpc: "1.0", id: 2, method: "ping" });
    send({ jsonrpc: "2.0", id: 3, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "1" } } });
    send({ jsonrpc: "2.0", method: "notifications/initialized" });
    send({ jsonrpc: "2.0", id: 4, method: "tools/call", params: { name: "get_balance", arguments: {} } });
    const deadline = Date.now() + 60_000;
    while (replies.length < 5 && Date.now() < deadline && child.exitCode === null) await new Promise((resolve) => setTimeout(resolve, 50));
    child.stdin.end();
    await new Promise((resolve) => child.once("exit", resolve));
    const byId = (id: unknown): Record<string, unknown> | undefined => replies.find((r) => r.id === id);
    const errorCodes = replies.filter((r) => r.id === null).map((r) => (r.error as { code: number }).code);
    assert.deepEqual(errorCodes, [-32700, -32700]);
    assert.equal((byId(2)?.error as { code: number }).code, -32600);
    assert.equal((byId(3)?.result as { serverInfo: { name: string } }).serverInfo.name, "payments");
    const refused = byId(4)?.error as { code: number; data: { code: string; rules: string[]; reason: string } };
    assert.equal(refused.data.code, "PQG7301");
    assert.deepEqual(refused.data.rules, ["payments.policy:6"]);
    assert.match(refused.data.reason, /identity requirement `client.authenticated` failed/);
  });

  it("runs the payments demo end to end (npm start)", async () => {
    const child = spawn(process.execPath, [PQGUARD, "demo"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString("utf8")));
    child.stderr.on("data", (chunk: Buffer) => (out += chunk.toString("utf8")));
    const code = await new Promise((resolve) => child.once("exit", resolve));
    assert.equal(code, 0, out);
    assert.match(out, /ALLOWED after approval/);
    assert.match(out, /DENIED PQG7301 \[payments\.policy:25\]: refunds over 5000 are never automated/);
    assert.match(out, /DENIED PQG7303: the definition of tool `process_refund` changed/);
    assert.match(out, /summary: 8 calls, 5 allowed \(1 after approval\), 3 denied; audit log 8 lines, hash chain intact/);
  });
});
