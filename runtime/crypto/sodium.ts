// The libsodium provider (WebAssembly, via libsodium-wrappers) for ChaCha20-Poly1305-IETF (RFC 8439). Loaded once at
// import: the registry's lookups are synchronous, so the module waits for libsodium to be ready before anyone calls it.
//
// The record layer seals and opens one small frame per JSON-RPC message, so per-call overhead matters more than
// throughput. The wrappers' generic path allocates and frees six wasm buffers and converts every argument per call;
// this provider calls the same libsodium functions (crypto_aead_chacha20poly1305_ietf_encrypt/decrypt) through the
// module's exports with one reusable scratch region, and zeroes the region after every call so no key or plaintext
// stays in wasm memory.
import sodium from "libsodium-wrappers";
import { CryptoError, CryptoErrorCode } from "./errors.js";
import { defineAead } from "./define.js";
import type { Aead } from "./types.js";

export const SODIUM_PROVIDER = "libsodium-wrappers";

await sodium.ready;

/** The exports of libsodium's Emscripten module that this provider uses. 64-bit lengths are passed as (low, high). */
interface SodiumModule {
  /** Reassigned by the module when its memory grows, so it is read afresh on every call. */
  readonly HEAPU8: Uint8Array;
  _malloc(size: number): number;
  _free(pointer: number): void;
  _crypto_aead_chacha20poly1305_ietf_encrypt(
    c: number, clenP: number, m: number, mlenLow: number, mlenHigh: number,
    ad: number, adlenLow: number, adlenHigh: number, nsec: number, npub: number, k: number,
  ): number;
  _crypto_aead_chacha20poly1305_ietf_decrypt(
    m: number, mlenP: number, nsec: number, c: number, clenLow: number, clenHigh: number,
    ad: number, adlenLow: number, adlenHigh: number, npub: number, k: number,
  ): number;
}

const KEY_BYTES = sodium.crypto_aead_chacha20poly1305_ietf_KEYBYTES;
const NONCE_BYTES = sodium.crypto_aead_chacha20poly1305_ietf_NPUBBYTES;
const TAG_BYTES = sodium.crypto_aead_chacha20poly1305_ietf_ABYTES;
/** Key, then nonce, then associated data, then input, then output; each starts 16-byte aligned. */
const NONCE_AT = 32;
const AAD_AT = 48;
const MIN_SCRATCH = 16 * 1024;

const align = (n: number): number => (n + 15) & ~15;

/** One scratch region in wasm memory, grown on demand; JavaScript is single-threaded, so calls never overlap. */
class Scratch {
  private pointer = 0;
  private size = 0;
  private view: Buffer | undefined;

  constructor(private readonly wasm: SodiumModule) {}

  /** A base pointer with at least `bytes` usable bytes. */
  reserve(bytes: number): number {
    if (bytes <= this.size) return this.pointer;
    const size = Math.max(MIN_SCRATCH, align(bytes + (bytes >> 1)));
    const pointer = this.wasm._malloc(size);
    if (pointer === 0) throw new CryptoError(CryptoErrorCode.ProviderUnavailable, `libsodium could not allocate ${size} bytes for an AEAD operation`);
    if (this.pointer !== 0) this.wasm._free(this.pointer);
    this.pointer = pointer;
    this.size = size;
    return pointer;
  }

  /** A Buffer over all of wasm memory, renewed when the memory grows (growth replaces the ArrayBuffer). */
  heap(): Buffer {
    const memory = this.wasm.HEAPU8.buffer;
    if (this.view?.buffer !== memory) this.view = Buffer.from(memory);
    return this.view!;
  }

  /** Zeroes what an operation used. Nothing allocates during an operation, so its `heap` is still the live view. */
  static wipe(heap: Buffer, base: number, used: number): void {
    heap.fill(0, base, base + used);
  }
}

export function sodiumChaCha20Poly1305(): Aead {
  const wasm = (sodium as unknown as { readonly libsodium: SodiumModule }).libsodium;
  const scratch = new Scratch(wasm);
  const encrypt = (base: number, output: number, input: number, inputBytes: number, aad: number, aadBytes: number): void => {
    const status = wasm._crypto_aead_chacha20poly1305_ietf_encrypt(output, 0, input, inputBytes, 0, aad, aadBytes, 0, 0, base + NONCE_AT, base);
    if (status !== 0) throw new CryptoError(CryptoErrorCode.ProviderUnavailable, "libsodium refused to seal a ChaCha20-Poly1305 message");
  };
  // libsodium verifies the tag before decrypting and writes nothing on mismatch: no unauthenticated bytes exist.
  const decrypt = (base: number, output: number, input: number, inputBytes: number, aad: number, aadBytes: number): boolean =>
    wasm._crypto_aead_chacha20poly1305_ietf_decrypt(output, 0, 0, input, inputBytes, 0, aad, aadBytes, 0, base + NONCE_AT, base) === 0;
  // Opening: key, nonce, associated data, sealed input, then plaintext output.
  const loadForOpen = (key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array) => {
    const inputAt = align(AAD_AT + aad.length);
    const outputAt = align(inputAt + sealed.length);
    const used = outputAt + sealed.length - TAG_BYTES;
    const base = scratch.reserve(used);
    const heap = scratch.heap();
    heap.set(key, base);
    heap.set(nonce, base + NONCE_AT);
    heap.set(aad, base + AAD_AT);
    heap.set(sealed, base + inputAt);
    return { base, heap, input: base + inputAt, output: base + outputAt, used };
  };
  return defineAead(
    { name: "ChaCha20-Poly1305", provider: SODIUM_PROVIDER, keyLength: KEY_BYTES, nonceLength: NONCE_BYTES, tagLength: TAG_BYTES },
    {
      seal(key, nonce, plaintext, aad) {
        // Key, nonce, associated data, plaintext input, then sealed output.
        const inputAt = align(AAD_AT + aad.length);
        const outputAt = align(inputAt + plaintext.length);
        const outputBytes = plaintext.length + TAG_BYTES;
        const base = scratch.reserve(outputAt + outputBytes);
        const heap = scratch.heap();
        heap.set(key, base);
        heap.set(nonce, base + NONCE_AT);
        heap.set(aad, base + AAD_AT);
        heap.set(plaintext, base + inputAt);
        try {
          encrypt(base, base + outputAt, base + inputAt, plaintext.length, base + AAD_AT, aad.length);
          return new Uint8Array(heap.subarray(base + outputAt, base + outputAt + outputBytes));
        } finally {
          Scratch.wipe(heap, base, outputAt + outputBytes);
        }
      },
      open(key, nonce, sealed, aad) {
        const { base, heap, input, output, used } = loadForOpen(key, nonce, sealed, aad);
        const plaintextBytes = sealed.length - TAG_BYTES;
        try {
          if (!decrypt(base, output, input, sealed.length, base + AAD_AT, aad.length)) return undefined;
          return new Uint8Array(heap.subarray(output, output + plaintextBytes));
        } finally {
          Scratch.wipe(heap, base, used);
        }
      },
      sealRecord(key, nonce, header, text) {
        // Key, nonce, then the frame (header ‖ ciphertext ‖ tag, contiguous so one base64url pass encodes it), then the
        // UTF-8 plaintext, written straight from the string: at most three bytes per UTF-16 code unit.
        const frameAt = AAD_AT;
        const sealedAt = frameAt + header.length;
        const maxPlaintext = text.length * 3;
        const inputAt = align(sealedAt + maxPlaintext + TAG_BYTES);
        const base = scratch.reserve(inputAt + maxPlaintext);
        const heap = scratch.heap();
        heap.set(key, base);
        heap.set(nonce, base + NONCE_AT);
        heap.set(header, base + frameAt);
        const plaintextBytes = heap.write(text, base + inputAt, maxPlaintext, "utf8");
        try {
          encrypt(base, base + sealedAt, base + inputAt, plaintextBytes, base + frameAt, header.length);
          return heap.toString("base64url", base + frameAt, base + sealedAt + plaintextBytes + TAG_BYTES);
        } finally {
          Scratch.wipe(heap, base, inputAt + plaintextBytes);
        }
      },
      openRecord(key, nonce, sealed, header) {
        const { base, heap, input, output, used } = loadForOpen(key, nonce, sealed, header);
        try {
          if (!decrypt(base, output, input, sealed.length, base + AAD_AT, header.length)) return undefined;
          return heap.toString("utf8", output, output + sealed.length - TAG_BYTES);
        } finally {
          Scratch.wipe(heap, base, used);
        }
      },
    },
  );
}
