// The CLI dispatcher: every command answers --help with its full usage, --version prints the package's version, and
// unknown commands and options are usage errors (exit 2).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { main } from "../../bin/cli.js";
import { generateIdentity } from "../../runtime/identity/index.js";

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main(argv, { cwd: process.cwd(), out: (t) => void (out += t), err: (t) => void (err += t) });
  return { code, out, err };
}

const COMMANDS = ["check", "compile", "eval", "fmt", "keygen", "manifest", "audit", "proxy", "test", "diff", "cert", "connect", "demo"];

describe("pqguard command dispatcher", () => {
  for (const command of COMMANDS) {
    it(`prints the full usage of \`${command}\` for --help and -h, exit 0`, async () => {
      for (const flag of ["--help", "-h"]) {
        const { code, out } = await cli(command, flag);
        assert.equal(code, 0);
        assert.match(out, new RegExp(`^usage: pqguard ${command}\\b`));
      }
    });
  }

  it("prints a command's usage for --help after its other arguments, but not for a --help after `--`", async () => {
    const late = await cli("compile", "some.policy", "--out", "dir", "--help");
    assert.equal(late.code, 0);
    assert.match(late.out, /^usage: pqguard compile\b/);
    const upstream = await cli("compile", "--", "--help");
    assert.doesNotMatch(upstream.out, /^usage:/);
  });

  it("names every option of the proxy in its usage", async () => {
    const { out } = await cli("proxy", "--help");
    for (const option of ["--policy", "--upstream", "--upstream-url", "--listen", "--key", "--trust-issuer", "--manifest", "--signer", "--audit", "--audit-key", "--audit-args", "--audit-anchor", "--approval-webhook", "--approval-key", "--mode", "--upstream-mode", "--max-upstreams", "--call-timeout", "--tool-recheck", "--now", "--log-level"]) {
      assert.ok(out.includes(option), `usage names ${option}`);
    }
  });

  it("refuses a proxy time option that is not a whole number of milliseconds, before starting anything (exit 2)", async () => {
    const base = ["proxy", "--policy", "p.policy", "--upstream", "node server.js"];
    for (const [option, value] of [["--call-timeout", "0"], ["--call-timeout", "1.5"], ["--call-timeout", "1e3"], ["--tool-recheck=-1", ""], ["--tool-recheck", "soon"], ["--tool-recheck", ""]] as const) {
      const args = option.includes("=") ? [option] : [option, value];
      const { code, err } = await cli(...base, ...args);
      assert.equal(code, 2, `${option} ${value}`);
      assert.match(err, new RegExp(`\`${option.split("=")[0]}\` must be`));
    }
  });

  it("refuses an unknown upstream mode and a bound on upstream sessions that is not a positive whole number (exit 2)", async () => {
    const base = ["proxy", "--policy", "p.policy", "--upstream", "node server.js"];
    for (const args of [["--mode", "audit-only"], ["--upstream-mode", "per-client"], ["--max-upstreams", "0"], ["--max-upstreams", "2.5"], ["--max-upstreams", "many"]]) {
      const { code, err } = await cli(...base, ...args);
      assert.equal(code, 2, args.join(" "));
      assert.match(err, new RegExp(`\`${args[0]}\``));
    }
  });

  it("refuses a `connect --url` that is not http(s) or carries credentials, which would travel beside the sealed session (exit 2)", async () => {
    const trusted = generateIdentity().keyId;
    for (const [url, expected] of [["ftp://127.0.0.1/mcp", /http\(s\) URL/], ["http://user:secret@127.0.0.1:8808/mcp", /must not carry credentials/]] as const) {
      const { code, err } = await cli("connect", "--url", url, "--trust", trusted);
      assert.equal(code, 2, url);
      assert.match(err, expected);
      assert.doesNotMatch(err, /secret/, "the password is not repeated");
    }
  });

  it("prints the package version for --version", async () => {
    const { version } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
    assert.deepEqual(await cli("--version"), { code: 0, out: `${version}\n`, err: "" });
  });

  it("lists the commands and the exit codes for --help, and is a usage error with no command", async () => {
    const help = await cli("--help");
    assert.equal(help.code, 0);
    for (const command of COMMANDS) assert.match(help.out, new RegExp(`pqguard ${command}\\b`));
    assert.match(help.out, /exit codes: 0 success/);
    assert.equal((await cli()).code, 2);
    const unknown = await cli("nope");
    assert.equal(unknown.code, 2);
    assert.match(unknown.err, /error PQG0001: unknown command `nope`/);
  });
});
