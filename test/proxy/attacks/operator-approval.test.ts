// Attack: a client approves its own calls. With an operator webhook configured, `ask` decisions go to the webhook as
// HMAC-signed requests and only an HMAC-signed answer naming that request approves: the client's elicitation handler
// is never asked, and a forged, replayed, refused or missing answer denies.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { ElicitRequestSchema, McpError } from "@modelcontextprotocol/sdk/types.js";
import { auditKey } from "../../../runtime/audit/index.js";
import { APPROVAL_RESPONSE_FORMAT, APPROVAL_SIGNATURE_HEADER, approvalSignature, operatorApproval, refusalOf } from "../../../runtime/enforce/index.js";
import type { Proxy } from "../../../runtime/proxy/index.js";
import { connectClient } from "../harness.js";
import { reviewProxy, SpawnLog } from "./support.js";

type Mode = "approve" | "refuse" | "forge" | "replay" | "hang";

describe("attack: a client approving its own calls", function () {
  this.timeout(60_000);
  const key = auditKey(randomBytes(32));
  const otherKey = auditKey(randomBytes(32));
  let mode: Mode = "approve";
  let lastId: string | undefined;
  const seen: { valid: boolean; body: Record<string, unknown> }[] = [];
  let webhook: Server;
  let log: SpawnLog;
  let proxy: Proxy;
  let client: Client;
  let elicited = 0;

  before(async () => {
    webhook = createServer((req, res) => {
      let text = "";
      req.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
      req.on("end", () => {
        const body = JSON.parse(text) as Record<string, unknown>;
        const valid = req.headers[APPROVAL_SIGNATURE_HEADER] === approvalSignature(key, "request", text);
        seen.push({ valid, body });
        if (mode === "hang") return;
        const id = mode === "replay" ? (lastId ?? "never-asked") : (body.id as string);
        lastId = body.id as string;
        const answer = JSON.stringify({ format: APPROVAL_RESPONSE_FORMAT, id, approved: mode !== "refuse" && valid });
        res.setHeader(APPROVAL_SIGNATURE_HEADER, approvalSignature(mode === "forge" ? otherKey : key, "response", answer));
        res.setHeader("content-type", "application/json");
        res.end(answer);
      });
    });
    await new Promise<void>((resolve) => webhook.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/approve`;
    log = new SpawnLog();
    proxy = reviewProxy(log, { approver: operatorApproval({ url, key }), approvalTimeoutMs: 800 }, { REVIEW_ECHO_RAW: "1" });
    await proxy.start();
    client = await connectClient(proxy, { elicitation: { form: {} } });
    // The client (automated, or compromised) answers every elicitation with an approval.
    client.setRequestHandler(ElicitRequestSchema, async () => {
      elicited++;
      return { action: "accept", content: { approve: true } };
    });
  });
  after(async () => {
    await client?.close();
    await proxy?.close();
    log?.cleanUp();
    webhook?.closeAllConnections();
    await new Promise((resolve) => webhook?.close(resolve));
  });

  /** A call the test guard asks about (`slow` over 1000 ms): its refusal code, or undefined when it went through. */
  async function ask(): Promise<string | undefined> {
    try {
      await client.callTool({ name: "slow", arguments: { ms: 5000 } });
      return undefined;
    } catch (error) {
      assert.ok(error instanceof McpError, String(error));
      return refusalOf(error)?.code;
    }
  }

  it("goes through when the operator approves with a signed answer, and the webhook gets a signed request", async () => {
    mode = "approve";
    assert.equal(await ask(), undefined);
    assert.equal(seen.at(-1)?.valid, true, "the request carries the approval key's signature");
    assert.equal(seen.at(-1)?.body.tool, "slow");
    assert.equal(elicited, 0, "the client was never asked");
  });

  for (const [what, m] of [
    ["the operator refuses", "refuse"],
    ["the answer is signed with another key (forged)", "forge"],
    ["the answer names an earlier request (replayed)", "replay"],
    ["the operator does not answer in time", "hang"],
  ] as const) {
    it(`is refused (PQG7305) when ${what}, though the client would approve`, async () => {
      mode = m;
      assert.equal(await ask(), "PQG7305");
      assert.equal(elicited, 0, "the client's own approval was never asked");
    });
  }
});
