// The proxy's tolerant stdio transport on its own: what a client that sends too much is told.
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { MAX_MESSAGE_BYTES, TolerantStdioTransport } from "../../runtime/proxy/index.js";

/** Lines the transport wrote, parsed, once `count` have arrived. */
async function replies(output: PassThrough, count: number): Promise<Record<string, unknown>[]> {
  let text = "";
  output.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
  const deadline = Date.now() + 5_000;
  while (text.split("\n").length <= count && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  return text.split("\n").filter((line) => line !== "").map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe("tolerant stdio transport", () => {
  it("answers an oversized message with the limit it was configured with", async () => {
    const input = new PassThrough();
    const output = new PassThrough();
    const limit = 1_024;
    const transport = new TolerantStdioTransport(input, output, limit);
    await transport.start();
    input.write(`${JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping", params: { pad: "x".repeat(2 * limit) } })}\n`);
    const [reply] = await replies(output, 1);
    const error = reply!.error as { code: number; message: string };
    assert.equal(error.code, -32600);
    assert.equal(error.message, `invalid request: message larger than ${limit} bytes`);
    assert.notEqual(limit, MAX_MESSAGE_BYTES);
    await transport.close();
  });
});
