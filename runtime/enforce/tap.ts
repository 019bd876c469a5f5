// Where enforcement attaches to an MCP endpoint: the public members of the `Transport` it is connected to (`onmessage`,
// `onclose`, `send`), interposed on in place, so that every JSON-RPC message in and out passes the guard first. Works
// for any SDK version whose endpoints take a transport through `connect(transport)`.
import { randomUUID } from "node:crypto";
import process from "node:process";
import { MAX_STALE_READS } from "../manifest/listing.js";
import type { SessionView } from "./context.js";
import type { ApprovalCallback, CallToDecide, CancelSignal, PinVerdict } from "./decide.js";
import type { ReadBudget } from "./tool-list.js";
import { EnforceError, EnforceErrorCode } from "./errors.js";

/** A JSON-RPC message as the wire carries it; enforcement reads only `id`, `method`, `params`, `result` and `error`. */
export type WireMessage = Record<string, unknown>;

/** The options an SDK passes with a message it sends (`relatedRequestId` routes it to a request's HTTP stream). */
export type SendOptions = { readonly relatedRequestId?: string | number | undefined } & Record<string, unknown>;

/** Passes a message on to the endpoint (incoming) or to the wire (outgoing). */
export type Deliver = (message: WireMessage, extra?: unknown) => void;
export type Send = (message: WireMessage, options?: SendOptions) => Promise<void>;

/** What a guard does with each message, and when the transport closes. */
export interface TransportHooks {
  /** A message from the peer: hand it to `deliver` (now or later), or answer it through the tap's `send` instead. */
  incoming(message: WireMessage, extra: unknown, deliver: Deliver): void;
  /** A message the endpoint sends: pass it to `send`, change it, or keep it back. */
  outgoing(message: WireMessage, options: SendOptions | undefined, send: Send): Promise<void>;
  /** The transport closed; runs once, before the endpoint's own close handler. */
  closed(): void;
}

/** A transport as far as enforcement touches it: the members of the SDK's public `Transport` interface it uses. */
interface TappableTransport {
  onmessage?: ((message: WireMessage, extra?: unknown) => void) | undefined;
  onclose?: (() => void) | undefined;
  send(message: WireMessage, options?: SendOptions): Promise<void>;
}

/** A transport with a guard interposed: `send` writes to the wire past the guard, `deliver` hands the endpoint a message. */
export interface TransportTap {
  readonly send: Send;
  readonly deliver: Deliver;
}

/**
 * Interposes `hooks` on `transport`'s `onmessage`, `onclose` and `send`, in place rather than by wrapping it in
 * another object: an SDK may recognise its own transport classes (SDK v2 binds a per-request HTTP transport's
 * protocol revision by its class), and applications keep calling the transport's own methods (`handleRequest`).
 *
 * `onmessage` and `onclose` become accessors: the SDK sets its handlers as before, and reading them gives a handler
 * that runs the hooks and then the handler that was set when it was read. The SDK chains the handler it read when it
 * connects; a message the guard has already passed on reaches that chain without meeting the guard a second time, and
 * the close hook runs once however the handlers are chained.
 */
export function tapTransport(transport: object, hooks: TransportHooks): TransportTap {
  const target = transport as TappableTransport;
  let onmessage = target.onmessage;
  /** Set while a message the guard passed on is being handed over: a chained handler calling back in is the endpoint's. */
  let delivering = false;
  let closed = false;
  const deliverTo = (handler: TappableTransport["onmessage"]): Deliver => (message, extra) => {
    if (handler === undefined) return;
    delivering = true;
    try {
      handler(message, extra);
    } finally {
      delivering = false;
    }
  };
  // Built once per handler set, not per message: reading `onmessage` is on every message's path.
  const guardedMessage = (handler: TappableTransport["onmessage"]) => {
    const deliver = deliverTo(handler);
    return (message: WireMessage, extra?: unknown): void => {
      if (delivering) return handler?.(message, extra);
      hooks.incoming(message, extra, deliver);
    };
  };
  const guardedClose = (handler: (() => void) | undefined) => (): void => {
    if (!closed) {
      closed = true;
      try {
        hooks.closed();
      } catch (error) {
        // Reported, not thrown: a throw here would stop the SDK's teardown (pending requests never settle).
        process.emitWarning(`a pqguard close hook failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    handler?.();
  };
  let readMessage = guardedMessage(onmessage);
  let readClose = guardedClose(target.onclose);
  Object.defineProperty(target, "onmessage", {
    configurable: true,
    enumerable: true,
    get: () => readMessage,
    set: (handler: TappableTransport["onmessage"]) => {
      onmessage = handler;
      readMessage = guardedMessage(handler);
    },
  });
  Object.defineProperty(target, "onclose", {
    configurable: true,
    enumerable: true,
    get: () => readClose,
    set: (handler: (() => void) | undefined) => {
      readClose = guardedClose(handler);
    },
  });
  const send: Send = target.send.bind(target);
  target.send = (message, options) => hooks.outgoing(message, options, send);
  return { send, deliver: (message, extra) => deliverTo(onmessage)(message, extra) };
}

/** An SDK endpoint (Client or Server, SDK v1 or v2) as far as attaching needs it. */
export interface Connectable {
  /** The transport it is connected to now, if any (public in both SDK versions). */
  readonly transport?: unknown;
  connect(transport: never, ...rest: never[]): Promise<unknown>;
}

/**
 * Runs `attach` on the transport `endpoint` is connected to now, if any, and on each transport it connects to later:
 * its public `connect` is wrapped so that the transport is tapped before the SDK sets its handlers.
 */
export function onEveryTransport(endpoint: Connectable, attach: (transport: object) => void): void {
  if (typeof endpoint?.connect !== "function") {
    throw new EnforceError(EnforceErrorCode.UnsupportedSdk, "the object given is not an MCP SDK Client or Server: it has no `connect(transport)` to attach to");
  }
  const connected = endpoint.transport;
  if (typeof connected === "object" && connected !== null) attach(connected);
  const connect = endpoint.connect.bind(endpoint) as (transport: object, ...rest: unknown[]) => Promise<unknown>;
  (endpoint as unknown as { connect: (transport: object, ...rest: unknown[]) => Promise<unknown> }).connect = (transport, ...rest) => {
    attach(transport);
    return connect(transport, ...rest);
  };
}

/** Where a request of protocol 2026-07-28 (no `initialize`) carries its envelope: revision, client capabilities and info. */
const ENVELOPE_PREFIX = "io.modelcontextprotocol/";
const PROTOCOL_VERSION_META_KEY = `${ENVELOPE_PREFIX}protocolVersion`;
export const CLIENT_CAPABILITIES_META_KEY = `${ENVELOPE_PREFIX}clientCapabilities`;

/**
 * The protocol envelope (revision, client capabilities and info) of a 2026-07-28 request's `_meta`, if it has one: the
 * guard's own requests on such a connection carry the envelope of the last request that passed, as the server
 * refuses a request without one.
 */
export function envelopeOf(meta: unknown): Record<string, unknown> | undefined {
  if (typeof meta !== "object" || meta === null || !(PROTOCOL_VERSION_META_KEY in meta)) return undefined;
  const envelope: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(meta)) if (key.startsWith(ENVELOPE_PREFIX)) envelope[key] = value;
  return envelope;
}

/** `params` with the envelope of `lastMeta` (see envelopeOf), or as they are on a connection without one. */
export function withEnvelope(params: Record<string, unknown>, lastMeta: unknown): Record<string, unknown> {
  const envelope = envelopeOf(lastMeta);
  return envelope === undefined ? params : { ...params, _meta: envelope };
}

/** Whether a message is a request (has a method and an id), a notification (a method, no id) or a response. */
export function isRequest(message: WireMessage): boolean {
  return typeof message.method === "string" && "id" in message;
}

export function isResponse(message: WireMessage): boolean {
  return message.method === undefined && "id" in message && ("result" in message || "error" in message);
}

export function paramsOf(message: WireMessage): Record<string, unknown> {
  const params = message.params;
  return typeof params === "object" && params !== null && !Array.isArray(params) ? (params as Record<string, unknown>) : {};
}

/**
 * The guard's own requests on one connection in one direction (to the server, or to the client), by the id it gave
 * them, until answered. Ids carry a random prefix, and only a message from the side a request went to can answer it,
 * so no id a peer chooses or guesses can be taken for one.
 */
export class OwnRequests {
  readonly #prefix = `pqguard-${randomUUID()}-`;
  readonly #pending = new Map<string, { resolve(result: Record<string, unknown>): void; reject(error: Error): void }>();
  #next = 0;

  constructor(private readonly failed: (message: string) => Error) {}

  /** A new request id and the promise of its answer's `result` (rejected when answered with an error). */
  open(): { readonly id: string; readonly answer: Promise<Record<string, unknown>> } {
    const id = `${this.#prefix}${++this.#next}`;
    const answer = new Promise<Record<string, unknown>>((resolve, reject) => this.#pending.set(id, { resolve, reject }));
    return { id, answer };
  }

  /** Settles the request `message` answers; false when it answers none of these. */
  settle(message: WireMessage): boolean {
    const id = message.id;
    if (typeof id !== "string") return false;
    const pending = this.#pending.get(id);
    if (pending === undefined) return false;
    this.#pending.delete(id);
    const error = message.error as { message?: unknown } | undefined;
    if (error !== undefined) pending.reject(this.failed(`the request was answered with an error: ${String(error.message)}`));
    else pending.resolve((message.result ?? {}) as Record<string, unknown>);
    return true;
  }

  /** Stops waiting for `id`, settling it with `result`; false when it was no longer waited for. */
  withdraw(id: string, result: Record<string, unknown>): boolean {
    const pending = this.#pending.get(id);
    if (pending === undefined) return false;
    this.#pending.delete(id);
    pending.resolve(result);
    return true;
  }

  /** The connection closed: every request still waiting is rejected. */
  failAll(message: string): void {
    for (const pending of this.#pending.values()) pending.reject(this.failed(message));
    this.#pending.clear();
  }
}

/**
 * The cancellation of one call while it is decided: aborted when its request is cancelled or its connection closes.
 * A CancelSignal with a plain listener list: an AbortController per call cost more than the rest of the guard's work
 * on a call (it is an EventTarget), and a call that is never cancelled needs none of that.
 */
export class Cancellation implements CancelSignal {
  #aborted = false;
  #listeners: (() => void)[] | undefined;

  get aborted(): boolean {
    return this.#aborted;
  }

  abort(): void {
    if (this.#aborted) return;
    this.#aborted = true;
    const listeners = this.#listeners;
    this.#listeners = undefined;
    for (const listener of listeners ?? []) listener();
  }

  /** Listeners run once, at the abort; added after it, they never run (check `aborted` first, as with AbortSignal). */
  addEventListener(_type: "abort", listener: () => void): void {
    if (!this.#aborted) (this.#listeners ??= []).push(listener);
  }

  removeEventListener(_type: "abort", listener: () => void): void {
    const listeners = this.#listeners;
    const at = listeners?.indexOf(listener) ?? -1;
    if (at >= 0) listeners!.splice(at, 1);
  }
}

/**
 * One tools/call from the moment it arrives until it is decided: the call the decision reads, its cancellation and its
 * budget of tool-list reads, in one object rather than four (this runs on every call).
 */
export class DecidingCall extends Cancellation implements CallToDecide, ReadBudget {
  tool = "";
  args: unknown = undefined;
  session: SessionView | undefined = undefined;
  approve: ApprovalCallback | undefined = undefined;
  handlerView: CallToDecide["handlerView"] = undefined;
  task = false;
  reads = MAX_STALE_READS;

  constructor(private readonly pinning: (tool: string, budget: ReadBudget) => PinVerdict | Promise<PinVerdict>) {
    super();
  }

  get signal(): CancelSignal {
    return this;
  }

  pin(): PinVerdict | Promise<PinVerdict> {
    return this.pinning(this.tool, this);
  }
}
