// What every CLI command receives and returns: arguments, output streams and a working directory, so tests can run
// commands in-process and read what they print.
import { parseArgs, type ParseArgsConfig } from "node:util";
import { PqguardError, errorCatalogue } from "../../runtime/errors.js";

export interface CommandIO {
  readonly argv: readonly string[];
  readonly cwd: string;
  out(text: string): void;
  err(text: string): void;
}

/**
 * Exit codes shared by every command: 0 success (warnings allowed), 1 errors in the input, 2 usage errors. Commands that
 * compare (a future `diff`) follow diff(1): 0 the same, 1 different, 2 trouble.
 */
export const EXIT_OK = 0;
export const EXIT_ERRORS = 1;
export const EXIT_USAGE = 2;
/** An unexpected failure inside pqguard itself (sysexits EX_SOFTWARE); reported as one line, never a stack trace. */
export const EXIT_INTERNAL = 70;

export type Command = (io: CommandIO) => Promise<number>;

/**
 * The codes of the command-line tool's own messages (`error PQG0001: ...` on stderr). Commands that fail on a library
 * error print that error's code; these are for what only the command line can get wrong.
 */
export const CLI_ERRORS = errorCatalogue("pqguard CLI", "CLI message", [[1, 99], [6000, 6000], [8201, 8299], [9003, 9099]], {
  Usage: ["PQG0001", "The command line is wrong: an unknown command, option or value."],
  Internal: ["PQG0002", "An unexpected failure inside pqguard itself (exit 70)."],
  ConnectFailed: ["PQG6000", "`pqguard connect`: the post-quantum session with the proxy could not be opened, for a reason that carries no code of its own."],
  DemoPolicyInvalid: ["PQG8201", "`pqguard demo`: a bundled policy does not check."],
  DemoKeyFailed: ["PQG8202", "`pqguard demo`: the demo's keys could not be generated or its manifest signed."],
  OutputUnwritable: ["PQG9003", "`pqguard compile`: the output folder cannot be written."],
  NoPolicies: ["PQG9004", "`pqguard compile`: no `.policy` files were found."],
  DuplicatePolicyName: ["PQG9005", "`pqguard compile`: two policies have the same name; no files were written."],
  RequestUnreadable: ["PQG9006", "`pqguard eval`: the request file cannot be read."],
});

/** The codes by name. */
export const CliErrorCode = CLI_ERRORS.codes;

/** A usage error: the command line itself is wrong. The dispatcher prints it with the command's usage and exits 2. */
export class UsageError extends PqguardError {
  declare readonly code: typeof CliErrorCode.Usage;
  constructor(message: string) {
    super(CliErrorCode.Usage, message);
    this.name = "UsageError";
  }
}

/** node:util's parseArgs, its errors turned into usage errors (in our style: the sentence starts lower-case). */
export function parseCommandLine<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message.replace(/^./, (c) => c.toLowerCase()) : "invalid arguments");
  }
}

/** A whole number in [min, max], or a usage error naming the option. */
export function integer(text: string | undefined, option: string, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const value = /^-?\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) throw new UsageError(`\`--${option}\` takes a whole number from ${min} to ${max}, not \`${text}\``);
  return value;
}
