// The record layer: per-direction AEAD keys, counter nonces (IV xor sequence number, as TLS 1.3), the in-band rekey
// ratchet, and two delivery disciplines: strictly in order (stdio, in-memory) or unordered within an anti-replay window
// (Streamable HTTP). Frames travel as base64url text; the 13-byte header is the AAD. Payloads are text (serialised
// JSON-RPC), so the AEAD's record form seals from and opens to strings without intermediate copies.
import type { Aead, Kdf } from "../crypto/types.js";
import { EARLIER_EPOCH_KEEP_MS, MAX_FRAME_BYTES, REJECT_AFTER_MESSAGES, REKEY_AFTER_MESSAGES, REKEY_AFTER_TIME_MS, REPLAY_WINDOW } from "./constants.js";
import { SessionError, SessionErrorCode } from "./errors.js";
import { nextSecret, recordKey } from "./keys.js";

export const FrameType = {
  /** A JSON-RPC message. */
  data: 1,
  /** Empty: the sender switches to the next key after this frame (its own key seals it). */
  rekey: 2,
  /** Empty: the sender closes the session; an inner close without it is a truncation. */
  close: 3,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** type (1 byte) ‖ key epoch (4 bytes, big-endian) ‖ sequence number (8 bytes, big-endian). */
export const FRAME_HEADER_BYTES = 13;
const SEQUENCE_BYTES = 8;
const EPOCH_AT = 1;
const SEQUENCE_AT = 5;

/**
 * `ordered`: every frame must be the next one (a stream transport: any gap or swap is an attack or a loss).
 * `unordered`: frames may arrive in any order within REPLAY_WINDOW, each at most once; frames of the previous and
 * the next key epoch are accepted, so a rekey never strands a frame that overtook, or was overtaken by, the marker.
 */
export type Delivery = "ordered" | "unordered";

export interface RecordLimits {
  /** Rekey after this many frames under one key (sender side). */
  readonly rekeyAfterMessages?: number | undefined;
  /** Rekey after this long under one key (sender side: checked when sending, and by an idle sender's timer, see idleRekeyDue). */
  readonly rekeyAfterMs?: number | undefined;
  /** Largest decoded frame in bytes, both directions. */
  readonly maxFrameBytes?: number | undefined;
  /**
   * How frames may arrive (default `ordered`). Both ends of a session use the same inner transport, so a sealer
   * assumes its peer receives as it does: over unordered delivery it rekeys without a marker (each frame names its
   * epoch), since a marker could travel on a stream the peer never reads.
   */
  readonly delivery?: Delivery | undefined;
  readonly now?: (() => number) | undefined;
}

/** One direction's key state: secret, key, IV, sequence number, and how long the current key has been in use. */
class Direction {
  protected key: Uint8Array;
  protected iv: Uint8Array;
  protected readonly nonce: Uint8Array;
  protected sequence = 0;
  /** Key epoch: how many times this direction has ratcheted. */
  protected epoch = 0;
  protected epochFrames = 0;
  protected epochStart: number;
  rekeys = 0;
  /** Set by wipe(): nothing is sealed or opened after it. */
  private wiped = false;
  protected readonly maxFrameBytes: number;
  protected readonly now: () => number;

  constructor(
    protected readonly aead: Aead,
    protected readonly kdf: Kdf,
    private secret: Uint8Array,
    limits: RecordLimits,
  ) {
    if (aead.nonceLength < SEQUENCE_BYTES) {
      throw new SessionError(SessionErrorCode.InvalidConfiguration, `\`${aead.name}\` has a nonce shorter than the sequence number`);
    }
    ({ key: this.key, iv: this.iv } = recordKey(kdf, aead, secret));
    this.nonce = new Uint8Array(aead.nonceLength);
    this.now = limits.now ?? Date.now;
    this.epochStart = this.now();
    this.maxFrameBytes = limits.maxFrameBytes ?? MAX_FRAME_BYTES;
  }

  /** Writes IV xor sequence into the reusable nonce buffer; the AEAD consumes it before the next frame. */
  protected nonceFor(sequence: number, iv: Uint8Array = this.iv): Uint8Array {
    const nonce = this.nonce;
    nonce.set(iv);
    const offset = nonce.length - SEQUENCE_BYTES;
    let high = Math.floor(sequence / 2 ** 32);
    let low = sequence >>> 0;
    for (let i = 7; i >= 4; i--, low >>>= 8) nonce[offset + i]! ^= low & 0xff;
    for (let i = 3; i >= 0; i--, high >>>= 8) nonce[offset + i]! ^= high & 0xff;
    return nonce;
  }

  /** The epoch after the one `from` is the secret of (default: the current one), derived without moving to it. */
  protected nextEpoch(from: Uint8Array = this.secret): { secret: Uint8Array; key: Uint8Array; iv: Uint8Array } {
    const secret = nextSecret(this.kdf, from);
    return { secret, ...recordKey(this.kdf, this.aead, secret) };
  }

  /** Moves to the next epoch's key and forgets the old one (forward secrecy within the session). */
  protected ratchet(next = this.nextEpoch()): void {
    // After wipe the secret is zeros: a key derived from it is one anyone can compute.
    this.checkNotWiped();
    this.secret.fill(0);
    this.aead.forget(this.key);
    this.key.fill(0);
    this.secret = next.secret;
    this.key = next.key;
    this.iv = next.iv;
    this.epoch += 1;
    this.epochFrames = 0;
    this.epochStart = this.now();
    this.rekeys += 1;
  }

  wipe(): void {
    this.wiped = true;
    this.secret.fill(0);
    this.aead.forget(this.key);
    this.key.fill(0);
    this.iv.fill(0);
  }

  /** Refuses to use keys that were wiped: they are zeros now, and a frame under them would be readable by anyone. */
  protected checkNotWiped(): void {
    if (this.wiped) throw new SessionError(SessionErrorCode.Closed, "the session is closed and its keys are wiped");
  }
}

export class RecordSealer extends Direction {
  private readonly header = Buffer.alloc(FRAME_HEADER_BYTES);
  private readonly rekeyAfterMessages: number;
  private readonly rekeyAfterMs: number;
  private readonly markers: boolean;

  constructor(aead: Aead, kdf: Kdf, secret: Uint8Array, limits: RecordLimits = {}) {
    super(aead, kdf, secret, limits);
    this.markers = limits.delivery !== "unordered";
    this.rekeyAfterMessages = limits.rekeyAfterMessages ?? REKEY_AFTER_MESSAGES;
    this.rekeyAfterMs = limits.rekeyAfterMs ?? REKEY_AFTER_TIME_MS;
    if (!(this.rekeyAfterMessages >= 1 && this.rekeyAfterMessages < REJECT_AFTER_MESSAGES) || !(this.rekeyAfterMs > 0)) {
      throw new SessionError(
        SessionErrorCode.InvalidConfiguration,
        `rekey limits must be at least one message (below ${REJECT_AFTER_MESSAGES}) and a positive time`,
      );
    }
  }

  /** Whether the next data frame must be preceded by a rekey frame. */
  rekeyDue(): boolean {
    return this.epochFrames >= this.rekeyAfterMessages || this.now() - this.epochStart >= this.rekeyAfterMs;
  }

  /**
   * Whether an idle sender should rekey now: its key is past its time and has sealed a frame. A key that sealed
   * nothing protects no traffic, and replacing it gains nothing (its successor derives from it), so an idle session
   * ratchets once, not every period: no marker traffic while it stays idle, and over unordered delivery the peer's
   * next frame is never further ahead than it follows.
   */
  idleRekeyDue(): boolean {
    return this.epochFrames > 0 && this.now() - this.epochStart >= this.rekeyAfterMs;
  }

  /**
   * How long until the current key is past its time; a whole period if it already is (it sealed nothing, see
   * idleRekeyDue), and at most one (a clock set back does not postpone the next look).
   */
  msUntilRekey(): number {
    const left = this.epochStart + this.rekeyAfterMs - this.now();
    return left > 0 ? Math.min(left, this.rekeyAfterMs) : this.rekeyAfterMs;
  }

  /** Seals a data frame holding `text` as UTF-8; throws FrameTooLarge (sending nothing) when it would exceed the limit. */
  sealData(text: string): string {
    const overhead = FRAME_HEADER_BYTES + this.aead.tagLength;
    // UTF-8 takes one to three bytes per UTF-16 code unit: count exactly only when the bounds disagree.
    if (text.length * 3 + overhead > this.maxFrameBytes) {
      const bytes = Buffer.byteLength(text, "utf8");
      if (bytes + overhead > this.maxFrameBytes) {
        throw new SessionError(SessionErrorCode.FrameTooLarge, `a message of ${bytes} bytes exceeds the ${this.maxFrameBytes}-byte frame limit`);
      }
    }
    return this.seal(FrameType.data, text);
  }

  /** Seals the rekey marker under the current key, then ratchets: later frames use the next key. */
  sealRekey(): string {
    const frame = this.seal(FrameType.rekey, "");
    this.ratchet();
    return frame;
  }

  /** Rekeys: returns the marker frame to send first (ordered delivery), or undefined (unordered: no marker). */
  rekey(): string | undefined {
    if (this.markers) return this.sealRekey();
    this.ratchet();
    return undefined;
  }

  sealClose(): string {
    return this.seal(FrameType.close, "");
  }

  private seal(type: FrameType, text: string): string {
    this.checkNotWiped();
    const sequence = this.sequence++;
    const header = this.header;
    header[0] = type;
    header.writeUInt32BE(this.epoch >>> 0, EPOCH_AT);
    header.writeUInt32BE(Math.floor(sequence / 2 ** 32), SEQUENCE_AT);
    header.writeUInt32BE(sequence >>> 0, SEQUENCE_AT + 4);
    const frame = this.aead.sealRecord(this.key, this.nonceFor(sequence), header, text);
    this.epochFrames += 1;
    return frame;
  }
}

export interface OpenedFrame {
  readonly type: FrameType;
  /** The payload as text; empty for rekey and close frames. */
  readonly text: string;
}

/**
 * Unordered delivery keeps at most this many earlier epochs' keys, for frames that a rekey overtook, and follows a
 * sender at most this many epochs ahead (its markers overtaken by later frames).
 */
const MAX_EPOCH_SPAN = 8;

/** An earlier epoch's key, kept in unordered delivery for frames sealed before a rekey that arrive after it. */
interface PreviousKey {
  readonly key: Uint8Array;
  readonly iv: Uint8Array;
  /** Every frame of the previous epoch has a sequence number below this. */
  readonly below: number;
  /** When the key is dropped even if the window has not yet moved past its frames (epoch ms). */
  readonly expires: number;
}

export class RecordOpener extends Direction {
  private failed = false;
  private readonly maxEncoded: number;
  private readonly unordered: boolean;
  /** Unordered delivery: highest sequence number accepted, and which of the last REPLAY_WINDOW were seen. */
  private highest = -1;
  /** Unordered delivery: how many frames were accepted (all distinct sequence numbers). */
  private accepted = 0;
  private readonly seen = new Uint8Array(REPLAY_WINDOW);
  private readonly previous = new Map<number, PreviousKey>();

  constructor(aead: Aead, kdf: Kdf, secret: Uint8Array, limits: RecordLimits = {}) {
    super(aead, kdf, secret, limits);
    this.maxEncoded = Math.ceil(this.maxFrameBytes / 3) * 4;
    this.unordered = limits.delivery === "unordered";
  }

  /**
   * Opens the next frame. Any failure is final: the opener refuses every later frame, so a session that saw
   * one bad frame delivers nothing more.
   */
  open(frame: string): OpenedFrame {
    if (this.failed) throw new SessionError(SessionErrorCode.Closed, "the session was closed after an earlier bad frame");
    this.checkNotWiped();
    try {
      return this.openFrame(frame);
    } catch (error) {
      this.failed = true;
      this.wipe();
      throw error;
    }
  }

  override wipe(): void {
    super.wipe();
    this.dropPrevious();
  }

  /** Unordered delivery: frames numbered below the highest accepted that have not arrived (0 for ordered delivery). */
  get missing(): number {
    return this.unordered ? this.highest + 1 - this.accepted : 0;
  }

  private openFrame(frame: string): OpenedFrame {
    if (typeof frame !== "string") throw new SessionError(SessionErrorCode.TruncatedFrame, "a sealed frame is not base64url text");
    if (frame.length > this.maxEncoded) {
      throw new SessionError(SessionErrorCode.FrameTooLarge, `a sealed frame of about ${Math.floor((frame.length * 3) / 4)} bytes exceeds the ${this.maxFrameBytes}-byte limit`);
    }
    const bytes = Buffer.from(frame, "base64url");
    if (bytes.length < FRAME_HEADER_BYTES + this.aead.tagLength) {
      throw new SessionError(SessionErrorCode.TruncatedFrame, `a sealed frame of ${bytes.length} bytes is shorter than its header and tag`);
    }
    const epoch = bytes.readUInt32BE(EPOCH_AT);
    const sequence = bytes.readUInt32BE(SEQUENCE_AT) * 2 ** 32 + bytes.readUInt32BE(SEQUENCE_AT + 4);
    const sealed = bytes.subarray(FRAME_HEADER_BYTES);
    const header = bytes.subarray(0, FRAME_HEADER_BYTES);
    const type = bytes[0]!;
    return this.unordered ? this.openUnordered(type, epoch, sequence, sealed, header) : this.openOrdered(type, epoch, sequence, sealed, header);
  }

  private openOrdered(type: number, epoch: number, sequence: number, sealed: Uint8Array, header: Uint8Array): OpenedFrame {
    if (sequence < this.sequence) throw new SessionError(SessionErrorCode.Replay, `frame ${sequence} was already received (next expected ${this.sequence})`);
    if (sequence > this.sequence) throw new SessionError(SessionErrorCode.Reorder, `frame ${sequence} arrived where frame ${this.sequence} was expected`);
    if (epoch !== this.epoch >>> 0) throw new SessionError(SessionErrorCode.Reorder, `frame ${sequence} is from key epoch ${epoch}, expected ${this.epoch}`);
    this.checkExhausted();
    const text = this.decrypt(this.key, this.iv, sequence, sealed, header);
    this.sequence += 1;
    this.epochFrames += 1;
    return this.typed(type, sequence, text);
  }

  private openUnordered(type: number, epoch: number, sequence: number, sealed: Uint8Array, header: Uint8Array): OpenedFrame {
    if (sequence + REPLAY_WINDOW <= this.highest) {
      throw new SessionError(SessionErrorCode.Replay, `frame ${sequence} is older than the replay window (highest seen ${this.highest})`);
    }
    if (sequence <= this.highest && this.seen[sequence % REPLAY_WINDOW] === 1) {
      throw new SessionError(SessionErrorCode.Replay, `frame ${sequence} was already received`);
    }
    let text: string;
    if (epoch === this.epoch) {
      this.checkExhausted();
      text = this.decrypt(this.key, this.iv, sequence, sealed, header);
      this.epochFrames += 1;
    } else if (epoch > this.epoch && epoch - this.epoch <= MAX_EPOCH_SPAN) {
      // The sender rekeyed and this frame overtook the marker(s): derive the keys up to its epoch, keep them only if
      // the frame opens with the last.
      const chain = [this.nextEpoch()];
      while (chain.length < epoch - this.epoch) chain.push(this.nextEpoch(chain[chain.length - 1]!.secret));
      const target = chain[chain.length - 1]!;
      try {
        text = this.decrypt(target.key, target.iv, sequence, sealed, header);
      } catch (error) {
        for (const next of chain) {
          this.aead.forget(next.key);
          [next.secret, next.key, next.iv].forEach((bytes) => bytes.fill(0));
        }
        throw error;
      }
      // Every frame of the epochs being left was sealed before this one.
      for (const next of chain) this.advance(next, sequence);
      this.epochFrames += 1;
    } else {
      const earlier = this.previous.get(epoch);
      if (earlier !== undefined && this.now() >= earlier.expires) this.forget(epoch);
      if (earlier === undefined || sequence >= earlier.below || !this.previous.has(epoch)) {
        throw new SessionError(SessionErrorCode.Reorder, `frame ${sequence} is from key epoch ${epoch}, which this end no longer or not yet holds (current ${this.epoch})`);
      }
      text = this.decrypt(earlier.key, earlier.iv, sequence, sealed, header);
    }
    this.markSeen(sequence);
    if (type === FrameType.rekey && text.length === 0) {
      // The marker ending the epoch this end is in: frames after it use the next key. A marker of an epoch already
      // left (a data frame overtook it) changes nothing.
      if (epoch === this.epoch) this.advance(this.nextEpoch(), sequence + 1);
      return { type, text };
    }
    return this.typed(type, sequence, text);
  }

  /** Unordered delivery: ratchets to `next`, keeping the current key for frames numbered below `below`. */
  private advance(next: { secret: Uint8Array; key: Uint8Array; iv: Uint8Array }, below: number): void {
    this.previous.set(this.epoch, { key: new Uint8Array(this.key), iv: new Uint8Array(this.iv), below, expires: this.now() + EARLIER_EPOCH_KEEP_MS });
    if (this.previous.size > MAX_EPOCH_SPAN) this.forget(this.previous.keys().next().value!);
    this.ratchet(next);
  }

  private markSeen(sequence: number): void {
    if (sequence > this.highest) {
      // Slots between the old and the new highest now stand for new sequence numbers: clear them.
      const from = Math.max(this.highest + 1, sequence - REPLAY_WINDOW + 1);
      for (let s = from; s < sequence; s++) this.seen[s % REPLAY_WINDOW] = 0;
      this.highest = sequence;
    }
    this.seen[sequence % REPLAY_WINDOW] = 1;
    this.accepted += 1;
    // Once the window has moved past every frame of an earlier epoch, or its time is up, its key goes.
    const now = this.now();
    for (const [epoch, earlier] of this.previous) {
      if (this.highest - REPLAY_WINDOW + 1 >= earlier.below || now >= earlier.expires) this.forget(epoch);
    }
  }

  private forget(epoch: number): void {
    const earlier = this.previous.get(epoch);
    if (earlier !== undefined) this.aead.forget(earlier.key);
    earlier?.key.fill(0);
    earlier?.iv.fill(0);
    this.previous.delete(epoch);
  }

  private dropPrevious(): void {
    for (const epoch of [...this.previous.keys()]) this.forget(epoch);
  }

  private checkExhausted(): void {
    if (this.epochFrames >= REJECT_AFTER_MESSAGES) {
      throw new SessionError(SessionErrorCode.KeyExhausted, `the peer sent ${REJECT_AFTER_MESSAGES} frames without rekeying`);
    }
  }

  private decrypt(key: Uint8Array, iv: Uint8Array, sequence: number, sealed: Uint8Array, header: Uint8Array): string {
    const text = this.aead.openRecord(key, this.nonceFor(sequence, iv), sealed, header);
    if (text === undefined) throw new SessionError(SessionErrorCode.BadRecordMac, `frame ${sequence} fails authentication`);
    return text;
  }

  /** An authenticated frame's meaning; in ordered delivery a rekey marker ratchets here. */
  private typed(type: number, sequence: number, text: string): OpenedFrame {
    if (type === FrameType.data) return { type, text };
    if ((type === FrameType.rekey || type === FrameType.close) && text.length === 0) {
      if (type === FrameType.rekey) this.ratchet();
      return { type, text };
    }
    throw new SessionError(SessionErrorCode.UnexpectedMessage, `frame ${sequence} has unknown type ${type}`);
  }
}
