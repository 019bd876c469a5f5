// What client and server transports share: sealing and opening JSON-RPC messages, the pre-establishment send queue,
// rekeying an idle session on a timer, failure (typed error, close, nothing delivered), idempotent close with a sealed
// close frame, the session facts, re-authentication with a renewed certificate, and closing when a certificate expires.
import type { Transport, TransportSendOptions } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage, MessageExtraInfo } from "@modelcontextprotocol/sdk/types.js";
import { CLOSE_GRACE_MS, CLOSE_NOTIFY_TIMEOUT_MS, DRAIN_LINGER_MS, DRAINING_NOTIFICATION, HANDSHAKE_TIMEOUT_MS, INNER_CLOSE_TIMEOUT_MS, MAX_EARLY_BYTES, MAX_EARLY_FRAMES, MAX_FRAME_BYTES, MAX_PENDING_SENDS } from "../session/constants.js";
import { SessionError, SessionErrorCode, asSessionError } from "../session/errors.js";
import type { SessionInfo } from "../session/facts.js";
import type { EstablishedSession } from "../session/handshake.js";
import { FrameType, RecordOpener, RecordSealer } from "../session/record.js";
import type { SigningIdentity } from "../session/certificate.js";
import { sealReauthentication, type ReauthSender, type ReauthState } from "../session/reauth.js";
import type { Delivery, RecordLimits } from "../session/record.js";
import { HandshakeStep, matchesRoute, openEnvelope, sealedEnvelope } from "./envelope.js";
import type { Envelope } from "./envelope.js";
import { currentMetrics, failureReasonOf, type PqguardMetrics, type Side } from "../metrics/metrics.js";

/** Options both ends share. */
export interface SessionTransportOptions {
  /** Rekey after this many frames under one key (default 2^20). */
  readonly rekeyAfterMessages?: number;
  /**
   * Rekey after this long under one key (default 120 s, as WireGuard). Sends check it; so does one unref'd timer per
   * session, so that a session that has gone quiet still replaces a key that sealed traffic (at most once per quiet
   * spell: a key that sealed nothing is kept).
   */
  readonly rekeyAfterMs?: number;
  /** Whole-handshake timeout (default 10 s). */
  readonly handshakeTimeoutMs?: number;
  /** Largest decoded frame (default 8 MiB). */
  readonly maxFrameBytes?: number;
  /**
   * How sealed frames may arrive. `ordered` (stdio, in-memory): any gap, swap or repeat closes the session.
   * `unordered`: any order within an anti-replay window, each frame once — for transports that carry each message
   * in its own HTTP request. Default: `unordered` for the SDK's Streamable HTTP transports, else `ordered`.
   */
  readonly delivery?: Delivery;
  /** Clock, epoch ms; injected so tests control certificate validity and rekey timing. */
  readonly now?: () => number;
  /** Where handshakes, failures, rekeys and open sessions are counted; the process's current metrics by default. */
  readonly metrics?: PqguardMetrics;
  /** Who is on the other end (a remote address, a URL), for the metrics' alarm; never sent anywhere. */
  readonly peer?: string;
}

/** setTimeout's largest delay (2^31 - 1 ms): a longer one fires at once, so an unbounded rekeyAfterMs would spin. */
const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;
/**
 * The idle rekey timer looks at most this often: a `rekeyAfterMs` below it (allowed, for tests and paranoid settings)
 * would otherwise wake every idle session every millisecond for as long as it lives. Sends still rekey on time.
 */
const MIN_REKEY_TIMER_MS = 10;

/** Whether `inner` is one of the SDK's Streamable HTTP transports (server: `handleRequest`; client: `terminateSession`). */
function deliversOverHttp(inner: Transport): boolean {
  const candidate = inner as Partial<Record<"handleRequest" | "terminateSession", unknown>>;
  return typeof candidate.handleRequest === "function" || typeof candidate.terminateSession === "function";
}

interface PendingSend {
  readonly message: JSONRPCMessage;
  readonly options: TransportSendOptions | undefined;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

export type Phase = "new" | "handshaking" | "established" | "closed";

export abstract class SessionTransport implements Transport {
  // The SDK's handlers are declared, not fields: a field would make each an own property at construction, and
  // enforcement, which turns `onmessage`/`onclose` into accessors before the SDK connects (enforce/tap.ts), would then
  // reconfigure an existing property, which leaves the object with slow (dictionary) properties on every record.
  /** Called once, when the session has closed; should it throw, its error goes to onerror (PQG6027). */
  declare onclose?: (() => void) | undefined;
  /** Should it throw while the session fails, the failure still completes and its error is raised on a later turn. */
  declare onerror?: ((error: Error) => void) | undefined;
  declare onmessage?: (<T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void) | undefined;
  /** Called once, when the handshake is complete and confirmed on this end; should it throw, the session fails (PQG6027). */
  onestablished?: ((info: SessionInfo) => void) | undefined;

  /** @internal */
  protected phase: Phase = "new";
  /** @internal */
  protected sealer: RecordSealer | undefined;
  /** @internal */
  protected opener: RecordOpener | undefined;
  /** @internal */
  protected readonly now: () => number;
  private info: SessionInfo | undefined;
  /** The last `sessionInfo` handed out, frozen, and the rekey count it shows: one object per key epoch, not per call. */
  private shown: SessionInfo | undefined;
  private pending: PendingSend[] = [];
  private peerClosed = false;
  private closeEmitted = false;
  private closing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Rekeys a session that sends nothing; set once sending is possible and never touched by sends (see rekeyIfIdle). */
  private rekeyTimer: NodeJS.Timeout | undefined;
  /** Unordered delivery: sealed frames that arrived before this end could open them, with what their request carried. */
  private early: { readonly envelope: Extract<Envelope, { kind: "sealed" }>; readonly extra: MessageExtraInfo | undefined }[] = [];
  private earlyBytes = 0;
  /** Unordered delivery: the peer's close arrived before some of its frames; waiting for them, then truncation. */
  private closeTimer: NodeJS.Timeout | undefined;
  private readonly delivery: Delivery;
  private closedListeners: (() => void)[] = [];
  /** Bound to this session: what re-authentication signatures cover (docs/protocol.md). */
  private reauthContext: Uint8Array | undefined;
  /** Re-authentications this end has sent, and the highest counter accepted from the peer. */
  private reauthsSent = 0;
  private reauthsSeen = 0;
  /** When the earliest certificate in the facts expires (epoch ms), and the timer that closes the session then. */
  private expiresAt = Number.POSITIVE_INFINITY;
  private expiryTimer: NodeJS.Timeout | undefined;
  private waiter: { resolve: () => void; reject: (error: Error) => void } | undefined;
  /** @internal */
  protected abstract readonly side: Side;
  private readonly metrics: PqguardMetrics;
  private handshakeStarted = 0;
  /** Whether this session is counted in `sessions_open`: set when established, cleared when the close is emitted. */
  private countedOpen = false;
  /** Ids of requests delivered to this end's handler and not yet answered: what a drain waits for. */
  private readonly outstanding = new Set<unknown>();
  private draining: string | undefined;
  private lingerTimer: NodeJS.Timeout | undefined;
  /** Whether the session failed (as opposed to closing by either end's sealed close). */
  private failed = false;

  constructor(
    protected readonly inner: Transport,
    private readonly options: SessionTransportOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.delivery = options.delivery ?? (deliversOverHttp(inner) ? "unordered" : "ordered");
    this.metrics = options.metrics ?? currentMetrics();
  }

  /** Resolves once this transport has closed, for whatever reason (for owners that track sessions, such as HTTP front ends). */
  get closed(): Promise<void> {
    if (this.closeEmitted) return Promise.resolve();
    return new Promise((resolve) => this.closedListeners.push(resolve));
  }

  /** The negotiated facts, once the handshake is confirmed on this end; undefined before and after failure. */
  get sessionInfo(): SessionInfo | undefined {
    const info = this.info;
    if (info === undefined) return undefined;
    const rekeys = (this.sealer?.rekeys ?? 0) + (this.opener?.rekeys ?? 0);
    if (this.shown === undefined || this.shown.rekeys !== rekeys) this.shown = Object.freeze({ ...info, rekeys });
    return this.shown;
  }

  /** The inner transport's session id (Streamable HTTP); the cryptographic session id is `sessionInfo.sessionId`. */
  get sessionId(): string | undefined {
    return this.inner.sessionId;
  }

  setProtocolVersion(version: string): void {
    this.inner.setProtocolVersion?.(version);
  }

  /** @internal */
  protected get handshakeTimeoutMs(): number {
    return this.options.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS;
  }

  /** @internal */
  protected get recordLimits(): RecordLimits {
    return {
      rekeyAfterMessages: this.options.rekeyAfterMessages,
      rekeyAfterMs: this.options.rekeyAfterMs,
      maxFrameBytes: this.options.maxFrameBytes,
      delivery: this.delivery,
      now: this.now,
    };
  }

  abstract start(): Promise<void>;

  /** Handles a handshake message (with its envelope's id) in whatever state the subclass is in; throws SessionError to fail the session. */
  /** @internal */
  protected abstract receiveHandshake(bytes: Uint8Array, id: unknown): void;

  /**
   * Hooks the inner transport, arms the handshake timer, starts the inner transport, runs `begin` (the client sends its
   * hello there) and resolves when the subclass releases the waiter; rejects on failure, timeout or close. The timer
   * and the waiter exist before the inner transport starts: starting may deliver the whole handshake (an in-memory link
   * hands over what was queued for it), and a waiter made after that would never be released.
   */
  /** @internal */
  protected async startSession(what: string, begin?: () => void): Promise<void> {
    if (this.phase !== "new") {
      throw new SessionError(SessionErrorCode.UnexpectedMessage, "this transport was already started; create a new one per connection");
    }
    this.phase = "handshaking";
    this.handshakeStarted = performance.now();
    this.inner.onmessage = (message, extra) => this.receive(message, extra);
    this.inner.onclose = () => this.innerClosed();
    // After the session has closed, the inner transport reports its own teardown (an aborted stream): not an error.
    this.inner.onerror = (error) => {
      if (this.phase !== "closed") this.onerror?.(error);
    };
    this.armHandshakeTimer(what);
    const ready = this.waitForHandshake();
    // Awaited below; a failure while the inner transport starts must not be reported as an unhandled rejection first.
    void ready.catch(() => undefined);
    try {
      await this.inner.start();
    } catch (error) {
      this.fail(asSessionError(error, SessionErrorCode.PeerClosedDuringHandshake, "the connection could not be started"));
    }
    if (this.phase === "handshaking") begin?.();
    await ready;
  }

  /** Arms the whole-handshake timer: expiry fails the session with a Timeout error. */
  private armHandshakeTimer(what: string): void {
    this.timer = setTimeout(() => {
      this.fail(new SessionError(SessionErrorCode.Timeout, `${what} did not complete within ${this.handshakeTimeoutMs} ms`));
    }, this.handshakeTimeoutMs);
    this.timer.unref?.();
  }

  /** A promise released by releaseWaiter(), or rejected by failure, timeout or close. */
  private waitForHandshake(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.phase === "closed") return reject(new SessionError(SessionErrorCode.Closed, "the session is closed"));
      this.waiter = { resolve, reject };
    });
  }

  /** @internal */
  protected stopTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** @internal */
  protected releaseWaiter(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.resolve();
  }

  /** Sending becomes possible: flush what was queued, in order, before any later send. */
  /** @internal */
  protected enableSending(session: EstablishedSession): void {
    this.sealer = new RecordSealer(session.aead, session.kdf, session.sendSecret, this.recordLimits);
    // Before the flush: a flush that fails the session synchronously then clears it.
    this.armRekeyTimer(this.sealer);
    const queued = this.pending;
    this.pending = [];
    for (const item of queued) this.send(item.message, item.options).then(item.resolve, item.reject);
  }

  /** Receiving becomes possible: the peer is confirmed, the facts are final. */
  /** @internal */
  protected enableReceiving(session: EstablishedSession): void {
    this.opener = new RecordOpener(session.aead, session.kdf, session.receiveSecret, this.recordLimits);
    this.info = session.info;
    this.reauthContext = session.reauthContext;
    this.armExpiry();
    this.phase = "established";
    this.stopTimer();
    this.metrics.handshakeCompleted(this.side, session.info.suite, (performance.now() - this.handshakeStarted) / 1000);
    this.metrics.sessionOpened(this.side);
    this.countedOpen = true;
    this.releaseWaiter();
    try {
      this.onestablished?.(this.sessionInfo!);
    } catch (error) {
      // A handler that throws may be refusing the peer: fail closed.
      return this.fail(new SessionError(SessionErrorCode.CallbackFailed, "the onestablished handler threw, so the session is closed", { cause: error }));
    }
    const early = this.early;
    this.early = [];
    this.earlyBytes = 0;
    for (const { envelope, extra } of early) if (this.phase === "established") this.receiveSealed(envelope, extra);
  }

  /**
   * Seals and sends once the session can send. Before that, sends are queued (at most MAX_PENDING_SENDS) and
   * resolve when flushed; after close or failure they reject with a SessionError.
   */
  send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    // Not `async`: the sealed path returns the inner send's promise as is, one promise fewer per message.
    if (this.sealer !== undefined && this.phase !== "closed") {
      try {
        if (this.outstanding.size > 0 && ("result" in message || "error" in message)) {
          this.outstanding.delete(message.id);
          if (this.draining !== undefined && this.outstanding.size === 0) {
            const sent = this.sealAndSend(message, options);
            this.armLinger();
            return sent;
          }
        }
        return this.sealAndSend(message, options);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    if (this.phase === "closed") return Promise.reject(new SessionError(SessionErrorCode.Closed, "the session is closed"));
    if (this.pending.length >= MAX_PENDING_SENDS) {
      return Promise.reject(new SessionError(SessionErrorCode.BufferFull, `more than ${MAX_PENDING_SENDS} messages queued before the handshake completed`));
    }
    return new Promise<void>((resolve, reject) => this.pending.push({ message, options, resolve, reject }));
  }

  private sealAndSend(message: JSONRPCMessage, options: TransportSendOptions | undefined): Promise<void> {
    const sealer = this.sealer!;
    const text = JSON.stringify(message);
    if (sealer.rekeyDue()) {
      const marker = sealer.rekey();
      this.metrics.rekey(this.side);
      if (marker !== undefined) this.sendMarker(marker, options);
      // The marker's loss may have failed the session (an inner send that throws at once) and wiped the keys.
      if (this.phase === "closed") return Promise.reject(new SessionError(SessionErrorCode.Closed, "the session closed while this message was being sent"));
    }
    return this.inner.send(sealedEnvelope(sealer.sealData(text), message), options);
  }

  /**
   * A per-message timer would cost a timer insert and removal on every send, so one timer waits out the current key's
   * time instead; a send that rekeyed meanwhile only makes the next check find a younger key.
   */
  private armRekeyTimer(sealer: RecordSealer): void {
    this.rekeyTimer = setTimeout(() => this.rekeyIfIdle(sealer), Math.min(Math.max(sealer.msUntilRekey(), MIN_REKEY_TIMER_MS), MAX_TIMER_DELAY_MS));
    this.rekeyTimer.unref?.();
  }

  /**
   * Rekeys if the key is past its time, then waits out the new key's. The marker is sealed and handed to the inner
   * transport in one turn, as sealAndSend does, so no frame is sealed between them and the inner send order stays the
   * sealing order. Its loss fails the session: the peer could not open any frame after it.
   */
  private rekeyIfIdle(sealer: RecordSealer): void {
    this.rekeyTimer = undefined;
    if (this.phase === "closed") return;
    try {
      const marker = sealer.idleRekeyDue() ? sealer.rekey() : undefined;
      if (marker !== undefined) this.metrics.rekey(this.side);
      // Armed before sending: a send that fails the session synchronously then clears it.
      this.armRekeyTimer(sealer);
      if (marker !== undefined) this.sendMarker(marker);
    } catch (error) {
      this.markerLost(error);
    }
  }

  /**
   * Hands a rekey marker to the inner transport. Whoever caused the rekey waits only for its own frame; the marker's
   * loss fails the session instead, since the peer could not open any frame sealed after it.
   */
  private sendMarker(marker: string, options?: TransportSendOptions): void {
    try {
      this.inner.send(sealedEnvelope(marker), options).catch((error: unknown) => this.markerLost(error));
    } catch (error) {
      this.markerLost(error);
    }
  }

  private markerLost(error: unknown): void {
    this.fail(asSessionError(error, SessionErrorCode.StreamTruncated, "the rekey marker could not be sent, so the peer could not open any later frame"));
  }

  private receive(message: JSONRPCMessage, extra: MessageExtraInfo | undefined): void {
    if (this.phase === "closed") return;
    let envelope: Envelope;
    try {
      envelope = openEnvelope(message);
      if (envelope.kind === "handshake") return this.receiveHandshake(envelope.bytes, envelope.id);
      if (envelope.kind === "plain") return this.refusePlaintext(message);
    } catch (error) {
      return this.fail(asSessionError(error, SessionErrorCode.UnexpectedMessage, "a message could not be processed"));
    }
    if (this.opener === undefined) {
      // Over HTTP a frame can overtake the handshake's last message; over a stream that is an attack.
      if (this.delivery === "ordered") {
        return this.fail(new SessionError(SessionErrorCode.UnexpectedMessage, "a sealed frame arrived before the handshake completed"));
      }
      const maxEncoded = Math.ceil((this.options.maxFrameBytes ?? MAX_FRAME_BYTES) / 3) * 4;
      if (this.early.length >= MAX_EARLY_FRAMES || this.earlyBytes + envelope.frame.length > MAX_EARLY_BYTES || envelope.frame.length > maxEncoded) {
        return this.fail(new SessionError(SessionErrorCode.BufferFull, `more than ${MAX_EARLY_FRAMES} sealed frames or ${MAX_EARLY_BYTES} bytes arrived before the handshake completed`));
      }
      this.early.push({ envelope, extra });
      this.earlyBytes += envelope.frame.length;
      return;
    }
    this.receiveSealed(envelope, extra);
  }

  private receiveSealed(envelope: Extract<Envelope, { kind: "sealed" }>, extra: MessageExtraInfo | undefined): void {
    // Checked at every frame as well as by the timer: an injected clock may pass the expiry between two timer turns.
    if (this.now() >= this.expiresAt) return this.expire();
    let delivered: JSONRPCMessage;
    try {
      const opener = this.opener!;
      const frame = opener.open(envelope.frame);
      if (frame.type === FrameType.close) {
        this.peerClosed = true;
        if (opener.missing === 0) void this.close();
        else this.awaitStragglers();
        return;
      }
      if (this.closeTimer !== undefined && opener.missing === 0) {
        clearTimeout(this.closeTimer);
        this.closeTimer = undefined;
        // After this frame (and what its delivery starts) is handled.
        setImmediate(() => void this.close());
      }
      if (frame.type === FrameType.rekey) return;
      delivered = parseRecord(frame.text);
      if (!matchesRoute(envelope.route, delivered)) {
        throw new SessionError(SessionErrorCode.UnexpectedMessage, "a sealed message does not match the id or method its envelope showed: the envelope was rewritten");
      }
      if ((delivered as { method?: unknown }).method === REAUTH_METHOD && !("id" in delivered)) return this.receiveReauthentication(delivered);
    } catch (error) {
      this.fail(asSessionError(error, SessionErrorCode.UnexpectedMessage, "a message could not be processed"));
      return;
    }
    if ("method" in delivered && "id" in delivered) {
      if (this.draining !== undefined) return this.refuseWhileDraining(delivered.id);
      this.outstanding.add(delivered.id);
    }
    this.onmessage?.(delivered, extra);
  }

  /**
   * Stops taking requests: each new one is answered with a Draining error (PQG6031) and not delivered; requests already
   * delivered are answered as usual, and when none is left the session closes. For a session whose key was revoked
   * or retired. Resolves when the session has closed.
   */
  drain(reason: string): Promise<void> {
    if (this.phase === "closed") return Promise.resolve();
    if (this.draining !== undefined) return this.closed;
    this.draining = reason;
    if (this.phase !== "established") {
      void this.close();
      return this.closed;
    }
    void this.send({ jsonrpc: "2.0", method: DRAINING_NOTIFICATION, params: { reason } }).catch(() => undefined);
    if (this.outstanding.size === 0) this.armLinger();
    return this.closed;
  }

  /** Every request taken is answered: give the client DRAIN_LINGER_MS to close the session, then close it. */
  private armLinger(): void {
    if (this.lingerTimer !== undefined) return;
    this.lingerTimer = setTimeout(() => void this.close(), DRAIN_LINGER_MS);
    this.lingerTimer.unref?.();
  }

  /** Whether the session ended by the peer's sealed close, not by a failure: what a draining session's client did. */
  get closedByPeer(): boolean {
    return this.peerClosed && !this.failed;
  }

  /** Whether `drain` was called. */
  get isDraining(): boolean {
    return this.draining !== undefined;
  }

  private refuseWhileDraining(id: unknown): void {
    const error = { code: -32000, message: `this session takes no new calls: ${this.draining}; reconnect`, data: { code: SessionErrorCode.Draining } };
    void this.send({ jsonrpc: "2.0", id: id as string | number, error }).catch(() => undefined);
  }

  /** The peer closed while frames it sent before its close are still on their way (unordered delivery): wait a little. */
  private awaitStragglers(): void {
    this.closeTimer = setTimeout(() => {
      this.closeTimer = undefined;
      const missing = this.opener?.missing ?? 0;
      this.fail(new SessionError(SessionErrorCode.StreamTruncated, `the peer closed the session, but ${missing} of the frames it sent before its close never arrived`));
    }, CLOSE_GRACE_MS);
    this.closeTimer.unref?.();
  }

  /**
   * A session never accepts plaintext. A plain MCP client's `initialize` is answered with an error that says why,
   * and a plain server's answer to the hello is named as such; anything else is an attack. Either way the session fails.
   */
  private refusePlaintext(message: JSONRPCMessage): void {
    const id = (message as { id?: unknown }).id;
    if ("method" in message && message.method === "initialize" && (typeof id === "string" || typeof id === "number")) {
      const error = { code: -32600, message: "this endpoint requires the pqguard post-quantum session: connect with PqcClientTransport" };
      void this.inner.send({ jsonrpc: "2.0", id, error }).catch(() => undefined);
      return this.fail(new SessionError(SessionErrorCode.UnexpectedMessage, "a plain MCP client tried to initialize without the post-quantum session"));
    }
    if (id === HandshakeStep.hello && !("method" in message)) {
      return this.fail(new SessionError(SessionErrorCode.UnexpectedMessage, "the server answered the session hello as a plain MCP server: it does not run the pqguard session"));
    }
    this.fail(new SessionError(SessionErrorCode.UnexpectedMessage, "a plaintext JSON-RPC message arrived on a sealed session"));
  }

  private innerClosed(): void {
    if (this.phase === "closed") return this.emitClose();
    if (this.closeTimer !== undefined) {
      const missing = this.opener?.missing ?? 0;
      return this.fail(new SessionError(SessionErrorCode.StreamTruncated, `the connection closed before ${missing} of the frames the peer sent before its close arrived`));
    }
    if (this.opener !== undefined && !this.peerClosed) {
      return this.fail(new SessionError(SessionErrorCode.StreamTruncated, "the connection closed without the peer's sealed close: the stream may have been truncated"));
    }
    if (this.phase === "handshaking") {
      return this.fail(new SessionError(SessionErrorCode.PeerClosedDuringHandshake, "the connection closed before the handshake completed"));
    }
    this.phase = "closed";
    this.emitClose();
  }

  /** Fails closed: report the typed error, refuse everything after, reject what waits, close the inner transport. */
  /** @internal */
  protected fail(error: SessionError): void {
    if (this.phase === "closed") return;
    this.failed = true;
    if (this.phase === "handshaking") {
      this.metrics.handshakeFailed({ side: this.side, reason: failureReasonOf(error), peer: this.options.peer, code: error.code });
    } else if (this.phase === "established") {
      this.metrics.sessionFailed(this.side, failureReasonOf(error));
    }
    this.info = undefined;
    this.shown = undefined;
    this.shutDown(error);
    this.report(error);
    // Let a reply already handed to the inner transport (the plain client's error) go out before it closes.
    this.closing = Promise.resolve().then(() => handedOver(this.inner.close(), INNER_CLOSE_TIMEOUT_MS)).catch(() => undefined);
    this.emitClose();
  }

  /**
   * Idempotent: sends the sealed close (when established), closes the inner transport, rejects queued sends. Waits at
   * most CLOSE_NOTIFY_TIMEOUT_MS for the close frame and INNER_CLOSE_TIMEOUT_MS for the inner close, then emits onclose.
   */
  async close(): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    if (this.phase === "closed") return;
    const notify = this.sealer !== undefined && this.opener !== undefined && !this.peerClosed;
    const closeFrame = notify ? sealedEnvelope(this.sealer!.sealClose()) : undefined;
    this.shutDown(new SessionError(SessionErrorCode.Closed, "the session was closed"));
    this.closing = (async () => {
      if (closeFrame !== undefined) await handedOver(this.inner.send(closeFrame), CLOSE_NOTIFY_TIMEOUT_MS);
      await handedOver(this.inner.close(), INNER_CLOSE_TIMEOUT_MS);
      this.emitClose();
    })();
    return this.closing;
  }

  private shutDown(reason: SessionError): void {
    this.phase = "closed";
    this.stopTimer();
    if (this.expiryTimer !== undefined) clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    this.reauthContext?.fill(0);
    if (this.rekeyTimer !== undefined) clearTimeout(this.rekeyTimer);
    this.rekeyTimer = undefined;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.reject(reason);
    const queued = this.pending;
    this.pending = [];
    for (const item of queued) item.reject(reason);
    this.early = [];
    this.earlyBytes = 0;
    if (this.closeTimer !== undefined) clearTimeout(this.closeTimer);
    this.closeTimer = undefined;
    if (this.lingerTimer !== undefined) clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    this.wipeKeys();
  }

  /**
   * Sends a renewed certificate for this end, signed by `identity` (the key the certificate is for) over this session's
   * re-authentication content; the peer replaces its facts about this end when it verifies, or closes the session
   * (PQG6028). Sealed like any message and in order with them, so calls in flight are neither lost nor reordered.
   * @internal
   */
  protected sendReauthentication(sender: ReauthSender, certificate: Uint8Array, identity: SigningIdentity): Promise<void> {
    const context = this.reauthContext;
    if (this.phase !== "established" || context === undefined) {
      return Promise.reject(new SessionError(SessionErrorCode.Closed, "re-authentication needs an established session"));
    }
    let message: Uint8Array;
    try {
      message = sealReauthentication(sender, context, this.reauthsSent + 1, certificate, identity);
    } catch (error) {
      return Promise.reject(asSessionError(error, SessionErrorCode.InvalidConfiguration, "the re-authentication could not be signed"));
    }
    this.reauthsSent++;
    return this.sendReauthenticationMessage(message);
  }

  /** Sends an encoded re-authentication message as is (tests use it to try replays). @internal */
  protected sendReauthenticationMessage(message: Uint8Array): Promise<void> {
    const notification = { jsonrpc: "2.0", method: REAUTH_METHOD, params: { [REAUTH_METHOD]: Buffer.from(message).toString("base64url") } } as const;
    return this.send(notification as unknown as JSONRPCMessage);
  }

  /** Updates this end's own facts after its re-authentication was sent. @internal */
  protected updateFacts(update: (info: SessionInfo) => SessionInfo): void {
    if (this.info === undefined) return;
    this.info = update(this.info);
    this.shown = undefined;
    this.armExpiry();
  }

  /** Judges the peer's re-authentication (subclasses know whom to trust); returns the facts that replace the current ones. @internal */
  protected abstract acceptReauthentication(message: Uint8Array, state: ReauthState): { counter: number; info: SessionInfo };

  private receiveReauthentication(message: JSONRPCMessage): void {
    const info = this.info;
    const context = this.reauthContext;
    if (info === undefined || context === undefined) return;
    try {
      const encoded = (message as { params?: Record<string, unknown> }).params?.[REAUTH_METHOD];
      if (typeof encoded !== "string") throw new SessionError(SessionErrorCode.ReauthRefused, "re-authentication refused: the message carries no re-authentication");
      const accepted = this.acceptReauthentication(Buffer.from(encoded, "base64url"), { reauthContext: context, lastCounter: this.reauthsSeen, info, now: this.now() });
      this.reauthsSeen = accepted.counter;
      // One assignment: a decision reads either the old facts or the new ones, never a mixture.
      this.info = { ...accepted.info, reauthentications: (info.reauthentications ?? 0) + 1 };
      this.shown = undefined;
      this.armExpiry();
    } catch (error) {
      this.fail(asSessionError(error, SessionErrorCode.ReauthRefused, "re-authentication refused"));
    }
  }

  /** Arms the timer that closes the session when the earliest certificate in its facts expires. */
  private armExpiry(): void {
    if (this.expiryTimer !== undefined) clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    const info = this.info;
    this.expiresAt = Math.min(info?.client?.notAfter ?? Number.POSITIVE_INFINITY, info?.peerNotAfter ?? Number.POSITIVE_INFINITY);
    if (!Number.isFinite(this.expiresAt) || this.phase === "closed") return;
    const wait = Math.min(Math.max(this.expiresAt - this.now(), 0), MAX_TIMER_DELAY_MS);
    this.expiryTimer = setTimeout(() => {
      this.expiryTimer = undefined;
      if (this.phase === "closed") return;
      if (this.now() >= this.expiresAt) this.expire();
      else this.armExpiry();
    }, wait);
    this.expiryTimer.unref?.();
  }

  /** A certificate the session rests on expired without renewal: the session ends, with its sealed close, and says why. */
  private expire(): void {
    const info = this.info;
    const which = info?.client?.notAfter === this.expiresAt ? "client" : "server";
    this.report(new SessionError(SessionErrorCode.CertificateExpired, `the ${which} certificate expired at ${new Date(this.expiresAt).toISOString()} and was not renewed, so the session is closed`));
    void this.close();
  }

  private wipeKeys(): void {
    this.sealer?.wipe();
    this.opener?.wipe();
  }

  /**
   * Hands an error to onerror. A handler that throws cannot stop the teardown under way; there is no one left to hand
   * its error to, so it is raised on a later turn (an uncaught exception, as from any callback) rather than swallowed.
   */
  private report(error: Error): void {
    try {
      this.onerror?.(error);
    } catch (thrown) {
      queueMicrotask(() => {
        throw thrown;
      });
    }
  }

  private emitClose(): void {
    if (this.closeEmitted) return;
    this.closeEmitted = true;
    if (this.countedOpen) this.metrics.sessionClosed(this.side);
    this.countedOpen = false;
    try {
      this.onclose?.();
    } catch (error) {
      this.report(new SessionError(SessionErrorCode.CallbackFailed, "the onclose handler threw; the session is closed all the same", { cause: error }));
    }
    const listeners = this.closedListeners;
    this.closedListeners = [];
    for (const listener of listeners) listener();
  }
}

/** The method of the sealed notification that carries a re-authentication; the session consumes it, the application never sees it. */
export const REAUTH_METHOD = "pqguard/reauth";

/** Settles when `sending` (or closing) does, failure included, or after `ms`, whichever is first; the timer never keeps the process alive. */
function handedOver(sending: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const expiry = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
    timer.unref?.();
  });
  return Promise.race([sending.catch(() => undefined), expiry]).finally(() => clearTimeout(timer));
}

/** Decrypted text to a JSON-RPC message; anything else means the peer is broken, and the session closes. */
function parseRecord(text: string): JSONRPCMessage {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new SessionError(SessionErrorCode.MalformedRecord, "a sealed frame does not hold JSON");
  }
  if (typeof parsed !== "object" || parsed === null || (parsed as { jsonrpc?: unknown }).jsonrpc !== "2.0") {
    throw new SessionError(SessionErrorCode.MalformedRecord, "a sealed frame does not hold a JSON-RPC 2.0 message");
  }
  return parsed as JSONRPCMessage;
}
