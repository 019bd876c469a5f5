// Result rules on what a server sends beside its results, tried as an attacker in all three enforcement points: a
// server that reports a private key in its progress messages and logs it (as text, inside a JSON value, in a key)
// while its results are clean, reports injected instructions as progress, and logs a secret after its call returned.
// A resource a tool's result linked to is read as that tool's result. The real server-everything's logging and
// progress go through the proxy's rules too.
import assert from "node:assert/strict";
import fc from "fast-check";
import process from "node:process";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { ListRootsRequestSchema, LoggingMessageNotificationSchema, type Progress } from "@modelcontextprotocol/sdk/types.js";
import { interpret } from "../../compiler/interpreter.js";
import type { AuditDecision } from "../../runtime/audit/record.js";
import { silentLogger } from "../../runtime/audit/index.js";
import { enforce } from "../../runtime/enforce/server.js";
import { guardClient } from "../../runtime/enforce/client.js";
import { DecisionPoint } from "../../runtime/enforce/decide.js";
import { notificationTexts, ReturningCalls } from "../../runtime/enforce/notifications.js";
import type { GuardModule } from "../../runtime/guard/types.js";
import type { ToolDefinition, VerifiedManifest } from "../../runtime/manifest/signed.js";
import { toolDigest } from "../../runtime/manifest/digest.js";
import { createProxy, FORWARDED_CLIENT_CAPABILITIES } from "../../runtime/proxy/index.js";
import { MemoryStateStore } from "../../runtime/state/memory.js";
import { checked } from "../support/guards.js";
import { EVERYTHING, EVERYTHING_STDIO, everythingTools } from "../support/everything.js";
import { connectClient, until } from "../proxy/harness.js";
import { AWS, KEY, leakyServer } from "./fixtures/leaky-server.js";

const LEAKY_SERVER = fileURLToPath(new URL("./fixtures/leaky-server.ts", import.meta.url));
/** server-everything's own factory, for running it in process under enforce() or beside guardClient(). */
const EVERYTHING_FACTORY = pathToFileURL(join(dirname(EVERYTHING), "server", "index.js")).href;
/** For server-everything: its log lines all end in `-level message`, a rule for every tool takes that out. */
const EVERYTHING_POLICY = `policy everything
manifest "tools.json"
permit tool *
redact /-level message/ in result of * as "-level [redacted]"
refuse result of "trigger-long-running-operation" when result.text contains "password"
`;
/** What the key's body looks like wherever it leaks; no message the client receives may hold it. */
const KEY_BODY = "b3BlbnNzaC1rZXkt";

const POLICY = `policy leaky
manifest "tools.json"

permit tool *
forbid tool fetch when seen("private-key") because "a session that read a private key may not reach the network"

redact /-----BEGIN [A-Z]{0,12} ?PRIVATE KEY-----[A-Za-z0-9+\\/=\\s]*-----END [A-Z]{0,12} ?PRIVATE KEY-----/ in result of read_text_file as "[redacted private key]"
mark result of read_text_file when result.text contains "PRIVATE KEY-----" as seen "private-key"
refuse result of fetch when result.text matches /ignore (all )?previous instructions/i because "the page addresses the model"
mark result of fetch as "untrusted"
redact /AKIA[0-9A-Z]{16}/ in result of * as "[aws key]"
`;

class Lines {
  readonly lines: AuditDecision[] = [];
  readonly failure = undefined;
  append(line: AuditDecision): void {
    this.lines.push(line);
  }
}

async function toolList(): Promise<{ tools: ToolDefinition[] }> {
  const [a, b] = InMemoryTransport.createLinkedPair();
  const client = new Client({ name: "lister", version: "1" });
  await leakyServer().connect(b);
  await client.connect(a);
  const listed = (await client.listTools()) as { tools: ToolDefinition[] };
  await client.close();
  return listed;
}

/** A client that records every log message and progress notification it receives. */
interface Watched {
  readonly client: Client;
  readonly logs: Record<string, unknown>[];
}

function watched(): Watched {
  const client = new Client({ name: "agent", version: "1" });
  const logs: Record<string, unknown>[] = [];
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.push(n.params as Record<string, unknown>));
  return { client, logs };
}

type Point = "enforce()" | "guardClient()" | "proxy";

async function connect(point: Point, guard: GuardModule, audit: Lines): Promise<{ watched: Watched; close: () => Promise<void> }> {
  if (point === "proxy") {
    const proxy = createProxy({ upstream: { command: process.execPath, args: ["--import", "tsx", LEAKY_SERVER], stderr: "ignore" }, guard, logger: silentLogger(), audit, toolRecheckMs: 0 });
    await proxy.start();
    const client = await connectClient(proxy);
    const logs: Record<string, unknown>[] = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.push(n.params as Record<string, unknown>));
    return { watched: { client, logs }, close: async () => (await client.close(), await proxy.close()) };
  }
  const [a, b] = InMemoryTransport.createLinkedPair();
  const server = leakyServer();
  if (point === "enforce()") enforce(server, guard, { allowUnsealed: true, audit });
  const w = watched();
  await server.connect(b);
  await w.client.connect(a);
  if (point === "guardClient()") {
    guardClient(w.client, guard, { allowUnsealed: true, manifest: manifestOf((await toolList()).tools), audit });
  }
  return { watched: w, close: () => w.client.close() };
}

/** server-everything's logging switched on, its log lines redacted by the `*` rule; its progress numbers pass. */
async function everythingUnderRules(client: Client, logs: readonly string[]): Promise<void> {
  await client.callTool({ name: "toggle-simulated-logging", arguments: {} });
  await until(() => logs.length > 0, 10_000, "a log message from server-everything");
  assert.ok(logs.every((l) => !l.includes("-level message")), `every log line passed the \`*\` redaction: ${logs.join(" | ")}`);
  const long = await callWithProgress(client, "trigger-long-running-operation", { duration: 0.2, steps: 2 });
  assert.deepEqual(long.progress.map((p) => p.progress), [1, 2]);
  assert.match(long.text, /completed/);
}

/** A manifest that pins `tools` as listed, for guardClient(). */
function manifestOf(tools: readonly ToolDefinition[]): VerifiedManifest {
  return { issuer: "test", algorithm: "ML-DSA-65", issuedAt: 0, expiresAt: Number.MAX_SAFE_INTEGER, tools: [...tools], digests: Object.fromEntries(tools.map((t) => [t.name, toolDigest(t)])), digest: "0".repeat(64) };
}

/** Calls a tool asking for progress; answers the result and the progress messages that arrived. */
async function callWithProgress(client: Client, name: string, args: Record<string, unknown>): Promise<{ text: string; progress: Progress[] }> {
  const progress: Progress[] = [];
  const result = await client.callTool({ name, arguments: args }, undefined, { onprogress: (p) => void progress.push(p) });
  return { text: (result.content as { text: string }[])[0]!.text, progress };
}

describe("result rules on progress and log notifications", function () {
  this.timeout(60_000);
  let guard: GuardModule;

  before(async () => {
    guard = interpret(checked(POLICY, { "tools.json": await toolList() }));
  });

  for (const point of ["enforce()", "guardClient()", "proxy"] as const) {
    describe(point, () => {
      it("redacts a private key the tool reports as progress and logs, and the session counts it as seen", async () => {
        const audit = new Lines();
        const { watched: w, close } = await connect(point, guard, audit);
        try {
          const read = await callWithProgress(w.client, "read_text_file", { path: "notes.txt" });
          assert.equal(read.text, "plain text");
          assert.deepEqual(read.progress.map((p) => p.message), ["read notes.txt: [redacted private key]"]);
          await until(() => w.logs.length >= 2, 5_000, "both log messages");
          assert.equal(w.logs[0]!["data"], "contents of notes.txt: [redacted private key]");
          assert.equal(w.logs[0]!["logger"], "files");
          assert.deepEqual(w.logs[1]!["data"], { path: "notes.txt", "[redacted private key]": "as a key", nested: [{ body: "[redacted private key]" }], size: 3 });
          assert.ok(!JSON.stringify([read, w.logs]).includes(KEY_BODY), "no progress or log message holds the key");
          // The result itself was clean: only the progress message can have marked the session.
          await assert.rejects(w.client.callTool({ name: "fetch", arguments: { url: "https://ok.example" } }), /may not reach the network/);
          assert.ok(audit.lines.some((l) => l.reason.startsWith("progress notification passed") && l.reason.includes("seen \"private-key\"")));
          assert.ok(audit.lines.some((l) => l.reason.startsWith("log message passed; 1 redaction")));
          assert.ok(!JSON.stringify(audit.lines).includes(KEY_BODY), "the audit log never holds the key");
        } finally {
          await close();
        }
      });

      it("drops progress and log messages that carry injected instructions, says so in the audit log, and the call still answers", async () => {
        const audit = new Lines();
        const { watched: w, close } = await connect(point, guard, audit);
        try {
          const fetched = await callWithProgress(w.client, "fetch", { url: "https://ok.example" });
          assert.equal(fetched.text, "a harmless page");
          assert.deepEqual(fetched.progress.map((p) => p.message), ["fetched https://ok.example"]);
          await until(() => w.logs.length >= 1, 5_000, "the harmless log message");
          assert.deepEqual(w.logs.map((l) => l["data"]), ["fetched https://ok.example"], "the log line with the injection was dropped");
          const dropped = audit.lines.filter((l) => l.outcome === "denied");
          assert.deepEqual(dropped.map((l) => [l.code, l.tool]), [["PQG7701", "fetch"], ["PQG7701", "fetch"]], "each dropped notification has its audit line");
          assert.match(dropped[0]!.reason, /^progress notification of `fetch` dropped: .*the page addresses the model/);
          assert.match(dropped[1]!.reason, /^log message of `fetch` dropped: .*the page addresses the model/);
        } finally {
          await close();
        }
      });

      it("a resource a tool's result linked to is read as that tool's result: redacted, or withheld (PQG7705)", async () => {
        const { watched: w, close } = await connect(point, guard, new Lines());
        try {
          // The page first: once the session has seen the key, its fetches are refused.
          await w.client.callTool({ name: "fetch", arguments: { url: "linked" } });
          await assert.rejects(w.client.readResource({ uri: "https://evil.example/page" }), (error: { data?: { code?: string } }) => error.data?.code === "PQG7705");
          const linked = await w.client.callTool({ name: "read_text_file", arguments: { path: "linked" } });
          assert.equal((linked.content as { uri: string }[])[0]!.uri, "file:///notes.txt");
          const read = await w.client.readResource({ uri: "file:///notes.txt" });
          assert.equal((read.contents[0] as { text: string }).text, "notes\n[redacted private key]");
        } finally {
          await close();
        }
      });

      it("a log message sent after the call returned meets the rules for every tool (`result of *`)", async () => {
        const { watched: w, close } = await connect(point, guard, new Lines());
        try {
          await w.client.callTool({ name: "status", arguments: {} });
          await until(() => w.logs.length >= 1, 5_000, "the late log message");
          assert.match(String(w.logs[0]!["data"]), /^late: [\s\S]* \[aws key\]$/);
          assert.ok(!String(w.logs[0]!["data"]).includes(AWS));
        } finally {
          await close();
        }
      });
    });
  }

  it("progress marked by a `mark` rule carries the label, and a notification that cannot be walked is dropped", async () => {
    const decisions = new DecisionPoint(guard, "server", { store: new MemoryStateStore(), now: () => 1000 }, "0".repeat(64));
    const session = { sessionId: "s", establishedAt: 0, sealed: false, info: undefined };
    const progress = { jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: 1, progress: 1, message: "half way" } };
    const marked = await decisions.inspectNotification(progress, [{ tool: "fetch", args: {}, session }], session);
    assert.deepEqual((marked?.["params"] as { _meta?: unknown })._meta, { "pqguard/marks": ["untrusted"] });
    let deep: unknown = "x";
    for (let i = 0; i < 200_000; i++) deep = [deep];
    assert.equal(await decisions.inspectNotification({ jsonrpc: "2.0", method: "notifications/message", params: { level: "info", data: deep } }, [], session), undefined);
    const numbersOnly = { jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: 1, progress: 1, total: 2 } };
    assert.equal(await decisions.inspectNotification(numbersOnly, [{ tool: "fetch", args: {}, session }], session), numbersOnly, "progress without a message has no text to inspect");
    assert.equal(notificationTexts("notifications/resources/updated", { uri: KEY }), undefined, "other notifications are not read");
  });

  it("a server that reports one call's secret under another call's progress token meets the first call's rules too", async () => {
    const decisions = new DecisionPoint(guard, "server", { store: new MemoryStateStore(), now: () => 1000 }, "0".repeat(64));
    const session = { sessionId: "s", establishedAt: 0, sealed: false, info: undefined };
    const calls = new ReturningCalls();
    calls.set(1, { tool: "fetch", args: { url: "https://ok.example" }, session }, { progressToken: "fetch-token" });
    calls.set(2, { tool: "read_text_file", args: { path: "id_rsa" }, session }, { progressToken: "read-token" });
    const spoofed = { jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: "fetch-token", progress: 1, message: KEY } };
    const owners = calls.owners(spoofed);
    assert.deepEqual(owners.map((o) => o.tool), ["fetch", "read_text_file"], "its token's call first, then every other call in flight");
    const passed = await decisions.inspectNotification(spoofed, owners, session);
    assert.equal((passed?.["params"] as { message: string }).message, "[redacted private key]");
    assert.deepEqual(calls.take(2)?.tool, "read_text_file");
    assert.deepEqual(calls.owners(spoofed).map((o) => o.tool), ["fetch"], "a call answered is no longer an owner");
  });

  it("a log message's texts go back where they came from: unchanged texts rebuild it as it was, numbers and shape stay", () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.option(fc.string(), { nil: undefined }), (data, logger) => {
        const params = { level: "info", data, ...(logger === undefined ? {} : { logger }) };
        const found = notificationTexts("notifications/message", params);
        if (found === undefined) return;
        assert.deepEqual(found.rebuild(found.texts, []), params);
        const shape = (v: unknown): unknown => (typeof v === "string" ? "" : Array.isArray(v) ? v.map(shape) : typeof v === "object" && v !== null ? Object.values(v).map(shape) : v);
        // Changed one to one, as a redaction that leaves keys distinct does.
        const blanked = found.rebuild(found.texts.map((t) => `${t}#`), ["m"]);
        assert.deepEqual(shape(blanked["data"]), shape(data));
        assert.deepEqual(blanked["_meta"], { "pqguard/marks": ["m"] });
      }),
      { numRuns: 300 },
    );
    const hostile = JSON.parse(`{"level":"info","data":{"__proto__":{"polluted":"${AWS}"}}}`) as Record<string, unknown>;
    const found = notificationTexts("notifications/message", hostile)!;
    const rebuilt = found.rebuild(found.texts, []) as { data: object };
    assert.deepEqual(Object.keys(rebuilt.data), ["__proto__"], "a `__proto__` key stays a key");
    assert.equal(Object.getPrototypeOf(rebuilt.data), Object.prototype);
  });

  for (const point of ["enforce()", "guardClient()"] as const) {
    it(`${point} applies the rules to server-everything's own logging, in process, and lets its progress numbers through`, async () => {
      const tools = await everythingTools();
      const real = interpret(checked(EVERYTHING_POLICY, { "tools.json": { tools } }));
      const { createServer } = (await import(EVERYTHING_FACTORY)) as { createServer: () => { server: McpServer; cleanup: (sessionId?: string) => void } };
      const { server, cleanup } = createServer();
      if (point === "enforce()") enforce(server, real, { allowUnsealed: true });
      const [a, b] = InMemoryTransport.createLinkedPair();
      const client = new Client({ name: "agent", version: "1" }, { capabilities: FORWARDED_CLIENT_CAPABILITIES });
      const logs: string[] = [];
      client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.push(String(n.params.data)));
      client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [] }));
      await server.connect(b);
      await client.connect(a);
      if (point === "guardClient()") {
        guardClient(client, real, { allowUnsealed: true, manifest: manifestOf(tools as ToolDefinition[]) });
      }
      try {
        await client.setLoggingLevel("debug");
        await everythingUnderRules(client, logs);
      } finally {
        // Its logging switch is module state, shared by every instance in this process: switched off again, not left on.
        await client.callTool({ name: "toggle-simulated-logging", arguments: {} });
        cleanup();
        await client.close();
      }
    });
  }

  it("the proxy applies the rules to server-everything's own logging and lets its progress numbers through", async () => {
    const tools = await everythingTools();
    const real = interpret(checked(EVERYTHING_POLICY, { "tools.json": { tools } }));
    const proxy = createProxy({ upstream: EVERYTHING_STDIO, guard: real, logger: silentLogger(), toolRecheckMs: 0 });
    await proxy.start();
    const client = await connectClient(proxy);
    const logs: string[] = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.push(String(n.params.data)));
    try {
      await everythingUnderRules(client, logs);
    } finally {
      await client.close();
      await proxy.close();
    }
  });
});
