// Test support for the deployment tests: `pqguard proxy` replicas as processes, HAProxy in front of them, sealed
// clients over Streamable HTTP that note which replica answered, and a call's outcome as allowed or refused with a code.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ownScript } from "../../bin/commands/own-scripts.js";
import { PqcClientTransport } from "../../runtime/transport/index.js";
import { FLAKY_SERVER } from "../proxy/harness.js";
import { freePort, waitForPort } from "../support/redis.js";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const HAPROXY = ["/usr/sbin/haproxy", "/usr/local/sbin/haproxy", "/usr/bin/haproxy"].find((p) => existsSync(p));
const PQGUARD = ownScript("bin/pqguard").args;

export interface Replica {
  readonly child: ChildProcess;
  readonly url: URL;
  readonly port: number;
  /** Everything it wrote to stderr (its log). */
  log(): string;
  /** Resolves with its exit code, or "still running" after `ms`. */
  exited(ms: number): Promise<number | null | "still running">;
}

/** Starts `pqguard proxy` on a free loopback port; resolves once it listens (at most 60 s). */
export async function startReplica(options: { key: string; state: string; policy?: string; extra?: readonly string[]; env?: NodeJS.ProcessEnv }): Promise<Replica> {
  const child = spawn(
    process.execPath,
    [
      ...PQGUARD,
      "proxy",
      "--policy",
      options.policy ?? "test/proxy/fixtures/replicated.policy",
      "--upstream",
      `${process.execPath} --import tsx ${FLAKY_SERVER}`,
      "--upstream-mode",
      "shared",
      "--listen",
      "http://127.0.0.1:0",
      "--key",
      options.key,
      "--state",
      options.state,
      "--log-level",
      "info",
      ...(options.extra ?? []),
    ],
    { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...options.env } },
  );
  let log = "";
  child.stderr!.on("data", (chunk: Buffer) => (log += chunk.toString("utf8")));
  const url = await new Promise<URL>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`the proxy did not listen within 60 s: ${log}`)), 60_000);
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString("utf8");
      const match = /listening on (\S+) \(post-quantum session\)/.exec(out);
      if (match !== null) {
        clearTimeout(timer);
        resolve(new URL(match[1]!));
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the proxy exited (${code}) before listening: ${log}`));
    });
  });
  const exited = (ms: number): Promise<number | null | "still running"> => {
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve("still running"), ms);
      child.once("exit", (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
  };
  return { child, url, port: Number(url.port), log: () => log, exited };
}

export interface Balancer {
  readonly url: URL;
  /** HAProxy's log: a line per request and per change of a server's state. */
  log(): string;
  stop(): Promise<void>;
}

/**
 * HAProxy in front of the replicas: a new session goes round robin, later requests follow the `Mcp-Session-Id` learned
 * from the response that opened it; replicas are health-checked on `/readyz`. Each server is named by its address, and
 * that name is sent as the Host header, since a replica on loopback accepts only its own address as host.
 */
export async function startHaproxy(dir: string, replicas: readonly Replica[]): Promise<Balancer> {
  if (HAPROXY === undefined) throw new Error("haproxy is not installed");
  const port = await freePort();
  const config = [
    "global",
    "  maxconn 512",
    "  log stderr format raw local0 info",
    "defaults",
    "  mode http",
    "  log global",
    "  option httplog",
    "  timeout connect 2s",
    "  timeout client 120s",
    "  timeout server 120s",
    // A replica on a loaded machine may answer its health check slowly; marked down, its sessions would be lost.
    "  timeout check 5s",
    "  option redispatch",
    "  retries 3",
    "frontend mcp",
    `  bind 127.0.0.1:${port}`,
    "  default_backend pqguard",
    "backend pqguard",
    "  balance roundrobin",
    "  stick-table type string len 128 size 100k expire 30m",
    "  stick match req.hdr(mcp-session-id)",
    "  stick store-response res.hdr(mcp-session-id)",
    "  option httpchk GET /readyz",
    "  http-check expect status 200",
    "  http-send-name-header Host",
    "  http-response set-header X-Served-By %s",
    ...replicas.map((r) => `  server 127.0.0.1:${r.port} 127.0.0.1:${r.port} check inter 1s fall 3 rise 1`),
    "",
  ].join("\n");
  const file = join(dir, "haproxy.cfg");
  await writeFile(file, config);
  const child = spawn(HAPROXY, ["-db", "-f", file], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr!.on("data", (chunk: Buffer) => (log += chunk.toString("utf8")));
  try {
    await waitForPort(port);
  } catch (error) {
    child.kill("SIGKILL");
    throw new Error(`haproxy did not start: ${String(error)}: ${log}`);
  }
  return {
    url: new URL(`http://127.0.0.1:${port}/mcp`),
    log: () => log,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    },
  };
}

export interface SealedClient {
  readonly client: Client;
  /** The replicas (HAProxy server names) that answered this client's requests. */
  readonly servedBy: Set<string>;
}

/** A sealed client without a certificate (the unauthenticated client), connected through `url`. */
export async function sealedClient(url: URL, serverFingerprint: string): Promise<SealedClient> {
  const servedBy = new Set<string>();
  const fetchNoting = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const response = await fetch(input, init);
    const server = response.headers.get("x-served-by");
    if (server !== null) servedBy.add(server);
    return response;
  };
  const transport = new PqcClientTransport(new StreamableHTTPClientTransport(url, { fetch: fetchNoting }), { trust: { serverFingerprints: [serverFingerprint] } });
  const client = new Client({ name: "deploy-test", version: "1.0.0" });
  await client.connect(transport);
  return { client, servedBy };
}

export type Outcome = { readonly allowed: true } | { readonly allowed: false; readonly code: string; readonly message: string };

/** Calls a tool; a refusal is an outcome with its PQG code, not an exception. */
export async function call(client: Client, name: string, args: Record<string, unknown>): Promise<Outcome> {
  try {
    const result = await client.callTool({ name, arguments: args });
    if (result.isError === true) return { allowed: false, code: "tool-error", message: JSON.stringify(result.content) };
    return { allowed: true };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const data = (error as { data?: { code?: unknown } }).data;
    const code = typeof data?.code === "string" ? data.code : (/PQG\d{4}/.exec(message)?.[0] ?? "unknown");
    return { allowed: false, code, message };
  }
}

/** Polls `probe` every 100 ms until it is true or `ms` passed; returns whether it became true. */
export async function eventually(probe: () => Promise<boolean> | boolean, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  for (;;) {
    if (await probe()) return true;
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** GET a replica's health or readiness path: the status code, or 0 when nothing answered. */
export async function probe(replica: Replica, path: "/healthz" | "/readyz"): Promise<number> {
  try {
    const response = await fetch(`http://127.0.0.1:${replica.port}${path}`, { signal: AbortSignal.timeout(2000) });
    await response.text();
    return response.status;
  } catch {
    return 0;
  }
}
