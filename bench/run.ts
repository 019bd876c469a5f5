// Benchmark dispatcher: `npm run bench -- NAME [--json]` runs bench/NAME.ts; with no name it runs them all.
import process from "node:process";

const BENCHES = ["guard", "lists", "helpers", "handshake", "transport", "enforce", "cli", "proxy", "diff", "state", "metrics"] as const;

const args = process.argv.slice(2);
const json = args.includes("--json");
// The names come first; what follows the first flag belongs to the benchmarks (`proxy --only stdio_proxy`).
const firstFlag = args.findIndex((a) => a.startsWith("--"));
const names = firstFlag === -1 ? args : args.slice(0, firstFlag);
const chosen = names.length === 0 ? [...BENCHES] : names;

for (const name of chosen) {
  if (!(BENCHES as readonly string[]).includes(name)) {
    process.stderr.write(`error PQG0001: unknown benchmark \`${name}\`; choose from ${BENCHES.join(", ")}\n`);
    process.exit(2);
  }
  const bench = (await import(`./${name}.ts`)) as { run(options: { json: boolean }): Promise<void> };
  await bench.run({ json });
}
