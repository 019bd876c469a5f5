// How the upstream supervisor reaches its MCP server: a child process over newline-delimited stdio, or a Streamable
// HTTP endpoint through the SDK's client transport. Either way the supervisor sees messages in, writes out, and one
// `gone` when the link is over, so that supervision, timeouts and restarts are the same for both.
import { spawn, type ChildProcess } from "node:child_process";
import type { Logger } from "pino";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { FetchLike } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { InitializeResult, JSONRPCMessage, RequestId } from "@modelcontextprotocol/sdk/types.js";
import { ProxyError, RPC_UPSTREAM_UNAVAILABLE } from "./errors.js";
import { classifyLine, LineSplitter, oversizedReply, serializeLine, type JsonRpcErrorReply } from "./framing.js";
import { nodeFetch } from "../transport/fetch.js";
import { tlsClientAgents, type TlsClientOptions } from "../transport/tls.js";

/** Between SIGTERM and SIGKILL (stdio), or for the session's DELETE (HTTP), when shutting down: time to flush, not to linger. */
export const KILL_GRACE_MS = 1_000;
/** The longest an HTTP upstream's session waits for its server's event stream before it serves calls anyway. */
export const SERVER_STREAM_WAIT_MS = 2_000;
/** The notification after which the SDK's client opens a server's own event stream, as it appears in a POST's body. */
const INITIALIZED_METHOD = '"method":"notifications/initialized"';
/**
 * The statuses the SDK's transport follows within the origin (its own list is internal); one it does not follow fails
 * the request, and the wait then ends at its bound.
 */
const isRedirect = (status: number): boolean => status === 301 || status === 302 || status === 303 || status === 307 || status === 308;

/**
 * Bytes written to a stdio server's input and not yet read by it, past which further messages are refused (a request's
 * caller hears at once) rather than queued: a server that stops reading would otherwise grow the proxy's memory with
 * every call sent to it. One message larger than this is still written whole when the backlog is below it.
 */
export const MAX_UPSTREAM_BACKLOG_BYTES = 16 * 1024 * 1024;

/** An upstream MCP server run as a child process, spoken to over its stdin and stdout. */
export interface UpstreamCommand {
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd?: string | undefined;
  readonly env?: NodeJS.ProcessEnv | undefined;
  /** Where the server's stderr goes: inherited by default. */
  readonly stderr?: "inherit" | "ignore" | undefined;
}

/** An upstream MCP server that is already running, reached over Streamable HTTP at `url`. */
export interface UpstreamUrl {
  /** `http:` or `https:`, e.g. `http://127.0.0.1:8080/mcp`. */
  readonly url: string | URL;
  /** Sent with every HTTP request (an `Authorization` header, say); never logged. */
  readonly headers?: Readonly<Record<string, string>> | undefined;
  /** How an `https:` server is verified (system CA store by default); TLS 1.3 only, whatever is given. */
  readonly tls?: TlsClientOptions | undefined;
}

export type UpstreamTarget = UpstreamCommand | UpstreamUrl;

export function isUpstreamUrl(target: UpstreamTarget): target is UpstreamUrl {
  return "url" in target;
}

/** Parses and checks an upstream URL; PQG8006 when it is not an http(s) URL without credentials. */
export function upstreamUrlOf(value: string | URL): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ProxyError("PQG8006", `\`${String(value)}\` is not a URL`, RPC_UPSTREAM_UNAVAILABLE);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ProxyError("PQG8006", `the upstream URL must be http: or https:, not \`${url.protocol}\``, RPC_UPSTREAM_UNAVAILABLE);
  }
  if (url.username !== "" || url.password !== "") {
    throw new ProxyError("PQG8006", "the upstream URL must not carry credentials; pass them as headers", RPC_UPSTREAM_UNAVAILABLE);
  }
  return url;
}

/** How logs and errors name an upstream URL: without query or fragment, which may carry tokens. */
export function displayUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

/** What the supervisor hears from a link. Nothing is reported after `gone`. */
export interface LinkEvents {
  /** A well-formed JSON-RPC message from the server. */
  message(message: JSONRPCMessage): void;
  /** A malformed answer to request `id` (stdio): its caller should hear now, not at its timeout. */
  malformedReply(id: RequestId, detail: string): void;
  /** A request that could not be delivered (HTTP): its caller should hear now, not at its timeout. */
  undelivered(id: RequestId, detail: string): void;
  /** Trouble that may mean the server went away (a dropped stream, a failed write): worth a health check. */
  trouble(detail: string): void;
  /** The link is over: the process exited, or the connection was dropped. Reported once, never synchronously. */
  gone(how: string): void;
}

export interface UpstreamLink {
  readonly kind: "stdio" | "http";
  /** How logs and errors name the server: its command, or its URL without query or credentials. */
  readonly name: string;
  readonly pid: number | undefined;
  write(message: JSONRPCMessage | JsonRpcErrorReply): void;
  /** Called once `initialize` was answered. */
  initialized(result: InitializeResult): void;
  /**
   * Resolves once the server can send requests and notifications of its own (over HTTP: once the event stream the
   * client opens after `notifications/initialized` is answered, or refused), at the latest after a short wait.
   */
  serverStreamOpen?(): Promise<void>;
  /** Drops the server at once (SIGKILL, or every HTTP request aborted); `gone` follows. */
  kill(): void;
  /** Stops politely (SIGTERM then SIGKILL, or the session's DELETE then close); resolves once gone. */
  stop(): Promise<void>;
}

/**
 * Opens a link to the server. `modern`: the link carries requests of a stateless revision (2026-07-28), each with its
 * envelope; over HTTP that needs the SDK v2 client transport (loaded by `loadModernHttp` first), which derives the
 * revision's headers (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`) from each request's envelope.
 */
export function openLink(target: UpstreamTarget, log: Logger, events: LinkEvents, modern = false): UpstreamLink {
  if (!isUpstreamUrl(target)) return new StdioLink(target, log, events);
  if (!modern) return new HttpLink(target, log, events, StreamableHTTPClientTransport);
  if (modernHttp === undefined) throw new ProxyError("PQG8020", "the SDK v2 client transport was not loaded", RPC_UPSTREAM_UNAVAILABLE);
  return new HttpLink(target, log, events, modernHttp);
}

/** What the HTTP link uses of a Streamable HTTP client transport; SDK v1's and v2's both have it. */
interface HttpClientTransport {
  onmessage?: ((message: JSONRPCMessage) => void) | undefined;
  onerror?: ((error: Error) => void) | undefined;
  onclose?: (() => void) | undefined;
  start(): Promise<void>;
  /** Options as each SDK's transport reads them: SDK v2's calls `onRequestStreamEnd` when a request's event stream ends. */
  send(message: JSONRPCMessage, options?: object): Promise<void>;
  close(): Promise<void>;
  terminateSession(): Promise<void>;
  setProtocolVersion(version: string): void;
}

type HttpClientTransportClass = new (url: URL, options: { fetch: (url: string | URL, init?: RequestInit) => Promise<Response>; requestInit?: RequestInit }) => HttpClientTransport;

/** SDK v2's Streamable HTTP client transport, once `loadModernHttp` found it. */
let modernHttp: HttpClientTransportClass | undefined;

/**
 * Loads SDK v2's client transport (`@modelcontextprotocol/client`, an optional peer dependency) for modern HTTP
 * links; PQG8020 when it is not installed, since SDK v1's transport cannot send the revision's headers.
 */
export async function loadModernHttp(): Promise<void> {
  if (modernHttp !== undefined) return;
  try {
    const sdk = (await import("@modelcontextprotocol/client")) as unknown as { StreamableHTTPClientTransport: HttpClientTransportClass };
    modernHttp = sdk.StreamableHTTPClientTransport;
  } catch {
    throw new ProxyError("PQG8020", "passing revision 2026-07-28 to an HTTP upstream needs the package `@modelcontextprotocol/client` (SDK v2), which is not installed", RPC_UPSTREAM_UNAVAILABLE);
  }
}

/** A fetch failure's message with its cause (`fetch failed (connect ECONNREFUSED 127.0.0.1:8080)`). */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: unknown }).cause;
  return cause instanceof Error && cause.message !== "" ? `${error.message} (${cause.message})` : error.message;
}

class StdioLink implements UpstreamLink {
  readonly kind = "stdio";
  readonly name: string;
  readonly #child: ChildProcess | undefined;
  readonly #log: Logger;
  readonly #events: LinkEvents;
  readonly #exited: Promise<void>;

  constructor(command: UpstreamCommand, log: Logger, events: LinkEvents) {
    this.name = command.command;
    this.#log = log;
    this.#events = events;
    let ended = false;
    let markExited!: () => void;
    this.#exited = new Promise((resolve) => (markExited = resolve));
    const end = (how: string): void => {
      if (ended) return;
      ended = true;
      markExited();
      setImmediate(() => events.gone(how));
    };
    let child: ChildProcess;
    try {
      child = spawn(command.command, [...command.args], {
        cwd: command.cwd,
        env: command.env ?? process.env,
        stdio: ["pipe", "pipe", command.stderr ?? "inherit"],
        windowsHide: true,
      });
    } catch (error) {
      this.#child = undefined;
      end(describeError(error));
      return;
    }
    this.#child = child;
    const splitter = new LineSplitter();
    child.stdout!.on("data", (chunk: Buffer) => {
      if (ended) return;
      splitter.push(
        chunk,
        (line) => {
          const framed = classifyLine(line);
          if (framed.kind === "message") {
            events.message(framed.message);
            return;
          }
          this.#log.warn({ detail: framed.detail }, "malformed message from upstream");
          if (framed.inReplyTo !== undefined) events.malformedReply(framed.inReplyTo, framed.detail);
          else this.write(framed.reply);
        },
        () => {
          this.#log.warn("upstream sent an oversized message; dropped");
          this.write(oversizedReply(splitter.maxBytes));
        },
      );
    });
    // EPIPE when the server dies mid-write is reported through `exit`; nothing more to do here.
    child.stdin!.on("error", (error) => this.#log.debug({ err: error.message }, "upstream stdin error"));
    let spawnError: string | undefined;
    child.on("error", (error) => {
      spawnError = error.message;
      if (child.pid === undefined) end(spawnError);
    });
    child.on("exit", (code, signal) => end(spawnError ?? (signal !== null ? `signal ${signal}` : `exit code ${String(code)}`)));
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  write(message: JSONRPCMessage | JsonRpcErrorReply): void {
    const stdin = this.#child?.stdin;
    if (stdin === undefined || stdin === null || stdin.destroyed) return;
    if (stdin.writableLength > MAX_UPSTREAM_BACKLOG_BYTES) return this.#refuse(message, stdin.writableLength);
    stdin.write(serializeLine(message));
  }

  /** The server is not reading: a request's caller hears so now; anything else is dropped, and either way it is trouble. */
  #refuse(message: JSONRPCMessage | JsonRpcErrorReply, backlog: number): void {
    const detail = `the upstream server has not read the last ${backlog} bytes sent to it`;
    const raw = message as { method?: unknown; id?: unknown };
    if (typeof raw.method === "string" && (typeof raw.id === "number" || typeof raw.id === "string")) this.#events.undelivered(raw.id, detail);
    else this.#log.warn({ detail }, "message to the upstream dropped");
    this.#events.trouble(detail);
  }

  initialized(): void {}

  kill(): void {
    this.#child?.kill("SIGKILL");
  }

  async stop(): Promise<void> {
    const child = this.#child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    child.stdin?.end();
    child.kill("SIGTERM");
    const force = setTimeout(() => child.kill("SIGKILL"), KILL_GRACE_MS);
    await this.#exited;
    clearTimeout(force);
  }
}

class HttpLink implements UpstreamLink {
  readonly kind = "http";
  readonly name: string;
  readonly pid = undefined;
  readonly #transport: HttpClientTransport;
  readonly #events: LinkEvents;
  readonly #log: Logger;
  #ended = false;
  /** The last failure seen: what `gone` reports when the supervisor drops the link because of it. */
  #lastFailure: string | undefined;
  /** Resolves once the server's event stream (GET) was answered, however. */
  readonly #streamOpen: Promise<void>;
  /** This link's keep-alive connections: ended with it, not left to the server's idle timeout. */
  readonly #agents: ReturnType<typeof tlsClientAgents>;

  constructor(target: UpstreamUrl, log: Logger, events: LinkEvents, Transport: HttpClientTransportClass) {
    const url = upstreamUrlOf(target.url);
    this.name = displayUrl(url);
    this.#events = events;
    this.#log = log;
    // The server's own event stream (GET) is opened by the transport once `notifications/initialized` is sent; a
    // server drops what it sends of its own before that stream is there (the SDK's server does, silently: a sampling
    // request of the first tool call would be lost), so the session is ready once the GET is answered.
    this.#agents = tlsClientAgents(target.tls);
    const fetch = nodeFetch(this.#agents);
    let settled = false;
    let opened!: () => void;
    this.#streamOpen = new Promise<void>((resolve) => (opened = resolve)).then(() => void (settled = true));
    const watched: FetchLike = (input, init) => {
      const answer = fetch(input, init);
      if (settled) return answer;
      // The transport opens the stream only after a 202 to `initialized`: any other answer means none is coming. A
      // redirect is not the answer: the transport follows it within the origin, through this fetch again.
      if (init?.method === "GET") answer.then((response) => void (isRedirect(response.status) || opened()), opened);
      else if (typeof init?.body === "string" && init.body.includes(INITIALIZED_METHOD)) {
        answer.then((response) => void (response.status === 202 || isRedirect(response.status) || opened()), opened);
      }
      return answer;
    };
    this.#transport = new Transport(url, { fetch: watched, ...(target.headers === undefined ? {} : { requestInit: { headers: { ...target.headers } } }) });
    this.#transport.onmessage = (message) => {
      if (!this.#ended) events.message(message);
    };
    this.#transport.onerror = (error) => {
      if (this.#ended) return;
      this.#lastFailure = describeError(error);
      this.#log.debug({ err: this.#lastFailure }, "upstream HTTP transport error");
      events.trouble(this.#lastFailure);
    };
    this.#transport.onclose = () => this.#end(this.#lastFailure ?? "the connection was closed");
    // The transport only marks itself started; requests are independent POSTs from here on.
    this.#transport.start().catch((error: unknown) => this.#end(describeError(error)));
  }

  #end(how: string): void {
    if (this.#ended) return;
    this.#ended = true;
    setImmediate(() => {
      this.#dropConnections();
      this.#events.gone(how);
    });
  }

  #dropConnections(): void {
    this.#agents.http.destroy();
    this.#agents.https.destroy();
  }

  write(message: JSONRPCMessage | JsonRpcErrorReply): void {
    if (this.#ended) return;
    const raw = message as { method?: unknown; id?: unknown };
    const id = typeof raw.method === "string" && (typeof raw.id === "number" || typeof raw.id === "string") ? raw.id : undefined;
    // A request's event stream that ends before its answer came (the connection dropped) would leave the request
    // waiting for its timeout, which for a change subscription is no timeout at all: it fails now. After an answer,
    // the request is settled and this finds nothing.
    const ended = id === undefined ? undefined : { onRequestStreamEnd: () => void (this.#ended || this.#events.undelivered(id, "its event stream ended before the answer came")) };
    // The transport's message type has no `id: null`; only the stdio side answers unreadable input that way.
    this.#transport.send(message as JSONRPCMessage, ended).catch((error: unknown) => {
      if (this.#ended) return;
      const detail = describeError(error);
      this.#lastFailure = detail;
      if (id !== undefined) this.#events.undelivered(id, detail);
      // The transport reported the failure through `onerror` too, which asked for a health check.
    });
  }

  initialized(result: InitializeResult): void {
    // Later requests carry the negotiated version, as the Streamable HTTP transport requires.
    this.#transport.setProtocolVersion(result.protocolVersion);
  }

  serverStreamOpen(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((resolve) => (timer = setTimeout(resolve, SERVER_STREAM_WAIT_MS)));
    return Promise.race([this.#streamOpen, waited]).finally(() => clearTimeout(timer));
  }

  kill(): void {
    this.#lastFailure ??= "dropped by the proxy";
    void this.#transport.close();
  }

  async stop(): Promise<void> {
    if (this.#ended) return;
    this.#ended = true; // nothing more is reported: the proxy is closing
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, KILL_GRACE_MS)));
    await Promise.race([this.#transport.terminateSession().catch(() => undefined), grace]);
    clearTimeout(timer);
    await this.#transport.close();
    this.#dropConnections();
  }
}
