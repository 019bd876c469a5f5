// `npm run bench -- proxy --client-cost`: what the SDK's Streamable HTTP client itself costs per call, by the fetch it
// uses (undici's global fetch with a signal per request, or pqguard's nodeFetch over node:http) and by how the server
// answers (one JSON body, or the same answer as a server-sent event). The server is a minimal node:http one in the same
// process, the same for every row, so the differences between rows are the client's; rows are interleaved in rounds.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { FetchLike } from "@modelcontextprotocol/sdk/shared/transport.js";
import { nodeFetch, requestScopedFetch } from "../../runtime/transport/fetch.js";
import { median } from "../echo.js";
import { ECHO } from "./variants.js";

type Answer = "json" | "events";

/** A server that answers `initialize` and `tools/call` (as an echo) at once, each as `answer` says. */
function minimalServer(answer: Answer): Server {
  return createServer((req, res) => {
    if (req.method !== "POST") {
      res.writeHead(405).end();
      return;
    }
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const message = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { id?: number; method: string; params: { protocolVersion?: string; arguments?: { message?: string } } };
      if (message.id === undefined) {
        res.writeHead(202).end();
        return;
      }
      const result =
        message.method === "initialize"
          ? { protocolVersion: message.params.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: "minimal", version: "1.0.0" } }
          : { content: [{ type: "text", text: `Echo: ${message.params.arguments?.message ?? ""}` }] };
      const reply = JSON.stringify({ jsonrpc: "2.0", id: message.id, result });
      const body = answer === "json" ? reply : `event: message\ndata: ${reply}\n\n`;
      const type = answer === "json" ? "application/json" : "text/event-stream";
      res.writeHead(200, { "content-type": type, "content-length": Buffer.byteLength(body), "mcp-session-id": "minimal" }).end(body);
    });
  });
}

const ROWS: readonly { readonly fetch: "undici" | "nodeFetch"; readonly answer: Answer }[] = [
  { fetch: "undici", answer: "events" },
  { fetch: "undici", answer: "json" },
  { fetch: "nodeFetch", answer: "events" },
  { fetch: "nodeFetch", answer: "json" },
];

export async function runClientCost({ json }: { json: boolean }): Promise<void> {
  const servers = await Promise.all(
    ROWS.map(async ({ answer }) => {
      const server = minimalServer(answer);
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      return server;
    }),
  );
  const clients = await Promise.all(
    ROWS.map(async (row, index) => {
      const fetch: FetchLike = row.fetch === "undici" ? requestScopedFetch : nodeFetch();
      const client = new Client({ name: "bench", version: "1.0.0" });
      await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${(servers[index]!.address() as AddressInfo).port}/mcp`), { fetch }));
      return client;
    }),
  );
  const perCall: number[][] = ROWS.map(() => []);
  try {
    for (const client of clients) for (let i = 0; i < 3000; i++) await client.callTool(ECHO);
    for (let round = 0; round < 8; round++) {
      for (const [index, client] of clients.entries()) {
        const calls = 500;
        const before = process.cpuUsage();
        for (let i = 0; i < calls; i++) await client.callTool(ECHO);
        const used = process.cpuUsage(before);
        perCall[index]!.push((used.user + used.system) / calls);
      }
    }
  } finally {
    await Promise.allSettled(clients.map((client) => client.close()));
    for (const server of servers) server.close();
  }
  const rows = ROWS.map((row, index) => ({ ...row, cpu_us_per_call: Math.round(median(perCall[index]!) * 10) / 10 }));
  if (json) {
    process.stdout.write(`${JSON.stringify({ node: process.version, rounds: 8, calls_per_round: 500, rows })}\n`);
    return;
  }
  process.stdout.write("SDK client + minimal server in one process, CPU per call (median of 8 rounds of 500 calls):\n");
  for (const row of rows) process.stdout.write(`  ${row.fetch.padEnd(10)} ${row.answer.padEnd(7)} ${row.cpu_us_per_call.toFixed(1).padStart(7)} µs\n`);
}
