// SDK v2 clients through the proxy: the default (2025, initialize) and `auto` negotiation modes are served and decided
// as any client; a client pinned to revision 2026-07-28 (stateless: server/discover, no initialize) is refused with a
// clear typed error (PQG8020) before anything is decided or forwarded, as is any request naming that revision.
import assert from "node:assert/strict";
import { Client, InMemoryTransport } from "@modelcontextprotocol/client";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { AuditDecision } from "../../runtime/audit/index.js";
import type { Proxy } from "../../runtime/proxy/index.js";
import { failureOf, flakyProxy } from "./harness.js";

type Negotiation = ConstructorParameters<typeof Client>[1] extends infer O ? (O extends { versionNegotiation?: infer N } ? N : never) : never;

async function v2Client(proxy: Proxy, versionNegotiation?: Negotiation): Promise<Client> {
  const [clientEnd, proxyEnd] = InMemoryTransport.createLinkedPair();
  await proxy.core.attachPlain(proxyEnd as unknown as Transport);
  const client = new Client({ name: "v2-client", version: "1.0.0" }, versionNegotiation === undefined ? {} : { versionNegotiation });
  await client.connect(clientEnd);
  return client;
}

describe("SDK v2 clients through the proxy", function () {
  this.timeout(30_000);
  let proxy: Proxy;
  const lines: AuditDecision[] = [];
  before(async () => {
    proxy = flakyProxy({}, { failure: undefined, append: (line) => void lines.push(line) });
    await proxy.start();
  });
  after(async () => {
    await proxy.close();
  });

  for (const [mode, negotiation] of [["default", undefined], ["auto", { mode: "auto" }]] as const) {
    it(`serves a client in ${mode} negotiation mode: lists the pinned tools and decides its calls`, async () => {
      const client = await v2Client(proxy, negotiation as Negotiation);
      const names = (await client.listTools()).tools.map((tool) => tool.name);
      assert.ok(names.includes("echo") && !names.includes("secret"), String(names));
      const result = (await client.callTool({ name: "echo", arguments: { text: "hello" } })) as { content: { text: string }[] };
      assert.match(result.content[0]!.text, /hello/);
      const denied = await failureOf(client.callTool({ name: "echo", arguments: { text: "deny-this" } }));
      assert.equal((denied.data as { code?: string } | undefined)?.code, "PQG7301");
      await client.close();
    });
  }

  it("refuses a client pinned to 2026-07-28 with PQG8020 at connect, naming the revisions it serves", async () => {
    const before = lines.length;
    const [clientEnd, proxyEnd] = InMemoryTransport.createLinkedPair();
    await proxy.core.attachPlain(proxyEnd as unknown as Transport);
    const client = new Client({ name: "pinned", version: "1.0.0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
    const failure = await failureOf(client.connect(clientEnd));
    assert.match(failure.message, /2026-07-28.*server\/discover|server\/discover.*2026-07-28/, failure.message);
    assert.equal(lines.length, before, "nothing was decided");
    await clientEnd.close();
  });

  it("refuses, undecided and unforwarded, a tools/call that names revision 2026-07-28 in its envelope", async () => {
    const before = lines.length;
    const [clientEnd, proxyEnd] = InMemoryTransport.createLinkedPair();
    await proxy.core.attachPlain(proxyEnd as unknown as Transport);
    const replies: Record<string, unknown>[] = [];
    clientEnd.onmessage = (message) => void replies.push(message as Record<string, unknown>);
    await clientEnd.start();
    await clientEnd.send({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: { name: "echo", arguments: { text: "hi" }, _meta: { "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {} } },
    });
    for (let i = 0; i < 100 && replies.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    const error = replies[0]?.error as { code: number; data: { code: string; supported: string[]; requested: string } } | undefined;
    assert.equal(error?.code, -32022);
    assert.equal(error?.data.code, "PQG8020");
    assert.equal(error?.data.requested, "2026-07-28");
    assert.ok(error?.data.supported.includes("2025-11-25"));
    assert.equal(lines.length, before, "nothing was decided or forwarded");
    await clientEnd.close();
  });
});
