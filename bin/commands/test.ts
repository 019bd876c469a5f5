// `pqguard test PATH... [--format text|json|junit] [--min-coverage N] [--seed S] [--runs N]`: runs each policy's cases
// and property files on the compiled guard and the interpreter at once, and reports results and coverage.
// Exit 0 when everything passed (and coverage reached the minimum), 1 otherwise, 2 for a wrong command line or nothing to test.
import { randomInt } from "node:crypto";
import { DiscoveryError, formatJson, formatJunit, formatText, hasFailures, runTests } from "../../testing/runner/index.js";
import { EXIT_ERRORS, EXIT_OK, EXIT_USAGE, UsageError, type CommandIO, integer, parseCommandLine } from "./io.js";

const FORMATS = { text: formatText, json: formatJson, junit: formatJunit } as const;

interface TestArgs {
  readonly paths: readonly string[];
  readonly format: keyof typeof FORMATS;
  readonly minCoverage: number | undefined;
  readonly seed: number | undefined;
  readonly runs: number | undefined;
}

function parse(argv: readonly string[]): TestArgs {
  const parsed = parseCommandLine({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      format: { type: "string", default: "text" },
      "min-coverage": { type: "string" },
      seed: { type: "string" },
      runs: { type: "string" },
    },
  });
  const { values, positionals } = parsed;
  if (positionals.length === 0) throw new UsageError("no PATH given: name policy files or folders to test");
  if (!Object.hasOwn(FORMATS, values.format)) throw new UsageError(`unknown format \`${values.format}\`; use text, json or junit`);
  const minCoverage = values["min-coverage"] === undefined ? undefined : Number(values["min-coverage"]);
  if (minCoverage !== undefined && !(/^\d+(\.\d+)?$/.test(values["min-coverage"]!) && minCoverage <= 100)) {
    throw new UsageError(`\`--min-coverage\` takes a percentage from 0 to 100, not \`${values["min-coverage"]}\``);
  }
  return {
    paths: positionals,
    format: values.format as keyof typeof FORMATS,
    minCoverage,
    // fast-check seeds are 32-bit signed integers.
    seed: integer(values.seed, "seed", -(2 ** 31), 2 ** 31 - 1),
    runs: integer(values.runs, "runs", 1, 1_000_000),
  };
}

export async function run(io: CommandIO): Promise<number> {
  const args = parse(io.argv);
  let result;
  try {
    result = await runTests({
      paths: args.paths,
      cwd: io.cwd,
      seed: args.seed ?? randomInt(2 ** 31),
      runs: args.runs,
      minCoverage: args.minCoverage,
      now: Date.now(),
    });
  } catch (error) {
    if (!(error instanceof DiscoveryError)) throw error;
    io.err(`error ${error.code}: ${error.message}\n`);
    return EXIT_USAGE;
  }
  io.out(FORMATS[args.format](result));
  return hasFailures(result) ? EXIT_ERRORS : EXIT_OK;
}
