// `pqguard cert issue --issuer CA.key --key CLIENT.pub --subject ID [--claim NAME=VALUE]... [--claim-json NAME=JSON]...
// [--ttl 24h] --out CLIENT.cert [--force]` and `pqguard cert show CLIENT.cert [--format text|json] [--trust-issuer FP]...
// [--trust-client FP]...`: client certificates as files. Exit 0 success (show: valid), 1 invalid input or certificate, 2 usage.
import { isAbsolute, resolve } from "node:path";
import { parseDuration } from "../../compiler/request.js";
import { algorithmNames } from "../../runtime/crypto/registry.js";
import { loadPublicKey, loadSecretKey, parseFingerprint } from "../../runtime/identity/index.js";
import type { ClientTrust } from "../../runtime/session/certificate.js";
import {
  CLIENT_CERTIFICATE_FILE_FORMAT,
  certifyClient,
  inspectClientCertificate,
  readCertificateFile,
  writeCertificateFile,
  type CertificateInspection,
} from "../../runtime/identity/certificate-files.js";
import { EXIT_ERRORS, EXIT_OK, UsageError, type CommandIO, parseCommandLine } from "./io.js";

/** Without `--ttl`: a day, as a server certificate lives; renewing is a routine (docs/keys.md), not an event. */
export const DEFAULT_CERTIFICATE_TTL = "24h";

export async function run(io: CommandIO): Promise<number> {
  const [sub, ...rest] = io.argv;
  const inCwd = (p: string): string => (isAbsolute(p) ? p : resolve(io.cwd, p));
  try {
    if (sub === "issue") return await issue(io, rest, inCwd);
    if (sub === "show") return await show(io, rest, inCwd);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    if (isCodedError(error)) {
      io.err(`error ${error.code}: ${error.message}\n`);
      return EXIT_ERRORS;
    }
    throw error;
  }
  throw new UsageError(sub === undefined ? "no cert subcommand given: `issue` or `show`" : `unknown cert subcommand \`${sub}\`; valid ones are \`issue\` and \`show\``);
}

async function issue(io: CommandIO, argv: readonly string[], inCwd: (p: string) => string): Promise<number> {
  const { values, positionals } = parseCommandLine({
    args: [...argv],
    strict: true,
    allowPositionals: true,
    options: {
      issuer: { type: "string" },
      key: { type: "string" },
      subject: { type: "string" },
      claim: { type: "string", multiple: true },
      "claim-json": { type: "string", multiple: true },
      ttl: { type: "string", default: DEFAULT_CERTIFICATE_TTL },
      out: { type: "string" },
      force: { type: "boolean", default: false },
    },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument \`${positionals[0]}\``);
  if (values.issuer === undefined) throw new UsageError("`--issuer NAME.key` is required: the secret key that signs (the client's own for a self-issued certificate)");
  if (values.key === undefined) throw new UsageError("`--key CLIENT.pub` is required: the public key file of the client to certify");
  if (values.subject === undefined || values.subject === "") throw new UsageError("`--subject ID` is required: the client's id, its `client.id` in policies");
  if (values.out === undefined) throw new UsageError("`--out CLIENT.cert` is required");
  const claims = claimsOf(values.subject, values.claim ?? [], values["claim-json"] ?? []);
  const now = Date.now();
  const lifetimeMs = ttlOf(values.ttl!, now);

  const issuer = await loadSecretKey(inCwd(values.issuer));
  const subject = await loadPublicKey(inCwd(values.key));
  const certificate = certifyClient({ issuer, subject: { algorithm: subject.algorithm, publicKey: subject.publicKey }, claims, lifetimeMs, now });
  await writeCertificateFile(inCwd(values.out), certificate, { force: values.force === true });
  const selfIssued = issuer.keyId === subject.keyId;
  io.out(
    `issued ${values.out}: ${subject.keyId} as ${printable(values.subject)}, ` +
      `${selfIssued ? "self-issued" : `signed by ${issuer.keyId}`}, valid until ${new Date(now + lifetimeMs).toISOString()}\n`,
  );
  return EXIT_OK;
}

/** `{ id, ...claims }` from `--subject`, `--claim NAME=VALUE` (text) and `--claim-json NAME=JSON`, each name once. */
function claimsOf(subject: string, texts: readonly string[], jsons: readonly string[]): Record<string, unknown> {
  const claims: Record<string, unknown> = { id: subject };
  const add = (option: string, item: string, value: (text: string, name: string) => unknown): void => {
    const equals = item.indexOf("=");
    if (equals <= 0) throw new UsageError(`\`${option} ${item}\` needs the form NAME=VALUE`);
    const name = item.slice(0, equals);
    if (name === "id") throw new UsageError("the `id` claim is the subject: give it with `--subject ID`");
    if (Object.hasOwn(claims, name)) throw new UsageError(`claim \`${name}\` is given twice`);
    claims[name] = value(item.slice(equals + 1), name);
  };
  for (const item of texts) add("--claim", item, (text) => text);
  for (const item of jsons) {
    add("--claim-json", item, (text, name) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        throw new UsageError(`\`--claim-json ${name}=...\`: the value is not JSON (for text, use \`--claim ${name}=VALUE\`)`);
      }
    });
  }
  return claims;
}

/** `--ttl` in the duration syntax of policies (`30m`, `24h`, `7d`): positive, and an end time the certificate can hold. */
function ttlOf(text: string, now: number): number {
  const ms = parseDuration(text);
  if (ms === undefined) throw new UsageError(`\`--ttl ${text}\` is not a duration such as \`30m\`, \`24h\` or \`7d\``);
  if (ms <= 0) throw new UsageError("`--ttl` must be longer than nothing");
  if (!Number.isSafeInteger(now + ms)) throw new UsageError(`\`--ttl ${text}\` ends later than a certificate can say`);
  return ms;
}

/**
 * A `--trust-issuer`/`--trust-client` value: a canonical fingerprint of a signature key. A misspelt one would trust
 * nobody, silently; a KEM key's would never match a certificate. Shared with `pqguard proxy`.
 */
export function trustedFingerprint(option: string, text: string): string {
  let algorithm: string;
  try {
    algorithm = parseFingerprint(text).algorithm;
  } catch (error) {
    throw new UsageError(`\`${option}\`: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!algorithmNames("signature").includes(algorithm)) {
    throw new UsageError(`\`${option} ${text.slice(0, 80)}\` names a \`${algorithm}\` key; issuers and clients are signature keys (\`mldsa65:...\`)`);
  }
  return text;
}

/** `--trust-issuer` and `--trust-client` as the ClientTrust a server would hold; undefined when neither is given. */
export function clientTrustOf(issuers: readonly string[], clients: readonly string[]): ClientTrust | undefined {
  if (issuers.length === 0 && clients.length === 0) return undefined;
  return {
    issuers: issuers.map((fp) => trustedFingerprint("--trust-issuer", fp)),
    clientFingerprints: clients.map((fp) => trustedFingerprint("--trust-client", fp)),
  };
}

async function show(io: CommandIO, argv: readonly string[], inCwd: (p: string) => string): Promise<number> {
  const { values, positionals } = parseCommandLine({
    args: [...argv],
    strict: true,
    allowPositionals: true,
    options: {
      format: { type: "string", default: "text" },
      "trust-issuer": { type: "string", multiple: true },
      "trust-client": { type: "string", multiple: true },
    },
  });
  if (positionals.length !== 1) throw new UsageError("give exactly one certificate file");
  const format = values.format;
  if (format !== "text" && format !== "json") throw new UsageError("`--format` is `text` or `json`");
  const trust = clientTrustOf(values["trust-issuer"] ?? [], values["trust-client"] ?? []);
  const file = positionals[0]!;
  const { bytes } = await readCertificateFile(inCwd(file));
  const now = Date.now();
  const inspection = inspectClientCertificate(bytes, { now, ...(trust === undefined ? {} : { trust }) });
  io.out(format === "json" ? `${JSON.stringify(asJson(file, inspection), null, 2)}\n` : asText(file, inspection, now));
  return inspection.status === "valid" ? EXIT_OK : EXIT_ERRORS;
}

function asJson(file: string, inspection: CertificateInspection): Record<string, unknown> {
  const c = inspection.certificate;
  return {
    file,
    format: CLIENT_CERTIFICATE_FILE_FORMAT,
    status: inspection.status,
    problem: inspection.problem ?? null,
    subject: { fingerprint: c.fingerprint, algorithm: c.subjectAlgorithm },
    claims: c.claims,
    issuer: { fingerprint: c.issuerFingerprint, algorithm: c.issuerAlgorithm },
    selfIssued: inspection.selfIssued,
    notBefore: new Date(c.notBefore).toISOString(),
    notAfter: new Date(c.notAfter).toISOString(),
    validity: inspection.validity,
    signatureValid: inspection.signatureValid,
    trusted: inspection.trusted ?? null,
  };
}

function asText(file: string, inspection: CertificateInspection, now: number): string {
  const c = inspection.certificate;
  const row = (label: string, value: string): string => `  ${label.padEnd(11)} ${value}\n`;
  const claims = Object.entries(c.claims);
  let text = `${printable(file)}: ${inspection.status}${inspection.problem === undefined ? "" : `: ${printable(inspection.problem)}`}\n`;
  text += row("subject", `${c.fingerprint} (${c.subjectAlgorithm})`);
  text += claims.length === 0 ? row("claims", "none") : claims.map(([name, value], i) => row(i === 0 ? "claims" : "", `${claimName(name)} = ${printable(JSON.stringify(value))}`)).join("");
  text += row("issuer", `${c.issuerFingerprint} (${c.issuerAlgorithm})${inspection.selfIssued ? ", self-issued: accepted where a server pins the subject (`--trust-client`)" : ""}`);
  text += row("not before", new Date(c.notBefore).toISOString());
  const left = c.notAfter - now;
  text += row("not after", `${new Date(c.notAfter).toISOString()} (${left > 0 ? `in ${span(left)}` : `${span(-left)} ago`})`);
  text += row("signature", inspection.signatureValid ? "verifies with the issuer's key" : "does not verify with the issuer's key");
  text += row(
    "trust",
    inspection.trusted === true
      ? "trusted by the given `--trust-issuer`/`--trust-client`"
      : inspection.trusted === false
        ? "not trusted by the given `--trust-issuer`/`--trust-client`"
        : inspection.signatureValid
          ? "not checked: give `--trust-issuer FP` (or `--trust-client FP` for a self-issued certificate)"
          : "not checked: the signature does not verify",
  );
  return text;
}

/** A claim name as typed: bare when it is a plain word, else quoted as JSON. */
function claimName(name: string): string {
  return /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(name) ? name : printable(JSON.stringify(name));
}

/**
 * Text from a certificate, safe for a terminal: JSON.stringify already escapes C0 controls; C1 controls and bidi
 * overrides are escaped too, so claims someone else wrote cannot move the cursor or reorder what is shown.
 */
function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** A duration for people: `6d 23h`, `23h 59m`, `5m`, `under a minute`. */
function span(ms: number): string {
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 1) return "under a minute";
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  if (days > 0) return `${days}d ${hours}h`;
  return hours > 0 ? `${hours}h ${minutes % 60}m` : `${minutes}m`;
}

/** Key-file, fingerprint and certificate-file errors carry their own PQG code. */
function isCodedError(error: unknown): error is Error & { code: string } {
  const code = error instanceof Error ? (error as unknown as { code?: unknown }).code : undefined;
  return typeof code === "string" && /^PQG\d{4}$/.test(code);
}
