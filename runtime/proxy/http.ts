// `pqguard proxy --listen http(s)://HOST:PORT[/PATH]`: the proxy's downstream over Streamable HTTP, in TLS 1.3 when
// given a certificate. Each HTTP session is one connection of the proxy core: sealed (the post-quantum session) when
// the proxy has an identity, plain otherwise.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createTlsServer } from "node:https";
import { isIP, type AddressInfo, type Socket } from "node:net";
import type { Logger } from "pino";
import type { ClientTrust, SigningIdentity } from "../session/certificate.js";
import { PlainHttpEndpoint, SealedHttpEndpoint, blockListOf, isLoopbackAddress, plainAddress } from "../transport/http.js";
import { tlsServerOptions, type TlsServerCredentials } from "../transport/tls.js";
import type { ProxyCore } from "./core.js";
import { ProxyError, RPC_UPSTREAM_UNAVAILABLE } from "./errors.js";
import { METRICS_PATH, serveMetrics, type HandshakeAlarm, type PqguardMetrics } from "../metrics/index.js";
import type { KeyringServer } from "../transport/keyring-server.js";

/** A listener configuration error (PQG8006). */
const badListen = (message: string): ProxyError => new ProxyError("PQG8006", message, RPC_UPSTREAM_UNAVAILABLE);

/** The MCP endpoint's path when the listen URL names none. */
export const DEFAULT_MCP_PATH = "/mcp";

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]", "::1"]);
/** How clients name a loopback listener in their Host header. */
const LOOPBACK_HOST_NAMES = ["127.0.0.1", "localhost", "[::1]"];
/** The default ports: URL parsing drops them from a URL, and clients leave them out of the Host header. */
const DEFAULT_PORTS: Readonly<Record<string, number>> = { "http:": 80, "https:": 443 };

export interface HttpListenOptions {
  /** `http(s)://HOST:PORT[/PATH]`; port 0 picks a free port; `https:` needs `tls`. */
  readonly url: URL;
  /** The listener's certificate and key: it then speaks TLS 1.3 only (see runtime/transport/tls.ts). */
  readonly tls?: TlsServerCredentials | undefined;
  /** Addresses of load balancers whose X-Forwarded-For is believed (see HttpEndpointOptions.trustProxy). */
  readonly trustProxy?: readonly string[] | undefined;
  readonly core: ProxyCore;
  /** The proxy's ML-DSA identity: with it every session is sealed; without it sessions are plain MCP. */
  readonly identity?: SigningIdentity | undefined;
  readonly clientTrust?: ClientTrust | undefined;
  readonly label?: string | undefined;
  readonly logger: Logger;
  /** Whether the proxy can serve what needs state now (the state store answers): `/readyz` reports it. */
  readonly readiness?: (() => { readonly ok: boolean; readonly reason?: string }) | undefined;
  /** Served at `/metrics` on this listener when given (leave it out when metrics have a listener of their own). */
  readonly metrics?: PqguardMetrics | undefined;
  /** Refuses new sessions from peers it has blocked. */
  readonly alarm?: HandshakeAlarm | undefined;
  /** A keyring in place of `identity`: its active key answers new sessions; `/.well-known/pqguard-trust-list` serves its trust list. */
  readonly keyring?: KeyringServer | undefined;
  /** The session transports' metrics (the process's current ones by default). */
  readonly sessionMetrics?: PqguardMetrics | undefined;
  /** Open TCP connections the listener keeps at once; more are closed as they arrive (DEFAULT_MAX_CONNECTIONS). */
  readonly maxConnections?: number | undefined;
  /**
   * Open TCP connections one source address may hold (DEFAULT_MAX_CONNECTIONS_PER_SOURCE); its next ones are closed as
   * they arrive. Loopback and trusted proxies (`trustProxy`) are not limited unless `limitLoopback` is set.
   */
  readonly maxConnectionsPerSource?: number | undefined;
  /** Applies the per-source connection limit to loopback clients too (tests; a host whose clients are all remote). */
  readonly limitLoopback?: boolean | undefined;
  /**
   * Milliseconds a client may take to send a whole request, headers and body (DEFAULT_REQUEST_TIMEOUT_MS); past it the
   * listener answers 408 and closes the connection. Bounds how long a body trickled in holds its share of the bytes
   * the endpoint reads at once. An answer's event stream is not bounded by it.
   */
  readonly requestTimeoutMs?: number | undefined;
}

/** Connections one listener keeps open at once: past it, node:http closes new sockets as they arrive. */
export const DEFAULT_MAX_CONNECTIONS = 4096;
/** Connections one remote address may hold: sessions need one or two each, so this is far above honest use. */
export const DEFAULT_MAX_CONNECTIONS_PER_SOURCE = 128;
/** How long a client may take to send a request's headers (slow-header attacks hold a connection otherwise). */
const HEADERS_TIMEOUT_MS = 15_000;
/**
 * How long a client may take to send a whole request (node:http's own default is 300 s): an 11 MiB body needs about
 * 1.5 Mbit/s to arrive within it, and one trickled in holds its bytes of the endpoint's body budget no longer.
 */
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;

/** Paths a load balancer or an orchestrator probes: alive (the process answers), and ready for new sessions. */
export const HEALTH_PATH = "/healthz";
export const READY_PATH = "/readyz";

export interface HttpListener {
  /** Where clients connect, with the port actually bound. */
  readonly url: URL;
  /** Open sessions. */
  readonly sessions: number;
  /** Requests (calls) being answered now. */
  readonly inFlight: number;
  /**
   * Stops taking new sessions (`/readyz` answers 503, a request opening a session is refused), ends the change
   * subscriptions (`subscriptions/listen`, with their closing result) and resolves once no request is in flight or
   * `timeoutMs` passed, whichever is first; sessions already open keep being served meanwhile.
   */
  drain(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * Checks a `--listen` URL: http (or https, with `tls`, and only then), a host, a port; a plain (keyless) listener only
 * on a loopback address, TLS or not: TLS authenticates the server, not the clients who would reach the upstream.
 */
export function listenUrlOf(text: string, sealed: boolean, tls = false): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw badListen(`\`${text}\` is not a URL; use \`stdio\` or \`http://127.0.0.1:PORT\``);
  }
  if (url.protocol === "https:" && !tls) throw badListen("an `https://` listener needs its certificate and key: give `--tls-cert FILE --tls-key FILE`");
  if (url.protocol === "http:" && tls) throw badListen("a certificate is given: listen on `https://HOST:PORT`, or leave out `--tls-cert` and `--tls-key`");
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw badListen(`\`${url.protocol}\` listeners are not supported; use \`http://HOST:PORT\` (the sealed session encrypts it) or \`https://HOST:PORT\` with a certificate`);
  }
  if (url.port === "" && !namesPort(text)) throw badListen("the listen URL needs a port, e.g. `http://127.0.0.1:8808`");
  if (url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "") {
    throw badListen("the listen URL takes a host, a port and a path only");
  }
  if (!sealed && !LOOPBACK.has(url.hostname)) {
    throw badListen(`serving plain MCP on \`${url.hostname}\` would expose the upstream to the network unauthenticated: listen on 127.0.0.1, or give \`--key\``);
  }
  if (url.pathname === "/") url.pathname = DEFAULT_MCP_PATH;
  return url;
}

/** Whether a URL's text gives a port (`new URL` forgets an explicit default port, `:80`, so it cannot tell). */
function namesPort(text: string): boolean {
  const authority = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(text.trim())?.[1] ?? "";
  return /:\d+$/.test(authority.replace(/^.*@/, ""));
}

/** The port a URL from `listenUrlOf` listens on: its own, or the scheme's default when parsing dropped an explicit one. */
export function listenPortOf(url: URL): number {
  return url.port === "" ? (DEFAULT_PORTS[url.protocol] ?? 80) : Number(url.port);
}

/**
 * The Host headers a listener bound to `port` accepts: on a loopback address only loopback names with that port
 * (DNS rebinding protection), and without a port when it is http's default, as clients then send it; any when
 * listening elsewhere (undefined).
 */
export function allowedHostsOf(url: URL, port: number): string[] | undefined {
  if (!LOOPBACK.has(url.hostname)) return undefined;
  const withPort = LOOPBACK_HOST_NAMES.map((name) => `${name}:${port}`);
  return port === DEFAULT_PORTS[url.protocol] ? [...withPort, ...LOOPBACK_HOST_NAMES] : withPort;
}

/** A request target's path: as `new URL` would give it for the usual origin-form (`/mcp`, `/mcp?x`), without a URL per request. */
function pathOf(target: string | undefined): string {
  if (target === undefined || target === "") return "/";
  const end = target.search(/[?#]/);
  const path = end < 0 ? target : target.slice(0, end);
  // Anything unusual (an absolute form, dot segments, escapes) goes the careful way.
  return path.startsWith("/") && !path.startsWith("//") && !/[%\\\t]|\/\.\.?(\/|$)/.test(path) ? path : new URL(target, "http://localhost").pathname;
}

/** Where a proxy with a keyring publishes its signed trust list (public keys and dates only). */
export const TRUST_LIST_PATH = "/.well-known/pqguard-trust-list";

async function serveTrustList(keyring: KeyringServer, res: ServerResponse): Promise<void> {
  try {
    const list = await keyring.trustList();
    res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" }).end(`${JSON.stringify(list, null, 2)}\n`);
  } catch (error) {
    res.writeHead(503, { "content-type": "text/plain" }).end(`the trust list is not available: ${error instanceof Error ? error.message : String(error)}\n`);
  }
}

export async function listenHttp(options: HttpListenOptions): Promise<HttpListener> {
  const { core, logger } = options;
  const log = logger.child({ component: "http" });
  const onSessionError = (error: Error) => log.warn({ err: error.message }, "session setup failed");
  const path = options.url.pathname;
  let endpoint: PlainHttpEndpoint | SealedHttpEndpoint | undefined;
  let draining = false;
  let inFlight = 0;
  let idle: (() => void) | undefined;
  const serve = (req: IncomingMessage, res: ServerResponse): void => {
    const requested = pathOf(req.url);
    if (requested === METRICS_PATH && options.metrics !== undefined && requested !== path) {
      void serveMetrics(options.metrics, req, res);
      return;
    }
    if (requested === TRUST_LIST_PATH && options.keyring !== undefined && req.method === "GET") {
      void serveTrustList(options.keyring, res);
      return;
    }
    if (requested !== path && (requested === HEALTH_PATH || requested === READY_PATH)) {
      const state = options.readiness?.() ?? { ok: true };
      const ok = requested === HEALTH_PATH || (!draining && state.ok);
      const reason = requested === HEALTH_PATH ? undefined : draining ? "draining: no new sessions" : state.reason;
      res.writeHead(ok ? 200 : 503, { "content-type": "application/json" });
      res.end(JSON.stringify({ status: ok ? "ok" : "unavailable", ...(reason === undefined ? {} : { reason }) }));
      return;
    }
    // Draining: sessions already open are served to the end; a request opening one goes to another replica.
    if (draining && req.headers["mcp-session-id"] === undefined) {
      res.writeHead(503, { "content-type": "application/json", connection: "close" });
      res.end(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32000, message: "this proxy is draining and takes no new sessions" } }));
      return;
    }
    if (requested !== path || endpoint === undefined) {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32000, message: `no MCP endpoint at ${requested}; it is at ${path}` } }));
      return;
    }
    // A POST carries a call; its response (or event stream) ends when the call is answered.
    if (req.method === "POST") {
      inFlight++;
      res.once("close", () => {
        inFlight--;
        if (inFlight === 0) idle?.();
      });
    }
    void endpoint.handle(req, res);
  };
  const requestTimeout = wholeAtLeastOne(options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS, "requestTimeoutMs");
  // node:http looks for requests past their time on this interval (30 s by default, as long as the bound itself): once
  // a second here, never more often than every 100 ms however short the bound.
  const timing = { requestTimeout, headersTimeout: Math.min(HEADERS_TIMEOUT_MS, requestTimeout), connectionsCheckingInterval: Math.min(1_000, Math.max(100, requestTimeout)) };
  const server: Server = options.tls === undefined ? createServer(timing, serve) : createTlsServer({ ...tlsServerOptions(options.tls), ...timing }, serve);
  boundConnections(server, options, log);
  const host = options.url.hostname.replace(/^\[(.*)\]$/, "$1");
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error) => reject(badListen(`cannot listen on ${options.url.host}: ${error.message}`)));
    server.listen(listenPortOf(options.url), host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  const url = new URL(options.url.href);
  url.port = String(port);
  const allowedHosts = allowedHostsOf(url, port);
  const alarm = options.alarm;
  const common = {
    onSessionError,
    ...(allowedHosts === undefined ? {} : { allowedHosts }),
    ...(options.trustProxy === undefined ? {} : { trustProxy: options.trustProxy }),
    ...(alarm === undefined ? {} : { refusePeer: (address: string) => alarm.blocked(address) }),
  };
  const keyring = options.keyring;
  endpoint =
    keyring !== undefined
      ? new SealedHttpEndpoint({
          ...common,
          keys: keyring,
          ...(options.sessionMetrics === undefined ? {} : { metrics: options.sessionMetrics }),
          connect: (transport) => core.attachSealed(transport),
        })
      : options.identity === undefined
      ? new PlainHttpEndpoint({ ...common, connect: (transport) => core.attachPlain(transport), connectSessionless: (transport) => core.attachSessionless(transport) })
      : new SealedHttpEndpoint({
          ...common,
          identity: options.identity,
          ...(options.sessionMetrics === undefined ? {} : { metrics: options.sessionMetrics }),
          ...(options.clientTrust === undefined ? {} : { clientTrust: options.clientTrust }),
          ...(options.label === undefined ? {} : { label: options.label }),
          connect: (transport) => core.attachSealed(transport),
        });
  const served = endpoint;
  log.info({ url: url.href, sealed: options.identity !== undefined || keyring !== undefined }, "listening");
  return {
    url,
    get sessions() {
      return served.size;
    },
    get inFlight() {
      return inFlight;
    },
    async drain(timeoutMs: number) {
      draining = true;
      // A change subscription is a request that stays open as long as its client wants: it ends now, gracefully.
      core.endSubscriptions();
      log.info({ inFlight }, "draining: no new sessions; waiting for calls in flight");
      if (inFlight === 0) return;
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        idle = resolve;
        timer = setTimeout(resolve, timeoutMs);
      });
      clearTimeout(timer);
      idle = undefined;
    },
    async close() {
      await served.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * Bounds the TCP connections a listener holds, in all and per source address, and the time a request's headers may
 * take: the session table bounds sessions, but a client can hold sockets without opening any session.
 */
function boundConnections(server: Server, options: HttpListenOptions, log: Logger): void {
  server.maxConnections = wholeAtLeastOne(options.maxConnections ?? DEFAULT_MAX_CONNECTIONS, "maxConnections");
  const perSource = wholeAtLeastOne(options.maxConnectionsPerSource ?? DEFAULT_MAX_CONNECTIONS_PER_SOURCE, "maxConnectionsPerSource");
  const exempt = options.trustProxy === undefined || options.trustProxy.length === 0 ? undefined : blockListOf(options.trustProxy);
  const open = new Map<string, number>();
  const refused = new Set<string>();
  // `connection` is the raw TCP socket, for https too: a refused source never reaches the TLS handshake.
  server.on("connection", (socket: Socket) => {
    const source = plainAddress(socket.remoteAddress ?? "");
    if ((options.limitLoopback !== true && isLoopbackAddress(source)) || exempt?.check(source, isIP(source) === 6 ? "ipv6" : "ipv4") === true) return;
    const count = (open.get(source) ?? 0) + 1;
    if (count > perSource) {
      if (!refused.has(source)) {
        refused.add(source);
        log.warn({ source, limit: perSource }, "a source holds too many connections; its new ones are closed");
      }
      socket.destroy();
      return;
    }
    open.set(source, count);
    socket.once("close", () => {
      const left = (open.get(source) ?? 1) - 1;
      if (left === 0) {
        open.delete(source);
        refused.delete(source);
      } else open.set(source, left);
    });
  });
}

function wholeAtLeastOne(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) throw badListen(`\`${name}\` must be a positive whole number`);
  return value;
}
