// What every CLI command receives and returns: arguments, output streams and a working directory, so tests can run
// commands in-process and read what they print.
import { parseArgs, type ParseArgsConfig } from "node:util";

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

/** A usage error: the command line itself is wrong. The dispatcher prints it with the command's usage and exits 2. */
export class UsageError extends Error {
  readonly code = "PQG0001";
  constructor(message: string) {
    super(message);
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
