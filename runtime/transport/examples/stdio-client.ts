// Example: an MCP client that starts the example server over stdio, seals the session with PqcClientTransport,
// calls its `echo` tool and prints the result and the session facts as one JSON line.
// Usage: node --import tsx runtime/transport/examples/stdio-client.ts --key server.key --trust mldsa65:... [--text hello]
import { fileURLToPath } from "node:url";
import process from "node:process";
import { parseArgs } from "node:util";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { PqcClientTransport } from "../index.js";

const { values } = parseArgs({
  options: { key: { type: "string" }, trust: { type: "string", multiple: true }, text: { type: "string" } },
});
if (values.key === undefined || values.trust === undefined) {
  process.stderr.write("error: --key <server secret key file> and --trust <server fingerprint> are required\n");
  process.exit(2);
}

const serverScript = fileURLToPath(new URL("./stdio-server.ts", import.meta.url));
const inner = new StdioClientTransport({
  command: process.execPath,
  args: ["--import", "tsx", serverScript, "--key", values.key],
  cwd: process.cwd(),
  stderr: "inherit",
});
const transport = new PqcClientTransport(inner, { trust: { serverFingerprints: values.trust } });
const client = new Client({ name: "pqguard-stdio-example-client", version: "1.0.0" });

try {
  await client.connect(transport);
  const result = await client.callTool({ name: "echo", arguments: { text: values.text ?? "hello" } });
  process.stdout.write(`${JSON.stringify({ result, session: transport.sessionInfo })}\n`);
  await client.close();
} catch (error) {
  const code = (error as { code?: unknown }).code;
  process.stderr.write(`${typeof code === "string" ? `error ${code}: ` : ""}${(error as Error).message}\n`);
  await client.close().catch(() => undefined);
  process.exit(1);
}
