// A stdio `Transport` for the proxy's downstream side that answers malformed input instead of dropping it:
// junk gets a JSON-RPC parse error (-32700), a non-JSON-RPC value an invalid-request error (-32600).
import type { Readable, Writable } from "node:stream";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { classifyLine, errorReply, JSONRPC_INVALID_REQUEST, LineSplitter, MAX_MESSAGE_BYTES, serializeLine, type JsonRpcErrorReply } from "./framing.js";

export class TolerantStdioTransport implements Transport {
  onclose?: (() => void) | undefined;
  onerror?: ((error: Error) => void) | undefined;
  onmessage?: ((message: JSONRPCMessage) => void) | undefined;

  readonly #input: Readable;
  readonly #output: Writable;
  readonly #splitter: LineSplitter;
  #closed = false;
  /** Malformed lines seen so far; exposed for logs and tests. */
  malformed = 0;

  constructor(input: Readable, output: Writable, maxMessageBytes = MAX_MESSAGE_BYTES) {
    this.#input = input;
    this.#output = output;
    this.#splitter = new LineSplitter(maxMessageBytes);
  }

  readonly #onData = (chunk: Buffer | string): void => {
    const bytes = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk;
    this.#splitter.push(bytes, (line) => this.#onLine(line), () => {
      this.malformed += 1;
      this.#reply(errorReply(null, JSONRPC_INVALID_REQUEST, `invalid request: message larger than ${MAX_MESSAGE_BYTES} bytes`));
    });
  };

  readonly #onEnd = (): void => void this.close();
  readonly #onError = (error: Error): void => this.onerror?.(error);

  async start(): Promise<void> {
    this.#input.on("data", this.#onData);
    this.#input.on("end", this.#onEnd);
    this.#input.on("error", this.#onError);
  }

  #onLine(line: string): void {
    const framed = classifyLine(line);
    if (framed.kind === "malformed") {
      this.malformed += 1;
      this.#reply(framed.reply);
      return;
    }
    this.onmessage?.(framed.message);
  }

  #reply(reply: JsonRpcErrorReply): void {
    if (!this.#closed) this.#output.write(serializeLine(reply));
  }

  send(message: JSONRPCMessage): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      if (this.#output.write(serializeLine(message))) resolve();
      else this.#output.once("drain", resolve);
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#input.off("data", this.#onData);
    this.#input.off("end", this.#onEnd);
    this.#input.off("error", this.#onError);
    this.onclose?.();
  }
}
