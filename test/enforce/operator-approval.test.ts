// enforce() with an operator approver: an `ask` goes to the operator's webhook, never to the calling client's own
// elicitation handler, so a client that approves everything cannot approve its own refund.
import { strict as assert } from "node:assert";
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { auditKey, silentLogger } from "../../runtime/audit/index.js";
import { APPROVAL_RESPONSE_FORMAT, APPROVAL_SIGNATURE_HEADER, approvalSignature, enforce, operatorApproval, refusalOf } from "../../runtime/enforce/index.js";
import { toolDigest } from "../../runtime/manifest/digest.js";
import { connect, paymentsGuard, paymentsServer, paymentsTools, sessionInfo } from "./fixtures.js";

describe("enforce with an operator approver", () => {
  it("never asks the client, and refuses a refund the operator refuses though the client would approve it", async () => {
    const key = auditKey(randomBytes(32));
    let approve = false;
    const webhook = createServer((req, res) => {
      let text = "";
      req.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
      req.on("end", () => {
        const ok = req.headers[APPROVAL_SIGNATURE_HEADER] === approvalSignature(key, "request", text);
        const answer = JSON.stringify({ format: APPROVAL_RESPONSE_FORMAT, id: (JSON.parse(text) as { id: string }).id, approved: ok && approve });
        res.setHeader(APPROVAL_SIGNATURE_HEADER, approvalSignature(key, "response", answer));
        res.end(answer);
      });
    });
    await new Promise<void>((resolve) => webhook.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/`;
    const digests = Object.fromEntries((await paymentsTools()).map((t) => [t.name as string, toolDigest(t)]));
    const payments = paymentsServer();
    enforce(payments.server, paymentsGuard(digests), { session: () => sessionInfo(), logger: silentLogger(), approve: operatorApproval({ url, key }) });
    const { client, close } = await connect(payments.server, { elicitation: { form: {} } });
    let elicited = 0;
    client.setRequestHandler(ElicitRequestSchema, async () => {
      elicited++;
      return { action: "accept", content: { approve: true } };
    });
    try {
      const refused = await client.callTool({ name: "process_refund", arguments: { customer_id: "c", amount: 2000 } }).then(
        () => undefined,
        (error: unknown) => refusalOf(error)?.code,
      );
      assert.equal(refused, "PQG7305");
      assert.equal(payments.runs.count("process_refund"), 0);
      approve = true;
      await client.callTool({ name: "process_refund", arguments: { customer_id: "c", amount: 2000 } });
      assert.equal(payments.runs.count("process_refund"), 1, "the operator's signed approval lets it through");
      assert.equal(elicited, 0, "the client's own approval was never asked");
    } finally {
      await close();
      webhook.closeAllConnections();
      await new Promise((resolve) => webhook.close(resolve));
    }
  });
});
