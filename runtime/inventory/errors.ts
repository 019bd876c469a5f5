// Errors of `pqguard inventory`: the one thing it can find wrong in itself is an algorithm it has no profile of.
export const InventoryErrorCode = {
  /** An algorithm the deployment can use has no entry in the inventory's algorithm table. */
  UnprofiledAlgorithm: "PQG5401",
} as const;
export type InventoryErrorCode = (typeof InventoryErrorCode)[keyof typeof InventoryErrorCode];

export class InventoryError extends Error {
  readonly code: InventoryErrorCode;
  constructor(code: InventoryErrorCode, message: string) {
    super(message);
    this.name = "InventoryError";
    this.code = code;
  }
}
