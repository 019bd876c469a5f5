// The `pqguard` package entry: enforcement, the post-quantum transports, the proxy, state stores, the audit log,
// identities and signed manifests. Everything a server or client needs at run time, and nothing of the compiler.

// The base of every error pqguard throws: a stable code (docs/errors.md) and one sentence.
export { PqguardError } from "./errors.js";

// Enforcement on an MCP SDK server or client, and the decision point they share.
export {
  enforce,
  guardClient,
  DecisionPoint,
  refusalOf,
  EnforceError,
  EnforceErrorCode,
  GUARD_REFUSAL_ERROR,
  refusalError,
  DEFAULT_MAX_ARGUMENT_BYTES,
  DEFAULT_STORE_TIMEOUT_MS,
  DEFAULT_APPROVAL_TIMEOUT_MS,
  UNAUTHENTICATED_CLIENT_ID,
  operatorApproval,
  approvalSignature,
  APPROVAL_REQUEST_FORMAT,
  APPROVAL_RESPONSE_FORMAT,
  APPROVAL_SIGNATURE_HEADER,
  type OperatorApprovalOptions,
  type EnforceOptions,
  type Enforcement,
  type GuardClientOptions,
  type GuardedClient,
  type DecisionOptions,
  type ApprovalRequest,
  type ApprovalCallback,
  type Verdict,
  type CallToDecide,
  type PinVerdict,
  type RefusalData,
  type SessionView,
  type SessionSource,
  type SessionResolver,
  type CancelSignal,
  type EnforceableServer,
  type GuardableClient,
  type Connectable,
  type ToolResult,
  type ResultStage,
  type StageRefusal,
  type ReturningCall,
} from "./enforce/index.js";

// Result rules: what enforcement does with a tool's result (usable on its own, say in a custom gateway).
export { inspectResult, ResultError, ResultErrorCode, MARKS_META_KEY, type InspectedResult } from "./enforce/results.js";

// The sealed MCP transports (any SDK Transport inside), the HTTP endpoints, certificates and session facts.
export {
  PqcClientTransport,
  PqcServerTransport,
  SealedHttpEndpoint,
  PlainHttpEndpoint,
  SessionlessExchangeTransport,
  MAX_HTTP_SESSIONS,
  HTTP_SESSION_IDLE_MS,
  pinOf,
  tlsClientFetch,
  tlsServerOptions,
  nodeFetch,
  type NodeFetchAgents,
  SessionError,
  SessionErrorCode,
  ServerCredentials,
  issueServerCertificate,
  issueClientCertificate,
  verifyServerCertificate,
  type PqcClientTransportOptions,
  type PqcServerTransportOptions,
  type SessionTransportOptions,
  type HttpEndpointOptions,
  type SealedHttpEndpointOptions,
  type TlsClientOptions,
  type TlsServerCredentials,
  type SessionInfo,
  type AuthenticatedClient,
  type IssueClientCertificateOptions,
  type IssueServerCertificateOptions,
  type ServerCertificate,
  type NegotiatedSuite,
  type ClientTrust,
  type ServerCredential,
  type SigningIdentity,
} from "./transport/index.js";

export type { SessionTransport } from "./transport/session-transport.js";
export type { HttpEndpoint, ObservedTransport, TrackedTransport } from "./transport/http.js";
export type { Delivery } from "./session/record.js";

// Algorithms are configuration: the suite a deployment offers and the providers behind it.
export {
  kem,
  signature,
  aead,
  kdf,
  hash,
  resolveSuiteConfig,
  providerReport,
  algorithmNames,
  DEFAULT_SUITE_CONFIG,
  type SuiteConfig,
  type AlgorithmKind,
} from "./crypto/registry.js";
export type { AlgorithmInfo, SecurityLevel, Kem, KemKeyPair, SignatureScheme, SignatureKeyPair, Aead, Kdf, Hash } from "./crypto/types.js";
export { CryptoError, CryptoConfigError, CryptoErrorCode } from "./crypto/errors.js";

// The proxy in front of an unmodified MCP server.
export {
  createProxy,
  listenHttp,
  ProxyError,
  ProxyErrorCode,
  TolerantStdioTransport,
  APPROVAL_TIMEOUT_MS,
  DEFAULT_CALL_TIMEOUT_MS,
  MAX_UPSTREAM_SESSIONS,
  TOOL_RECHECK_INTERVAL_MS,
  type ProxyOptions,
  type Proxy,
  type HttpListenOptions,
  type HttpListener,
  type UpstreamTarget,
  type UpstreamCommand,
  type UpstreamUrl,
  type ProxyCore,
  type ProxyCoreOptions,
  type UpstreamMode,
  type UpstreamSession,
  type UpstreamEvents,
  type UpstreamParts,
  type ProxyConnection,
  type SessionSourceOf,
  type ReadBudget,
  type Params as JsonRpcParams,
  type ToolPin,
  type PinReport,
  type PinStatus,
  type UpstreamSupervisor,
  type UpstreamOptions,
  type UpstreamCall,
  type UpstreamRequest,
  type DiscoverResult,
} from "./proxy/index.js";
export type { ToolStatus } from "./manifest/compare.js";

// Call history for limits and `calls()`: the state store interface, the in-memory store, the SQLite store for one
// machine, the Redis store shared by replicas, and `openStateStore` that picks one from `memory`/`sqlite:`/`redis://`.
export {
  MemoryStateStore,
  SqliteStateStore,
  RedisStateStore,
  openStateStore,
  StateError,
  StateErrorCode,
  DEFAULT_RETENTION_MS,
  REDIS_PASSWORD_ENV,
  type MemoryStateStoreOptions,
  type SqliteStateStoreOptions,
  type RedisStateStoreOptions,
  type OpenStateStoreOptions,
  type OpenedStateStore,
  type StateStore,
  type SyncStateOperations,
  type CallRecord,
  type HistoryKey,
  type HistorySnapshot,
  type Judge,
  type Judgement,
  type RecordedValues,
} from "./state/index.js";

// The hash-chained audit log, its keys and its verifier, and the operational logger.
export {
  AuditLog,
  AuditError,
  AuditErrorCode,
  verifyAuditLog,
  auditKey,
  writeAuditKey,
  loadAuditKey,
  argumentsDigest,
  operationalLogger,
  silentLogger,
  AUDIT_FORMAT,
  AUDIT_ANCHOR_FORMAT,
  readAnchor,
  type AuditAnchor,
  type CheckpointKind,
  type AuditLogOptions,
  type AuditSink,
  type AuditLine,
  type AuditDecision,
  type AuditSuite,
  type AuditVerification,
  type AuditProblem,
  type VerifyAuditOptions,
  type Logger,
} from "./audit/index.js";

// Identities (ML-DSA key files) and fingerprints.
export {
  generateIdentity,
  writeIdentity,
  loadSecretKey,
  loadPublicKey,
  identityAlgorithms,
  fingerprint,
  parseFingerprint,
  DEFAULT_IDENTITY_ALGORITHM,
  type Identity,
  type PublicIdentity,
  type WriteOptions,
  type WrittenKeyFiles,
  type ParsedFingerprint,
} from "./identity/index.js";

// Client certificate files (`pqguard cert`): issue, write, load for a client, inspect as a server would.
export {
  certifyClient,
  loadClientCertificate,
  checkCertificateKey,
  readCertificateFile,
  writeCertificateFile,
  encodeCertificateFile,
  decodeCertificateFile,
  inspectClientCertificate,
  validityOf,
  ClientCertificateError,
  ClientCertificateErrorCode,
  CLIENT_CERTIFICATE_FILE_FORMAT,
  MAX_CLIENT_CERTIFICATE_BYTES,
  type ClientCertificate,
  type LoadedClientCertificate,
  type CertificateValidity,
  type CertificateStatus,
  type CertificateInspection,
} from "./identity/certificate-files.js";

// Signed tool manifests: sign a tool list, verify a manifest, digest a tool definition, read a server's tools.
export {
  signManifest,
  manifestBindingProblem,
  verifySignedManifest,
  manifestDigest,
  toolListOf,
  MANIFEST_FORMAT,
  DEFAULT_MANIFEST_ALGORITHM,
  type SignedManifest,
  type VerifiedManifest,
  type ManifestSigningKey,
  type SignOptions,
  type ServerBinding,
  type VerifyOptions,
  type ToolDefinition,
} from "./manifest/signed.js";
export { loadSignedManifest, toolsFromServer } from "./manifest/files.js";
export { toolDigest, canonicalJson } from "./manifest/digest.js";
export { ManifestError, ManifestErrorCode } from "./manifest/errors.js";

// The decision types compiled guards produce, for code that handles decisions.
export type { AggregateFunction, Decision, DecisionKind, LimitScope, Explanation, GuardContext, GuardModule, GuardRequest, ClientFacts, PeerFacts, TransportFacts, SessionFacts, CallHistory } from "./guard/types.js";

// Metrics and alerts: prom-client counters and histograms of handshakes, failures, decisions, keys; the alarm.
export {
  PqguardMetrics,
  currentMetrics,
  useMetrics,
  failureReasonOf,
  HandshakeAlarm,
  DEFAULT_ALARM_THRESHOLDS,
  listenMetrics,
  serveMetrics,
  METRICS_PATH,
  type PqguardMetricsOptions,
  type HandshakeFailure,
  type HandshakeFailureReason,
  type KeyAgeSource,
  type Side as MetricsSide,
  type AlarmThresholds,
  type MetricsListener,
} from "./metrics/index.js";

// Key lifecycle: keyrings, endorsements and signed trust lists, client revocation lists, renewal, a server on a keyring.
export {
  Keyring,
  initKeyring,
  rotateKeyring,
  revokeKeyring,
  acceptsAt,
  endorse,
  verifyEndorsement,
  KeyringError,
  KeyringErrorCode,
  KEYRING_FORMAT,
  DEFAULT_GRACE_MS,
  DEFAULT_KEY_LIFETIME_MS,
  type KeyringEntry,
  type KeyringDocument,
  type KeyState,
  type InitOptions as KeyringInitOptions,
  type RotateOptions,
  type Rotation,
  type KeyringClock,
} from "./identity/keyring.js";
export type { CertificateFailure } from "./session/errors.js";
export {
  TrustedServerKeys,
  exportTrustList,
  readTrustList,
  decodeTrustList,
  TrustListError,
  TrustListErrorCode,
  TRUST_LIST_FORMAT,
  type TrustList,
  type TrustListKey,
} from "./identity/trust-list.js";
export { loadRevocationList, decodeRevocationList, RevocationListError, RevocationListErrorCode, REVOCATION_LIST_FORMAT, type RevocationList, type RevokedEntry } from "./identity/revocation-list.js";
export { renewClientCertificate, renewalTime } from "./identity/renewal.js";
export { KeyringServer, type KeyringServerOptions, type KeyringReload } from "./transport/keyring-server.js";
export type { ServerKeySource } from "./transport/server.js";
export type { TrustedFingerprints } from "./session/certificate.js";
export { loadCryptoConfig, decodeCryptoConfig, CryptoConfigFileError, CryptoConfigErrorCode, CRYPTO_CONFIG_FORMAT, type CryptoConfig } from "./crypto/config-file.js";
