// The shape of a JSON-RPC 2.0 message exactly as the MCP SDK's JSONRPCMessageSchema accepts it (request, notification,
// result, error; strict at the top level, `_meta` checked), by hand: the schema's parse of every message cost more than
// the rest of its handling on the proxy's hot path. test/transport/message-shape.test.ts holds it to the schema.
import { RELATED_TASK_META_KEY, type JSONRPCMessage, type RequestId } from "@modelcontextprotocol/sdk/types.js";

/** A string, or a whole number (the SDK's RequestIdSchema, and its ProgressTokenSchema). */
export const isRequestId = (id: unknown): id is RequestId => typeof id === "string" || (typeof id === "number" && Number.isSafeInteger(id));

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/** Every own key of `value` is one of `allowed`. */
function only(value: Record<string, unknown>, allowed: readonly string[]): boolean {
  for (const key in value) if (!allowed.includes(key)) return false;
  return true;
}

/** An absent or well-formed `_meta` in a params or result object. */
function metaOk(holder: Record<string, unknown>): boolean {
  const meta = holder._meta;
  if (meta === undefined) return true;
  if (!isObject(meta)) return false;
  if (meta.progressToken !== undefined && !isRequestId(meta.progressToken)) return false;
  const task = meta[RELATED_TASK_META_KEY];
  return task === undefined || (isObject(task) && typeof task.taskId === "string");
}

const REQUEST_KEYS = ["jsonrpc", "id", "method", "params"];
const NOTIFICATION_KEYS = ["jsonrpc", "method", "params"];
const RESULT_KEYS = ["jsonrpc", "id", "result"];
const ERROR_KEYS = ["jsonrpc", "id", "error"];

/** Whether `value` is a JSON-RPC 2.0 message the SDK's schema would accept; the protocol layer checks each kind further. */
export function isJsonRpcMessage(value: unknown): value is JSONRPCMessage {
  if (!isObject(value) || value.jsonrpc !== "2.0") return false;
  if (typeof value.method === "string") {
    if (value.params !== undefined && !(isObject(value.params) && metaOk(value.params))) return false;
    return "id" in value ? isRequestId(value.id) && only(value, REQUEST_KEYS) : only(value, NOTIFICATION_KEYS);
  }
  if ("result" in value) return isRequestId(value.id) && isObject(value.result) && metaOk(value.result) && only(value, RESULT_KEYS);
  const error = value.error;
  return (value.id === undefined || isRequestId(value.id)) && isObject(error) && Number.isSafeInteger(error.code) && typeof error.message === "string" && only(value, ERROR_KEYS);
}
