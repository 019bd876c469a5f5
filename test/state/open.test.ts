// openStateStore and `pqguard proxy --state`: each description opens its store, anything else is refused with a
// state error, and a password in a Redis URL appears in no message, whichever way the description fails.
import { strict as assert } from "node:assert";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { run as runProxy } from "../../bin/commands/proxy.js";
import { MemoryStateStore, openStateStore, SqliteStateStore, StateError } from "../../runtime/state/index.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const PASSWORD = "hunter2-Very-Secret";

describe("openStateStore and --state", function () {
  this.timeout(60_000);

  it("opens memory and sqlite stores keeping calls for the policy's longest window", async () => {
    const memory = await openStateStore("memory", { longestWindowMs: 7 * 86_400_000 });
    assert.ok(memory instanceof MemoryStateStore);
    assert.equal(memory.retentionMs, 7 * 86_400_000);
    const dir = await mkdtemp(join(tmpdir(), "pqguard-open-"));
    try {
      const sqlite = await openStateStore(`sqlite:${join(dir, "s.db")}`);
      assert.ok(sqlite instanceof SqliteStateStore);
      sqlite.close?.();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("refuses what names no store, without echoing a password", async () => {
    for (const spec of [`mysql://admin:${PASSWORD}@db:3306/x`, `redis://:${PASSWORD}@127.0.0.1:1/not-a-db`, "sqlite:", "tmpfs"]) {
      await assert.rejects(openStateStore(spec), (error: unknown) => {
        assert.ok(error instanceof StateError, String(error));
        assert.equal(error.code, "PQG7203");
        assert.ok(!error.message.includes(PASSWORD), error.message);
        return true;
      });
    }
  });

  it("pqguard proxy reports a bad --state as an error without the password", async () => {
    let err = "";
    const io = {
      argv: ["--policy", "test/proxy/fixtures/flaky.policy", "--upstream", "true", "--state", `redis://user:${PASSWORD}@127.0.0.1:1/db-x`],
      cwd: ROOT,
      out: () => undefined,
      err: (text: string) => void (err += text),
    };
    assert.equal(await runProxy(io), 1);
    assert.match(err, /PQG7203/);
    assert.ok(!err.includes(PASSWORD), err);
  });
});
