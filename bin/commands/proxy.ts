// `pqguard proxy`: puts an unmodified MCP server (a stdio command or a Streamable HTTP URL) behind the post-quantum
// transport and a policy guard.
// It checks and compiles the policy at start (compiled guard, imported from a temporary directory), then serves.
import { readFile } from "node:fs/promises";
import { basename, isAbsolute, resolve } from "node:path";
import process from "node:process";
import { importGuard } from "../../compiler/import-guard.js";
import { checkPolicyFile } from "../../compiler/load.js";
import { renderDiagnostics } from "../../compiler/render.js";
import { AuditLog, loadAuditKey, operationalLogger, type Logger } from "../../runtime/audit/index.js";
import type { GuardModule } from "../../runtime/guard/types.js";
import { loadSecretKey } from "../../runtime/identity/index.js";
import { loadSignedManifest, splitCommandLine } from "../../runtime/manifest/files.js";
import { manifestBindingProblem, type VerifiedManifest } from "../../runtime/manifest/signed.js";
import { EnforceError, EnforceErrorCode, operatorApproval, type ApprovalCallback } from "../../runtime/enforce/index.js";
import { DEFAULT_REQUEST_TIMEOUT_MSEC } from "@modelcontextprotocol/sdk/shared/protocol.js";
import {
  APPROVAL_TIMEOUT_MS,
  createProxy,
  listenHttp,
  listenUrlOf,
  ProxyError,
  TolerantStdioTransport,
  upstreamUrlOf,
  type HttpListener,
  type Proxy,
  type UpstreamMode,
  type UpstreamTarget,
} from "../../runtime/proxy/index.js";
import { openStateStore, type OpenedStateStore } from "../../runtime/state/open.js";
import { PqcServerTransport, type ClientTrust, type SigningIdentity } from "../../runtime/transport/index.js";
import { blockListOf } from "../../runtime/transport/http.js";
import { checkPins } from "../../runtime/transport/tls.js";
import { KeyringServer } from "../../runtime/transport/keyring-server.js";
import { clientTrustOf } from "./cert.js";
import { HandshakeAlarm, currentMetrics, listenMetrics, type AlarmThresholds, type MetricsListener } from "../../runtime/metrics/index.js";
import { EXIT_ERRORS, UsageError, type CommandIO, parseCommandLine } from "./io.js";

/**
 * Environment variable with a fixed start time (ISO 8601) for the decision clock, as `--now` sets it. For demos and
 * tests of time rules only: the clock then starts at that instant and advances in real time.
 */
export const NOW_ENV = "PQGUARD_NOW";

interface ProxyArgs {
  readonly policy: string;
  /** `--upstream "CMD ARGS"` (split later, against the working directory) or `--upstream-url URL`. */
  readonly upstream: { readonly commandLine: string } | { readonly url: URL };
  readonly listen: URL | "stdio";
  /** `--tls-cert` and `--tls-key`: the HTTP listener's certificate chain and key files, for `--listen https://…`. */
  readonly tls: { readonly cert: string; readonly key: string } | undefined;
  /** `--trust-proxy ADDRESS[/PREFIX]`: load balancers whose X-Forwarded-For is believed. */
  readonly trustProxy: readonly string[];
  /** `--request-timeout MS`: how long a client may take to send a whole request to the HTTP listener. */
  readonly requestTimeoutMs: number | undefined;
  /** `--upstream-tls-ca FILE` and `--upstream-tls-pin PIN`: how an https upstream is verified. */
  readonly upstreamTls: { readonly ca: string | undefined; readonly pins: readonly string[] };
  readonly key: string | undefined;
  /** `--keyring DIR`: the proxy's identity from a keyring that may change while it runs. */
  readonly keyring: string | undefined;
  readonly revokedClients: string | undefined;
  /** `--crypto-config FILE` (`pqguard-crypto/1`): algorithm preferences, reloaded with the keyring. */
  readonly cryptoConfig: string | undefined;
  /** `--reauth-on-rotation`: move live sessions to the new key at a rotation instead of draining them after the grace. */
  readonly reauthOnRotation: boolean;
  /** `--trust-issuer`, `--trust-client` and `--require-client-auth`; undefined when none is given. */
  readonly clientTrust: ClientTrust | undefined;
  readonly manifest: string | undefined;
  readonly signer: string | undefined;
  readonly audit: string | undefined;
  readonly auditArgs: boolean;
  readonly auditKey: string | undefined;
  readonly auditAnchor: string | undefined;
  readonly approvalWebhook: URL | undefined;
  readonly approvalKey: string | undefined;
  readonly now: string | undefined;
  readonly callTimeoutMs: number | undefined;
  readonly toolRecheckMs: number | undefined;
  readonly upstreamMode: UpstreamMode;
  readonly mode: "enforce" | "monitor";
  readonly maxUpstreams: number | undefined;
  readonly logLevel: string;
  /** `--metrics-listen URL`: metrics on a listener of their own instead of the proxy's `/metrics`. */
  readonly metricsListen: URL | undefined;
  readonly alarm: Partial<AlarmThresholds>;
  /** `--state`: `memory`, `sqlite:PATH` or `redis://HOST:PORT/DB`; never printed, since a URL may hold a password. */
  readonly state: string;
  readonly deployment: string | undefined;
}

function parse(io: CommandIO): ProxyArgs {
  const parsed = parseCommandLine({
    args: [...io.argv],
    strict: true,
    allowPositionals: false,
    options: {
      policy: { type: "string" },
      upstream: { type: "string" },
      "upstream-url": { type: "string" },
      listen: { type: "string", default: "stdio" },
      key: { type: "string" },
      "tls-cert": { type: "string" },
      "tls-key": { type: "string" },
      "trust-proxy": { type: "string", multiple: true },
      "request-timeout": { type: "string" },
      "upstream-tls-ca": { type: "string" },
      "upstream-tls-pin": { type: "string", multiple: true },
      keyring: { type: "string" },
      "revoked-clients": { type: "string" },
      "crypto-config": { type: "string" },
      "reauth-on-rotation": { type: "boolean", default: false },
      "trust-issuer": { type: "string", multiple: true },
      "trust-client": { type: "string", multiple: true },
      "require-client-auth": { type: "boolean", default: false },
      manifest: { type: "string" },
      signer: { type: "string" },
      audit: { type: "string" },
      "audit-args": { type: "boolean", default: false },
      "audit-key": { type: "string" },
      "audit-anchor": { type: "string" },
      "approval-webhook": { type: "string" },
      "approval-key": { type: "string" },
      now: { type: "string" },
      "call-timeout": { type: "string" },
      "tool-recheck": { type: "string" },
      "upstream-mode": { type: "string", default: "per-session" },
      mode: { type: "string", default: "enforce" },
      "max-upstreams": { type: "string" },
      "log-level": { type: "string", default: "info" },
      "metrics-listen": { type: "string" },
      "alert-window": { type: "string" },
      "alert-failures": { type: "string" },
      "alert-downgrades": { type: "string" },
      "block-for": { type: "string" },
      state: { type: "string", default: "memory" },
      deployment: { type: "string" },
    },
  });
  const v = parsed.values;
  if (v.policy === undefined) throw new UsageError("`--policy P.policy` is required");
  if (v.audit === undefined && (v["audit-key"] !== undefined || v["audit-args"] === true || v["audit-anchor"] !== undefined)) {
    throw new UsageError("`--audit-key`, `--audit-args` and `--audit-anchor` shape the audit log: give it with `--audit LOG`");
  }
  if ((v["approval-webhook"] === undefined) !== (v["approval-key"] === undefined)) {
    throw new UsageError("`--approval-webhook URL` and `--approval-key FILE` go together: requests and answers are signed with the key");
  }
  let approvalWebhook: URL | undefined;
  if (v["approval-webhook"] !== undefined) {
    try {
      approvalWebhook = new URL(v["approval-webhook"]);
    } catch {
      throw new UsageError(`\`--approval-webhook ${v["approval-webhook"]}\` is not a URL`);
    }
    if (approvalWebhook.protocol !== "https:" && approvalWebhook.protocol !== "http:") throw new UsageError("`--approval-webhook` must be an http(s) URL");
  }
  const upstream = upstreamOf(v.upstream, v["upstream-url"]);
  if (v.key !== undefined && v.keyring !== undefined) throw new UsageError("`--key` and `--keyring` exclude each other: the keyring's active key is the proxy's identity");
  if (v["reauth-on-rotation"] === true && v.keyring === undefined) throw new UsageError("`--reauth-on-rotation` moves sessions between the keys of a keyring: give `--keyring DIR`");
  for (const option of ["revoked-clients", "crypto-config"] as const) {
    if (v[option] !== undefined && v.keyring === undefined) {
      throw new UsageError(`\`--${option} FILE\` is read (and reloaded) with \`--keyring DIR\`: give the proxy's keys as a keyring`);
    }
  }
  const sealed = v.key !== undefined || v.keyring !== undefined;
  const clientTrust = clientTrustOptions(v["trust-issuer"] ?? [], v["trust-client"] ?? [], v["require-client-auth"] === true, sealed);
  if ((v["tls-cert"] === undefined) !== (v["tls-key"] === undefined)) throw new UsageError("`--tls-cert FILE` and `--tls-key FILE` go together: the listener's certificate and its key");
  const tls = v["tls-cert"] === undefined ? undefined : { cert: v["tls-cert"], key: v["tls-key"]! };
  let listen: URL | "stdio" = "stdio";
  if (v.listen !== "stdio") {
    try {
      listen = listenUrlOf(v.listen!, sealed, tls !== undefined);
    } catch (error) {
      throw new UsageError(`\`--listen\`: ${error instanceof ProxyError ? error.message : String(error)}`);
    }
  } else if (tls !== undefined || v["trust-proxy"] !== undefined || v["request-timeout"] !== undefined) {
    throw new UsageError("`--tls-cert`, `--tls-key`, `--trust-proxy` and `--request-timeout` apply to an HTTP listener: give `--listen https://HOST:PORT`");
  }
  const requestTimeoutMs = milliseconds(v["request-timeout"], "--request-timeout", 1);
  // A bound shorter than a second would refuse most requests before they arrive, a client's headers included.
  if (requestTimeoutMs !== undefined && requestTimeoutMs < 1_000) throw new UsageError("`--request-timeout` must be at least 1000 milliseconds");
  const trustProxy = v["trust-proxy"] ?? [];
  try {
    blockListOf(trustProxy);
    checkPins(v["upstream-tls-pin"] ?? []);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (!("url" in upstream) && (v["upstream-tls-ca"] !== undefined || v["upstream-tls-pin"] !== undefined)) {
    throw new UsageError("`--upstream-tls-ca` and `--upstream-tls-pin` verify an `https://` upstream: give it with `--upstream-url`");
  }
  const callTimeoutMs = milliseconds(v["call-timeout"], "--call-timeout", 1);
  const toolRecheckMs = milliseconds(v["tool-recheck"], "--tool-recheck", 0);
  const upstreamMode = v["upstream-mode"];
  if (upstreamMode !== "per-session" && upstreamMode !== "shared") throw new UsageError("`--upstream-mode` is `per-session` (one upstream session per client) or `shared`");
  const mode = v.mode;
  if (mode !== "enforce" && mode !== "monitor") throw new UsageError("`--mode` is `enforce` (refuse what the policy refuses) or `monitor` (decide, audit and let through)");
  const maxUpstreams = v["max-upstreams"] === undefined ? undefined : Number(v["max-upstreams"]);
  if (maxUpstreams !== undefined && (!/^\d+$/.test(v["max-upstreams"]!) || !Number.isSafeInteger(maxUpstreams) || maxUpstreams < 1)) {
    throw new UsageError("`--max-upstreams` must be a positive whole number");
  }
  const now = v.now ?? process.env[NOW_ENV];
  if (now !== undefined && Number.isNaN(Date.parse(now))) throw new UsageError(`\`${now}\` is not an ISO 8601 time for \`--now\``);
  let metricsListen: URL | undefined;
  if (v["metrics-listen"] !== undefined) {
    try {
      metricsListen = listenUrlOf(v["metrics-listen"], false);
    } catch (error) {
      throw new UsageError(`\`--metrics-listen\`: ${error instanceof ProxyError ? error.message : String(error)}`);
    }
  }
  const alarm: Partial<AlarmThresholds> = {
    ...optional("windowMs", milliseconds(v["alert-window"], "--alert-window", 1)),
    ...optional("failures", count(v["alert-failures"], "--alert-failures")),
    ...optional("downgrades", count(v["alert-downgrades"], "--alert-downgrades")),
    ...optional("blockMs", milliseconds(v["block-for"], "--block-for", 0)),
  };
  return {
    metricsListen,
    alarm,
    policy: v.policy,
    upstream,
    listen,
    tls,
    trustProxy,
    requestTimeoutMs,
    upstreamTls: { ca: v["upstream-tls-ca"], pins: v["upstream-tls-pin"] ?? [] },
    key: v.key,
    keyring: v.keyring,
    revokedClients: v["revoked-clients"],
    cryptoConfig: v["crypto-config"],
    reauthOnRotation: v["reauth-on-rotation"] === true,
    clientTrust,
    manifest: v.manifest,
    signer: v.signer,
    audit: v.audit,
    auditArgs: v["audit-args"] === true,
    auditKey: v["audit-key"],
    auditAnchor: v["audit-anchor"],
    approvalWebhook,
    approvalKey: v["approval-key"],
    now,
    callTimeoutMs,
    toolRecheckMs,
    upstreamMode,
    mode,
    maxUpstreams,
    logLevel: v["log-level"]!,
    state: v.state!,
    deployment: v.deployment,
  };
}

/**
 * Whom the sealed session believes about clients. Client trust without `--key` would be ignored (plain MCP has no
 * client authentication), and requiring authentication while trusting nobody would refuse every client: both are
 * usage errors rather than a proxy that silently does something else.
 */
function clientTrustOptions(issuers: readonly string[], clients: readonly string[], required: boolean, sealed: boolean): ClientTrust | undefined {
  if (required && !sealed) throw new UsageError("`--require-client-auth` needs the post-quantum session: give the proxy's identity with `--key NAME.key`");
  const trust = clientTrustOf(issuers, clients);
  if (required && trust === undefined) {
    throw new UsageError("`--require-client-auth` with no `--trust-issuer FP` or `--trust-client FP` would refuse every client: name whom to trust");
  }
  if (trust !== undefined && !sealed) {
    throw new UsageError("`--trust-issuer` and `--trust-client` apply to the post-quantum session: give the proxy's identity with `--key NAME.key`");
  }
  return trust === undefined ? undefined : { ...trust, required };
}

/** A whole number of milliseconds, at least `least`, from an option's text; undefined when the option is absent. */
function milliseconds(text: string | undefined, option: string, least: 0 | 1): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < least) {
    throw new UsageError(`\`${option}\` must be ${least === 0 ? "0 or " : ""}a positive number of milliseconds`);
  }
  return value;
}

/** A positive whole number from an option's text; undefined when the option is absent. */
function count(text: string | undefined, option: string): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < 1) throw new UsageError(`\`${option}\` must be a positive whole number`);
  return value;
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/** Exactly one upstream: a command line, or an http(s) URL. */
function upstreamOf(commandLine: string | undefined, url: string | undefined): ProxyArgs["upstream"] {
  if (commandLine !== undefined && url !== undefined) {
    throw new UsageError("`--upstream` and `--upstream-url` exclude each other: give the one upstream server");
  }
  if (url !== undefined) {
    try {
      return { url: upstreamUrlOf(url) };
    } catch (error) {
      throw new UsageError(`\`--upstream-url\`: ${error instanceof ProxyError ? error.message : String(error)}`);
    }
  }
  if (commandLine === undefined) throw new UsageError("an upstream is required: `--upstream \"CMD ARGS\"` (stdio) or `--upstream-url URL` (Streamable HTTP)");
  return { commandLine };
}

/** A clock that starts at `start` and advances in real time; the system clock when no start is given. */
export function demoClock(start: string | undefined): () => number {
  if (start === undefined) return Date.now;
  const offset = Date.parse(start) - Date.now();
  return () => Date.now() + offset;
}

/** Checks a policy and loads its compiled guard (JavaScript, imported from a temporary folder: see `importGuard`). */
export async function compileGuard(policyPath: string, manifests: readonly string[] = []): Promise<{ guard: GuardModule } | { errors: string }> {
  const checked = await checkPolicyFile(policyPath, { manifests });
  if (checked.policy === undefined) {
    return { errors: renderDiagnostics(checked.diagnostics, { [checked.fileName]: checked.source }, "text") };
  }
  return { guard: await importGuard(checked.policy) };
}

export async function run(io: CommandIO): Promise<number> {
  const args = parse(io);
  const inCwd = (p: string): string => (isAbsolute(p) ? p : resolve(io.cwd, p));
  const logger: Logger = operationalLogger(args.logLevel);

  const compiled = await compileGuard(inCwd(args.policy));
  if ("errors" in compiled) {
    io.err(compiled.errors);
    return EXIT_ERRORS;
  }
  if (args.callTimeoutMs !== undefined && APPROVAL_TIMEOUT_MS + args.callTimeoutMs > DEFAULT_REQUEST_TIMEOUT_MSEC) {
    logger.warn(
      { callTimeoutMs: args.callTimeoutMs, approvalTimeoutMs: APPROVAL_TIMEOUT_MS, clientTimeoutMs: DEFAULT_REQUEST_TIMEOUT_MSEC },
      "an approval and the upstream call may together take longer than an MCP SDK client waits by default; such clients may give up first",
    );
  }
  const clock = demoClock(args.now);
  if (args.now !== undefined) logger.warn({ now: args.now }, "decision clock fixed for a demo or test (`--now`); do not use in production");

  let upstream: UpstreamTarget;
  if ("url" in args.upstream) {
    let ca: Buffer | undefined;
    try {
      ca = args.upstreamTls.ca === undefined ? undefined : await readFile(inCwd(args.upstreamTls.ca));
    } catch (error) {
      reportError(io, error, "PQG8006");
      return EXIT_ERRORS;
    }
    upstream = { url: args.upstream.url, tls: { ca, pins: args.upstreamTls.pins } };
  } else {
    const [command, ...commandArgs] = splitCommandLine(args.upstream.commandLine);
    if (command === undefined) throw new UsageError("`--upstream` names no command");
    upstream = { command, args: commandArgs, cwd: io.cwd };
  }
  // Usage errors come before anything is opened: after this point every failure closes what was opened.
  let manifest: VerifiedManifest | undefined;
  let identity: Awaited<ReturnType<typeof loadSecretKey>> | undefined;
  let keyring: KeyringServer | undefined;
  let audit: AuditLog | undefined;
  let state: OpenedStateStore | undefined;
  let approver: ApprovalCallback | undefined;
  try {
    // An approval key is a secret of the same form as an audit key (`pqguard audit keygen`); use a key of its own.
    const approvalKey = args.approvalKey === undefined ? undefined : await loadAuditKey(inCwd(args.approvalKey));
    if (args.approvalWebhook !== undefined && approvalKey !== undefined) approver = operatorApproval({ url: args.approvalWebhook, key: approvalKey, logger });
    manifest = args.manifest === undefined ? undefined : await loadSignedManifest(inCwd(args.manifest), args.signer === undefined ? {} : { signer: args.signer });
    identity = args.key === undefined ? undefined : await loadSecretKey(inCwd(args.key));
    keyring =
      args.keyring === undefined
        ? undefined
        : await KeyringServer.open({
            directory: inCwd(args.keyring),
            label: `pqguard proxy for ${basename(args.policy)}`,
            logger,
            ...(args.clientTrust === undefined ? {} : { clientTrust: args.clientTrust }),
            ...(args.revokedClients === undefined ? {} : { revokedClients: inCwd(args.revokedClients) }),
            ...(args.cryptoConfig === undefined ? {} : { cryptoConfig: inCwd(args.cryptoConfig) }),
            reauthenticateOnRotation: args.reauthOnRotation,
          });
    // A manifest bound to other servers would refuse every call (PQG7315): say so at start, not at the first call.
    const unbound = manifest?.server === undefined ? undefined : manifestBindingProblem(manifest, identity?.keyId ?? keyring?.activeKey?.keyId);
    if (unbound !== undefined) throw new EnforceError(EnforceErrorCode.ManifestWrongServer, unbound);
    const argumentsKey = args.auditKey === undefined ? undefined : await loadAuditKey(inCwd(args.auditKey));
    audit = args.audit === undefined ? undefined : await AuditLog.open(inCwd(args.audit), {
      includeArguments: args.auditArgs,
      logger,
      argumentsKey,
      ...(args.auditAnchor === undefined ? {} : { anchor: inCwd(args.auditAnchor) }),
    });
    state = await openStateStore(args.state.startsWith("sqlite:") ? `sqlite:${inCwd(args.state.slice("sqlite:".length))}` : args.state, {
      longestWindowMs: compiled.guard.longestWindowMs,
      deployment: args.deployment,
      policy: compiled.guard.policyName,
      logger,
    });
  } catch (error) {
    reportError(io, error, "PQG8006");
    await closeAudit(audit, io);
    return EXIT_ERRORS;
  }

  const trust = args.clientTrust;
  const label = `pqguard proxy for ${basename(args.policy)}`;
  // Configuration the policy, the state store or the session refuses is reported before anything starts.
  let proxy: Proxy;
  try {
    if (identity !== undefined) PqcServerTransport.checkOptions({ identity, label });
    if (keyring !== undefined) PqcServerTransport.checkOptions({ keys: keyring });
    proxy = createProxy({
      upstream,
      guard: compiled.guard,
      manifest,
      logger,
      audit,
      state,
      clock,
      callTimeoutMs: args.callTimeoutMs,
      toolRecheckMs: args.toolRecheckMs,
      upstreamMode: args.upstreamMode,
      mode: args.mode,
      maxUpstreams: args.maxUpstreams,
      // With an operator webhook, the client's own elicitation is never asked: it cannot approve its own calls.
      ...(approver === undefined ? {} : { approver }),
      // Refusals at `info`; allowed calls at `debug`: the audit log records every decision, and a synchronous log line
      // per allowed call cost more CPU than deciding it (docs/performance.md, "Proxy").
      // An allowed call's line is built only when `debug` is on: this runs on every call.
      onDecision: (tool, verdict) => {
        if (!verdict.allowed) logger.info({ tool, decision: "deny", code: verdict.refusal.code, rules: verdict.refusal.rules, reason: verdict.refusal.reason }, "decision");
        else if (logger.isLevelEnabled("debug")) logger.debug({ tool, decision: verdict.decision.decision, rules: verdict.decision.determining }, "decision");
      },
    });
  } catch (error) {
    reportError(io, error, "PQG8006");
    keyring?.close();
    await closeState(state);
    await closeAudit(audit, io);
    return EXIT_ERRORS;
  }
  if (keyring !== undefined) {
    keyring.watch();
    // SIGHUP reloads at once, for file systems where watching is unreliable (network mounts) and for scripts.
    // Its own log line says the reload was the signal's, not the directory watch's.
    process.on("SIGHUP", () =>
      void keyring!.reload().then(
        (reloaded) => logger.info({ active: reloaded.active ?? null, drained: reloaded.drained }, "keyring reloaded on SIGHUP"),
        (error: unknown) => logger.error({ err: error instanceof Error ? error.message : String(error) }, "keyring reload failed; the keys loaded before stay in force"),
      ),
    );
  }
  if (identity === undefined && keyring === undefined) logger.warn("no `--key`: serving plain MCP; guards see an unauthenticated client on a classical transport");
  if (args.mode === "monitor") logger.warn("monitor mode (`--mode monitor`): calls the policy denies or would ask about are let through, marked in the audit log");
  if (trust !== undefined && trust.required !== true) {
    logger.warn("client authentication is optional: clients without a trusted certificate are served too, within their own smaller share of sessions; give `--require-client-auth` to refuse them");
  }
  const metrics = currentMetrics();
  const alarm = new HandshakeAlarm(metrics, logger, args.alarm);
  let metricsListener: MetricsListener | undefined;
  if (args.metricsListen !== undefined) {
    try {
      metricsListener = await listenMetrics(args.metricsListen, metrics);
      io.err(`metrics on ${metricsListener.url.href}\n`);
    } catch (error) {
      io.err(`error PQG8006: cannot serve metrics on ${args.metricsListen.host}: ${error instanceof Error ? error.message : String(error)}\n`);
      alarm.close();
      keyring?.close();
      await proxy.close();
      await closeState(state);
      await closeAudit(audit, io);
      return EXIT_ERRORS;
    }
  }
  let listener: HttpListener | undefined;
  const closed =
    args.listen === "stdio"
      ? serveStdio(proxy, identity, keyring, trust, label, logger)
      : new Promise<void>((resolveClosed) => {
          process.once("SIGTERM", () => resolveClosed());
          process.once("SIGINT", () => resolveClosed());
        });
  if (args.listen !== "stdio") {
    try {
      const store = state;
      // Anyone who reaches the listener may ask for readiness: it says that the store does not answer, not where it is
      // or what its client said (that goes to the log).
      const readiness = () => (store?.health?.().ok === false ? { ok: false, reason: "the state store does not answer; the log says why" } : { ok: true });
      const tls = args.tls === undefined ? undefined : { cert: await readFile(inCwd(args.tls.cert)), key: await readFile(inCwd(args.tls.key)) };
      listener = await listenHttp({
        url: args.listen,
        tls,
        trustProxy: args.trustProxy,
        requestTimeoutMs: args.requestTimeoutMs,
        core: proxy.core,
        identity,
        keyring,
        clientTrust: trust,
        label,
        logger,
        readiness,
        alarm,
        ...(metricsListener === undefined ? { metrics } : {}),
      });
      // stdout is free when clients come over HTTP: say where, for people and for scripts (port 0 picks one).
      io.out(`listening on ${listener.url.href}${identity === undefined && keyring === undefined ? " (plain MCP)" : " (post-quantum session)"}\n`);
    } catch (error) {
      io.err(`error PQG8006: ${error instanceof Error ? error.message : String(error)}\n`);
      alarm.close();
      keyring?.close();
      await metricsListener?.close();
      await proxy.close();
      await closeState(state);
      await closeAudit(audit, io);
      return EXIT_ERRORS;
    }
  }
  // The upstream starts while the client's handshake runs: both take a while, and the client's handshake has a timeout.
  try {
    await proxy.start();
  } catch (error) {
    reportError(io, error, "PQG8001");
    alarm.close();
    keyring?.close();
    await metricsListener?.close();
    await listener?.close();
    await proxy.close();
    await closeState(state);
    await closeAudit(audit, io);
    return EXIT_ERRORS;
  }
  await closed;
  // SIGTERM: no new sessions, calls in flight finish (up to the longest a call may take), then the process exits.
  await listener?.drain(DRAIN_TIMEOUT_MS);
  alarm.close();
  keyring?.close();
  await metricsListener?.close();
  await listener?.close();
  await proxy.close();
  await closeState(state);
  return (await closeAudit(audit, io)) ? 0 : EXIT_ERRORS;
}

/**
 * How long a drain waits for calls in flight: an approval and the upstream call at their longest. An orchestrator's
 * grace period (Kubernetes' terminationGracePeriodSeconds) should be longer.
 */
const DRAIN_TIMEOUT_MS = APPROVAL_TIMEOUT_MS + DEFAULT_REQUEST_TIMEOUT_MSEC;

/** Closes the state store the proxy opened (a Redis connection, a SQLite file); a failure there loses nothing recorded. */
async function closeState(state: OpenedStateStore | undefined): Promise<void> {
  try {
    await state?.close?.();
  } catch {
    // Every recorded call was written when it was decided; closing only lets go of the connection or file.
  }
}

/** Prints `error CODE: message` for a typed error, with `fallback` as the code of one that has none. */
function reportError(io: CommandIO, error: unknown, fallback: string): void {
  const coded = error as { code?: unknown; message?: unknown } | null;
  const code = typeof coded?.code === "string" ? coded.code : fallback;
  io.err(`error ${code}: ${String(coded?.message ?? error)}\n`);
}

/**
 * Writes the audit log's last lines and closes it; false, having said why, when that failed or an earlier write did:
 * decisions were lost from the log, which is the operator's business, not an internal error.
 */
async function closeAudit(audit: AuditLog | undefined, io: CommandIO): Promise<boolean> {
  try {
    await audit?.close();
    return true;
  } catch (error) {
    reportError(io, error, "PQG7101");
    return false;
  }
}

/** Serves one downstream connection on this process's stdin and stdout; resolves when it ends or on a signal. */
function serveStdio(
  proxy: Proxy,
  identity: SigningIdentity | undefined,
  keyring: KeyringServer | undefined,
  trust: ClientTrust | undefined,
  label: string,
  logger: Logger,
): Promise<void> {
  return new Promise<void>((resolveClosed) => {
    const stdio = new TolerantStdioTransport(process.stdin, process.stdout);
    const downstream =
      keyring !== undefined
        ? new PqcServerTransport(stdio, { keys: keyring })
        : identity === undefined
          ? stdio
          : new PqcServerTransport(stdio, { identity, ...(trust === undefined ? {} : { clientTrust: trust }), label });
    const attached = downstream === stdio ? proxy.core.attachPlain(downstream) : proxy.core.attachSealed(downstream as PqcServerTransport);
    attached.then(
      (connection) => {
        const previous = connection.transport.onclose;
        connection.transport.onclose = () => {
          previous?.();
          resolveClosed();
        };
      },
      (error: unknown) => {
        logger.error({ err: error instanceof Error ? error.message : String(error) }, "downstream session failed");
        resolveClosed();
      },
    );
    process.once("SIGTERM", () => resolveClosed());
    process.once("SIGINT", () => resolveClosed());
  });
}
