// Typed errors for the literals a policy writes for paths, domains and address ranges (PQG76xx): a root path, a
// domain, a CIDR range or a set name that cannot mean what its author wants. The checker reports them at the literal.

export const LiteralErrorCode = {
  /** A CIDR range that does not parse, has a prefix out of range, or has bits set past its prefix. */
  BadRange: "PQG7601",
  /** A name that is not one of the named address sets. */
  UnknownSet: "PQG7602",
  /** A root for `under` that is not an absolute, unambiguous path of its style. */
  BadPathRoot: "PQG7603",
  /** A domain for `within` that is not a host name (a URL, a port, a wildcard, an empty label). */
  BadDomain: "PQG7604",
} as const;

export type LiteralErrorCode = (typeof LiteralErrorCode)[keyof typeof LiteralErrorCode];

export class LiteralError extends Error {
  constructor(
    readonly code: LiteralErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "LiteralError";
  }
}
