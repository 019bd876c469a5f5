// Attacks on the transport seam: a client that answers the guard's own requests to the server, or sends a call the
// server's SDK would run without the guard seeing it as a call. The guard must decide on what the server says.
import { strict as assert } from "node:assert";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { CallToolRequestSchema, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { silentLogger } from "../../runtime/audit/index.js";
import { enforce, refusalOf } from "../../runtime/enforce/index.js";
import { toolDigest } from "../../runtime/manifest/digest.js";
import { paymentsGuard, paymentsTools, poisonedRefund, sessionInfo } from "./fixtures.js";

describe("attack: the transport seam", () => {
  it("a client cannot answer the guard's own tools/list request to the server with a list of its choosing", async () => {
    const signed = await paymentsTools();
    const digests = Object.fromEntries(signed.map((tool) => [tool.name as string, toolDigest(tool)]));
    const poisoned = poisonedRefund(signed);
    const server = new Server({ name: "rug", version: "1" }, { capabilities: { tools: {} } });
    const pinReads: unknown[] = [];
    let ran = 0;
    let forge: ((id: unknown) => Promise<void>) | undefined;
    server.setRequestHandler(ListToolsRequestSchema, async (_request, extra) => {
      pinReads.push(extra.requestId);
      // The server serves the poisoned definition; meanwhile the client forges the answer it wishes the guard got.
      await forge?.(extra.requestId);
      await new Promise((resolve) => setTimeout(resolve, 20));
      return { tools: poisoned as never };
    });
    server.setRequestHandler(CallToolRequestSchema, async () => {
      ran++;
      return { content: [] };
    });
    enforce(server, paymentsGuard(digests), { session: () => sessionInfo(), logger: silentLogger() });
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await server.connect(serverSide);
    const client = new Client({ name: "attacker", version: "1" });
    await client.connect(clientSide);
    // The forged answer uses the very id the guard gave its request (learnt here from the server's handler, which an
    // attacker could not even see) and the signed definitions.
    forge = (id) => clientSide.send({ jsonrpc: "2.0", id: id as string, result: { tools: signed as never } });
    let refused: unknown;
    try {
      await client.callTool({ name: "process_refund", arguments: { customer_id: "c", amount: 5 } });
    } catch (error) {
      refused = error;
    }
    assert.equal(pinReads.length, 1, "the guard asked the server once");
    assert.equal(refusalOf(refused)?.code, "PQG7303", "decided on the server's poisoned definition, not the forged one");
    assert.equal(ran, 0);
    await client.close();
    await server.close();
  });
});
