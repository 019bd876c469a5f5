// The sealed MCP transports: wrap any SDK Transport (stdio, Streamable HTTP, in-memory) in a post-quantum session.
export { PqcClientTransport } from "./client.js";
export type { PqcClientTransportOptions } from "./client.js";
export { PqcServerTransport } from "./server.js";
export type { PqcServerTransportOptions } from "./server.js";
export type { SessionTransportOptions } from "./session-transport.js";
export { ObservedTransport, PlainHttpEndpoint, SealedHttpEndpoint, MAX_HTTP_SESSIONS, HTTP_SESSION_IDLE_MS } from "./http.js";
export type { HttpEndpointOptions, SealedHttpEndpointOptions } from "./http.js";
export { SessionlessExchangeTransport } from "./http-sessionless.js";
export { pinOf, tlsClientFetch, tlsServerOptions } from "./tls.js";
export { nodeFetch, type NodeFetchAgents } from "./fetch.js";
export type { TlsClientOptions, TlsServerCredentials } from "./tls.js";
export { HANDSHAKE_METHOD, HandshakeStep, SEALED_METHOD, envelopePayload, openEnvelope, withEnvelopePayload } from "./envelope.js";
export { SessionError, SessionErrorCode } from "../session/errors.js";
export type { SessionInfo, AuthenticatedClient, NegotiatedSuite } from "../session/facts.js";
export {
  ServerCredentials,
  issueServerCertificate,
  issueClientCertificate,
  verifyServerCertificate,
} from "../session/certificate.js";
export type { ClientTrust, ServerCredential, SigningIdentity, IssueClientCertificateOptions, IssueServerCertificateOptions, ServerCertificate } from "../session/certificate.js";
