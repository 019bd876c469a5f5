// Transports that do part of the sealed path's work without its cryptography (JSON text, routing envelopes, base64url
// of the UTF-8), so the transport benchmark can show in the same run what each layer of a sealed message costs and
// how much of the sealed round trip no record layer could avoid.
import type { Transport, TransportSendOptions } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage, MessageExtraInfo } from "@modelcontextprotocol/sdk/types.js";
import { matchesRoute, openEnvelope, sealedEnvelope } from "../runtime/transport/envelope.js";
import type { TransportWrap } from "./echo.js";

/** `json`: each message as JSON text in a notification; `envelope`: in the session's envelopes; `base64`: and as base64url of its UTF-8. */
export type FloorLayer = "json" | "envelope" | "base64";

/** One reusable buffer for the UTF-8 ↔ base64url conversions, as the record layer's scratch region is reused. */
const scratch = Buffer.alloc(1 << 16);

class FloorTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage, extra?: MessageExtraInfo) => void;

  constructor(
    private readonly inner: Transport,
    private readonly layer: FloorLayer,
  ) {
    inner.onmessage = (message, extra) => this.receive(message, extra);
    inner.onclose = () => this.onclose?.();
    inner.onerror = (error) => this.onerror?.(error);
  }

  start(): Promise<void> {
    return this.inner.start();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    let text = JSON.stringify(message);
    if (this.layer === "json") return this.inner.send({ jsonrpc: "2.0", method: "floor", params: { text } }, options);
    if (this.layer === "base64") text = scratch.toString("base64url", 0, scratch.write(text, 0, "utf8"));
    return this.inner.send(sealedEnvelope(text, message), options);
  }

  private receive(message: JSONRPCMessage, extra: MessageExtraInfo | undefined): void {
    if (this.layer === "json") {
      this.onmessage?.(JSON.parse((message as unknown as { params: { text: string } }).params.text) as JSONRPCMessage, extra);
      return;
    }
    const envelope = openEnvelope(message);
    if (envelope.kind !== "sealed") throw new Error("the floor transport received something other than its envelope");
    let text = envelope.frame;
    if (this.layer === "base64") text = scratch.toString("utf8", 0, scratch.write(text, 0, "base64url"));
    const parsed = JSON.parse(text) as JSONRPCMessage;
    if (!matchesRoute(envelope.route, parsed)) throw new Error("the floor transport's envelope does not match its message");
    this.onmessage?.(parsed, extra);
  }
}

export function floorWrap(layer: FloorLayer): TransportWrap {
  return (client, server) => [new FloorTransport(client, layer), new FloorTransport(server, layer)];
}
