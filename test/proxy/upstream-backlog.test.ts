// A stdio upstream that stops reading its input: the proxy's writes to it are bounded, and the calls past the bound
// are answered at once as undelivered instead of piling up in the proxy's memory.
import assert from "node:assert/strict";
import process from "node:process";
import { silentLogger } from "../../runtime/audit/index.js";
import { MAX_UPSTREAM_BACKLOG_BYTES, openLink, type LinkEvents } from "../../runtime/proxy/upstream-link.js";

describe("stdio upstream that does not read", function () {
  this.timeout(30_000);

  it("stops queueing writes past the backlog limit and reports the calls as undelivered", async () => {
    const undelivered: string[] = [];
    const troubles: string[] = [];
    let gone: string | undefined;
    const events: LinkEvents = {
      message: () => undefined,
      malformedReply: () => undefined,
      undelivered: (_id, detail) => void undelivered.push(detail),
      trouble: (detail) => void troubles.push(detail),
      gone: (how) => void (gone = how),
    };
    // A server that is alive and never reads a byte of its stdin.
    const link = openLink({ command: process.execPath, args: ["-e", "setInterval(() => {}, 60_000)"], stderr: "ignore" }, silentLogger(), events);
    try {
      const text = "x".repeat(1024 * 1024);
      const calls = Math.ceil((MAX_UPSTREAM_BACKLOG_BYTES * 1.5) / text.length);
      for (let id = 1; id <= calls; id++) link.write({ jsonrpc: "2.0", id, method: "tools/call", params: { name: "echo", arguments: { text } } });
      assert.ok(undelivered.length > 0, "no call was refused");
      assert.ok(undelivered.length < calls, "every call was refused");
      assert.match(undelivered[0]!, /has not read the last \d+ bytes/);
      assert.ok(troubles.length > 0);
      assert.equal(gone, undefined, "the link itself goes on: the server may yet catch up");
    } finally {
      link.kill();
      await link.stop();
    }
  });
});
