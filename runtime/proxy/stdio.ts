// A stdio `Transport` for the proxy's downstream side that answers malformed input instead of dropping it:
// junk gets a JSON-RPC parse error (-32700), a non-JSON-RPC value an invalid-request error (-32600). A client that
// stops reading (EPIPE) closes the connection instead of crashing the process, and closing stops reading the input.
import type { Readable, Writable } from "node:stream";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { ProxyError } from "./errors.js";
import { classifyLine, JSONRPC_INVALID_REQUEST, LineSplitter, MAX_MESSAGE_BYTES, oversizedReply, serializeLine, type JsonRpcErrorReply } from "./framing.js";

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
      this.#reply(oversizedReply(this.#splitter.maxBytes));
    });
  };

  readonly #onEnd = (): void => void this.close();
  readonly #onError = (error: Error): void => this.onerror?.(error);
  /** The client can no longer read (EPIPE, a closed pipe): nothing more can be answered, so the connection ends. */
  readonly #onOutputError = (error: Error): void => {
    this.onerror?.(error);
    void this.close();
  };

  async start(): Promise<void> {
    this.#input.on("data", this.#onData);
    this.#input.on("end", this.#onEnd);
    this.#input.on("error", this.#onError);
    this.#output.on("error", this.#onOutputError);
  }

  #onLine(line: string): void {
    const framed = classifyLine(line);
    if (framed.kind === "malformed") {
      this.malformed += 1;
      if (framed.inReplyTo === undefined) this.#reply(framed.reply);
      else this.onerror?.(new ProxyError("PQG8016", `the client answered request \`${String(framed.inReplyTo)}\` with ${framed.detail}`, JSONRPC_INVALID_REQUEST));
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
      else {
        // Settles when the client catches up, or when the connection ends without it.
        const done = (): void => {
          this.#output.off("drain", done);
          this.#output.off("close", done);
          resolve();
        };
        this.#output.once("drain", done);
        this.#output.once("close", done);
      }
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#input.off("data", this.#onData);
    this.#input.off("end", this.#onEnd);
    this.#input.off("error", this.#onError);
    // A flowing input (process.stdin) would keep reading, and the process alive, after the connection ended.
    this.#input.pause();
    // Keeps a later EPIPE from a write still queued from becoming an uncaught error.
    this.#output.off("error", this.#onOutputError);
    this.#output.on("error", ignoreOutputError);
    this.onclose?.();
  }
}

/** After the connection ended, a failed write of a reply already queued has nobody left to tell. */
function ignoreOutputError(): void {}
