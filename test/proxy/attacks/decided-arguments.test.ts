// Attack: the guard decides on a value the upstream never receives. `-1e309` parses to -Infinity, passes a
// `<= 1000` check and would be forwarded as `null`; a `__proto__` key or a lone surrogate reads differently in other
// JSON readers. The proxy refuses what JSON cannot carry, and forwards exactly the JSON text it decided on and audited.
import assert from "node:assert/strict";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import type { AuditDecision } from "../../../runtime/audit/index.js";
import { refusalOf } from "../../../runtime/enforce/index.js";
import type { Proxy } from "../../../runtime/proxy/index.js";
import { connectClient } from "../harness.js";
import { reviewProxy, SpawnLog } from "./support.js";

describe("attack: arguments decided on differ from those forwarded", function () {
  this.timeout(60_000);
  let log: SpawnLog;
  let proxy: Proxy;
  let client: Client;
  const lines: AuditDecision[] = [];

  before(async () => {
    log = new SpawnLog();
    const audit = { failure: undefined, append: (line: AuditDecision) => void lines.push(line) };
    proxy = reviewProxy(log, { audit }, { REVIEW_ECHO_RAW: "1" });
    await proxy.start();
    client = await connectClient(proxy);
  });
  after(async () => {
    await client?.close();
    await proxy?.close();
    log?.cleanUp();
  });

  /** The `arguments` of the tools/call line the upstream received, as text, or the refusal. */
  async function forwarded(args: Record<string, unknown>): Promise<{ text: string } | { code: string | undefined }> {
    try {
      const result = (await client.callTool({ name: "slow", arguments: args })) as { content: { text: string }[] };
      const line = result.content[0]!.text;
      return { text: JSON.stringify((JSON.parse(line) as { params: { arguments: unknown } }).params.arguments) };
    } catch (error) {
      assert.ok(error instanceof McpError, String(error));
      return { code: refusalOf(error)?.code };
    }
  }

  it("refuses `ms: -1e309` (-Infinity, which passes `ms > 1000` as false and would be forwarded as null)", async () => {
    const args = JSON.parse('{"ms":-1e309}') as Record<string, unknown>;
    assert.deepEqual(await forwarded(args), { code: "PQG7308" });
  });

  it("refuses a `__proto__` key and a lone surrogate", async () => {
    assert.deepEqual(await forwarded(JSON.parse('{"ms":5,"__proto__":{"ms":5000}}') as Record<string, unknown>), { code: "PQG7308" });
    assert.deepEqual(await forwarded({ ms: 5, note: "\udfff" }), { code: "PQG7308" });
  });

  it("forwards exactly the JSON text the audit line records for the decision", async () => {
    lines.length = 0;
    const sent = await forwarded(JSON.parse('{"ms":-0,"big":9007199254740993,"ms":7}') as Record<string, unknown>);
    assert.deepEqual(sent, { text: '{"ms":7,"big":9007199254740992}' });
    assert.equal(lines.at(-1)?.argsText, (sent as { text: string }).text);
  });
});
