// The record layer: per-direction AEAD keys, counter nonces (IV xor sequence number, as TLS 1.3), strict in-order
// delivery, and the in-band rekey ratchet. Frames travel as base64url text; the 9-byte header is the AAD. Payloads are
// text (serialised JSON-RPC), so the AEAD's record form seals from and opens to strings without intermediate copies.
import type { Aead, Kdf } from "../crypto/types.js";
import { MAX_FRAME_BYTES, REJECT_AFTER_MESSAGES, REKEY_AFTER_MESSAGES, REKEY_AFTER_TIME_MS } from "./constants.js";
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

/** type (1 byte) ‖ sequence number (8 bytes, big-endian). */
export const FRAME_HEADER_BYTES = 9;
const SEQUENCE_BYTES = 8;

export interface RecordLimits {
  /** Rekey after this many frames under one key (sender side). */
  readonly rekeyAfterMessages?: number | undefined;
  /** Rekey after this long under one key (sender side, checked when sending). */
  readonly rekeyAfterMs?: number | undefined;
  /** Largest decoded frame in bytes, both directions. */
  readonly maxFrameBytes?: number | undefined;
  readonly now?: (() => number) | undefined;
}

/** One direction's key state: secret, key, IV, sequence number, and how long the current key has been in use. */
class Direction {
  protected key: Uint8Array;
  protected iv: Uint8Array;
  protected readonly nonce: Uint8Array;
  protected sequence = 0;
  protected epochFrames = 0;
  protected epochStart: number;
  rekeys = 0;
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
  protected nonceFor(sequence: number): Uint8Array {
    const nonce = this.nonce;
    nonce.set(this.iv);
    const offset = nonce.length - SEQUENCE_BYTES;
    let high = Math.floor(sequence / 2 ** 32);
    let low = sequence >>> 0;
    for (let i = 7; i >= 4; i--, low >>>= 8) nonce[offset + i]! ^= low & 0xff;
    for (let i = 3; i >= 0; i--, high >>>= 8) nonce[offset + i]! ^= high & 0xff;
    return nonce;
  }

  /** Moves to the next epoch's key and forgets the old one (forward secrecy within the session). */
  protected ratchet(): void {
    const next = nextSecret(this.kdf, this.secret);
    this.secret.fill(0);
    this.key.fill(0);
    this.secret = next;
    ({ key: this.key, iv: this.iv } = recordKey(this.kdf, this.aead, next));
    this.epochFrames = 0;
    this.epochStart = this.now();
    this.rekeys += 1;
  }

  wipe(): void {
    this.secret.fill(0);
    this.key.fill(0);
    this.iv.fill(0);
  }
}

export class RecordSealer extends Direction {
  private readonly header = Buffer.alloc(FRAME_HEADER_BYTES);
  private readonly rekeyAfterMessages: number;
  private readonly rekeyAfterMs: number;

  constructor(aead: Aead, kdf: Kdf, secret: Uint8Array, limits: RecordLimits = {}) {
    super(aead, kdf, secret, limits);
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

  sealClose(): string {
    return this.seal(FrameType.close, "");
  }

  private seal(type: FrameType, text: string): string {
    const sequence = this.sequence++;
    const header = this.header;
    header[0] = type;
    header.writeUInt32BE(Math.floor(sequence / 2 ** 32), 1);
    header.writeUInt32BE(sequence >>> 0, 5);
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

export class RecordOpener extends Direction {
  private failed = false;
  private readonly maxEncoded: number;

  constructor(aead: Aead, kdf: Kdf, secret: Uint8Array, limits: RecordLimits = {}) {
    super(aead, kdf, secret, limits);
    this.maxEncoded = Math.ceil(this.maxFrameBytes / 3) * 4;
  }

  /**
   * Opens the next frame. Any failure is final: the opener refuses every later frame, so a session that saw
   * one bad frame delivers nothing more.
   */
  open(frame: string): OpenedFrame {
    if (this.failed) throw new SessionError(SessionErrorCode.Closed, "the session was closed after an earlier bad frame");
    try {
      return this.openFrame(frame);
    } catch (error) {
      this.failed = true;
      this.wipe();
      throw error;
    }
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
    const sequence = bytes.readUInt32BE(1) * 2 ** 32 + bytes.readUInt32BE(5);
    if (sequence < this.sequence) throw new SessionError(SessionErrorCode.Replay, `frame ${sequence} was already received (next expected ${this.sequence})`);
    if (sequence > this.sequence) throw new SessionError(SessionErrorCode.Reorder, `frame ${sequence} arrived where frame ${this.sequence} was expected`);
    if (this.epochFrames >= REJECT_AFTER_MESSAGES) {
      throw new SessionError(SessionErrorCode.KeyExhausted, `the peer sent ${REJECT_AFTER_MESSAGES} frames without rekeying`);
    }
    const text = this.aead.openRecord(this.key, this.nonceFor(sequence), bytes.subarray(FRAME_HEADER_BYTES), bytes.subarray(0, FRAME_HEADER_BYTES));
    if (text === undefined) throw new SessionError(SessionErrorCode.BadRecordMac, `frame ${sequence} fails authentication`);
    this.sequence += 1;
    this.epochFrames += 1;
    const type = bytes[0]!;
    if (type === FrameType.data) return { type, text };
    if ((type === FrameType.rekey || type === FrameType.close) && text.length === 0) {
      if (type === FrameType.rekey) this.ratchet();
      return { type, text };
    }
    throw new SessionError(SessionErrorCode.UnexpectedMessage, `frame ${sequence} has unknown type ${type}`);
  }
}
