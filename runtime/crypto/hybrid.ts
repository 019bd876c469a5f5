// Classical DH KEMs and the concatenation hybrids of draft-ietf-tls-ecdhe-mlkem: X25519MLKEM768 (ML-KEM first)
// and SecP384r1MLKEM1024 (ECDH first). Public keys, ciphertexts and shared secrets are the components joined in order.
import { concatBytes, randomBytes, splitBytes } from "./bytes.js";
import { defineKem, type KemOps, type ProviderKem } from "./define.js";
import { CryptoError, CryptoErrorCode } from "./errors.js";
import { moveKeyObject } from "./keyobjects.js";
import {
  NODE_PROVIDER,
  P384_PUBLIC_KEY_LENGTH,
  P384_SECRET_KEY_LENGTH,
  P384_SHARED_SECRET_LENGTH,
  X25519_KEY_LENGTH,
  X25519_SECRET_KEY_LENGTH,
  p384,
  p384Keygen,
  x25519Agree,
  x25519Ephemeral,
  x25519Keygen,
} from "./node.js";

/** The sizes and operations of one KEM, before it is named and wrapped by defineKem. */
interface KemComponent extends KemOps {
  readonly publicKeyLength: number;
  readonly secretKeyLength: number;
  readonly ciphertextLength: number;
  readonly sharedSecretLength: number;
  readonly seedLength: number;
  readonly provider: string;
}

interface DhFunctions {
  readonly keygen: (seed?: Uint8Array) => { publicKey: Uint8Array; secretKey: Uint8Array };
  readonly agree: (secretKey: Uint8Array, publicKey: Uint8Array) => Uint8Array;
  /** Fresh ephemeral key agreeing with `publicKey`: the ephemeral public key is the ciphertext. */
  readonly ephemeral: (publicKey: Uint8Array) => { ciphertext: Uint8Array; sharedSecret: Uint8Array };
}

/**
 * Ephemeral-static DH as a KEM: the ciphertext is the ephemeral public key, the secret the raw DH output (as TLS uses it).
 * Decapsulating a bad point returns a random secret instead of throwing, mirroring ML-KEM's implicit rejection:
 * the secret then matches nothing, and key confirmation refuses the session.
 */
function dhComponent(
  lengths: { publicKey: number; secretKey: number; sharedSecret: number; seed: number },
  dh: DhFunctions,
): KemComponent {
  return {
    provider: NODE_PROVIDER,
    publicKeyLength: lengths.publicKey,
    secretKeyLength: lengths.secretKey,
    ciphertextLength: lengths.publicKey,
    sharedSecretLength: lengths.sharedSecret,
    seedLength: lengths.seed,
    keygen: (seed) => dh.keygen(seed),
    encapsulate: (publicKey) => dh.ephemeral(publicKey),
    decapsulate(ciphertext, secretKey) {
      try {
        return dh.agree(secretKey, ciphertext);
      } catch (error) {
        const peerFault =
          error instanceof CryptoError &&
          (error.code === CryptoErrorCode.InvalidPublicKey || error.code === CryptoErrorCode.KeyAgreementFailed);
        if (!peerFault) throw error;
        return randomBytes(lengths.sharedSecret);
      }
    },
  };
}

const x25519Component = (): KemComponent =>
  dhComponent(
    { publicKey: X25519_KEY_LENGTH, secretKey: X25519_SECRET_KEY_LENGTH, sharedSecret: X25519_KEY_LENGTH, seed: X25519_KEY_LENGTH },
    { keygen: x25519Keygen, agree: x25519Agree, ephemeral: x25519Ephemeral },
  );

const p384Component = (): KemComponent =>
  dhComponent(
    { publicKey: P384_PUBLIC_KEY_LENGTH, secretKey: P384_SECRET_KEY_LENGTH, sharedSecret: P384_SHARED_SECRET_LENGTH, seed: P384_SECRET_KEY_LENGTH },
    {
      keygen: p384Keygen,
      agree: p384,
      ephemeral(publicKey) {
        const ephemeral = p384Keygen();
        return { ciphertext: ephemeral.publicKey, sharedSecret: p384(ephemeral.secretKey, publicKey) };
      },
    },
  );

function asComponent(kem: ProviderKem): KemComponent {
  return {
    provider: kem.provider,
    publicKeyLength: kem.publicKeyLength,
    secretKeyLength: kem.secretKeyLength,
    ciphertextLength: kem.ciphertextLength,
    sharedSecretLength: kem.sharedSecretLength,
    seedLength: kem.seedLength,
    keygen: (seed) => kem.keygen(seed),
    encapsulate: (publicKey) => kem.encapsulate(publicKey),
    decapsulate: (ciphertext, secretKey) => kem.decapsulate(ciphertext, secretKey),
  };
}

/** Classical-only X25519, registered only so that policies and tests can show a classical suite being refused. */
export function x25519Kem(): ProviderKem {
  const c = x25519Component();
  return defineKem({ name: "X25519", hybrid: false, ...c }, c);
}

/**
 * Joins two KEMs: every value is `first || second`; the seed likewise. Neither component can be skipped.
 *
 * A joined key array always yields the same component views (kept weakly per array, sharing its memory), so the
 * components' per-array KeyObject caches (keyobjects.ts) see one array per key: a server's static secret key or a
 * certificate's public key is imported once, not per handshake. Key generation moves each component's cached
 * KeyObject onto the view of the joined secret key and wipes the component's own copy.
 */
function concatenate(name: string, first: KemComponent, second: KemComponent): ProviderKem {
  const pk = [first.publicKeyLength, second.publicKeyLength];
  const sk = [first.secretKeyLength, second.secretKeyLength];
  const ct = [first.ciphertextLength, second.ciphertextLength];
  const seed = [first.seedLength, second.seedLength];
  const providers = first.provider === second.provider ? first.provider : `${first.provider}+${second.provider}`;
  const views = new WeakMap<Uint8Array, Uint8Array[]>();
  const parts = (key: Uint8Array, lengths: readonly number[]): Uint8Array[] => {
    let found = views.get(key);
    if (found === undefined) {
      found = splitBytes(key, lengths);
      views.set(key, found);
    }
    return found;
  };
  return defineKem(
    {
      name,
      provider: providers,
      hybrid: true,
      publicKeyLength: pk[0]! + pk[1]!,
      secretKeyLength: sk[0]! + sk[1]!,
      ciphertextLength: ct[0]! + ct[1]!,
      sharedSecretLength: first.sharedSecretLength + second.sharedSecretLength,
      seedLength: seed[0]! + seed[1]!,
    },
    {
      keygen(seedBytes) {
        const [seedA, seedB] = seedBytes === undefined ? [undefined, undefined] : splitBytes(seedBytes, seed);
        const a = first.keygen(seedA);
        const b = second.keygen(seedB);
        const publicKey = concatBytes(a.publicKey, b.publicKey);
        const secretKey = concatBytes(a.secretKey, b.secretKey);
        const [skA, skB] = parts(secretKey, sk);
        moveKeyObject(a.secretKey, skA!);
        moveKeyObject(b.secretKey, skB!);
        a.secretKey.fill(0);
        b.secretKey.fill(0);
        return { publicKey, secretKey };
      },
      encapsulate(publicKey) {
        const [pkA, pkB] = parts(publicKey, pk);
        const a = first.encapsulate(pkA!);
        const b = second.encapsulate(pkB!);
        return { ciphertext: concatBytes(a.ciphertext, b.ciphertext), sharedSecret: concatBytes(a.sharedSecret, b.sharedSecret) };
      },
      decapsulate(ciphertext, secretKey) {
        const [ctA, ctB] = splitBytes(ciphertext, ct);
        const [skA, skB] = parts(secretKey, sk);
        return concatBytes(first.decapsulate(ctA!, skA!), second.decapsulate(ctB!, skB!));
      },
    },
  );
}

/** X25519MLKEM768: ML-KEM-768 first, then X25519 (the IETF TLS codepoint 0x11EC layout). */
export function x25519MlKem768(mlKem768: ProviderKem): ProviderKem {
  return concatenate("X25519MLKEM768", asComponent(mlKem768), x25519Component());
}

/** SecP384r1MLKEM1024: P-384 ECDH first, then ML-KEM-1024 (the IETF TLS codepoint 0x11ED layout). */
export function secP384r1MlKem1024(mlKem1024: ProviderKem): ProviderKem {
  return concatenate("SecP384r1MLKEM1024", p384Component(), asComponent(mlKem1024));
}
