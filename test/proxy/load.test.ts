// Load through one proxy: 20 concurrent clients × 500 mixed calls, an upstream killed mid-run, audit chain checked.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { AuditLog, verifyAuditLog } from "../../runtime/audit/index.js";
import { GUARD_REFUSAL_ERROR, refusalOf } from "../../runtime/enforce/index.js";
import { RPC_UPSTREAM_UNAVAILABLE } from "../../runtime/proxy/index.js";
import { connectClient, flakyProxy, rpcError } from "./harness.js";

const CLIENTS = 20;
const CALLS_PER_CLIENT = 500;
/** Calls each client keeps in flight at once. */
const WINDOW = 8;
/** The upstream is killed once this many calls were answered. */
const KILL_AFTER = (CLIENTS * CALLS_PER_CLIENT) / 2;

type Expected = "allow" | "deny";

function planned(client: number, call: number): { tool: string; args: Record<string, unknown>; expected: Expected } {
  switch ((client * 7 + call) % 4) {
    case 0:
      return { tool: "echo", args: { text: `deny-${client}-${call}` }, expected: "deny" };
    case 1:
      return { tool: "secret", args: {}, expected: "deny" };
    default:
      return { tool: "echo", args: { text: `ok-${client}-${call}` }, expected: "allow" };
  }
}

describe("proxy under load", function () {
  this.timeout(120_000);

  it("answers every call of 20 clients × 500 exactly once with the right decision; a killed upstream costs only the calls in flight", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pqguard-load-"));
    const auditFile = join(dir, "audit.log");
    const audit = await AuditLog.open(auditFile);
    // One upstream shared by the 20 clients: this is about one server under concurrent load and its restart (with an
    // upstream per client, 20 server processes would share two cores and only one would be killed).
    const proxy = flakyProxy({ upstreamMode: "shared" }, audit);
    await proxy.start();
    const clients: Client[] = [];
    const protocolErrors: Error[] = [];
    for (let i = 0; i < CLIENTS; i++) {
      const client = await connectClient(proxy);
      client.onerror = (error) => protocolErrors.push(error);
      clients.push(client);
    }

    let answered = 0;
    let killed = false;
    /** Set once the proxy has seen the upstream die: calls started after that must not be lost. */
    let exitObserved = false;
    let lostAfterExitObserved = 0;
    const outcomes = { allowed: 0, denied: 0, lostToCrash: 0 };
    const answers = new Map<string, number>();
    const firstPid = proxy.upstream.pid;

    const one = async (client: Client, c: number, n: number): Promise<void> => {
      const call = planned(c, n);
      const key = `${c}:${n}`;
      if (killed && !proxy.upstream.ready) exitObserved = true;
      const startedAfterExit = exitObserved;
      try {
        const result = await client.callTool({ name: call.tool, arguments: call.args });
        assert.equal(call.expected, "allow", `call ${key} should have been refused`);
        const echoed = JSON.parse((result.content as { text: string }[])[0]!.text) as { text: string };
        assert.equal(echoed.text, call.args.text, `call ${key} got another call's answer`);
        outcomes.allowed++;
      } catch (error) {
        const refusal = refusalOf(error);
        if (refusal !== undefined) {
          assert.equal(call.expected, "deny", `call ${key} was refused: ${refusal.reason}`);
          assert.equal(rpcError(error).code, GUARD_REFUSAL_ERROR);
          outcomes.denied++;
        } else {
          assert.equal(rpcError(error).code, RPC_UPSTREAM_UNAVAILABLE, `call ${key} failed: ${String(error)}`);
          assert.equal(call.expected, "allow", "a refused call never reaches the upstream, so a crash cannot cost it");
          outcomes.lostToCrash++;
          if (startedAfterExit) lostAfterExitObserved++;
        }
      } finally {
        answers.set(key, (answers.get(key) ?? 0) + 1);
        answered++;
        if (answered === KILL_AFTER) {
          killed = true;
          process.kill(proxy.upstream.pid!, "SIGKILL");
        }
      }
    };

    await Promise.all(
      clients.map(async (client, c) => {
        let next = 0;
        const lane = async (): Promise<void> => {
          while (next < CALLS_PER_CLIENT) await one(client, c, next++);
        };
        await Promise.all(Array.from({ length: WINDOW }, lane));
      }),
    );

    await Promise.all(clients.map((client) => client.close()));
    await proxy.close();
    await audit.close();

    const total = CLIENTS * CALLS_PER_CLIENT;
    assert.equal(answers.size, total);
    assert.ok([...answers.values()].every((count) => count === 1), "some call was answered twice");
    assert.deepEqual(protocolErrors, []);
    assert.equal(outcomes.allowed + outcomes.denied + outcomes.lostToCrash, total);
    assert.ok(exitObserved, "the proxy noticed the killed upstream while calls were still being made");
    // Only calls already forwarded to the dying process may fail; those made after the proxy saw it die wait for the restart.
    assert.equal(lostAfterExitObserved, 0, `${lostAfterExitObserved} calls made after the crash was noticed failed`);
    assert.ok(outcomes.lostToCrash <= CLIENTS * WINDOW, `${outcomes.lostToCrash} calls lost, more than were ever outstanding`);
    assert.equal(proxy.upstream.restarts, 1);
    assert.notEqual(proxy.upstream.pid, firstPid);

    const verified = await verifyAuditLog(auditFile);
    assert.ok(verified.ok, verified.ok ? "" : verified.message);
    // Every decision is audited, including the allowed calls the crash then cost.
    assert.equal(verified.lines, total);
    rmSync(dir, { recursive: true, force: true });
  });
});
