// The paths a tools/call can take to server-everything in the proxy benchmark, each set up with its processes and its
// connected SDK clients: directly, through `pqguard proxy` (plain, sealed, behind `pqguard connect`) and through
// mcp-proxy, over stdio and over Streamable HTTP. Every process runs as users run it: `node dist/bin/pqguard.js ...`.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport, type StdioServerParameters } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { generateIdentity, writeIdentity } from "../../runtime/identity/index.js";
import { PqcClientTransport } from "../../runtime/transport/index.js";
import { EVERYTHING, EVERYTHING_LINE, everythingTools } from "../../test/support/everything.js";
import { freePort, LogFiles, ProcessGroup, waitForLine, waitForPort, waitForText } from "./children.js";
import { nodeFetch } from "../../runtime/transport/fetch.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const PQGUARD = join(ROOT, "dist", "bin", "pqguard.js");
const MCP_PROXY = join(ROOT, "node_modules", "mcp-proxy");
/** The floor: a bare JSON-RPC relay (stdio, or Streamable HTTP → stdio) in front of the same upstream. */
const RELAY = join(ROOT, "bench", "proxy", "relay.mjs");

/** What every call sends: server-everything's `echo` returns it. */
export const ECHO = { name: "echo", arguments: { message: "hello from the benchmark" } } as const;

/** Permits the one tool measured; the manifest is server-everything's tool list as the proxy's session reads it. */
const POLICY = `policy bench version 1
manifest "everything.tools.json"

permit tool echo
`;

/**
 * One client connection and the processes whose CPU time its calls cost: the proxy's and `pqguard connect`'s, or,
 * for the direct baselines, the server's own.
 */
export interface Connection {
  readonly client: Client;
  readonly proxyPid?: number;
  readonly connectPid?: number;
  readonly serverPid?: number;
}

export interface RunningVariant {
  readonly name: VariantName;
  readonly connections: readonly Connection[];
}

export type VariantName =
  | "stdio_direct"
  | "stdio_floor"
  | "stdio_proxy"
  | "host_path"
  | "http_direct"
  | "http_floor"
  | "http_mcp_proxy"
  | "http_proxy_plain"
  | "http_proxy_sealed"
  | "http_proxy_sealed_shared";

/** The shared set-up: a temporary folder with the policy, its manifest and the proxy's key; the processes; their logs. */
export class BenchSetting {
  readonly group = new ProcessGroup();
  readonly logs: LogFiles;
  readonly policy: string;
  readonly key: string;
  private constructor(
    readonly dir: string,
    readonly fingerprint: string,
    /** `node` flags for every pqguard process (`--cpu-prof` when profiling). */
    readonly nodeFlags: readonly string[],
  ) {
    this.logs = new LogFiles(dir);
    this.policy = join(dir, "bench.policy");
    this.key = join(dir, "proxy.key");
  }

  static async create(dir: string, nodeFlags: readonly string[]): Promise<BenchSetting> {
    const identity = generateIdentity();
    await writeIdentity(identity, join(dir, "proxy"));
    writeFileSync(join(dir, "everything.tools.json"), JSON.stringify({ tools: await everythingTools() }, null, 2));
    writeFileSync(join(dir, "bench.policy"), POLICY);
    return new BenchSetting(dir, identity.keyId, nodeFlags);
  }

  /** `pqguard proxy` over its stdin/stdout, plain, guarding and auditing, with server-everything as its upstream. */
  stdioProxyParameters(name: string): StdioServerParameters {
    return {
      command: process.execPath,
      args: [...this.nodeFlags, PQGUARD, "proxy", "--policy", this.policy, "--upstream", EVERYTHING_LINE, "--audit", join(this.dir, `${name}.audit.log`)],
      cwd: this.dir,
      stderr: this.logs.open(name).fd,
    };
  }

  /** `pqguard connect --url URL` as a host launches it. */
  connectParameters(name: string, url: URL): StdioServerParameters {
    return {
      command: process.execPath,
      args: [...this.nodeFlags, PQGUARD, "connect", "--url", url.href, "--trust", this.fingerprint],
      cwd: this.dir,
      stderr: this.logs.open(name).fd,
    };
  }

  /**
   * Starts `pqguard proxy --listen http://127.0.0.1:0/mcp` (sealed with the key, or plain), guarding and auditing;
   * resolves with the URL it prints. Its log is at `log`; `upstream tool list pinned` there means its upstream is ready.
   */
  async httpProxy(name: string, sealed: boolean, extra: readonly string[] = []): Promise<{ pid: number; url: URL; log: string }> {
    const { path, fd } = this.logs.open(name);
    const args = [...this.nodeFlags, PQGUARD, "proxy", "--policy", this.policy, "--upstream", EVERYTHING_LINE, "--listen", "http://127.0.0.1:0/mcp", "--audit", join(this.dir, `${name}.audit.log`), ...extra];
    const child = this.group.spawnNode(sealed ? [...args, "--key", this.key] : args, { cwd: this.dir, stdout: "pipe", logFd: fd });
    const [, url] = await waitForLine(child, /listening on (\S+) \((?:post-quantum session|plain MCP)\)/, `pqguard proxy (${name})`);
    return { pid: child.pid!, url: new URL(url!), log: path };
  }
}

/** A client of the benchmark; it declares no capabilities, so the proxy has nothing to ask it. */
function benchClient(): Client {
  return new Client({ name: "bench", version: "1.0.0" });
}

/** Connects a client to a server the SDK launches over stdio; the process is registered for clean-up even if that fails. */
async function connectStdio(setting: BenchSetting, parameters: StdioServerParameters): Promise<{ client: Client; pid: number }> {
  const transport = new StdioClientTransport(parameters);
  const client = benchClient();
  try {
    await client.connect(transport);
  } finally {
    if (transport.pid !== null) setting.group.adopt(transport.pid);
  }
  return { client, pid: transport.pid! };
}

/**
 * Every HTTP variant's client: the SDK's Streamable HTTP client over pqguard's node:http fetch (what `pqguard connect`
 * and the proxy's HTTP upstreams use), one keep-alive agent per client. The same for every server measured, and a
 * third of the CPU of the SDK over undici's fetch, which would otherwise be most of what the two cores spend.
 */
function httpClientTransport(url: URL): StreamableHTTPClientTransport {
  return new StreamableHTTPClientTransport(url, { fetch: nodeFetch() });
}

async function connectHttp(transport: Transport): Promise<Client> {
  const client = benchClient();
  await client.connect(transport);
  return client;
}

const EVERYTHING_STDIO_PARAMETERS: StdioServerParameters = { command: process.execPath, args: [EVERYTHING, "stdio"], stderr: "ignore" };

export function directStdioParameters(): StdioServerParameters {
  return EVERYTHING_STDIO_PARAMETERS;
}

function times<T>(count: number, make: (index: number) => Promise<T>): Promise<T[]> {
  return Promise.all(Array.from({ length: count }, (_, index) => make(index)));
}

/** Sets up one variant with `clients` connections, checking that an echo call comes back through it. */
export async function startVariant(setting: BenchSetting, name: VariantName, clients: number): Promise<RunningVariant> {
  const connections = await connectionsOf(setting, name, clients);
  const variant = { name, connections };
  for (const { client } of connections) {
    const result = await client.callTool(ECHO);
    if (!JSON.stringify(result.content).includes(ECHO.arguments.message)) throw new Error(`bench proxy: ${name} did not echo: ${JSON.stringify(result).slice(0, 300)}`);
  }
  return variant;
}

async function connectionsOf(setting: BenchSetting, name: VariantName, clients: number): Promise<Connection[]> {
  switch (name) {
    case "stdio_direct":
      return times(clients, async () => {
        const { client, pid } = await connectStdio(setting, directStdioParameters());
        return { client, serverPid: pid };
      });
    case "stdio_proxy":
      // One client per stdio proxy, as a host launches one per server.
      return times(clients, async (i) => {
        const { client, pid } = await connectStdio(setting, setting.stdioProxyParameters(`stdio-proxy-${i}`));
        return { client, proxyPid: pid };
      });
    case "stdio_floor":
      return times(clients, async () => {
        const { client, pid } = await connectStdio(setting, { command: process.execPath, args: [RELAY, "stdio", "--", process.execPath, EVERYTHING, "stdio"], stderr: "ignore" });
        return { client, proxyPid: pid };
      });
    case "http_floor": {
      const { fd } = setting.logs.open("http-floor");
      const child = setting.group.spawnNode([RELAY, "http", "--", process.execPath, EVERYTHING, "stdio"], { cwd: setting.dir, stdout: "pipe", logFd: fd });
      const [, url] = await waitForLine(child, /listening on (\S+)/, "the HTTP relay");
      return times(clients, async () => ({ client: await connectHttp(httpClientTransport(new URL(url!))), proxyPid: child.pid! }));
    }
    case "host_path": {
      const proxy = await setting.httpProxy("host-path-proxy", true);
      return times(clients, async (i) => {
        const { client, pid } = await connectStdio(setting, setting.connectParameters(`host-path-connect-${i}`, proxy.url));
        return { client, proxyPid: proxy.pid, connectPid: pid };
      });
    }
    case "http_direct": {
      const port = await freePort();
      const { fd } = setting.logs.open("http-direct");
      // server-everything's own Streamable HTTP server (express, one McpServer per session); it reads PORT.
      const child = setting.group.spawnNode([EVERYTHING, "streamableHttp"], { cwd: setting.dir, stdout: fd, logFd: fd, env: { ...process.env, PORT: String(port) } });
      await waitForPort(port, child, "server-everything (streamableHttp)");
      const url = new URL(`http://127.0.0.1:${port}/mcp`);
      return times(clients, async () => ({ client: await connectHttp(httpClientTransport(url)), serverPid: child.pid! }));
    }
    case "http_mcp_proxy": {
      const port = await freePort();
      const { fd } = setting.logs.open("mcp-proxy");
      const bin = join(MCP_PROXY, (JSON.parse(readFileSync(join(MCP_PROXY, "package.json"), "utf8")) as { bin: Record<string, string> }).bin["mcp-proxy"]!);
      const child = setting.group.spawnNode([bin, "--host", "127.0.0.1", "--port", String(port), "--", process.execPath, EVERYTHING, "stdio"], {
        cwd: setting.dir,
        stdout: fd,
        logFd: fd,
      });
      await waitForPort(port, child, "mcp-proxy");
      const url = new URL(`http://127.0.0.1:${port}/mcp`);
      return times(clients, async () => ({ client: await connectHttp(httpClientTransport(url)), proxyPid: child.pid! }));
    }
    case "http_proxy_plain": {
      const proxy = await setting.httpProxy("http-proxy-plain", false);
      return times(clients, async () => ({ client: await connectHttp(httpClientTransport(proxy.url)), proxyPid: proxy.pid }));
    }
    case "http_proxy_sealed":
    case "http_proxy_sealed_shared": {
      const shared = name === "http_proxy_sealed_shared";
      const proxy = await setting.httpProxy(shared ? "http-proxy-sealed-shared" : "http-proxy-sealed", true, shared ? ["--upstream-mode", "shared"] : []);
      const trust = { serverFingerprints: [setting.fingerprint] };
      return times(clients, async () => ({ client: await connectHttp(new PqcClientTransport(httpClientTransport(proxy.url), { trust })), proxyPid: proxy.pid }));
    }
  }
}

/** Milliseconds from launching the server (or what stands in front of it) to the first answered echo call. */
export async function timeFirstCall(setting: BenchSetting, parameters: StdioServerParameters): Promise<number> {
  const start = performance.now();
  const { client, pid } = await connectStdio(setting, parameters);
  try {
    await client.callTool(ECHO);
    return performance.now() - start;
  } finally {
    await client.close();
    await setting.group.stop(pid);
  }
}

/**
 * Milliseconds from launching `pqguard connect` to its first answered call, against a sealed proxy started just before
 * and ready (its upstream started and pinned), so the interval holds no upstream start: the first client of a proxy is
 * served by the upstream session it opened at start.
 */
export async function timeConnectFirstCall(setting: BenchSetting, run: number): Promise<number> {
  const proxy = await setting.httpProxy(`ready-proxy-${run}`, true);
  try {
    await waitForText(proxy.log, "upstream tool list pinned", "pqguard proxy");
    return await timeFirstCall(setting, setting.connectParameters(`ready-connect-${run}`, proxy.url));
  } finally {
    await setting.group.stop(proxy.pid);
  }
}
