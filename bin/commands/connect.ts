// `pqguard connect`: a local stdio MCP server that any host can launch (Claude Desktop, Cursor, VS Code, the MCP
// Inspector), relaying to a remote `pqguard proxy` over the post-quantum session (Streamable HTTP, or stdio through a
// command such as ssh), reconnecting when the network fails.
import process from "node:process";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { operationalLogger } from "../../runtime/audit/index.js";
import { Bridge } from "../../runtime/connect/bridge.js";
import { loadSecretKey, parseFingerprint } from "../../runtime/identity/index.js";
import { splitCommandLine } from "../../runtime/manifest/files.js";
// Narrow imports: the proxy's and the transports' index modules would load the HTTP server and the whole proxy.
import { TolerantStdioTransport } from "../../runtime/proxy/stdio.js";
import { PqcClientTransport, type PqcClientTransportOptions } from "../../runtime/transport/client.js";
import { CertificateRenewal } from "../../runtime/connect/renewal.js";
import { EXIT_ERRORS, EXIT_OK, UsageError, type CommandIO, parseCommandLine } from "./io.js";
import { checkPins, tlsClientFetch, type TlsClientOptions } from "../../runtime/transport/tls.js";
import { readFile } from "node:fs/promises";
import { TrustedServerKeys, readTrustList } from "../../runtime/identity/trust-list.js";
import { parseDuration } from "../../compiler/request.js";
import type { Logger } from "../../runtime/audit/index.js";

interface ConnectArgs {
  readonly target: { readonly url: URL } | { readonly command: string; readonly args: string[] };
  readonly trust: readonly string[];
  readonly key: string | undefined;
  readonly cert: string | undefined;
  /** `--tls-ca FILE` and `--tls-pin PIN`: how an `https://` proxy's certificate is verified (system store without them). */
  readonly tlsCa: string | undefined;
  readonly tlsPins: readonly string[];
  /** `--trust-list FILE|URL`: the proxy's signed trust list, read at start and every TRUST_LIST_REFRESH_MS. */
  readonly trustList: string | undefined;
  /** `--issuer-key CA.key`: renews `--cert` before it expires (the client's own key for a self-issued certificate). */
  readonly issuerKey: string | undefined;
  readonly renewBeforeMs: number | undefined;
  readonly logLevel: string;
}

/** How often a trust list is read again: rotations pre-publish the next key, so a slow poll is enough. */
export const TRUST_LIST_REFRESH_MS = 5 * 60_000;
/** How often a certificate's renewal time is looked at. */
const RENEWAL_CHECK_MS = 60_000;

function parse(io: CommandIO): ConnectArgs {
  const parsed = parseCommandLine({
    args: [...io.argv],
    strict: true,
    allowPositionals: false,
    options: {
      url: { type: "string" },
      command: { type: "string" },
      trust: { type: "string", multiple: true },
      key: { type: "string" },
      cert: { type: "string" },
      "tls-ca": { type: "string" },
      "tls-pin": { type: "string", multiple: true },
      "trust-list": { type: "string" },
      "issuer-key": { type: "string" },
      "renew-before": { type: "string" },
      "log-level": { type: "string", default: "warn" },
    },
  });
  const v = parsed.values;
  if ((v.url === undefined) === (v.command === undefined)) {
    throw new UsageError("give the proxy to connect to: `--url https://HOST/mcp` (Streamable HTTP) or `--command \"CMD ARGS\"` (stdio)");
  }
  const trust = v.trust ?? [];
  if (trust.length === 0) throw new UsageError("`--trust FINGERPRINT` is required: the proxy's key fingerprint, as `pqguard keygen` printed it");
  for (const fingerprint of trust) {
    try {
      parseFingerprint(fingerprint);
    } catch {
      throw new UsageError(`\`${fingerprint}\` is not a key fingerprint (\`mldsa65:...\`)`);
    }
  }
  if ((v.key === undefined) !== (v.cert === undefined)) throw new UsageError("`--key` and `--cert` go together: the client's key and its certificate");
  const tlsPins = v["tls-pin"] ?? [];
  if ((v["tls-ca"] !== undefined || tlsPins.length > 0) && !v.url?.startsWith("https:")) {
    throw new UsageError("`--tls-ca` and `--tls-pin` verify an `https://` proxy: give `--url https://HOST/mcp`");
  }
  try {
    checkPins(tlsPins);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (v["issuer-key"] !== undefined && v.cert === undefined) throw new UsageError("`--issuer-key` renews the certificate given with `--key` and `--cert`");
  if (v["renew-before"] !== undefined && v["issuer-key"] === undefined) throw new UsageError("`--renew-before` needs `--issuer-key`: the key that signs the renewed certificate");
  let renewBeforeMs: number | undefined;
  if (v["renew-before"] !== undefined) {
    renewBeforeMs = parseDuration(v["renew-before"]);
    if (renewBeforeMs === undefined || renewBeforeMs <= 0) throw new UsageError(`\`--renew-before ${v["renew-before"]}\` is not a positive duration such as \`8h\``);
  }
  return {
    target: targetOf(v.url, v.command),
    trust,
    key: v.key,
    cert: v.cert,
    tlsCa: v["tls-ca"],
    tlsPins,
    trustList: v["trust-list"],
    issuerKey: v["issuer-key"],
    renewBeforeMs,
    logLevel: v["log-level"]!,
  };
}

function targetOf(url: string | undefined, command: string | undefined): ConnectArgs["target"] {
  if (url !== undefined) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new UsageError(`\`--url\`: \`${url}\` is not a URL`);
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new UsageError("`--url` must be an http(s) URL");
    // They would travel as an HTTP header beside the sealed session, in the clear over http:.
    if (parsed.username !== "" || parsed.password !== "") throw new UsageError("`--url` must not carry credentials (user:password@)");
    return { url: parsed };
  }
  const words = splitCommandLine(command!);
  if (words.length === 0) throw new UsageError("`--command` is empty");
  return { command: words[0]!, args: words.slice(1) };
}

/** The transport a new sealed session runs over: a fresh one for every (re)connection. */
function innerTransport(target: ConnectArgs["target"], fetch: ReturnType<typeof tlsClientFetch>): Transport {
  if ("url" in target) return new StreamableHTTPClientTransport(target.url, { fetch });
  return new StdioClientTransport({ command: target.command, args: target.args, stderr: "inherit" });
}

/** The client's identity and certificate for mutual authentication, when given. */
async function clientAuth(args: ConnectArgs): Promise<Pick<PqcClientTransportOptions, "clientIdentity" | "clientCertificate"> & { notAfter?: number }> {
  if (args.key === undefined || args.cert === undefined) return {};
  const identity = await loadSecretKey(args.key);
  const { loadClientCertificate, checkCertificateKey } = await import("../../runtime/identity/certificate-files.js");
  const certificate = await loadClientCertificate(args.cert);
  checkCertificateKey(certificate, identity);
  return { clientIdentity: identity, clientCertificate: certificate.bytes, notAfter: certificate.notAfter };
}

/**
 * Renews the certificate in `--cert` when its renewal time comes: a new one for the same key and claims, signed by
 * `--issuer-key`, written over the file (one rename); true when it wrote one (the file watch then re-authenticates).
 */
async function certificateRenewal(args: ConnectArgs, logger: Logger): Promise<() => Promise<boolean>> {
  const { loadClientCertificate, writeCertificateFile } = await import("../../runtime/identity/certificate-files.js");
  const { renewClientCertificate, renewalTime } = await import("../../runtime/identity/renewal.js");
  const issuer = await loadSecretKey(args.issuerKey!);
  const subject = await loadSecretKey(args.key!);
  return async () => {
    try {
      const current = await loadClientCertificate(args.cert!);
      const now = Date.now();
      if (now < renewalTime(current, args.renewBeforeMs)) return false;
      const renewed = renewClientCertificate(current, issuer, subject, now);
      await writeCertificateFile(args.cert!, renewed, { force: true });
      logger.info({ cert: args.cert, notAfter: new Date(now + (current.notAfter - current.notBefore)).toISOString() }, "client certificate renewed");
      return true;
    } catch (error) {
      logger.error({ err: error instanceof Error ? error.message : String(error), cert: args.cert }, "the client certificate could not be renewed");
      return false;
    }
  };
}

export async function run(io: CommandIO): Promise<number> {
  const args = parse(io);
  const logger = operationalLogger(args.logLevel);
  let auth: Awaited<ReturnType<typeof clientAuth>>;
  let tls: TlsClientOptions;
  try {
    auth = await clientAuth(args);
    tls = { ca: args.tlsCa === undefined ? undefined : await readFile(args.tlsCa), pins: args.tlsPins };
  } catch (error) {
    const code = typeof (error as { code?: unknown }).code === "string" ? (error as { code: string }).code : "PQG5101";
    io.err(`error ${code}: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT_ERRORS;
  }
  // One agent for every (re)connection: TLS 1.3 only, the server verified; plain http: as before.
  const fetch = tlsClientFetch(tls);
  const trusted = new TrustedServerKeys(args.trust);
  const refreshTrust = async (): Promise<void> => {
    if (args.trustList === undefined) return;
    try {
      trusted.apply(await readTrustList(args.trustList));
    } catch (error) {
      logger.warn({ err: error instanceof Error ? error.message : String(error), trustList: args.trustList }, "the trust list could not be applied; the keys trusted before stay trusted");
    }
  };
  await refreshTrust();
  const timers: NodeJS.Timeout[] = [];
  if (args.trustList !== undefined) timers.push(setInterval(() => void refreshTrust(), TRUST_LIST_REFRESH_MS));
  // The session open now, so that a renewed certificate re-authenticates it; later sessions start with the renewed one.
  let live: PqcClientTransport | undefined;
  const { notAfter, ...credentials } = auth;
  const bridge = new Bridge({
    host: new TolerantStdioTransport(process.stdin, process.stdout),
    connect: () => {
      // A new session is where a rotated key shows first: read the list again, for the attempt after this one.
      void refreshTrust();
      return (live = new PqcClientTransport(innerTransport(args.target, fetch), { trust: { serverFingerprints: trusted }, ...credentials }));
    },
    logger,
  });
  const renewal =
    args.cert === undefined || credentials.clientIdentity === undefined || notAfter === undefined
      ? undefined
      : new CertificateRenewal({
          path: args.cert,
          identity: credentials.clientIdentity,
          notAfter,
          logger,
          onRenewed: (certificate, until) => {
            credentials.clientCertificate = certificate;
            logger.info({ notAfter: new Date(until).toISOString() }, "the certificate file was renewed: re-authenticating the session");
            live?.reauthenticate(certificate).catch((error: unknown) => logger.warn({ err: String(error) }, "the session could not re-authenticate; the next session will use the renewed certificate"));
          },
        });
  renewal?.start();
  if (args.issuerKey !== undefined) {
    // With the issuer key, this process renews the file itself; the watch above then re-authenticates with it.
    const renew = await certificateRenewal(args, logger);
    const renewAndUse = async (): Promise<void> => {
      if (await renew()) await renewal?.check();
    };
    await renewAndUse();
    timers.push(setInterval(() => void renewAndUse(), RENEWAL_CHECK_MS));
  }
  for (const timer of timers) timer.unref();
  const stop = (): void => {
    for (const timer of timers) clearInterval(timer);
    void bridge.close();
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    await bridge.start();
    await bridge.done;
  } finally {
    renewal?.stop();
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  }
  const fatal = bridge.failure;
  if (fatal !== undefined) {
    const code = typeof (fatal as { code?: unknown }).code === "string" ? (fatal as { code: string }).code : "PQG6000";
    io.err(`error ${code}: the post-quantum session with the proxy could not be opened: ${fatal instanceof Error ? fatal.message : String(fatal)}\n`);
    return EXIT_ERRORS;
  }
  return EXIT_OK;
}
