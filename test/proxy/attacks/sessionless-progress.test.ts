// Requests of revision 2026-07-28 without a session share one upstream session: two clients that choose the same
// progress token at once each hear the progress of their own call only, under their own token, and nothing of the
// other's (the proxy renames tokens upstream, and a notification reaches only the request it is about).
import assert from "node:assert/strict";
import { createMcpHandler, McpServer } from "@modelcontextprotocol/server";
import * as z from "zod";
import { echoProxyOver, type EchoProxy } from "../fixtures/echo-proxy.js";

const REVISION = "2026-07-28";
const ENVELOPE = { "io.modelcontextprotocol/protocolVersion": REVISION, "io.modelcontextprotocol/clientCapabilities": {}, "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1" } };

/** `echo` as the policy pins it, which reports progress naming its text, twice, before it answers. */
function progressingEcho(): McpServer {
  const server = new McpServer({ name: "echo-v2", version: "1" }, { capabilities: { tools: { listChanged: true } } });
  server.registerTool("echo", { description: "Echoes a short text.", inputSchema: z.object({ text: z.string() }) }, async ({ text }, ctx) => {
    const token = ctx.mcpReq._meta?.progressToken;
    for (let step = 1; step <= 2 && token !== undefined; step++) {
      await ctx.mcpReq.notify({ method: "notifications/progress", params: { progressToken: token, progress: step, total: 2, message: `progress of ${text}` } });
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return { content: [{ type: "text", text }] };
  });
  return server;
}

/** A sessionless `tools/call` of `echo` with a progress token; the messages of its answer (an event stream or JSON). */
async function call(url: URL, id: number, text: string, progressToken: string): Promise<Record<string, unknown>[]> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream", "mcp-protocol-version": REVISION, "mcp-method": "tools/call", "mcp-name": "echo" },
    body: JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: { name: "echo", arguments: { text }, _meta: { ...ENVELOPE, progressToken } } }),
  });
  const body = await response.text();
  if (!(response.headers.get("content-type") ?? "").startsWith("text/event-stream")) return [JSON.parse(body) as Record<string, unknown>];
  return body
    .split("\n")
    .filter((line) => line.startsWith("data: "))
    .map((line) => JSON.parse(line.slice("data: ".length)) as Record<string, unknown>);
}

describe("attacks: progress of requests without a session, on the upstream session they share", function () {
  this.timeout(60_000);
  let served: EchoProxy;

  before(async () => {
    served = await echoProxyOver(createMcpHandler(() => progressingEcho()));
  });
  after(async () => {
    await served?.close();
  });

  it("gives each of two clients with the same token the progress of its own call only", async () => {
    const [alice, bob] = await Promise.all([call(served.listener.url, 1, "alice", "shared"), call(served.listener.url, 1, "bob", "shared")]);
    for (const [who, messages] of [["alice", alice], ["bob", bob]] as const) {
      const progress = messages.filter((m) => m.method === "notifications/progress").map((m) => m.params as { progressToken: unknown; message: string });
      assert.ok(progress.length > 0, `${who} heard its progress`);
      assert.deepEqual([...new Set(progress.map((p) => p.message))], [`progress of ${who}`], `${who} heard only its own call's progress`);
      assert.ok(progress.every((p) => p.progressToken === "shared"), `${who} got its own token back, not the proxy's`);
      const answer = messages.find((m) => m.id === 1)?.result as { content: { text: string }[] } | undefined;
      assert.equal(answer?.content[0]?.text, who);
    }
  });
});
