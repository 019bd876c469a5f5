// The libsodium provider (WebAssembly, via libsodium-wrappers) for ChaCha20-Poly1305-IETF (RFC 8439) and ML-KEM-768
// (FIPS 203). Loaded once at import: the registry's lookups are synchronous, so the module waits for libsodium first.
//
// The record layer seals and opens one small frame per JSON-RPC message, so per-call overhead matters more than
// throughput. The wrappers' generic path allocates and frees six wasm buffers and converts every argument per call;
// this provider calls the same libsodium functions (crypto_aead_chacha20poly1305_ietf_encrypt/decrypt) through the
// module's exports with one reusable scratch region, and zeroes the region after every call so no key or plaintext
// stays in wasm memory.
import { createHash } from "node:crypto";
import sodium from "libsodium-wrappers";
import { CryptoError, CryptoErrorCode } from "./errors.js";
import { toBytes } from "./bytes.js";
import { defineAead, defineKem, type ProviderKem } from "./define.js";
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

/** The FIPS 203 encapsulation randomness `m`. */
const ML_KEM_RANDOMNESS_BYTES = 32;

/** FIPS 203 dk = dkPKE (384k bytes) ‖ ek ‖ H(ek) ‖ z, for k = 3. */
const ML_KEM_768_DK_PKE_BYTES = 1152;

/**
 * ML-KEM-768 from libsodium (keys in the FIPS 203 formats: 1,184-byte ek, 2,400-byte expanded dk, 64-byte seed d ‖ z).
 * libsodium refuses an encapsulation key that fails the FIPS 203 modulus check, and a tampered ciphertext yields the
 * implicit-rejection secret. It does not check the decapsulation key's embedded H(ek), so this provider does
 * (SHA3-256 from node:crypto), as the other providers' decapsulation does: an altered dk is refused, not used.
 */
export function sodiumMlKem768(): ProviderKem {
  const name = "ML-KEM-768";
  const call = <T>(code: CryptoErrorCode, message: string, run: () => T): T => {
    try {
      return run();
    } catch {
      throw new CryptoError(code, message);
    }
  };
  const encapsulated = (result: { ciphertext: Uint8Array; sharedSecret: Uint8Array }) => ({
    ciphertext: toBytes(result.ciphertext),
    sharedSecret: toBytes(result.sharedSecret),
  });
  const invalidKey = `${name} public key is not a valid encapsulation key`;
  return defineKem(
    {
      name,
      provider: SODIUM_PROVIDER,
      hybrid: false,
      publicKeyLength: sodium.crypto_kem_mlkem768_PUBLICKEYBYTES,
      secretKeyLength: sodium.crypto_kem_mlkem768_SECRETKEYBYTES,
      ciphertextLength: sodium.crypto_kem_mlkem768_CIPHERTEXTBYTES,
      sharedSecretLength: sodium.crypto_kem_mlkem768_SHAREDSECRETBYTES,
      seedLength: sodium.crypto_kem_mlkem768_SEEDBYTES,
    },
    {
      keygen(seed) {
        const pair = seed === undefined ? sodium.crypto_kem_mlkem768_keypair() : sodium.crypto_kem_mlkem768_seed_keypair(seed);
        return { publicKey: toBytes(pair.publicKey), secretKey: toBytes(pair.privateKey) };
      },
      encapsulate: (publicKey) => encapsulated(call(CryptoErrorCode.InvalidPublicKey, invalidKey, () => sodium.crypto_kem_mlkem768_enc(publicKey))),
      encapsulateWithRandomness(publicKey, randomness) {
        if (randomness.length !== ML_KEM_RANDOMNESS_BYTES) {
          throw new CryptoError(CryptoErrorCode.WrongLength, `${name} encapsulation randomness must be ${ML_KEM_RANDOMNESS_BYTES} bytes, got ${randomness.length}`);
        }
        return encapsulated(call(CryptoErrorCode.InvalidPublicKey, invalidKey, () => sodium.crypto_kem_mlkem768_enc_deterministic(publicKey, randomness)));
      },
      decapsulate(ciphertext, secretKey) {
        const failed = `${name} secret key failed its integrity check`;
        const publicKeyEnd = ML_KEM_768_DK_PKE_BYTES + sodium.crypto_kem_mlkem768_PUBLICKEYBYTES;
        const hash = createHash("sha3-256").update(secretKey.subarray(ML_KEM_768_DK_PKE_BYTES, publicKeyEnd)).digest();
        if (!hash.equals(secretKey.subarray(publicKeyEnd, publicKeyEnd + hash.length))) throw new CryptoError(CryptoErrorCode.InvalidSecretKey, failed);
        return toBytes(call(CryptoErrorCode.InvalidSecretKey, failed, () => sodium.crypto_kem_mlkem768_dec(ciphertext, secretKey)));
      },
    },
  );
}

