// The error every arbitrary of pqguard/testing throws when it is built: a stable PQG955x code, one sentence, and the
// tool, JSON pointer and keyword at fault, so that a schema the generator cannot honour is reported, never guessed at.

export const ArbitraryErrorCode = {
  /** A schema keyword (or a value of one: a format, a remote `$ref`, a pattern) the generator cannot honour. */
  UnsupportedKeyword: "PQG9550",
  /** A schema no value satisfies, or none the generator can find: `minimum` above `maximum`, an empty `enum`. */
  Unsatisfiable: "PQG9551",
  /** A tool name the manifest does not define. */
  UnknownTool: "PQG9552",
  /** A manifest that is not a tool list, or a tool without an `inputSchema` object. */
  BadManifest: "PQG9553",
  /** A tool whose schema accepts every argument object: no call can violate it. */
  NoInvalidCall: "PQG9554",
  /** Constraints of `session`, `clock`, `history` or `request` that contradict each other or name unknown values. */
  BadConstraint: "PQG9555",
} as const;

export type ArbitraryErrorCode = (typeof ArbitraryErrorCode)[keyof typeof ArbitraryErrorCode];

/** Where in a tool's input schema an error is: the tool, the JSON pointer into its schema and the keyword there. */
export interface SchemaLocation {
  readonly tool: string;
  /** JSON pointer into the tool's `inputSchema`, `#/properties/amount`. */
  readonly pointer: string;
  readonly keyword: string;
}

export class ArbitraryError extends Error {
  constructor(
    readonly code: ArbitraryErrorCode,
    message: string,
    /** The schema location at fault, for the schema errors. */
    readonly location?: SchemaLocation,
  ) {
    super(message);
    this.name = "ArbitraryError";
  }

  get tool(): string | undefined {
    return this.location?.tool;
  }
}
