// Newline-delimited JSON-RPC framing for the proxy's stdio sides: splits a byte stream into lines, bounds their
// size, and sorts each line into a valid message or the JSON-RPC error that malformed input must be answered with.
import type { JSONRPCMessage, RequestId } from "@modelcontextprotocol/sdk/types.js";
import { isJsonRpcMessage } from "../transport/message-shape.js";

/**
 * Largest message accepted on a stdio side. MCP tool results can carry documents, so this is generous, but it is
 * bounded so a peer that never sends a newline cannot make the proxy buffer without end.
 */
export const MAX_MESSAGE_BYTES = 8 * 1024 * 1024;

export const JSONRPC_PARSE_ERROR = -32700;
export const JSONRPC_INVALID_REQUEST = -32600;
export const JSONRPC_METHOD_NOT_FOUND = -32601;
export const JSONRPC_INVALID_PARAMS = -32602;
export const JSONRPC_INTERNAL_ERROR = -32603;

/** What a line turned out to be: a message to handle, or an error response to send back to whoever wrote it. */
export type FramedLine =
  | { readonly kind: "message"; readonly message: JSONRPCMessage }
  | {
      readonly kind: "malformed";
      readonly reply: JsonRpcErrorReply;
      readonly detail: string;
      /**
       * The id of the request this was meant to answer, when it looks like a response (an id and a result or error, no method). Such a
       * message is not answered: an error reply would be read as the answer to the peer's own request with that id.
       */
      readonly inReplyTo?: RequestId;
    };

/** A JSON-RPC error response; `id` is null when the request's id could not be read (JSON-RPC 2.0 §5). */
export interface JsonRpcErrorReply {
  readonly jsonrpc: "2.0";
  readonly id: RequestId | null;
  readonly error: { readonly code: number; readonly message: string; readonly data?: unknown };
}

export function errorReply(id: RequestId | null, code: number, message: string, data?: unknown): JsonRpcErrorReply {
  return { jsonrpc: "2.0", id, error: data === undefined ? { code, message } : { code, message, data } };
}

/** The answer to a message longer than the side's limit; its id was never read. */
export function oversizedReply(maxBytes: number): JsonRpcErrorReply {
  return errorReply(null, JSONRPC_INVALID_REQUEST, `invalid request: message larger than ${maxBytes} bytes`);
}

function readableId(value: unknown): RequestId | null {
  if (typeof value !== "object" || value === null) return null;
  const id = (value as { id?: unknown }).id;
  return typeof id === "string" || (typeof id === "number" && Number.isFinite(id)) ? id : null;
}

/** Classifies one line of input. Never throws. */
export function classifyLine(line: string): FramedLine {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return {
      kind: "malformed",
      reply: errorReply(null, JSONRPC_PARSE_ERROR, "parse error: the message is not valid JSON"),
      detail: "not valid JSON",
    };
  }
  if (!isJsonRpcMessage(parsed)) {
    const id = readableId(parsed);
    const has = (key: string): boolean => Object.hasOwn(parsed as object, key);
    const response = id !== null && !has("method") && (has("result") || has("error"));
    return {
      kind: "malformed",
      reply: errorReply(id, JSONRPC_INVALID_REQUEST, "invalid request: the message is not a JSON-RPC 2.0 message"),
      detail: response ? "a response that is not a JSON-RPC 2.0 response" : "not a JSON-RPC 2.0 message",
      ...(response ? { inReplyTo: id } : {}),
    };
  }
  return { kind: "message", message: parsed };
}

/**
 * Accumulates chunks and yields complete lines. A line longer than the limit is dropped up to its newline and
 * reported once, so one oversized message costs that message only.
 */
export class LineSplitter {
  #parts: Buffer[] = [];
  #size = 0;
  #discarding = false;

  constructor(readonly maxBytes: number = MAX_MESSAGE_BYTES) {}

  /** Feeds a chunk; calls `line` per complete line and `oversized` per dropped one. */
  push(chunk: Buffer, line: (text: string) => void, oversized: () => void): void {
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(0x0a, start);
      const end = newline === -1 ? chunk.length : newline;
      const piece = chunk.subarray(start, end);
      if (!this.#discarding) {
        if (this.#size + piece.length > this.maxBytes) {
          this.#discarding = true;
          this.#parts = [];
          this.#size = 0;
          oversized();
        } else if (piece.length > 0) {
          this.#parts.push(piece);
          this.#size += piece.length;
        }
      }
      if (newline === -1) return;
      if (!this.#discarding) {
        const text = Buffer.concat(this.#parts, this.#size).toString("utf8").replace(/\r$/, "");
        this.#parts = [];
        this.#size = 0;
        if (text.trim() !== "") line(text);
      }
      this.#discarding = false;
      start = newline + 1;
    }
  }
}

export function serializeLine(message: JSONRPCMessage | JsonRpcErrorReply): string {
  return `${JSON.stringify(message)}\n`;
}
