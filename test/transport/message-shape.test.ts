// The hand-written JSON-RPC message check agrees with the MCP SDK's JSONRPCMessageSchema on every input: valid
// messages of each kind, and near misses (extra keys, wrong id types, bad `_meta`, arrays where objects belong).
import assert from "node:assert/strict";
import fc from "fast-check";
import { JSONRPCMessageSchema, RELATED_TASK_META_KEY } from "@modelcontextprotocol/sdk/types.js";
import { isJsonRpcMessage } from "../../runtime/transport/message-shape.js";

const scalar = fc.oneof(fc.string({ maxLength: 4 }), fc.integer(), fc.double(), fc.boolean(), fc.constant(null));
const id = fc.oneof(fc.string({ maxLength: 4 }), fc.integer(), fc.double(), fc.constant(null), fc.constant(undefined));
const meta = fc.oneof(
  fc.constant(undefined),
  scalar,
  fc.array(scalar, { maxLength: 2 }),
  fc.record({ progressToken: id, [RELATED_TASK_META_KEY]: fc.oneof(fc.constant(undefined), scalar, fc.record({ taskId: scalar })), other: scalar }, { requiredKeys: [] }),
);
const holder = fc.oneof(scalar, fc.array(scalar, { maxLength: 2 }), fc.record({ _meta: meta, x: scalar }, { requiredKeys: [] }));
const error = fc.oneof(scalar, fc.record({ code: fc.oneof(fc.integer(), fc.double(), fc.string({ maxLength: 2 })), message: scalar, data: scalar, extra: scalar }, { requiredKeys: [] }));
const message = fc.record(
  {
    jsonrpc: fc.oneof(fc.constant("2.0"), fc.constant("2.0"), fc.constant("1.0"), scalar),
    id,
    method: fc.oneof(fc.string({ maxLength: 6 }), scalar),
    params: holder,
    result: holder,
    error,
    extra: scalar,
  },
  { requiredKeys: [] },
).map((record) => Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)));

describe("JSON-RPC message shape", () => {
  it("accepts and refuses exactly what the SDK's JSONRPCMessageSchema does", () => {
    fc.assert(
      fc.property(fc.oneof(message, scalar, fc.array(scalar, { maxLength: 2 })), (value) => {
        assert.equal(isJsonRpcMessage(value), JSONRPCMessageSchema.safeParse(value).success, JSON.stringify(value));
      }),
      { numRuns: 20_000 },
    );
  });

  it("accepts the messages of an ordinary call", () => {
    for (const value of [
      { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "echo", arguments: { text: "hi" }, _meta: { progressToken: 7 } } },
      { jsonrpc: "2.0", method: "notifications/initialized" },
      { jsonrpc: "2.0", id: "a", result: { content: [] } },
      { jsonrpc: "2.0", id: 2, error: { code: -32601, message: "no such method", data: { x: 1 } } },
      { jsonrpc: "2.0", error: { code: -32700, message: "parse error" } },
    ]) {
      assert.ok(isJsonRpcMessage(value), JSON.stringify(value));
      assert.ok(JSONRPCMessageSchema.safeParse(value).success);
    }
  });
});
