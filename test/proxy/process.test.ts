// `pqguard proxy` and `pqguard demo` as real processes: junk on the proxy's stdin, a plain session's denials, a
// Streamable HTTP upstream, and the end-to-end payments demo over the post-quantum transport.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readlinkSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ownScript } from "../../bin/commands/own-scripts.js";
import process from "node:process";
import { UsageError } from "../../bin/commands/io.js";
import { run as runProxy } from "../../bin/commands/proxy.js";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { generateIdentity, writeIdentity } from "../../runtime/identity/index.js";
import { argumentsDigest, loadAuditKey, verifyAuditLog, writeAuditKey } from "../../runtime/audit/index.js";
import { PqcClientTransport } from "../../runtime/transport/index.js";
import { startHttpUpstream } from "./fixtures/http-server.js";
import { FLAKY_SERVER } from "./harness.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** The CLI from its sources, the way the package's own scripts are started in a checkout. */
const PQGUARD = ownScript("bin/pqguard").args;

/** `pqguard proxy ARGS` as a child process, spoken to as a plain stdio MCP client, line by line. */
function proxyProcess(args: readonly string[]) {
  const child = spawn(process.execPath, [...PQGUARD, "proxy", ...args, "--log-level", "error"], { cwd: ROOT, stdio: ["pipe", "pipe", "ignore"] });
  const replies: Record<string, unknown>[] = [];
  let buffered = "";
  child.stdout.on("data", (chunk: Buffer) => {
    buffered += chunk.toString("utf8");
    const lines = buffered.split("\n");
    buffered = lines.pop()!;
    for (const line of lines) replies.push(JSON.parse(line) as Record<string, unknown>);
  });
  const send = (value: unknown): boolean => child.stdin.write(`${typeof value === "string" ? value : JSON.stringify(value)}\n`);
  return {
    send,
    initialize(id: number): void {
      send({ jsonrpc: "2.0", id, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "1" } } });
      send({ jsonrpc: "2.0", method: "notifications/initialized" });
    },
    /** Waits for `count` replies (at most 60 s), closes stdin and waits for the proxy to exit (killed after 10 s: the test then fails). */
    async finish(count: number): Promise<Record<string, unknown>[]> {
      const deadline = Date.now() + 60_000;
      while (replies.length < count && Date.now() < deadline && child.exitCode === null) await new Promise((resolve) => setTimeout(resolve, 50));
      child.stdin.end();
      const exit = await exitWithin(child, 10_000);
      if (exit === "still running") child.kill("SIGKILL");
      assert.notEqual(exit, "still running", "the proxy did not exit when its stdin closed");
      return replies;
    },
  };
}

/** Resolves with the exit code and signal, or with `"still running"` after `ms`. */
function exitWithin(child: ReturnType<typeof spawn>, ms: number): Promise<{ code: number | null; signal: string | null } | "still running"> {
  // `exit` can come before the last of the child's output is read: its pipes' ends are awaited too (at most 2 s more,
  // in case a grandchild holds one open).
  const drained = (): Promise<unknown> =>
    Promise.race([
      Promise.all([child.stdout, child.stderr].map((stream) => (stream === null || stream.readableEnded || stream.destroyed ? undefined : new Promise((end) => stream.once("close", end))))),
      new Promise((end) => setTimeout(end, 2_000)),
    ]);
  if (child.exitCode !== null || child.signalCode !== null) return drained().then(() => ({ code: child.exitCode, signal: child.signalCode }));
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve("still running"), ms);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      void drained().then(() => resolve({ code, signal }));
    });
  });
}

/** `pqguard proxy` in front of the flaky server with an audit log, after `initialize` and `count` allowed calls. */
async function auditedProxy(audit: string, count: number, extra: readonly string[] = []) {
  const child = spawn(
    process.execPath,
    [...PQGUARD, "proxy", "--policy", "test/proxy/fixtures/flaky.policy", "--upstream", `${process.execPath} --import tsx ${FLAKY_SERVER}`, "--audit", audit, "--log-level", "error", ...extra],
    { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] },
  );
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  let out = "";
  child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString("utf8")));
  const send = (value: unknown): boolean => child.stdin.write(`${JSON.stringify(value)}\n`);
  send({ jsonrpc: "2.0", id: 0, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "1" } } });
  const deadline = Date.now() + 60_000;
  while (!out.includes('"id":0') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  for (let id = 1; id <= count; id++) send({ jsonrpc: "2.0", id, method: "tools/call", params: { name: "echo", arguments: { text: `call ${id}` } } });
  return { child, stderr: () => stderr, replies: () => out.split("\n").filter((line) => line !== "").length - 1 };
}

describe("pqguard proxy as a process", function () {
  this.timeout(90_000);

  it("exits on SIGTERM, with every decision in the audit log, argument digests keyed by --audit-key", async () => {
    const dir = await mkdtemp(join(tmpdir(), "pqguard-term-"));
    try {
      const keyFile = join(dir, "audit.key");
      await writeAuditKey(keyFile);
      const proxy = await auditedProxy(join(dir, "audit.log"), 3, ["--audit-key", keyFile]);
      const deadline = Date.now() + 30_000;
      while (proxy.replies() < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      proxy.child.kill("SIGTERM");
      const exit = await exitWithin(proxy.child, 10_000);
      if (exit === "still running") proxy.child.kill("SIGKILL");
      assert.deepEqual(exit, { code: 0, signal: null }, proxy.stderr());
      const verified = await verifyAuditLog(join(dir, "audit.log"));
      assert.ok(verified.ok && verified.lines === 3, JSON.stringify(verified));
      const key = await loadAuditKey(keyFile);
      const digests = (await readFile(join(dir, "audit.log"), "utf8")).trim().split("\n").map((line) => (JSON.parse(line) as { argsDigest: string }).argsDigest);
      assert.deepEqual(new Set(digests), new Set([1, 2, 3].map((id) => argumentsDigest({ text: `call ${id}` }, key))));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("keeps an audit anchor with --audit-anchor, and refuses to start (PQG7105) on a log cut while it was stopped", async () => {
    const dir = await mkdtemp(join(tmpdir(), "pqguard-anchor-"));
    try {
      const log = join(dir, "audit.log");
      const anchor = join(dir, "anchor.json");
      const proxy = await auditedProxy(log, 2, ["--audit-anchor", anchor]);
      const deadline = Date.now() + 30_000;
      while (proxy.replies() < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      proxy.child.kill("SIGTERM");
      const exit = await exitWithin(proxy.child, 10_000);
      if (exit === "still running") proxy.child.kill("SIGKILL");
      assert.deepEqual(exit, { code: 0, signal: null }, proxy.stderr());
      const lines = (await readFile(log, "utf8")).trim().split("\n").map((line) => JSON.parse(line) as { checkpoint?: string });
      assert.deepEqual(lines.map((l) => l.checkpoint ?? "decision"), ["open", "decision", "decision", "close"]);
      assert.equal((JSON.parse(await readFile(anchor, "utf8")) as { state: string }).state, "closed");

      // Whoever controls the log's disk cuts the last decision and the close while the proxy is stopped.
      await writeFile(log, (await readFile(log, "utf8")).split("\n").slice(0, 2).join("\n") + "\n");
      const errors: string[] = [];
      const io = { argv: ["--policy", "test/proxy/fixtures/flaky.policy", "--upstream", "node never-started.js", "--audit", log, "--audit-anchor", anchor], cwd: ROOT, out: () => undefined, err: (text: string) => void errors.push(text) };
      assert.equal(await runProxy(io), 1);
      assert.match(errors.join(""), /^error PQG7105: .*was cut/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("reports a failed audit write as the audit error it is when it exits, with exit code 1", async function () {
    if (!existsSync("/dev/full")) this.skip(); // a device whose every write fails with ENOSPC
    const proxy = await auditedProxy("/dev/full", 1);
    const deadline = Date.now() + 30_000;
    while (proxy.replies() < 1 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    proxy.child.stdin.end();
    const exit = await exitWithin(proxy.child, 10_000);
    if (exit === "still running") proxy.child.kill("SIGKILL");
    assert.deepEqual(exit, { code: 1, signal: null }, proxy.stderr());
    assert.match(proxy.stderr(), /error PQG7101: cannot write audit log `\/dev\/full`/);
    assert.doesNotMatch(proxy.stderr(), /internal error/);
  });

  it("survives a client that stops reading its replies (EPIPE): no crash, and every decision in the audit log", async () => {
    const dir = await mkdtemp(join(tmpdir(), "pqguard-epipe-"));
    try {
      const log = join(dir, "audit.log");
      const proxy = await auditedProxy(log, 20);
      proxy.child.stdout.destroy();
      // Calls sent after the client stopped reading: the reply to the first of them is written into a closed pipe.
      for (let id = 21; id <= 25; id++) {
        proxy.child.stdin.write(`${JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: { name: "echo", arguments: { text: `late ${id}` } } })}\n`);
      }
      const linesIn = async (): Promise<number> => (await readFile(log, "utf8").catch(() => "")).split("\n").filter((line) => line !== "").length;
      const deadline = Date.now() + 30_000;
      while ((await linesIn()) < 21 && proxy.child.exitCode === null && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      proxy.child.stdin.end();
      const exit = await exitWithin(proxy.child, 10_000);
      if (exit === "still running") proxy.child.kill("SIGKILL");
      assert.deepEqual(exit, { code: 0, signal: null }, proxy.stderr());
      assert.doesNotMatch(proxy.stderr(), /EPIPE|Unhandled/);
      const verified = await verifyAuditLog(log);
      assert.ok(verified.ok && verified.lines >= 21, `a call decided after the client stopped reading is in the log: ${JSON.stringify(verified)}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("answers junk on stdin with JSON-RPC errors, and denies a plain (unauthenticated, classical) session by its identity rules", async () => {
    const proxy = proxyProcess(["--policy", "policies/payments/payments.policy", "--upstream", `${process.execPath} --import tsx policies/payments/server.ts`]);
    proxy.send("\u0001\u0002 not json at all");
    proxy.send('{"jsonrpc":"2.0","id":1,"method":');
    proxy.send({ jsonrpc: "1.0", id: 2, method: "ping" });
    proxy.initialize(3);
    proxy.send({ jsonrpc: "2.0", id: 4, method: "tools/call", params: { name: "get_balance", arguments: {} } });
    const replies = await proxy.finish(5);
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

  it("serves a Streamable HTTP upstream given with --upstream-url: allowed calls reach it, denied ones do not", async () => {
    const upstream = await startHttpUpstream();
    try {
      const proxy = proxyProcess(["--policy", "test/proxy/fixtures/flaky.policy", "--upstream-url", upstream.url]);
      proxy.initialize(1);
      proxy.send({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "echo", arguments: { text: "over http" } } });
      proxy.send({ jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "echo", arguments: { text: "deny-me" } } });
      proxy.send({ jsonrpc: "2.0", id: 4, method: "tools/call", params: { name: "secret", arguments: {} } });
      const replies = await proxy.finish(4);
      const byId = (id: unknown): Record<string, unknown> | undefined => replies.find((r) => r.id === id);
      assert.equal((byId(1)?.result as { serverInfo: { name: string } }).serverInfo.name, "flaky-http");
      assert.deepEqual((byId(2)?.result as { structuredContent: unknown }).structuredContent, { text: "over http", via: "http" });
      assert.equal((byId(3)?.error as { data: { code: string } }).data.code, "PQG7301");
      assert.match((byId(4)?.error as { data: { reason: string } }).data.reason, /secrets never leave/);
      assert.deepEqual(upstream.calls, [{ tool: "echo", args: { text: "over http" } }]);
    } finally {
      await upstream.stop();
    }
  });

  it("serves sealed sessions over Streamable HTTP with --listen http://: decisions as on stdio, plain clients refused", async () => {
    const dir = await mkdtemp(join(tmpdir(), "pqguard-listen-"));
    const identity = generateIdentity();
    await writeIdentity(identity, join(dir, "proxy"));
    const child = spawn(
      process.execPath,
      [...PQGUARD, "proxy", "--policy", "test/proxy/fixtures/flaky.policy", "--upstream", `${process.execPath} --import tsx ${FLAKY_SERVER}`, "--listen", "http://127.0.0.1:0", "--key", join(dir, "proxy.key"), "--log-level", "error"],
      { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] },
    );
    try {
      const url = await new Promise<URL>((resolve, reject) => {
        let out = "";
        child.stdout.on("data", (chunk: Buffer) => {
          out += chunk.toString("utf8");
          const match = /listening on (\S+) \(post-quantum session\)/.exec(out);
          if (match !== null) resolve(new URL(match[1]!));
        });
        child.once("exit", (code) => reject(new Error(`the proxy exited (${code}) before listening`)));
      });
      const sealed = new PqcClientTransport(new StreamableHTTPClientTransport(url), { trust: { serverFingerprints: [identity.keyId] } });
      const client = new Client({ name: "http-client", version: "1.0.0" });
      await client.connect(sealed);
      const { tools } = await client.listTools();
      assert.ok(tools.some((t) => t.name === "echo") && !tools.some((t) => t.name === "secret"));
      const allowed = await client.callTool({ name: "echo", arguments: { text: "sealed over http" } });
      assert.match(JSON.stringify(allowed.content), /sealed over http/);
      await assert.rejects(client.callTool({ name: "echo", arguments: { text: "deny-me" } }), /refused: no rule permits `echo`/);
      await assert.rejects(client.callTool({ name: "secret", arguments: {} }), /secrets never leave/);
      assert.equal(sealed.sessionInfo?.peerFingerprint, identity.keyId);
      await client.close();
      const plain = new Client({ name: "plain", version: "1.0.0" });
      await assert.rejects(plain.connect(new StreamableHTTPClientTransport(url)), /requires the pqguard post-quantum session/);
    } finally {
      child.kill("SIGTERM");
      if (child.exitCode === null) await new Promise((resolve) => child.once("exit", resolve));
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("needs exactly one upstream, an http(s) URL for --upstream-url, and --audit for the audit options (usage errors)", async () => {
    const usage = async (...args: string[]): Promise<string> => {
      const io = { argv: ["--policy", "test/proxy/fixtures/flaky.policy", ...args], cwd: ROOT, out: () => undefined, err: () => undefined };
      try {
        await runProxy(io);
      } catch (error) {
        assert.ok(error instanceof UsageError, String(error));
        return error.message;
      }
      assert.fail("no usage error");
    };
    assert.match(await usage(), /an upstream is required/);
    assert.match(await usage("--upstream", "node s.js", "--upstream-url", "http://127.0.0.1:1/mcp"), /exclude each other/);
    assert.match(await usage("--upstream-url", "file:///etc/passwd"), /must be http: or https:/);
    assert.match(await usage("--upstream-url", "http://user:pw@127.0.0.1:1/mcp"), /must not carry credentials/);
    assert.match(await usage("--upstream", "node s.js", "--listen", "https://127.0.0.1:8808"), /an `https:\/\/` listener needs its certificate and key/);
    assert.match(await usage("--upstream", "node s.js", "--listen", "ftp://127.0.0.1:8808"), /listeners are not supported/);
    assert.match(await usage("--upstream", "node s.js", "--listen", "http://127.0.0.1"), /needs a port/);
    assert.match(await usage("--upstream", "node s.js", "--audit-key", "audit.key"), /give it with `--audit LOG`/);
    assert.match(await usage("--upstream", "node s.js", "--listen", "http://0.0.0.0:8808"), /plain MCP on `0.0.0.0` would expose/);
  });

  it("refuses at startup, with the typed error and exit code 1, a configuration the state store or the session cannot serve", async () => {
    const dir = await mkdtemp(join(tmpdir(), "pqguard-config-"));
    const errors: string[] = [];
    const io = (...args: string[]) => ({ argv: [...args, "--upstream", "node never-started.js"], cwd: ROOT, out: () => undefined, err: (text: string) => void errors.push(text) });
    const signatureBefore = process.env.PQGUARD_SIGNATURE;
    try {
      // A window as long as the session, with nothing bounding the session's age: no store can keep calls that long.
      const policy = join(dir, "unbounded.policy");
      const manifest = fileURLToPath(new URL("./fixtures/flaky.tools.json", import.meta.url));
      await writeFile(policy, `policy unbounded version 1\nmanifest "${manifest}"\n\npermit tool echo\n  when calls(echo, session.age) < 3\n`);
      const audit = join(dir, "audit.log");
      assert.equal(await runProxy(io("--policy", policy, "--audit", audit)), 1);
      assert.match(errors.join(""), /^error PQG7311: /);
      if (existsSync("/proc/self/fd")) {
        // The audit log it had opened is closed again: no descriptor of this process refers to it.
        const open = readdirSync("/proc/self/fd").map((fd) => {
          try {
            return readlinkSync(`/proc/self/fd/${fd}`);
          } catch {
            return "";
          }
        });
        assert.ok(!open.includes(audit), "the audit log is still open");
      }

      // A usage error is found before anything is opened: no audit log is created for it.
      const unopened = join(dir, "unopened.log");
      const usage = { argv: ["--policy", "test/proxy/fixtures/flaky.policy", "--audit", unopened, "--upstream", "  "], cwd: ROOT, out: () => undefined, err: () => undefined };
      await assert.rejects(runProxy(usage), (error: unknown) => error instanceof UsageError && /names no command/.test(error.message));
      assert.ok(!existsSync(unopened), "the audit log was opened before the usage error");

      // An identity whose algorithm the configured signature list leaves out.
      errors.length = 0;
      await writeIdentity(generateIdentity("ML-DSA-65"), join(dir, "server"));
      process.env.PQGUARD_SIGNATURE = "ML-DSA-87";
      assert.equal(await runProxy(io("--policy", "test/proxy/fixtures/flaky.policy", "--key", join(dir, "server.key"))), 1);
      assert.match(errors.join(""), /^error PQG6021: this server's identity signs with `ML-DSA-65`/);
    } finally {
      if (signatureBefore === undefined) delete process.env.PQGUARD_SIGNATURE;
      else process.env.PQGUARD_SIGNATURE = signatureBefore;
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("runs the payments demo end to end (npm start)", async () => {
    const child = spawn(process.execPath, [...PQGUARD, "demo"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString("utf8")));
    child.stderr.on("data", (chunk: Buffer) => (out += chunk.toString("utf8")));
    assert.deepEqual(await exitWithin(child, 120_000), { code: 0, signal: null }, out);
    assert.match(out, /ALLOWED after approval/);
    assert.match(out, /DENIED PQG7301 \[payments\.policy:25\]: refunds over 5000 are never automated/);
    assert.match(out, /DENIED PQG7303: the definition of tool `process_refund` changed/);
    assert.match(out, /summary: 8 calls, 5 allowed \(1 after approval\), 3 denied; audit log 8 lines, hash chain intact/);
  });
});
