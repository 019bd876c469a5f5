// The codes a failed guard assertion carries (PQG950x), in their own module so that the entry point's `export *` of
// assertions.ts exports the codes by name but not the catalogue, which bin/error-codes.ts registers.
import { errorCatalogue } from "../runtime/errors.js";
import { DISAGREEMENT_CODE } from "./runner/agreement.js";

export const GUARD_ASSERTION_ERRORS = errorCatalogue("guard assertions", "GuardAssertionError", [[9501, 9509]], {
  PropertyFailed: ["PQG9501", "A generated request got a decision the property rules out."],
  Threw: ["PQG9502", "The guard, the predicate or the expected-decision function threw on a generated request."],
  NotChecked: ["PQG9503", "fast-check could not check the property: the predicate rejected too many requests, or the run was interrupted."],
  BackendsDisagree: [DISAGREEMENT_CODE, "The compiled guard and the interpreter decided a request differently (`pqguard test`, `pqguard diff`)."],
});
