// The audit layer's one error family: a PQG71xx code and one sentence.

export type AuditErrorCode =
  /** The log file cannot be opened, read or written. */
  | "PQG7101"
  /** An existing log ends in a line that is not a valid audit line, so the chain cannot be continued. */
  | "PQG7102"
  /** `pqguard audit verify` found the chain broken (the verifier names the line). */
  | "PQG7103"
  /** The audit key (file) is missing, unreadable, too short, malformed or readable by others. */
  | "PQG7104"
  /** The log does not reach, or does not hold, the line its anchor names: lines were cut off or replaced while it was stopped. */
  | "PQG7105"
  /** The anchor is missing for a log that has lines, unreadable, malformed, or without a valid MAC under the audit key. */
  | "PQG7106";

export class AuditError extends Error {
  constructor(
    readonly code: AuditErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "AuditError";
  }
}
