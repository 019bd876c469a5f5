// An SDK v2 echo server and a small hand-written guard for it, shared by the SDK v2 tests and their stdio server.
import { Client } from "@modelcontextprotocol/client";
import { InMemoryTransport, McpServer } from "@modelcontextprotocol/server";
import * as z from "zod";
import { signature } from "../../runtime/crypto/registry.js";
import type { Decision, GuardModule } from "../../runtime/guard/types.js";
import { toolDigest } from "../../runtime/manifest/digest.js";
import { signManifest, verifySignedManifest, type VerifiedManifest } from "../../runtime/manifest/signed.js";

const HOUR = 3_600_000;

/** An SDK v2 McpServer with `echo` (in the policy) and `secret` (not in it); `ran` collects the texts echoed. */
export function echoServer(ran: string[] = []) {
  const server = new McpServer({ name: "echo-v2", version: "1" }, { capabilities: { tools: { listChanged: true } } });
  const echo = server.registerTool("echo", { description: "Echoes a short text.", inputSchema: z.object({ text: z.string() }) }, async ({ text }) => {
    ran.push(text);
    return { content: [{ type: "text", text }] };
  });
  server.registerTool("secret", { description: "Not in any policy." }, async () => ({ content: [{ type: "text", text: "leaked" }] }));
  return { server, echo, ran };
}

/** The live definitions of the echo server, read through a plain SDK v2 client. */
export async function echoTools(): Promise<Record<string, unknown>[]> {
  const { server } = echoServer();
  const [ct, st] = InMemoryTransport.createLinkedPair();
  const client = new Client({ name: "probe", version: "1" });
  await server.connect(st);
  await client.connect(ct as never);
  const { tools } = await client.listTools();
  await client.close();
  await server.close();
  return tools as Record<string, unknown>[];
}

/** The digest the policy was compiled against, for `echo` only. */
export async function echoDigests(): Promise<Record<string, string>> {
  const echo = (await echoTools()).find((tool) => tool.name === "echo")!;
  return { echo: toolDigest(echo) };
}

export async function signedEchoManifest(): Promise<VerifiedManifest> {
  const scheme = signature("ML-DSA-65");
  const key = { algorithm: "ML-DSA-65", ...scheme.keygen() };
  return verifySignedManifest(signManifest((await echoTools()).filter((tool) => tool.name === "echo"), key));
}

const deny = (determining: string[], reason: string): Decision => ({ decision: "deny", determining, reason, explain: [] });

/**
 * What the compiler emits for `permit tool echo when len(args.text) < 10`, `ask tool echo when args.text == "ask"`
 * and, with `limit`, `limit tool echo to LIMIT per 1h per client`.
 */
export function echoGuard(toolDigests: Record<string, string>, options: { limit?: number } = {}): GuardModule {
  const limit = options.limit;
  return {
    policyName: "echo",
    policyDigest: "e".repeat(64),
    toolDigests,
    longestWindowMs: limit === undefined ? 0 : HOUR,
    guard(request, context) {
      if (request.tool !== "echo") return deny([], `no rule permits \`${request.tool}\``);
      if (limit !== undefined && context.history.count(["echo"], context.now - HOUR, "client") >= limit) {
        return deny(["echo.policy:5"], `rate limit of ${limit} calls per 1h per client exceeded`);
      }
      const text = request.args.text;
      if (text === "ask") return { decision: "ask", determining: ["echo.policy:4"], reason: "a human approves `ask`", explain: [] };
      if (typeof text === "string" && text.length < 10) return { decision: "allow", determining: ["echo.policy:3"], reason: "permitted by rule `echo.policy:3`", explain: [] };
      return deny([], "no rule permits `echo`");
    },
  };
}
