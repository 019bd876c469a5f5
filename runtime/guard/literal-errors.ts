// Typed errors for the literals a policy writes for paths, domains and address ranges (PQG76xx): a root path, a
// domain, a CIDR range or a set name that cannot mean what its author wants. The checker reports them at the literal.
import { PqguardError, errorCatalogue } from "../errors.js";

export const LITERAL_ERRORS = errorCatalogue("path, domain and address literals", "LiteralError", [[7601, 7699]], {
  BadRange: ["PQG7601", "A CIDR range that does not parse, has a prefix out of range, or has bits set past its prefix."],
  UnknownSet: ["PQG7602", "A name that is not one of the named address sets (`private`, `loopback`, `metadata`, ...)."],
  BadPathRoot: ["PQG7603", "A root for `under` that is not an absolute, unambiguous path of its style."],
  BadDomain: ["PQG7604", "A domain for `within` that is not a host name or address (a URL, a port, a wildcard, an empty label)."],
});

/** The codes by name, to throw with. */
export const LiteralErrorCode = LITERAL_ERRORS.codes;

export type LiteralErrorCode = (typeof LiteralErrorCode)[keyof typeof LiteralErrorCode];

export class LiteralError extends PqguardError {
  declare readonly code: LiteralErrorCode;
  constructor(code: LiteralErrorCode, message: string) {
    super(code, message);
    this.name = "LiteralError";
  }
}
