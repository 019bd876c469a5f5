// Decided-versus-received arguments: the guard must decide on exactly the JSON value the tool receives. Arguments
// that JSON cannot carry on (non-finite numbers, lone surrogates, `__proto__` keys) are refused on both sides, the
// copy decided on is the copy sent, and `enforce` on an McpServer decides on what the schema makes of the arguments.
import { strict as assert } from "node:assert";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { silentLogger, type AuditDecision } from "../../runtime/audit/index.js";
import { DecisionPoint, type CallToDecide } from "../../runtime/enforce/decide.js";
import type { SessionView } from "../../runtime/enforce/context.js";
import { enforce, refusalOf } from "../../runtime/enforce/index.js";
import type { Decision, GuardModule, GuardRequest } from "../../runtime/guard/types.js";
import { toolDigest } from "../../runtime/manifest/digest.js";
import { connect, paymentsGuard, sessionInfo } from "./fixtures.js";

const SESSION: SessionView = { sessionId: "a1b2c3", establishedAt: 1_000_000, sealed: true, info: sessionInfo() };
const NOW = 2_000_000;

function memoryAudit() {
  const lines: AuditDecision[] = [];
  return { lines, failure: undefined, append: (line: AuditDecision) => void lines.push(line) };
}

function decisionPoint(side: "server" | "client", audit = memoryAudit()): DecisionPoint {
  return new DecisionPoint(paymentsGuard({}), side, { now: () => NOW, logger: silentLogger(), audit }, "m".repeat(64));
}

function call(args: unknown): CallToDecide {
  return { tool: "process_refund", args, session: SESSION, pin: () => ({ ok: true }), approve: undefined };
}

describe("decided arguments are the arguments sent", () => {
  for (const side of ["server", "client"] as const) {
    describe(`${side} side`, () => {
      it("refuses `amount: -1e309`, which parses to -Infinity and would be sent as null", async () => {
        const args = JSON.parse('{"customer_id":"c","amount":-1e309}') as Record<string, unknown>;
        assert.equal(args.amount, Number.NEGATIVE_INFINITY, "JSON.parse overflows to -Infinity");
        const audit = memoryAudit();
        const verdict = await decisionPoint(side, audit).decide(call(args));
        assert.ok(!verdict.allowed, "-Infinity <= 1000 must not let the call through");
        assert.equal(verdict.refusal.code, "PQG7308");
        assert.match(verdict.refusal.reason, /-Infinity/);
        assert.deepEqual(audit.lines.map((l) => l.outcome), ["denied"]);
      });

      for (const [what, args] of [
        ["NaN deep in an array", { customer_id: "c", amount: 5, items: [{ n: [1, Number.NaN] }] }],
        ["Infinity in a nested object", { customer_id: "c", amount: 5, meta: { weight: 1e309 } }],
        ["a `__proto__` key", JSON.parse('{"customer_id":"c","amount":5,"__proto__":{"amount":99999}}')],
        ["a nested `__proto__` key", JSON.parse('{"customer_id":"c","amount":5,"x":{"__proto__":{"admin":true}}}')],
        ["a lone surrogate in a string", { customer_id: "c\ud800", amount: 5 }],
        ["a lone surrogate in a key", { customer_id: "c", amount: 5, ["k\udc00"]: 1 }],
        ["a BigInt", { customer_id: "c", amount: 5n }],
      ] as const) {
        it(`refuses arguments with ${what}`, async () => {
          const verdict = await decisionPoint(side).decide(call(args));
          assert.ok(!verdict.allowed, `${what} must be refused`);
          assert.equal(verdict.refusal.code, "PQG7308");
        });
      }

      it("decides on -0 as 0, and sends 0", async () => {
        const verdict = await decisionPoint(side).decide(call({ customer_id: "c", amount: -0 }));
        assert.ok(verdict.allowed);
        assert.ok(Object.is(verdict.args.amount, 0), "the copy sent on holds +0");
        assert.equal(verdict.argsText, '{"customer_id":"c","amount":0}');
      });

      it("decides on an integer beyond 2^53 as the double it parsed to, and sends that double", async () => {
        const args = JSON.parse('{"customer_id":"c","amount":9007199254740993}') as Record<string, unknown>;
        const verdict = await decisionPoint(side).decide(call(args));
        assert.ok(!verdict.allowed && verdict.refusal.code === "PQG7301", "9007199254740992 is over the limit");
        const small = await decisionPoint(side).decide(call(JSON.parse('{"customer_id":"c","amount":1e2}')));
        assert.ok(small.allowed);
        assert.equal(small.argsText, '{"customer_id":"c","amount":100}');
      });
    });
  }

  it("with duplicate keys, decides on the one the first parse kept and sends only that one", async () => {
    const args = JSON.parse('{"customer_id":"c","amount":99999,"amount":10}') as Record<string, unknown>;
    const verdict = await decisionPoint("server").decide(call(args));
    assert.ok(verdict.allowed);
    assert.equal(verdict.argsText, '{"customer_id":"c","amount":10}');
    assert.deepEqual(verdict.args, { customer_id: "c", amount: 10 });
  });

  it("hands on a copy: a server object changed after the decision does not change what is sent", async () => {
    const args: Record<string, unknown> = { customer_id: "c", amount: 10 };
    const verdict = await decisionPoint("server").decide(call(args));
    assert.ok(verdict.allowed);
    args.amount = 99999;
    assert.equal(verdict.args.amount, 10);
  });
});

describe("enforce on an McpServer decides on what the handler receives", () => {
  const seen: Record<string, unknown>[] = [];
  /** Refunds over 1000 are denied; reads `amount` as a hand-written guard might, treating a missing one as 0. */
  const lenientGuard = (digests: Record<string, string>): GuardModule => ({
    policyName: "lenient",
    policyDigest: "e".repeat(64),
    toolDigests: digests,
    guard(request: GuardRequest): Decision {
      seen.push(request.args as Record<string, unknown>);
      const amount = Number(request.args.amount ?? 0);
      return amount > 1000
        ? { decision: "deny", determining: ["lenient.policy:2"], reason: "refunds over 1000 are refused", explain: [] }
        : { decision: "allow", determining: ["lenient.policy:1"], reason: "permitted", explain: [] };
    },
  });

  function refundServer(ran: Record<string, unknown>[]): McpServer {
    const server = new McpServer({ name: "refunds", version: "1" });
    server.registerTool(
      "refund",
      { description: "Refund.", inputSchema: { customer_id: z.string(), amount: z.number().default(5000), currency: z.string().transform((c) => c.toUpperCase()) } },
      async (args) => {
        ran.push(args);
        return { content: [{ type: "text", text: `refunded ${args.amount}` }] };
      },
    );
    return server;
  }

  async function digestsOf(): Promise<Record<string, string>> {
    const { client, close } = await connect(refundServer([]));
    const { tools } = await client.listTools();
    await close();
    return Object.fromEntries(tools.map((t) => [t.name, toolDigest(t as Record<string, unknown>)]));
  }

  it("a schema default the guard did not see cannot run: the guard reads the defaulted amount", async () => {
    const ran: Record<string, unknown>[] = [];
    const server = refundServer(ran);
    enforce(server, lenientGuard(await digestsOf()), { session: () => sessionInfo(), now: () => NOW, logger: silentLogger() });
    const { client, close } = await connect(server);
    try {
      seen.length = 0;
      const error = await client.callTool({ name: "refund", arguments: { customer_id: "c", currency: "eur", note: "unknown key" } }).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(error instanceof McpError, "the call defaulting to 5000 is refused");
      assert.equal(refusalOf(error)?.code, "PQG7301");
      assert.deepEqual(ran, [], "the handler never ran");
      assert.deepEqual(seen, [{ customer_id: "c", amount: 5000, currency: "EUR" }], "defaults applied, unknown key stripped, transform run");

      seen.length = 0;
      await client.callTool({ name: "refund", arguments: { customer_id: "c", amount: 10, currency: "eur", note: "x" } });
      assert.deepEqual(ran, [{ customer_id: "c", amount: 10, currency: "EUR" }]);
      assert.deepEqual(seen, ran, "the guard saw what the handler received");
    } finally {
      await close();
    }
  });

  it("refuses, before the handler, arguments the schema refuses", async () => {
    const ran: Record<string, unknown>[] = [];
    const server = refundServer(ran);
    enforce(server, lenientGuard(await digestsOf()), { session: () => sessionInfo(), now: () => NOW, logger: silentLogger() });
    const { client, close } = await connect(server);
    try {
      const error = await client.callTool({ name: "refund", arguments: { customer_id: 7 } }).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.equal(refusalOf(error)?.code, "PQG7308");
      assert.deepEqual(ran, []);
    } finally {
      await close();
    }
  });
});
