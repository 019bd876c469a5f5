// Shared set-up for the proxy tests: the flaky fixture server behind an in-process proxy with a hand-written guard,
// and real SDK clients connected to it over in-memory transports.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import type { ClientCapabilities } from "@modelcontextprotocol/sdk/types.js";
import { silentLogger } from "../../runtime/audit/index.js";
import type { AuditSink } from "../../runtime/audit/index.js";
import type { Decision, GuardModule } from "../../runtime/guard/types.js";
import { toolDigest } from "../../runtime/manifest/digest.js";
import { createProxy, type Proxy, type ProxyOptions } from "../../runtime/proxy/index.js";
import { httpDigests } from "./fixtures/http-server.js";

export const FLAKY_SERVER = fileURLToPath(new URL("./fixtures/flaky-server.ts", import.meta.url));
const FLAKY_TOOLS = JSON.parse(readFileSync(new URL("./fixtures/flaky.tools.json", import.meta.url), "utf8")) as {
  tools: Record<string, unknown>[];
};

export const flakyDigests: Record<string, string> = Object.fromEntries(FLAKY_TOOLS.tools.map((t) => [t.name as string, toolDigest(t)]));

function decided(decision: Decision["decision"], rule: string | undefined, reason: string): Decision {
  return { decision, determining: rule === undefined ? [] : [rule], reason, explain: [] };
}

/**
 * The test policy, written out by hand: `echo` is allowed unless its text starts with `deny-`, `secret` is always
 * denied, `slow` over 1000 ms needs approval, the rest is allowed.
 */
export const testGuard: GuardModule = {
  policyName: "flaky",
  policyDigest: "0".repeat(64),
  toolDigests: flakyDigests,
  guard(request) {
    switch (request.tool) {
      case "echo":
        return String(request.args.text).startsWith("deny-")
          ? decided("deny", "flaky.policy:3", "texts starting with `deny-` are refused")
          : decided("allow", "flaky.policy:2", "permitted by rule `flaky.policy:2`");
      case "secret":
        return decided("deny", "flaky.policy:5", "secrets never leave");
      case "slow":
        return Number(request.args.ms) > 1000
          ? decided("ask", "flaky.policy:7", "long sleeps need a human")
          : decided("allow", "flaky.policy:6", "permitted by rule `flaky.policy:6`");
      default:
        return decided("allow", "flaky.policy:9", "permitted by rule `flaky.policy:9`");
    }
  },
  // As a compiled guard would answer: `secret` has an unconditional forbid, so no call to it can be allowed.
  reachableTools: () => Object.keys(flakyDigests).filter((tool) => tool !== "secret"),
};

/** The same policy for the Streamable HTTP fixture server, pinned to its reviewed tools. */
export const httpGuard: GuardModule = { ...testGuard, toolDigests: httpDigests, reachableTools: () => Object.keys(httpDigests).filter((t) => t !== "secret") };

export function flakyProxy(overrides: Partial<ProxyOptions> = {}, audit?: AuditSink): Proxy {
  return createProxy({
    upstream: { command: process.execPath, args: ["--import", "tsx", FLAKY_SERVER], stderr: "ignore" },
    guard: testGuard,
    logger: silentLogger(),
    audit,
    ...overrides,
  });
}

/** A real SDK client connected to the proxy core; the connection counts as plain (unauthenticated, classical). */
export async function connectClient(proxy: Proxy, capabilities: ClientCapabilities = {}): Promise<Client> {
  const [clientEnd, proxyEnd] = InMemoryTransport.createLinkedPair();
  await proxy.core.attachPlain(proxyEnd);
  const client = new Client({ name: "proxy-test", version: "1.0.0" }, { capabilities });
  await client.connect(clientEnd);
  return client;
}

/** Polls `condition` every 20 ms; fails the test after `timeoutMs`. */
export async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new assert.AssertionError({ message: `timed out waiting for ${what}` });
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The JSON-RPC error of a request that must fail; the test fails if it does not. */
export async function failureOf(promise: Promise<unknown>): Promise<ReturnType<typeof rpcError>> {
  try {
    await promise;
  } catch (error) {
    return rpcError(error);
  }
  throw new assert.AssertionError({ message: "the request did not fail" });
}

/** The JSON-RPC error a rejected SDK request carries: its code and data. */
export function rpcError(error: unknown): { code: number; message: string; data: Record<string, unknown> | undefined } {
  const e = error as { code?: unknown; message?: unknown; data?: unknown };
  return { code: Number(e.code), message: String(e.message), data: e.data as Record<string, unknown> | undefined };
}
