// Runs the `pqguard` command in-process for the manifest tests, collecting what it prints.
import { main } from "../../bin/cli.js";

export async function cli(argv: string[], cwd: string): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main(argv, { cwd, out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}
