// Errors of `pqguard inventory`: the one thing it can find wrong in itself is an algorithm it has no profile of.
import { PqguardError, errorCatalogue } from "../errors.js";
export const INVENTORY_ERRORS = errorCatalogue("inventory", "InventoryError", [[5401, 5499]], {
  UnprofiledAlgorithm: ["PQG5401", "An algorithm the deployment can use has no entry in the inventory's algorithm table."],
});

/** The codes by name, to throw with. */
export const InventoryErrorCode = INVENTORY_ERRORS.codes;
export type InventoryErrorCode = (typeof InventoryErrorCode)[keyof typeof InventoryErrorCode];

export class InventoryError extends PqguardError {
  declare readonly code: InventoryErrorCode;
  constructor(code: InventoryErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = "InventoryError";
  }
}
