// `pqguard keygen [--alg ML-DSA-65] --out NAME [--force]`: writes NAME.key (mode 0600) and NAME.pub, prints the fingerprint.
import path from "node:path";
import { CryptoError } from "../../runtime/crypto/errors.js";
import { DEFAULT_IDENTITY_ALGORITHM, generateIdentity, identityAlgorithms, writeIdentity } from "../../runtime/identity/keys.js";
import { EXIT_ERRORS, EXIT_OK, UsageError, type CommandIO } from "./io.js";

interface KeygenOptions {
  readonly algorithm: string;
  readonly out: string;
  readonly force: boolean;
}

function parseArguments(argv: readonly string[]): KeygenOptions {
  let algorithm = DEFAULT_IDENTITY_ALGORITHM;
  let out: string | undefined;
  let force = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.startsWith("--") && arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
    const value = (): string => {
      const next = inline ?? argv[++i];
      if (next === undefined || next === "") throw new UsageError(`option \`${flag}\` needs a value`);
      return next;
    };
    switch (flag) {
      case "--alg":
        algorithm = value();
        break;
      case "--out":
        out = value();
        break;
      case "--force":
        if (inline !== undefined) throw new UsageError("option `--force` takes no value");
        force = true;
        break;
      default:
        throw new UsageError(arg.startsWith("-") ? `unknown option \`${arg}\`` : `unexpected argument \`${arg}\``);
    }
  }
  if (out === undefined) throw new UsageError("missing `--out NAME` (the key files are written to NAME.key and NAME.pub)");
  const known = identityAlgorithms();
  if (!known.includes(algorithm)) {
    throw new UsageError(`unknown key algorithm \`${algorithm}\`; valid names are ${known.map((n) => `\`${n}\``).join(", ")}`);
  }
  // A name given with the extension would produce NAME.key.key; take it as the base name the user meant.
  return { algorithm, out: out.replace(/\.(key|pub)$/, ""), force };
}

/** A path as the user would write it: relative when under the working directory, absolute otherwise. */
function display(cwd: string, file: string): string {
  const relative = path.relative(cwd, file);
  return relative.startsWith("..") || path.isAbsolute(relative) ? file : relative;
}

export async function run(io: CommandIO): Promise<number> {
  const options = parseArguments(io.argv);
  const base = path.resolve(io.cwd, options.out);
  try {
    const identity = generateIdentity(options.algorithm);
    const files = await writeIdentity(identity, base, { force: options.force });
    io.out(`${identity.keyId}\n`);
    io.err(`wrote ${display(io.cwd, files.secretKeyPath)} (secret, mode 0600) and ${display(io.cwd, files.publicKeyPath)}\n`);
    return EXIT_OK;
  } catch (error) {
    if (error instanceof CryptoError) {
      io.err(`error ${error.code}: ${error.message}\n`);
      return EXIT_ERRORS;
    }
    throw error;
  }
}
