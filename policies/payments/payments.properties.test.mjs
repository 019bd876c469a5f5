// What the payments policy guarantees for every request, not just the ones in payments.cases.json. Run with
// `pqguard test policies/payments`: `t.guard` decides each request with the compiled guard and the interpreter at once.
import fc from "fast-check";
import { algorithmFacts } from "pqguard/guard";
import { alwaysDenies, clock, decides, explainsWith, history, neverAllows, request, session, toolCall } from "pqguard/testing";

const HOUR = 3_600_000;
/** Sessions every requirement lets through: a known role, a hybrid ML-KEM-768 or stronger, younger than 8 h. */
const admitted = session({ role: ["billing-agent", "support-agent"], kem: ["X25519MLKEM768", "SecP384r1MLKEM1024", "X-Wing"], age: { max: 8 * HOUR - 1 } });
/** A Monday's business hours in Berlin (CET, UTC+1, in March): 08:00 to 17:59:59.999. */
const businessHours = clock({ from: "2026-03-02T08:00:00+01:00", to: "2026-03-02T17:59:59.999+01:00", zone: "Europe/Berlin" });
/** A Saturday in Berlin, all day. */
const saturday = clock({ from: "2026-03-07T00:00:00+01:00", to: "2026-03-07T23:59:59.999+01:00", zone: "Europe/Berlin" });
/**
 * Refund amounts where the policy draws its lines: at 1000 and 5000 exactly, a cent and a euro either side, and
 * anywhere up to 10000. The schema alone (any number above 0) would almost never land in a band a thousand wide.
 */
const amounts = fc.oneof(
  fc.constantFrom(1000, 5000).chain((edge) => fc.constantFrom(edge, edge - 0.01, edge + 0.01, edge - 1, edge + 1)),
  fc.integer({ min: 1, max: 10_000 }),
  fc.double({ min: 0.01, max: 1e9, noNaN: true }),
);
const kemLevel = (r) => (r.context.transport.kem === undefined ? 0 : (algorithmFacts(r.context.transport.kem)?.level ?? 0));

export default (t) => {
  const refundCalls = fc.tuple(toolCall(t.manifest, "process_refund"), amounts).map(([call, amount]) => ({ ...call, args: { ...call.args, amount } }));
  const refunds = (parts = {}) => request({ call: refundCalls, session: admitted, clock: businessHours, ...parts });

  t.it("no refund above 5000 is ever allowed", () => {
    neverAllows(t.guard, request({ call: refundCalls, manifest: t.manifest }), (r) => r.args.amount > 5000);
  });

  t.it("nothing is allowed on a session below ML-KEM-768", () => {
    neverAllows(t.guard, request({ manifest: t.manifest }), (r) => kemLevel(r) < 3);
  });

  t.it("in business hours a fresh session's refund is decided by its amount and the agent's role", () => {
    decides(t.guard, refunds(), (r) => {
      const amount = r.args.amount;
      if (amount > 5000) return "deny";
      if (amount > 1000) return "ask";
      return r.context.client.role === "billing-agent" ? "allow" : "deny";
    });
  });

  t.it("a fourth refund within ten minutes is refused by the velocity rule", () => {
    const threeRecent = history(t.manifest, { tools: ["process_refund"], calls: { min: 3 }, within: 10 * 60_000 - 1, scopes: ["session"] });
    explainsWith(t.guard, refunds({ history: threeRecent }), "payments.policy:29");
  });

  t.it("nothing at all is allowed on a Saturday", () => {
    alwaysDenies(t.guard, request({ manifest: t.manifest, session: admitted, clock: saturday }));
  });
};
