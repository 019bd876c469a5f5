// Example: an MCP server over stdio whose every message is sealed by PqcServerTransport.
// Usage: node --import tsx runtime/transport/examples/stdio-server.ts --key server.key [--label NAME]
import process from "node:process";
import { parseArgs } from "node:util";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { z } from "zod";
import { loadSecretKey } from "../../identity/index.js";
import { PqcServerTransport } from "../index.js";

const { values } = parseArgs({ options: { key: { type: "string" }, label: { type: "string" } } });
if (values.key === undefined) {
  process.stderr.write("error: --key <secret key file> is required\n");
  process.exit(2);
}

const identity = await loadSecretKey(values.key);
const server = new McpServer({ name: "pqguard-stdio-example", version: "1.0.0" });
server.registerTool("echo", { description: "Echoes its text back.", inputSchema: { text: z.string() } }, async ({ text }) => ({
  content: [{ type: "text", text }],
}));

const transport = new PqcServerTransport(new StdioServerTransport(), { identity, label: values.label ?? "stdio example" });
transport.onestablished = (info) => {
  // stdout carries the protocol; facts go to stderr for the operator.
  process.stderr.write(`session ${info.sessionId} established: ${info.suite.kem} / ${info.suite.signature} / ${info.suite.aead}\n`);
};
transport.onclose = () => process.exit(0);
// The client owns this process: when it closes our stdin, there is nobody left to serve.
process.stdin.on("end", () => process.exit(0));
try {
  await server.connect(transport);
} catch (error) {
  process.stderr.write(`${String(error)}\n`);
  process.exit(1);
}
