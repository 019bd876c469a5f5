// The child side of bench/isolated.ts: builds one variant's connected client, then times echo calls on request.
import process from "node:process";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { sample } from "./echo.js";
import type { Variant } from "./isolated.js";

const variant = JSON.parse(process.argv[2]!) as Variant;
const reply = (value: unknown) => process.send!({ value });
const fail = (error: unknown) => process.send!({ error: error instanceof Error ? error.message : String(error) });

try {
  const module = (await import(variant.module)) as Record<string, (options: unknown) => Promise<Client>>;
  const client = await module[variant.factory]!(variant.options);
  process.on("message", (message: { type: "sample"; calls: number } | { type: "stop" }) => {
    if (message.type === "stop") {
      client.close().then(() => reply(undefined), fail).finally(() => process.disconnect());
      return;
    }
    const samples: number[] = [];
    sample(client, message.calls, samples).then(() => reply(samples), fail);
  });
  reply(undefined);
} catch (error) {
  fail(error);
}
