// The error every arbitrary of pqguard/testing throws when it is built: a stable PQG955x code, one sentence, and the
// tool, JSON pointer and keyword at fault, so that a schema the generator cannot honour is reported, never guessed at.
import { PqguardError, errorCatalogue } from "../runtime/errors.js";

export const ARBITRARY_ERRORS = errorCatalogue("pqguard/testing arbitraries", "ArbitraryError", [[9550, 9559]], {
  UnsupportedKeyword: ["PQG9550", "A schema keyword (or a value of one: a format, a remote `$ref`, a pattern) the generator cannot honour."],
  Unsatisfiable: ["PQG9551", "A schema no value satisfies, or none the generator can find: `minimum` above `maximum`, an empty `enum`."],
  UnknownTool: ["PQG9552", "A tool name the manifest does not define."],
  BadManifest: ["PQG9553", "A manifest that is not a tool list, or a tool without an `inputSchema` object."],
  NoInvalidCall: ["PQG9554", "A tool whose schema accepts every argument object: no call can violate it."],
  BadConstraint: ["PQG9555", "Constraints of `session`, `clock`, `history` or `request` that contradict each other or name unknown values."],
});

/** The codes by name, to throw with. */
export const ArbitraryErrorCode = ARBITRARY_ERRORS.codes;

export type ArbitraryErrorCode = (typeof ArbitraryErrorCode)[keyof typeof ArbitraryErrorCode];

/** Where in a tool's input schema an error is: the tool, the JSON pointer into its schema and the keyword there. */
export interface SchemaLocation {
  readonly tool: string;
  /** JSON pointer into the tool's `inputSchema`, `#/properties/amount`. */
  readonly pointer: string;
  readonly keyword: string;
}

export class ArbitraryError extends PqguardError {
  declare readonly code: ArbitraryErrorCode;
  constructor(
    code: ArbitraryErrorCode,
    message: string,
    /** The schema location at fault, for the schema errors. */
    readonly location?: SchemaLocation,
  ) {
    super(code, message);
    this.name = "ArbitraryError";
  }

  get tool(): string | undefined {
    return this.location?.tool;
  }
}
