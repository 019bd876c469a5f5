// session, clock, history and request: generated contexts are ones enforcement produces for real sessions, the
// constraints fix what they say, the clock dwells on the boundaries policies test, histories agree with the clock and
// the session, and the same seed gives the same requests.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { algorithmNames } from "../../runtime/crypto/registry.js";
import { algorithmFacts } from "../../runtime/guard/algorithms.js";
import { ArbitraryError, ArbitraryErrorCode, clock, history, request, session, toolCall, zoneTransitions, type CallScope, type SessionConstraints, type SessionParts } from "../../testing/index.js";

const PAYMENTS = JSON.parse(readFileSync(new URL("../../policies/payments/payments.tools.json", import.meta.url), "utf8")) as { tools: unknown[] };
const TOOLS = ["get_balance", "list_transactions", "process_refund"];

function constraintError(run: () => unknown): ArbitraryError {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof ArbitraryError, String(error));
    assert.equal(error.code, ArbitraryErrorCode.BadConstraint);
    return error;
  }
  assert.fail("expected a BadConstraint error");
}

describe("pqguard/testing session", function () {
  this.timeout(60_000);

  it("draws only sessions enforcement can produce: registry suites, levels and identities that agree", () => {
    fc.assert(
      fc.property(session(), ({ client, peer, transport, session: facts }) => {
        assert.ok(facts.ageMs >= 0 && facts.calls === 0 && typeof facts.id === "string");
        if (transport.kem === undefined) {
          // A plain connection: no suite, no identity (runtime/enforce/context.ts guardContextOf).
          assert.deepEqual(transport, { hybrid: false, level: 0 });
          assert.equal(client.authenticated, false);
          assert.equal(peer.fingerprint, undefined);
          assert.match(facts.id!, /^unsealed-/);
          return;
        }
        assert.ok(algorithmNames("kem").includes(transport.kem));
        assert.ok(algorithmNames("signature").includes(transport.signature!));
        assert.ok(algorithmNames("aead").includes(transport.aead!));
        const kem = algorithmFacts(transport.kem)!;
        const signature = algorithmFacts(transport.signature!)!;
        assert.equal(transport.hybrid, kem.hybrid);
        assert.equal(transport.level, kem.level === 0 ? 0 : Math.min(kem.level, signature.level));
        if (kem.level === 0) assert.equal(transport.hybrid, false);
        assert.match(peer.fingerprint!, /^mldsa65:[a-z2-7]{52}$/);
        assert.match(facts.id!, /^[0-9a-f]{32}$/);
        if (!client.authenticated) {
          assert.deepEqual([client.id, client.role, client.fingerprint, client.claims], [undefined, undefined, undefined, undefined]);
        } else {
          assert.match(client.fingerprint!, /^mldsa(44|65|87):/);
          assert.equal(client.id, client.claims!["id"]);
          assert.equal(client.role, client.claims!["role"]);
        }
      }),
      { numRuns: 500 },
    );
  });

  it("fixes the dimensions the constraints name", () => {
    const check = (constraints: SessionConstraints, holds: (s: SessionParts) => boolean) =>
      fc.assert(fc.property(session(constraints), (s) => holds(s)), { numRuns: 200 });
    check({ hybrid: true, role: "viewer" }, (s) => s.transport.hybrid && s.client.authenticated && s.client.role === "viewer");
    check({ authenticated: false }, (s) => !s.client.authenticated && s.client.role === undefined);
    check({ role: ["billing-agent", "support-agent"], id: "agent-7" }, (s) => ["billing-agent", "support-agent"].includes(s.client.role!) && s.client.id === "agent-7");
    check({ level: 5 }, (s) => s.transport.level === 5 && s.transport.kem !== undefined);
    check({ hybrid: false, level: 0 }, (s) => !s.transport.hybrid && s.transport.level === 0);
    check({ sealed: false }, (s) => s.transport.kem === undefined && !s.client.authenticated);
    check({ kem: "X25519" }, (s) => s.transport.kem === "X25519" && s.transport.level === 0 && !s.transport.hybrid);
    check({ age: { min: 8 * 3_600_000 } }, (s) => s.session.ageMs >= 8 * 3_600_000);
    check({ age: 1000 }, (s) => s.session.ageMs === 1000);
    const tenants = fc.constantFrom("t-1", "t-2");
    check({ claims: { tenant: tenants, admin: false } }, (s) => ["t-1", "t-2"].includes(s.client.claims!["tenant"] as string) && s.client.claims!["admin"] === false);
  });

  it("refuses constraints no real session meets", () => {
    constraintError(() => session({ authenticated: false, role: "viewer" }));
    constraintError(() => session({ sealed: false, hybrid: true }));
    constraintError(() => session({ kem: "ML-KEM-786" }));
    constraintError(() => session({ kem: "X25519", hybrid: true }));
    constraintError(() => session({ age: { min: 10, max: 5 } }));
  });
});

describe("pqguard/testing clock", function () {
  this.timeout(60_000);
  const from = Date.UTC(2026, 0, 1);
  const to = Date.UTC(2027, 0, 1);
  const berlin = new Intl.DateTimeFormat("en-GB", { timeZone: "Europe/Berlin", hourCycle: "h23", hour: "2-digit", minute: "2-digit", second: "2-digit" });

  it("finds the daylight-saving transitions of a zone", () => {
    assert.deepEqual(zoneTransitions("Europe/Berlin", from, to).map((t) => new Date(t).toISOString()), ["2026-03-29T01:00:00.000Z", "2026-10-25T01:00:00.000Z"]);
    assert.deepEqual(zoneTransitions("UTC", from, to), []);
  });

  it("stays within its window and dwells on hours, midnights and transitions of its zone", () => {
    const times = fc.sample(clock({ zone: "Europe/Berlin", from, to }), { seed: 5, numRuns: 3000 });
    assert.ok(times.every((t) => Number.isInteger(t) && t >= from && t <= to));
    const [spring, autumn] = zoneTransitions("Europe/Berlin", from, to);
    for (const t of [spring!, spring! - 1, autumn!, autumn! - 1, from, to]) assert.ok(times.includes(t), new Date(t).toISOString());
    const wall = (t: number) => berlin.format(t);
    const onHour = times.filter((t) => t % 1000 === 0 && wall(t).endsWith(":00:00"));
    const atMidnight = times.filter((t) => t % 1000 === 0 && wall(t) === "00:00:00");
    const beforeMidnight = times.filter((t) => t % 1000 === 999 && wall(t) === "23:59:59");
    assert.ok(onHour.length > 300, `${onHour.length} on the hour`);
    assert.ok(atMidnight.length > 50 && beforeMidnight.length > 20, `${atMidnight.length} at and ${beforeMidnight.length} just before midnight`);
  });

  it("refuses an unknown zone and a window that ends before it starts", () => {
    constraintError(() => clock({ zone: "Europe/Berln" }));
    constraintError(() => clock({ from: to, to: from }));
  });
});

describe("pqguard/testing history and request", function () {
  this.timeout(60_000);

  it("answers count and called as the state store does, from calls at or before now", () => {
    const query = fc.record({
      tools: fc.oneof(fc.constant("*" as const), fc.subarray(TOOLS, { minLength: 1 })),
      back: fc.nat(2 * 24 * 3_600_000),
      scope: fc.constantFrom("global", "client", "session") as fc.Arbitrary<"global" | "client" | "session">,
      tool: fc.constantFrom("*", ...TOOLS),
    });
    fc.assert(
      fc.property(history(PAYMENTS), query, (h, q) => {
        assert.ok(h.calls.every((c) => c.at <= h.now && TOOLS.includes(c.tool)));
        const inScope: Record<string, readonly CallScope[]> = { global: ["session", "client", "other"], client: ["session", "client"], session: ["session"] };
        const expected = h.calls.filter((c) => c.at >= h.now - q.back && (q.tools === "*" || q.tools.includes(c.tool)) && inScope[q.scope]!.includes(c.scope)).length;
        assert.equal(h.count(q.tools, h.now - q.back, q.scope), expected);
        assert.equal(h.called(q.tool), h.calls.some((c) => c.scope === "session" && (q.tool === "*" || c.tool === q.tool)));
      }),
    );
  });

  it("keeps a session's earlier calls within its age, counts them in session.calls, and puts every call before now", () => {
    fc.assert(
      fc.property(request({ manifest: PAYMENTS }), ({ context }) => {
        const h = context.history as unknown as { calls: { at: number; scope: CallScope }[]; now: number };
        assert.equal(h.now, context.now);
        assert.ok(h.calls.every((c) => c.at <= context.now));
        const own = h.calls.filter((c) => c.scope === "session");
        assert.equal(context.session.calls, own.length);
        assert.ok(own.every((c) => c.at >= context.now - context.session.ageMs));
      }),
      { numRuns: 300 },
    );
  });

  it("draws the same requests from the same seed", () => {
    const params = { seed: 99, numRuns: 40 };
    const print = (arb: fc.Arbitrary<unknown>) => fc.sample(arb, params).map((r) => fc.stringify(r));
    const make = () => request({ manifest: PAYMENTS, session: session({ hybrid: true }), clock: clock({ zone: "Europe/Berlin" }) });
    assert.deepEqual(print(make()), print(make()));
  });

  it("shrinks to a minimal request: the failing fact alone, everything else at its simplest", () => {
    const property = fc.property(request({ call: toolCall(PAYMENTS, "get_balance"), session: session(), clock: clock(), history: history(PAYMENTS) }), (r) => r.context.session.calls < 2);
    const details = fc.check(property, { seed: 3 });
    assert.equal(details.failed, true);
    const [minimal] = details.counterexample!;
    assert.equal(minimal.context.session.calls, 2);
    const calls = (minimal.context.history as unknown as { calls: { tool: string; scope: string }[] }).calls;
    assert.deepEqual(calls.map((c) => [c.tool, c.scope]), [["get_balance", "session"], ["get_balance", "session"]]);
    assert.deepEqual(minimal.args, {});
  });

  it("needs a call or a manifest", () => {
    constraintError(() => request());
  });
});
