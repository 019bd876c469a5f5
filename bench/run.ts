// Benchmark dispatcher: `npm run bench -- NAME [--json]` runs bench/NAME.ts; with no name it runs them all.
import process from "node:process";

const BENCHES = ["guard", "lists", "helpers", "handshake", "transport", "enforce", "cli", "proxy", "diff", "state", "metrics"] as const;

const args = process.argv.slice(2);
const json = args.includes("--json");
const names = args.filter((a) => !a.startsWith("--"));
const chosen = names.length === 0 ? [...BENCHES] : names;

for (const name of chosen) {
  if (!(BENCHES as readonly string[]).includes(name)) {
    process.stderr.write(`error PQG0001: unknown benchmark \`${name}\`; choose from ${BENCHES.join(", ")}\n`);
    process.exit(2);
  }
  const bench = (await import(`./${name}.ts`)) as { run(options: { json: boolean }): Promise<void> };
  await bench.run({ json });
}
