// The pqguard command-line dispatcher: maps a subcommand to its module, loaded on demand, and owns exit codes.
import process from "node:process";
import { createRequire } from "node:module";
import { EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, UsageError, type Command, type CommandIO } from "./commands/io.js";

interface CommandEntry {
  readonly summary: string;
  readonly load: () => Promise<{ run: Command }>;
}

const COMMANDS: Record<string, CommandEntry> = {
  check: { summary: "check FILE... [--manifest M.json] [--format text|json]", load: () => import("./commands/check.js") },
  compile: { summary: "compile FILE...|DIR --out DIR [--js] [--manifest M.json]... [--runtime-import SPECIFIER]", load: () => import("./commands/compile.js") },
  eval: { summary: "eval POLICY --request R.json [--manifest M.json] [--interpret]", load: () => import("./commands/eval.js") },
  fmt: { summary: "fmt FILE... [--check]", load: () => import("./commands/fmt.js") },
  test: { summary: "test PATH... [--format text|json|junit] [--min-coverage N] [--seed S] [--runs N]", load: () => import("./commands/test.js") },
  diff: {
    summary: "diff OLD.policy NEW.policy [--manifest M.json]... [--runs N] [--seed S] [--expect-no-change] [--format text|json]",
    load: () => import("./commands/diff.js"),
  },
  keygen: { summary: "keygen [--alg ML-DSA-65] --out NAME", load: () => import("./commands/keygen.js") },
  keys: {
    summary:
      "keys init --keyring DIR [--alg ML-DSA-65] [--lifetime 90d] | keys list --keyring DIR [--format text|json] | " +
      "keys rotate --keyring DIR [--alg ML-DSA-87] [--grace 24h] [--lifetime 90d] | keys revoke KEYID --keyring DIR [--reason TEXT] | " +
      "keys trust-list --keyring DIR [--out FILE]",
    load: () => import("./commands/keys.js"),
  },
  cert: {
    summary:
      "cert issue --issuer CA.key --key CLIENT.pub --subject ID [--claim NAME=VALUE]... [--claim-json NAME=JSON]... [--ttl 24h] --out CLIENT.cert [--force] | " +
      "cert show CLIENT.cert [--format text|json] [--trust-issuer FP]... [--trust-client FP]...",
    load: () => import("./commands/cert.js"),
  },
  manifest: {
    summary:
      "manifest sign --key NAME.key (TOOLS.json | --from-server \"CMD ARGS\" | --from-url URL [--header \"Name: value\"]... [--tls-ca FILE] [--tls-pin PIN]...) --out M.json [--ttl DURATION] [--bind-server FP]... | " +
      "manifest verify M.json [--signer FP] | " +
      "manifest diff M.json (TOOLS.json | --from-server \"CMD ARGS\" | --from-url URL [--header \"Name: value\"]... [--tls-ca FILE] [--tls-pin PIN]...) [--signer FP] [--format text|json]",
    load: () => import("./commands/manifest.js"),
  },
  audit: { summary: "audit verify LOG [--head HASH] [--anchor FILE] [--anchor-at SEQ:HASH]... [--key FILE] [--previous-head HASH] | audit anchor LOG --anchor FILE [--key FILE] | audit keygen --out FILE | audit digest [--key FILE] ARGS_JSON", load: () => import("./commands/audit.js") },
  proxy: {
    summary:
      "proxy --policy P.policy (--upstream \"CMD ARGS\" | --upstream-url URL [--upstream-tls-ca FILE] [--upstream-tls-pin PIN]...) [--listen stdio|http://127.0.0.1:PORT|https://HOST:PORT --tls-cert FILE --tls-key FILE] [--trust-proxy ADDRESS[/PREFIX]]... [--request-timeout MS] " +
      "[--key NAME.key] [--trust-issuer FP]... [--trust-client FP]... [--require-client-auth] " +
      "[--manifest M.json [--signer FP]] [--audit LOG [--audit-key FILE] [--audit-args] [--audit-anchor FILE]] [--approval-webhook URL --approval-key FILE] [--mode enforce|monitor] [--upstream-mode per-session|shared] [--max-upstreams N] [--call-timeout MS] [--tool-recheck MS] [--state memory|sqlite:PATH|redis://HOST:PORT/DB [--deployment NAME]] [--now ISO_TIME] [--log-level LEVEL] " +
      "[--keyring DIR [--revoked-clients FILE] [--crypto-config FILE] [--reauth-on-rotation]] [--metrics-listen http://127.0.0.1:PORT] [--alert-window MS] [--alert-failures N] [--alert-downgrades N] [--block-for MS]",
    load: () => import("./commands/proxy.js"),
  },
  connect: {
    summary: "connect (--url URL [--tls-ca FILE] [--tls-pin PIN]... | --command \"CMD ARGS\") --trust FP... [--trust-list FILE|URL] [--key NAME.key --cert NAME.cert [--issuer-key CA.key [--renew-before DURATION]]] [--log-level LEVEL]",
    load: () => import("./commands/connect.js"),
  },
  inventory: {
    summary:
      "inventory [--policy P.policy] [--keyring DIR | --key NAME.key] [--crypto-config FILE] [--manifest M.json [--signer FP]]... [--format table|json|cyclonedx] [--strict] [--out FILE]",
    load: () => import("./commands/inventory.js"),
  },
  demo: { summary: "demo   (what `npm start` runs)", load: () => import("./commands/demo.js") },
};

function usage(): string {
  return [
    "usage: pqguard <command> [options]",
    "",
    ...Object.values(COMMANDS).map((c) => `  pqguard ${c.summary}`),
    "  pqguard --version",
    "",
    "exit codes: 0 success (warnings allowed; for comparisons: no difference), 1 errors in the input (a difference),",
    "2 usage errors or trouble, 70 internal error",
    "",
  ].join("\n");
}

/** The installed package's version, read through the package's own name so it is the same from sources and dist/. */
function packageVersion(): string {
  const manifest = createRequire(import.meta.url)("pqguard/package.json") as { version: string };
  return manifest.version;
}

export async function main(argv: readonly string[], io: Omit<CommandIO, "argv">): Promise<number> {
  const [name, ...rest] = argv;
  if (name === "--version" || name === "-v" || name === "version") {
    io.out(`${packageVersion()}\n`);
    return EXIT_OK;
  }
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    io.out(usage());
    return name === undefined ? EXIT_USAGE : 0;
  }
  const entry = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (entry === undefined) {
    io.err(`error PQG0001: unknown command \`${name}\`\n${usage()}`);
    return EXIT_USAGE;
  }
  // --help anywhere among the command's own arguments (not after `--`, where an upstream command's arguments start).
  const own = rest.includes("--") ? rest.slice(0, rest.indexOf("--")) : rest;
  if (own.includes("--help") || own.includes("-h")) {
    io.out(`usage: pqguard ${entry.summary}\n`);
    return EXIT_OK;
  }
  try {
    const command = await entry.load();
    return await command.run({ ...io, argv: rest });
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`error ${error.code}: ${error.message}\nusage: pqguard ${entry.summary}\n`);
      return EXIT_USAGE;
    }
    throw error;
  }
}

/** Runs the CLI as the `pqguard` process: real streams, and the exit code set for the process. */
export async function runCli(argv: readonly string[]): Promise<void> {
  const code = await main(argv, {
    cwd: process.cwd(),
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
  }).catch((error: unknown) => {
    // Last line of defence: an unexpected failure is reported as one line with a code, never a stack trace.
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`error PQG0002: internal error: ${message}\n`);
    return EXIT_INTERNAL;
  });
  process.exitCode = code;
}
