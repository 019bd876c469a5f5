// Byte codec for handshake messages and certificates: big-endian integers, length-prefixed fields, strict bounds.
// A reader refuses short input, oversize lengths and trailing bytes, so every encoding has exactly one parse.
import { SessionError, SessionErrorCode } from "./errors.js";

const encoder = new TextEncoder();
// ignoreBOM keeps a leading U+FEFF in the string: stripping it would give two encodings one parse.
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

export class ByteWriter {
  private buffer = new Uint8Array(256);
  private view = new DataView(this.buffer.buffer);
  private length = 0;

  private reserve(extra: number): void {
    if (this.length + extra <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < this.length + extra) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buffer.subarray(0, this.length));
    this.buffer = next;
    this.view = new DataView(next.buffer);
  }

  u8(value: number): this {
    this.reserve(1);
    this.view.setUint8(this.length, value);
    this.length += 1;
    return this;
  }

  u16(value: number): this {
    this.reserve(2);
    this.view.setUint16(this.length, value);
    this.length += 2;
    return this;
  }

  u32(value: number): this {
    this.reserve(4);
    this.view.setUint32(this.length, value);
    this.length += 4;
    return this;
  }

  /** Epoch milliseconds and counters: unsigned, below 2^53, written as 8 bytes. */
  u64(value: number): this {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`u64 field out of range: ${value}`);
    return this.u32(Math.floor(value / 2 ** 32)).u32(value >>> 0);
  }

  raw(bytes: Uint8Array): this {
    this.reserve(bytes.length);
    this.buffer.set(bytes, this.length);
    this.length += bytes.length;
    return this;
  }

  /** Bytes with a 4-byte length prefix. */
  bytes(bytes: Uint8Array): this {
    return this.u32(bytes.length).raw(bytes);
  }

  /** A short ASCII/UTF-8 name with a 1-byte length prefix (algorithm names). */
  name(text: string): this {
    const bytes = encoder.encode(text);
    if (bytes.length > 255) throw new RangeError("name longer than 255 bytes");
    return this.u8(bytes.length).raw(bytes);
  }

  /** UTF-8 text with a 2-byte length prefix (labels, claims). */
  text(text: string): this {
    const bytes = encoder.encode(text);
    if (bytes.length > 0xffff) throw new RangeError("text longer than 65535 bytes");
    return this.u16(bytes.length).raw(bytes);
  }

  names(list: readonly string[]): this {
    this.u8(list.length);
    for (const item of list) this.name(item);
    return this;
  }

  finish(): Uint8Array {
    return this.buffer.slice(0, this.length);
  }
}

export class ByteReader {
  private offset = 0;
  private readonly view: DataView;

  constructor(
    private readonly input: Uint8Array,
    private readonly what: string,
    private readonly code: SessionError["code"] = SessionErrorCode.MalformedHandshake,
  ) {
    this.view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  }

  private fail(detail: string): never {
    throw new SessionError(this.code, `malformed ${this.what}: ${detail}`);
  }

  private need(count: number): void {
    if (this.offset + count > this.input.length) this.fail(`needs ${count} more bytes at offset ${this.offset}`);
  }

  u8(): number {
    this.need(1);
    return this.view.getUint8(this.offset++);
  }

  u16(): number {
    this.need(2);
    const value = this.view.getUint16(this.offset);
    this.offset += 2;
    return value;
  }

  u32(): number {
    this.need(4);
    const value = this.view.getUint32(this.offset);
    this.offset += 4;
    return value;
  }

  u64(): number {
    const high = this.u32();
    const low = this.u32();
    if (high >= 2 ** 21) this.fail("64-bit field beyond 2^53");
    return high * 2 ** 32 + low;
  }

  raw(count: number): Uint8Array {
    this.need(count);
    const out = this.input.subarray(this.offset, this.offset + count);
    this.offset += count;
    return out;
  }

  bytes(max: number): Uint8Array {
    const length = this.u32();
    if (length > max) this.fail(`field of ${length} bytes exceeds ${max}`);
    return this.raw(length);
  }

  name(): string {
    return this.decode(this.raw(this.u8()));
  }

  text(): string {
    return this.decode(this.raw(this.u16()));
  }

  names(max: number): string[] {
    const count = this.u8();
    if (count === 0 || count > max) this.fail(`list of ${count} names (allowed 1 to ${max})`);
    const out: string[] = [];
    for (let i = 0; i < count; i++) out.push(this.name());
    return out;
  }

  /** The bytes read so far: the signed or MACed prefix of a message. */
  consumed(): Uint8Array {
    return this.input.subarray(0, this.offset);
  }

  remaining(): number {
    return this.input.length - this.offset;
  }

  end(): void {
    if (this.offset !== this.input.length) this.fail(`${this.input.length - this.offset} trailing bytes`);
  }

  private decode(bytes: Uint8Array): string {
    try {
      return decoder.decode(bytes);
    } catch {
      return this.fail("text is not valid UTF-8");
    }
  }
}

export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Byte concatenation, shared with the crypto providers. */
export { concatBytes as concat } from "../crypto/bytes.js";

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}
