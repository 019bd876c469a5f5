// `pqguard connect` as a host uses it: the SDK client launches it as its stdio server, and it reaches a real server
// (server-everything from npm) through a sealed `pqguard proxy` over Streamable HTTP. Allowed, refused and `ask`
// calls behave as in plain mode; the bridge survives the proxy's restart; it never falls back to a plain session.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import process from "node:process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client as ClientV2 } from "@modelcontextprotocol/client";
import { StdioClientTransport as StdioClientTransportV2 } from "@modelcontextprotocol/client/stdio";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { ownScript } from "../../bin/commands/own-scripts.js";
import { generateIdentity, writeIdentity, type Identity } from "../../runtime/identity/index.js";
import { EVERYTHING_LINE, everythingTools } from "../support/everything.js";
import { echoTools } from "../enforce/fixtures-v2.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CLI = ownScript("bin/pqguard");
/** Starting the proxy compiles its policy and starts the server first: generous on a busy machine. */
const PROXY_START_MS = 30_000;

const POLICY = `policy bridge version 1
manifest "everything.tools.json"

permit tool echo, "get-sum", "trigger-long-running-operation"
forbid tool "get-env" because "the environment stays on the server"
ask tool "get-sum" when args.a > 100 because "big sums need a human"
permit tool "get-tiny-image" when client.authenticated and client.role == "billing-agent"
`;

/** For the SDK v2 echo server, whose clients may speak revision 2026-07-28. */
const ECHO_POLICY = `policy echo version 1
manifest "echo.tools.json"

permit tool echo when len(args.text) < 10
limit tool echo to 2 per 1h per session
`;
const V2_ECHO_LINE = ownScriptLineOf(fileURLToPath(new URL("../proxy/fixtures/v2-echo-server.ts", import.meta.url)));

/** A command line that runs a TypeScript file of the tests through tsx, quoted as `--upstream` reads it. */
function ownScriptLineOf(file: string): string {
  return [process.execPath, "--import", "tsx", file].map((word) => `"${word}"`).join(" ");
}

interface RunningProxy {
  readonly child: ChildProcess;
  readonly url: URL;
}

/** Starts `pqguard proxy` sealed on `listen` (port 0 for any); resolves with the URL it reports. */
function startProxy(dir: string, listen = "http://127.0.0.1:0/mcp", extra: string[] = [], policy = "bridge.policy", upstream = EVERYTHING_LINE): Promise<RunningProxy> {
  const child = spawn(
    CLI.command,
    [...CLI.args, "proxy", "--policy", join(dir, policy), "--upstream", upstream, "--listen", listen, "--key", join(dir, "proxy.key"), "--log-level", "error", ...extra],
    { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] },
  );
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error("the proxy did not start listening in time")), PROXY_START_MS);
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString("utf8");
      const match = /listening on (\S+) \(post-quantum session\)/.exec(out);
      if (match !== null) {
        clearTimeout(timer);
        resolve({ child, url: new URL(match[1]!) });
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the proxy exited (${code}) before listening`));
    });
  });
}

async function stopProxy(proxy: RunningProxy | undefined, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (proxy === undefined || proxy.child.exitCode !== null) return;
  const exited = new Promise((resolve) => proxy.child.once("exit", resolve));
  proxy.child.kill(signal);
  await exited;
}

/** A host: the SDK client launching `pqguard connect` as its stdio server, answering approvals as `approve` says. */
async function host(url: URL, trust: string, approve: () => boolean, extra: string[] = []): Promise<Client> {
  const transport = new StdioClientTransport({
    command: CLI.command,
    args: [...CLI.args, "connect", "--url", url.href, "--trust", trust, ...extra],
    cwd: ROOT,
    stderr: process.env.PQGUARD_TEST_DEBUG === undefined ? "pipe" : "inherit",
  });
  const client = new Client({ name: "host", version: "1.0.0" }, { capabilities: { elicitation: { form: {} } } });
  client.setRequestHandler(ElicitRequestSchema, async () => (approve() ? { action: "accept", content: { approve: true } } : { action: "decline" }));
  await client.connect(transport, { timeout: PROXY_START_MS });
  return client;
}

describe("pqguard connect (a host's stdio server, sealed to a remote proxy)", function () {
  this.timeout(90_000);
  let dir: string;
  let identity: Identity;
  let proxy: RunningProxy | undefined;
  let clients: Client[];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "pqguard-connect-"));
    identity = generateIdentity();
    await writeIdentity(identity, join(dir, "proxy"));
    await writeFile(join(dir, "everything.tools.json"), JSON.stringify({ tools: await everythingTools() }, null, 2));
    await writeFile(join(dir, "bridge.policy"), POLICY);
    await writeFile(join(dir, "echo.tools.json"), JSON.stringify({ tools: (await echoTools()).filter((tool) => tool.name === "echo") }, null, 2));
    await writeFile(join(dir, "echo.policy"), ECHO_POLICY);
  });

  beforeEach(() => {
    clients = [];
  });

  afterEach(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await stopProxy(proxy);
    proxy = undefined;
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("carries allowed, refused and approved calls to a real server through the sealed proxy", async () => {
    proxy = await startProxy(dir);
    let approvals = 0;
    const client = await host(proxy.url, identity.keyId, () => ++approvals > 0);
    clients.push(client);
    const tools = (await client.listTools()).tools.map((t) => t.name);
    assert.ok(tools.includes("echo") && !tools.includes("get-env"), tools.join(", "));
    assert.match(JSON.stringify((await client.callTool({ name: "echo", arguments: { message: "over the bridge" } })).content), /over the bridge/);
    await assert.rejects(client.callTool({ name: "get-env", arguments: {} }), /the environment stays on the server/);
    assert.match(JSON.stringify((await client.callTool({ name: "get-sum", arguments: { a: 500, b: 1 } })).content), /501/);
    assert.equal(approvals, 1, "the host was asked once, for the big sum");
  });

  it("relays a host pinned to revision 2026-07-28 to an SDK v2 server that speaks it, every call decided by the proxy", async () => {
    proxy = await startProxy(dir, undefined, [], "echo.policy", V2_ECHO_LINE);
    const transport = new StdioClientTransportV2({
      command: CLI.command,
      args: [...CLI.args, "connect", "--url", proxy.url.href, "--trust", identity.keyId],
      cwd: ROOT,
      stderr: process.env.PQGUARD_TEST_DEBUG === undefined ? "pipe" : "inherit",
    });
    const client = new ClientV2({ name: "pinned-host", version: "1.0.0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
    await client.connect(transport, { timeout: PROXY_START_MS });
    try {
      assert.deepEqual((await client.listTools()).tools.map((tool) => tool.name), ["echo"]);
      assert.match(JSON.stringify((await client.callTool({ name: "echo", arguments: { text: "sealed" } })).content), /sealed/);
      await assert.rejects(client.callTool({ name: "echo", arguments: { text: "much too long for it" } }), /refused/);
      await client.callTool({ name: "echo", arguments: { text: "again" } });
      // `per session` counts on the sealed session: the third allowed call is over the limit.
      await assert.rejects(client.callTool({ name: "echo", arguments: { text: "third" } }), /rate limit/);
      // A change subscription inside the sealed session: acknowledged with what the proxy relays, and cancelled.
      const subscription = await client.listen({ toolsListChanged: true, resourcesListChanged: true });
      assert.deepEqual(subscription.honoredFilter, { toolsListChanged: true });
      await subscription.close();
      assert.equal(await subscription.closed, "local");
    } finally {
      await client.close();
    }
  });

  it("authenticates the host's client with its certificate, so that client.* rules see its claims", async () => {
    const ca = generateIdentity();
    await writeIdentity(ca, join(dir, "ca"));
    await writeIdentity(generateIdentity(), join(dir, "agent"));
    const issue = [...CLI.args, "cert", "issue", "--issuer", join(dir, "ca.key"), "--key", join(dir, "agent.pub"), "--subject", "agent-7", "--claim", "role=billing-agent", "--ttl", "1h", "--out", join(dir, "agent.cert"), "--force"];
    assert.equal(await new Promise((resolve) => spawn(CLI.command, issue, { cwd: ROOT, stdio: "inherit" }).once("exit", resolve)), 0);
    proxy = await startProxy(dir, undefined, ["--trust-issuer", ca.keyId]);
    const anonymous = await host(proxy.url, identity.keyId, () => true);
    clients.push(anonymous);
    await assert.rejects(anonymous.callTool({ name: "get-tiny-image", arguments: {} }), /refused/);
    const certified = await host(proxy.url, identity.keyId, () => true, ["--key", join(dir, "agent.key"), "--cert", join(dir, "agent.cert")]);
    clients.push(certified);
    const image = await certified.callTool({ name: "get-tiny-image", arguments: {} });
    assert.ok(JSON.stringify(image.content).includes("image"), JSON.stringify(image.content).slice(0, 200));
  });

  it("refuses an `ask` call the host declines", async () => {
    proxy = await startProxy(dir);
    const client = await host(proxy.url, identity.keyId, () => false);
    clients.push(client);
    await assert.rejects(client.callTool({ name: "get-sum", arguments: { a: 500, b: 1 } }), /big sums need a human/);
  });

  it("survives the proxy's restart: the call in flight fails, the next one goes through a new sealed session", async () => {
    proxy = await startProxy(dir);
    const url = proxy.url;
    const client = await host(url, identity.keyId, () => true, ["--log-level", process.env.PQGUARD_TEST_DEBUG ?? "warn"]);
    clients.push(client);
    assert.match(JSON.stringify((await client.callTool({ name: "echo", arguments: { message: "before" } })).content), /before/);
    // Settled into a value at once, so that its rejection is never unhandled while the proxy restarts. Its first
    // progress notification says the server has it: killed before that, the bridge could still resend it.
    let progressed: () => void = () => undefined;
    const started = new Promise<void>((resolve) => (progressed = resolve));
    const inFlight = client.callTool({ name: "trigger-long-running-operation", arguments: { duration: 20, steps: 20 } }, undefined, { timeout: 60_000, onprogress: () => progressed() }).then(
      () => "answered",
      (error: unknown) => String(error),
    );
    await Promise.race([started, new Promise((_, reject) => setTimeout(() => reject(new Error("no progress from the long call within 15 s")), 15_000))]);
    await stopProxy(proxy, "SIGKILL");
    proxy = await startProxy(dir, url.href);
    assert.match(await inFlight, /connection to the pqguard proxy was lost/);
    const deadline = Date.now() + 30_000;
    let answered: string | undefined;
    while (answered === undefined && Date.now() < deadline) {
      answered = await client.callTool({ name: "echo", arguments: { message: "after" } }).then(
        (result) => JSON.stringify(result.content),
        () => undefined,
      );
      if (answered === undefined) await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.match(answered ?? "no answer within 30 s", /after/);
  });

  it("gives up, and never speaks plain MCP, when the proxy's key is not the trusted one", async () => {
    proxy = await startProxy(dir);
    const stranger = generateIdentity().keyId;
    await assert.rejects(host(proxy.url, stranger, () => true), /post-quantum session with the proxy could not be opened|closed|Connection closed/i);
  });

  it("refuses a command line without a proxy or a trusted fingerprint (exit 2)", async () => {
    const run = (args: string[]): Promise<number | null> =>
      new Promise((resolve) => spawn(CLI.command, [...CLI.args, "connect", ...args], { cwd: ROOT, stdio: "ignore" }).once("exit", resolve));
    assert.equal(await run(["--trust", identity.keyId]), 2);
    assert.equal(await run(["--url", "http://127.0.0.1:9/mcp"]), 2);
    assert.equal(await run(["--url", "ftp://example.org/", "--trust", identity.keyId]), 2);
    assert.equal(await run(["--url", "http://127.0.0.1:9/mcp", "--trust", "not-a-fingerprint"]), 2);
  });
});
