// What payments-history.policy guarantees for every history, not just those in its cases: generated earlier refunds
// carry amounts drawn from the tool's schema, so the daily sum and the largest refund are tested on real values.
import fc from "fast-check";
import { decides, history, neverAllows, request, session, toolCall } from "pqguard/testing";

const DAY = 86_400_000;
const admitted = session({ role: ["billing-agent"], kem: ["X25519MLKEM768", "SecP384r1MLKEM1024"] });
/** Refund amounts around the lines the policy draws, and anywhere up to 6000. */
const amounts = fc.oneof(fc.constantFrom(1000, 1000.01, 5000, 1, 0.01), fc.integer({ min: 1, max: 6000 }), fc.double({ min: 0.01, max: 6000, noNaN: true }));

/** What the client refunded in the day before the request: every earlier refund of its own sessions. */
function refundedToday(r) {
  return r.context.history.calls
    .filter((c) => c.tool === "process_refund" && c.scope !== "other" && c.at >= r.context.now - DAY && typeof c.args?.amount === "number")
    .reduce((sum, c) => sum + c.args.amount, 0);
}

export default (t) => {
  const refundCalls = fc.tuple(toolCall(t.manifest, "process_refund"), amounts).map(([call, amount]) => ({ ...call, args: { ...call.args, amount } }));
  // Earlier refunds within two days, of this session, this client's other sessions and other clients, amounts included.
  const earlier = history(t.manifest, {
    tools: ["process_refund"],
    calls: { max: 6 },
    within: 2 * DAY,
    args: { process_refund: fc.record({ customer_id: fc.constant("c-17"), amount: amounts }) },
  });

  t.it("never lets a client's refunds of a day add up past 5000", () => {
    neverAllows(t.guard, request({ call: refundCalls, session: admitted, history: earlier }), (r) => refundedToday(r) + r.args.amount > 5000);
  });

  t.it("decides balances and transactions without looking at the history", () => {
    const reads = fc.constantFrom("get_balance", "list_transactions").chain((tool) => toolCall(t.manifest, tool));
    decides(t.guard, request({ call: reads, session: admitted, history: earlier }), () => "allow");
  });
};
