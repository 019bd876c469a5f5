// `pqguard keys init|list|rotate|revoke|trust-list --keyring DIR`: the lifecycle of a server's keys (docs/keys.md).
// Exit 0 success, 1 a keyring or key error, 2 usage.
import { isAbsolute, resolve } from "node:path";
import process from "node:process";
import { parseDuration } from "../../compiler/request.js";
import { identityAlgorithms } from "../../runtime/identity/keys.js";
import { DEFAULT_GRACE_MS, DEFAULT_KEY_LIFETIME_MS, Keyring, initKeyring, revokeKeyring, rotateKeyring, type KeyringEntry } from "../../runtime/identity/keyring.js";
import { exportTrustList } from "../../runtime/identity/trust-list.js";
import { writeFile } from "node:fs/promises";
import { EXIT_ERRORS, EXIT_OK, UsageError, type CommandIO, parseCommandLine } from "./io.js";

const SUBCOMMANDS = ["init", "list", "rotate", "revoke", "trust-list"];

export async function run(io: CommandIO): Promise<number> {
  const [sub, ...rest] = io.argv;
  if (sub === undefined || !SUBCOMMANDS.includes(sub)) {
    throw new UsageError(sub === undefined ? `no keys subcommand given: ${SUBCOMMANDS.map((s) => `\`${s}\``).join(", ")}` : `unknown keys subcommand \`${sub}\`; valid ones are ${SUBCOMMANDS.map((s) => `\`${s}\``).join(", ")}`);
  }
  const { values, positionals } = parseCommandLine({
    args: rest,
    strict: true,
    allowPositionals: true,
    options: {
      keyring: { type: "string" },
      alg: { type: "string" },
      lifetime: { type: "string" },
      grace: { type: "string" },
      reason: { type: "string" },
      format: { type: "string", default: "text" },
      out: { type: "string" },
    },
  });
  if (values.keyring === undefined) throw new UsageError("`--keyring DIR` is required");
  const directory = isAbsolute(values.keyring) ? values.keyring : resolve(io.cwd, values.keyring);
  const expectPositionals = sub === "revoke" ? 1 : 0;
  if (positionals.length !== expectPositionals) throw new UsageError(sub === "revoke" ? "give the key id to revoke: `keys revoke KEYID --keyring DIR`" : `unexpected argument \`${positionals[0]}\``);
  const algorithm = algorithmOf(values.alg);
  const lifetimeMs = durationOf(values.lifetime, "--lifetime") ?? DEFAULT_KEY_LIFETIME_MS;
  try {
    switch (sub) {
      case "init": {
        const keyring = await initKeyring(directory, { lifetimeMs, ...(algorithm === undefined ? {} : { algorithm }) });
        io.out(`created keyring ${values.keyring}: active ${keyring.active!.keyId}, next ${keyring.next!.keyId}\n`);
        io.err("give clients both fingerprints (`--trust`), or the trust list (`pqguard keys trust-list`), before the first rotation\n");
        return EXIT_OK;
      }
      case "list": {
        const keyring = await Keyring.open(directory);
        if (values.format !== "text" && values.format !== "json") throw new UsageError("`--format` is `text` or `json`");
        io.out(values.format === "json" ? `${JSON.stringify(keyring.document, null, 2)}\n` : table(keyring.keys, Date.now()));
        return EXIT_OK;
      }
      case "rotate": {
        const graceMs = durationOf(values.grace, "--grace") ?? DEFAULT_GRACE_MS;
        const rotation = await rotateKeyring(directory, { lifetimeMs, graceMs, ...(algorithm === undefined ? {} : { algorithm }) });
        io.out(
          `active ${rotation.activated.keyId} (${rotation.activated.algorithm})` +
            (rotation.retiring === undefined ? "" : `; retiring ${rotation.retiring.keyId} until ${rotation.retiring.notAfter}`) +
            `; next ${rotation.next.keyId}\n`,
        );
        return EXIT_OK;
      }
      case "revoke": {
        const keyId = positionals[0]!;
        const before = await Keyring.open(directory);
        const wasActive = before.find(keyId)?.state === "active";
        const keyring = await revokeKeyring(directory, keyId, { lifetimeMs, ...(values.reason === undefined ? {} : { reason: values.reason }) });
        io.out(`revoked ${before.find(keyId)!.keyId}${wasActive ? `; active now ${keyring.active?.keyId ?? "none: run `pqguard keys rotate`"}` : ""}\n`);
        if (wasActive) io.err("run `pqguard keys rotate` soon: the keyring has no pre-published next key now\n");
        return EXIT_OK;
      }
      default: {
        const keyring = await Keyring.open(directory);
        const active = keyring.active;
        if (active === undefined) {
          io.err("error PQG5304: the keyring has no active key to sign its trust list with; run `pqguard keys rotate`\n");
          return EXIT_ERRORS;
        }
        const text = `${JSON.stringify(await exportTrustList(keyring, await keyring.loadSecret(active)), null, 2)}\n`;
        if (values.out === undefined) io.out(text);
        else await writeFile(isAbsolute(values.out) ? values.out : resolve(io.cwd, values.out), text, { mode: 0o644 });
        return EXIT_OK;
      }
    }
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (error instanceof UsageError) throw error;
    if (typeof code === "string" && /^PQG\d{4}$/.test(code)) {
      io.err(`error ${code}: ${(error as Error).message}\n`);
      return EXIT_ERRORS;
    }
    throw error;
  }
}

/** `--alg`, else the first of PQGUARD_SIGNATURE: algorithms come from configuration, never from code. */
function algorithmOf(text: string | undefined): string | undefined {
  const chosen = text ?? process.env.PQGUARD_SIGNATURE?.split(",")[0]?.trim();
  if (chosen === undefined || chosen === "") return undefined;
  const known = identityAlgorithms().filter((name) => name.startsWith("ML-DSA"));
  if (!known.includes(chosen)) throw new UsageError(`\`${chosen}\` is not a signature algorithm for keys; valid names are ${known.map((n) => `\`${n}\``).join(", ")}`);
  return chosen;
}

function durationOf(text: string | undefined, option: string): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0) throw new UsageError(`\`${option} ${text}\` is not a positive duration such as \`24h\` or \`90d\``);
  return ms;
}

/** The keyring as a table for people: state, algorithm, dates, age and what each key's state means now. */
function table(keys: readonly KeyringEntry[], now: number): string {
  const rows = keys.map((key) => {
    const ended = !(now < Date.parse(key.notAfter));
    const note =
      key.state === "revoked"
        ? `revoked ${key.revokedAt ?? ""}${key.revocationReason === undefined ? "" : `: ${key.revocationReason}`}`
        : key.state === "retiring"
          ? ended
            ? "retired: no longer accepted"
            : "accepted until not-after"
          : ended
            ? "PAST NOT-AFTER: rotate"
            : key.endorsedBy === undefined
              ? "first key"
              : `endorsed by ${key.endorsedBy.slice(0, 20)}…`;
    return [key.state, key.keyId, key.algorithm, key.created.slice(0, 19), key.notBefore.slice(0, 19), key.notAfter.slice(0, 19), age(now - Date.parse(key.created)), note];
  });
  const header = ["STATE", "KEY ID", "ALGORITHM", "CREATED", "NOT BEFORE", "NOT AFTER", "AGE", ""];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [header, ...rows].map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n") + "\n";
}

function age(ms: number): string {
  const days = Math.floor(ms / 86_400_000);
  if (days > 0) return `${days}d`;
  const hours = Math.floor(ms / 3_600_000);
  return hours > 0 ? `${hours}h` : `${Math.max(0, Math.floor(ms / 60_000))}m`;
}
