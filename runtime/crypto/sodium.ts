// The libsodium-wrappers provider (WebAssembly) for ChaCha20-Poly1305-IETF (RFC 8439). Loaded once at import:
// the registry's lookups are synchronous, so the module waits for libsodium to be ready before anyone can call it.
import sodium from "libsodium-wrappers";
import { toBytes } from "./bytes.js";
import { defineAead } from "./define.js";
import type { Aead } from "./types.js";

export const SODIUM_PROVIDER = "libsodium-wrappers";

await sodium.ready;

export function sodiumChaCha20Poly1305(): Aead {
  return defineAead(
    {
      name: "ChaCha20-Poly1305",
      provider: SODIUM_PROVIDER,
      keyLength: sodium.crypto_aead_chacha20poly1305_ietf_KEYBYTES,
      nonceLength: sodium.crypto_aead_chacha20poly1305_ietf_NPUBBYTES,
      tagLength: sodium.crypto_aead_chacha20poly1305_ietf_ABYTES,
    },
    {
      seal: (key, nonce, plaintext, aad) => toBytes(sodium.crypto_aead_chacha20poly1305_ietf_encrypt(plaintext, aad, null, nonce, key)),
      open(key, nonce, sealed, aad) {
        try {
          return toBytes(sodium.crypto_aead_chacha20poly1305_ietf_decrypt(null, sealed, aad, nonce, key));
        } catch {
          // libsodium verifies the tag before decrypting and throws on mismatch; nothing unauthenticated exists.
          return undefined;
        }
      },
    },
  );
}
