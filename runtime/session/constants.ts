// Protocol constants of pqguard session v1: version, labels, timers and limits, each with the reason for its value.
// Algorithms are not named here except the two that protocol v1 binds (transcript hash and key-schedule KDF), as TLS 1.3 binds a hash.

/** Wire version of the handshake messages; a peer speaking another version is refused as malformed. */
export const PROTOCOL_VERSION = 1;

/** The key schedule's KDF and the transcript hash are part of the protocol version, not negotiated: fewer knobs to downgrade. */
export const PROTOCOL_KDF = "HKDF-SHA256";
export const TRANSCRIPT_HASH = "SHA3-256";

/** Hello nonces: 32 random bytes make a repeated transcript between honest peers negligible (as TLS 1.3's Random). */
export const HELLO_NONCE_BYTES = 32;

/** Session id bytes derived from the master secret; 16 bytes is unique enough for logs and limits, and is not a secret. */
export const SESSION_ID_BYTES = 16;

/**
 * Whole-handshake timeout (client: hello to server finished; server: start to client finished).
 * 10 s covers a slow link and a cold start (noble ML-DSA verification, first-use JIT), and is short enough
 * that a stalled peer does not hold a connection open for long.
 */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * Rekey after this much time under one key, as WireGuard's REKEY_AFTER_TIME: bounds what one key compromise exposes.
 * Sends check it, and a per-session timer does while the session is idle, so a key that sealed traffic is replaced
 * on time even if nothing follows it.
 */
export const REKEY_AFTER_TIME_MS = 120_000;

/**
 * Rekey after this many frames under one key. AES-GCM's confidentiality margin (TLS 1.3: 2^24.5 full records)
 * leaves room for 2^20 with large frames; WireGuard's 2^60 assumes ChaCha20 and small packets.
 */
export const REKEY_AFTER_MESSAGES = 2 ** 20;

/** A receiver refuses more frames than this under one key: a peer that never rekeys is closed, not trusted forever. */
export const REJECT_AFTER_MESSAGES = 2 ** 24;

/** Largest sealed frame (decoded bytes). Big enough for large tool results, small enough that one frame cannot exhaust memory. */
export const MAX_FRAME_BYTES = 8 * 1024 * 1024;

/** Largest handshake message: an ML-DSA-87 certificate plus an ML-KEM-1024 share is under 12 KiB; 64 KiB leaves room for claims. */
export const MAX_HANDSHAKE_MESSAGE_BYTES = 64 * 1024;

/** At most this many names per offered list: a hello cannot make the server loop over a long list. */
export const MAX_OFFERED_ALGORITHMS = 8;

/**
 * Unordered delivery (Streamable HTTP, where each message rides its own request): how far behind the highest
 * sequence number seen a frame may still arrive, as IPsec's and WireGuard's anti-replay windows. Larger than the
 * number of messages a client keeps in flight at once.
 */
export const REPLAY_WINDOW = 8192;

/** Unordered delivery: sealed frames that may arrive before the handshake has completed on this end, held until it has. */
export const MAX_EARLY_FRAMES = 1024;

/** Unordered delivery: and at most this many bytes of them (a client sends little before the server's Finished). */
export const MAX_EARLY_BYTES = 1024 * 1024;

/** Unordered delivery: an earlier epoch's key serves frames a rekey overtook for this long, and is zeroed at the next frame accepted after. */
export const EARLIER_EPOCH_KEEP_MS = 30_000;

/** Unordered delivery: how long a close waits for frames sent before it that have not arrived yet. */
export const CLOSE_GRACE_MS = 2_000;

/**
 * How long `close()` waits for the inner transport to take the sealed close frame before closing it anyway: a peer
 * that stops reading (a full stdio pipe, an HTTP POST never answered) cannot hold a close, or the requests it
 * rejects, open.
 */
export const CLOSE_NOTIFY_TIMEOUT_MS = 2_000;

/**
 * How long `close()` waits for the inner transport's own close to settle, then emits `onclose` and resolves anyway
 * (after a failure too): an inner transport whose close hangs cannot hold the session's close, or its owner's books, open.
 */
export const INNER_CLOSE_TIMEOUT_MS = 2_000;

/** Sends queued before establishment; beyond this the sender is misbehaving, so sends are refused. */
export const MAX_PENDING_SENDS = 1024;

/** Tolerated clock skew for a certificate's notBefore: a just-issued certificate is valid on a client whose clock lags. */
export const CERTIFICATE_CLOCK_SKEW_MS = 5 * 60_000;

/** Default server certificate lifetime: a day bounds the use of a stolen static KEM key. */
export const SERVER_CERTIFICATE_LIFETIME_MS = 24 * 60 * 60_000;

/** A server issues a fresh certificate (and static KEM key) after this long, well before the old one expires. */
export const SERVER_CERTIFICATE_ROTATE_AFTER_MS = 60 * 60_000;

/** Verified certificate signatures remembered per process (by digest of the exact bytes); expiry is still checked every time. */
export const VERIFIED_CERTIFICATE_CACHE_ENTRIES = 64;

/** FIPS 204 context strings: a signature made for one purpose never verifies for another. */
export const SERVER_CERTIFICATE_CONTEXT = "pqguard/v1 server certificate";
export const CLIENT_CERTIFICATE_CONTEXT = "pqguard/v1 client certificate";
export const CLIENT_AUTH_CONTEXT = "pqguard/v1 client auth";

/** Key-schedule labels (HKDF info prefixes). */
export const LABEL = {
  clientAuthKey: "pqguard/v1 c auth key",
  clientFinished: "pqguard/v1 c finished",
  serverFinished: "pqguard/v1 s finished",
  master: "pqguard/v1 master",
  clientToServer: "pqguard/v1 c2s",
  serverToClient: "pqguard/v1 s2c",
  sessionId: "pqguard/v1 session id",
  key: "pqguard/v1 key",
  iv: "pqguard/v1 iv",
  next: "pqguard/v1 next",
  reauth: "pqguard/v1 reauth",
} as const;

/** ML-DSA context of a re-authentication signature (docs/protocol.md, Re-authentication). */
export const REAUTH_CONTEXT = "pqguard/v1 reauth";

/**
 * The sealed notification a draining session sends first (its key was revoked or retired): a client that knows it
 * sends nothing new on the session, waits for its answers and closes it itself, so no request can cross the close.
 */
export const DRAINING_NOTIFICATION = "notifications/pqguard/draining";
/**
 * How long a draining server waits, once every request it took is answered, for the client to close the session
 * before closing it itself: a client that knows the notification closes within a round trip; one that does not is
 * closed after this, and a request it sends meanwhile is refused unrun (PQG6031), never lost in the close.
 */
export const DRAIN_LINGER_MS = 2_000;
