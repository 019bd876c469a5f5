// The proxy's tolerant stdio transport on its own: what a client that sends too much is told; and the line splitter
// under it, however its input is cut into chunks.
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { LineSplitter } from "../../runtime/proxy/framing.js";
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

describe("line splitter", () => {
  /** The lines `chunks` yield, and how many oversized ones were dropped. */
  function split(chunks: readonly Buffer[], maxBytes?: number): { lines: string[]; oversized: number } {
    const splitter = new LineSplitter(maxBytes);
    const lines: string[] = [];
    let oversized = 0;
    for (const chunk of chunks) splitter.push(chunk, (line) => lines.push(line), () => (oversized += 1));
    return { lines, oversized };
  }

  it("yields whole lines from one chunk, from several, and across a character split between chunks", () => {
    const text = Buffer.from('{"a":"é€"}\n{"b":2}\r\n[1]\n', "utf8");
    assert.deepEqual(split([text]).lines, ['{"a":"é€"}', '{"b":2}', "[1]"]);
    // Every split point, including inside the two- and three-byte characters and between `\r` and `\n`.
    for (let at = 1; at < text.length; at++) {
      assert.deepEqual(split([text.subarray(0, at), text.subarray(at)]).lines, ['{"a":"é€"}', '{"b":2}', "[1]"], `split at byte ${at}`);
    }
    assert.deepEqual(split([...text].map((byte) => Buffer.from([byte]))).lines, ['{"a":"é€"}', '{"b":2}', "[1]"]);
  });

  it("skips blank and whitespace-only lines but passes on any other text, and keeps a line's own spaces", () => {
    assert.deepEqual(split([Buffer.from("\n\r\n  \t\n junk \n{}\n")]).lines, [" junk ", "{}"]);
    // Only a line's last `\r` is taken as part of its end.
    assert.deepEqual(split([Buffer.from("x\r\r\n")]).lines, ["x\r"]);
  });

  it("drops an oversized line up to its newline, once, and goes on with the next", () => {
    const { lines, oversized } = split([Buffer.from("x".repeat(10)), Buffer.from("y".repeat(10) + "\n{}\n")], 16);
    assert.deepEqual(lines, ["{}"]);
    assert.equal(oversized, 1);
  });
});
