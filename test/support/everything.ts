// Test support for @modelcontextprotocol/server-everything from npm: where it is, how to start it over stdio, and its
// tools as a pqguard proxy's upstream session lists them (with the client capabilities the proxy declares).
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import process from "node:process";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { Tool } from "@modelcontextprotocol/sdk/types.js";
import { FORWARDED_CLIENT_CAPABILITIES } from "../../runtime/proxy/index.js";

export const EVERYTHING = join(dirname(createRequire(import.meta.url).resolve("@modelcontextprotocol/server-everything/package.json")), "dist", "index.js");

/** server-everything as a stdio command, the way a host or the proxy starts it. */
export const EVERYTHING_STDIO = { command: process.execPath, args: [EVERYTHING, "stdio"], stderr: "ignore" as const };

/** The same as one command line for `--upstream "CMD ARGS"`. */
export const EVERYTHING_LINE = `"${process.execPath}" "${EVERYTHING}" stdio`;

/** Its tools as the proxy's upstream session lists them, once its start-up `list_changed`s have settled. */
export async function everythingTools(): Promise<Tool[]> {
  const client = new Client({ name: "reviewer", version: "1.0.0" }, { capabilities: FORWARDED_CLIENT_CAPABILITIES });
  await client.connect(new StdioClientTransport(EVERYTHING_STDIO));
  try {
    let previous = "";
    for (let read = 0; read < 20; read++) {
      const { tools } = await client.listTools();
      const text = JSON.stringify(tools);
      if (text === previous) return tools;
      previous = text;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error("server-everything's tool list did not settle");
  } finally {
    await client.close();
  }
}
