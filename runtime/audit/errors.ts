// The audit layer's errors: the PQG71xx catalogue and AuditError, kept apart from the writer so that the checkpoint
// and key modules can raise them without importing the writer.
import { PqguardError, errorCatalogue } from "../errors.js";

export const AUDIT_ERRORS = errorCatalogue("audit log", "AuditError", [[7101, 7199]], {
  Unwritable: ["PQG7101", "The log file cannot be opened, read or written."],
  BadLastLine: ["PQG7102", "An existing log ends in a line that is not a valid audit line, so the chain cannot be continued."],
  ChainBroken: ["PQG7103", "`pqguard audit verify` found the chain broken (the verifier names the line)."],
  KeyUnusable: ["PQG7104", "The audit key (file) is missing, unreadable, too short, malformed or readable by others."],
  Cut: ["PQG7105", "The log does not reach, or does not hold, the line its anchor names: lines were cut off, replaced or added while it was stopped."],
  AnchorUnusable: ["PQG7106", "The anchor is missing for a log that has lines, unreadable, malformed, or without a valid MAC under the audit key."],
});

/** The codes by name. */
export const AuditErrorCode = AUDIT_ERRORS.codes;
export type AuditErrorCode = (typeof AuditErrorCode)[keyof typeof AuditErrorCode];

export class AuditError extends PqguardError {
  declare readonly code: AuditErrorCode;
  constructor(code: AuditErrorCode, message: string) {
    super(code, message);
    this.name = "AuditError";
  }
}
