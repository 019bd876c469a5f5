// What the healthcare policy guarantees for every request. Run with `pqguard test policies/healthcare`: `t.guard`
// decides each request with the compiled guard and the interpreter at once.
import fc from "fast-check";
import { alwaysDenies, clock, history, invalidToolCall, neverAllows, request, session, toolCall } from "pqguard/testing";

const HOUR = 3_600_000;
/** Sessions every requirement lets through: a hybrid ML-KEM-768 or stronger, ML-DSA-65 or stronger, under 12 h. */
const admitted = (role) =>
  session({ role, kem: ["X25519MLKEM768", "SecP384r1MLKEM1024", "X-Wing"], signature: ["ML-DSA-65", "ML-DSA-87"], age: { max: 12 * HOUR - 1 } });
const CLINICIANS = ["physician", "nurse", "records-clerk", "scheduler"];
/** A weekday night in New York (EST, UTC-5, in March): 19:00 to 06:59:59.999 the next morning. */
const night = clock({ from: "2026-03-03T19:00:00-05:00", to: "2026-03-04T06:59:59.999-05:00", zone: "America/New_York" });

export default (t) => {
  t.it("once a record was read in a session, no email leaves the hospital", () => {
    const readBefore = history(t.manifest, { tools: ["read_patient_record"], calls: { min: 1, max: 3 }, scopes: ["session"] });
    const emails = request({ call: toolCall(t.manifest, "send_email"), session: admitted(CLINICIANS), history: readBefore });
    neverAllows(t.guard, emails, (r) => !String(r.args.to).toLowerCase().endsWith("@example-hospital.org"));
  });

  t.it("a records clerk never reads clinical notes, nor a record without naming its sections", () => {
    const reads = request({ call: toolCall(t.manifest, "read_patient_record"), session: admitted("records-clerk") });
    neverAllows(t.guard, reads, (r) => !Array.isArray(r.args.sections) || r.args.sections.includes("clinical_notes"));
  });

  t.it("a record with a malformed or missing patient id is never read nor changed", () => {
    const calls = fc.oneof(invalidToolCall(t.manifest, "read_patient_record"), invalidToolCall(t.manifest, "update_patient_record"));
    const wellFormed = (id) => typeof id === "string" && /^P-[0-9]{6}$/.test(id);
    neverAllows(t.guard, request({ call: calls, session: admitted(CLINICIANS) }), (r) => !wellFormed(r.args.patient_id));
  });

  t.it("exports of more than ten patients are always denied", () => {
    const bulk = toolCall(t.manifest, "export_patient_records", { maxExtraItems: 20 }).filter((c) => c.args.patient_ids.length > 10);
    alwaysDenies(t.guard, request({ call: bulk, session: admitted(CLINICIANS) }));
  });

  t.it("records are never changed or exported at night", () => {
    const changes = fc.oneof(toolCall(t.manifest, "update_patient_record"), toolCall(t.manifest, "export_patient_records"));
    alwaysDenies(t.guard, request({ call: changes, session: admitted(CLINICIANS), clock: night }));
  });
};
