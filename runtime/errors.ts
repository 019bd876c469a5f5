// The one family of pqguard's errors: a base class with a stable `PQGnnnn` code and one lowercase sentence, and the
// catalogue each family of codes is declared in (one meaning per code), from which docs/errors.md is generated.

/**
 * The base of every error pqguard throws on purpose: `code` says which failure it is (one meaning per code, listed in
 * docs/errors.md), `message` says it in one sentence naming the offending value, and `cause` keeps what a lower layer
 * threw. Messages name algorithms, fingerprints, tools, sizes and paths, never key bytes, secrets or call arguments.
 */
export class PqguardError extends Error {
  /** `PQGnnnn`: which failure this is; subclasses narrow it to their catalogue's codes. */
  readonly code: string;
  constructor(code: string, message: string, options?: { readonly cause?: unknown }) {
    super(message, options);
    this.name = "PqguardError";
    this.code = code;
  }
}

/** One code of a catalogue: the code and its one meaning (a sentence fragment, as in docs/errors.md). */
export interface ErrorCodeEntry {
  readonly code: string;
  readonly meaning: string;
}

/**
 * A named family of codes: the class its errors are thrown as, the code ranges it owns (inclusive numbers, so that
 * a new code is added inside them and two catalogues never hand out the same number) and its entries by name.
 */
export interface ErrorCatalogue<Name extends string = string> {
  /** Where the codes are used, for the docs: "session", "proxy", "pqguard CLI". */
  readonly area: string;
  /** The class (or the kind of output, for CLI messages and diagnostics) the codes appear in. */
  readonly errorClass: string;
  readonly ranges: readonly (readonly [number, number])[];
  readonly entries: { readonly [N in Name]: ErrorCodeEntry };
}

type Spec = Readonly<Record<string, readonly [code: string, meaning: string]>>;

/**
 * Declares a catalogue from `Name: [code, meaning]` pairs; returns the catalogue and the `Name → code` map code throws
 * with (`SessionErrorCode.Replay`), whose values keep their literal types.
 */
export function errorCatalogue<const S extends Spec>(
  area: string,
  errorClass: string,
  ranges: readonly (readonly [number, number])[],
  spec: S,
): { readonly catalogue: ErrorCatalogue<Extract<keyof S, string>>; readonly codes: { readonly [N in keyof S]: S[N][0] } } {
  const entries = Object.fromEntries(Object.entries(spec).map(([name, [code, meaning]]) => [name, { code, meaning }]));
  const codes = Object.fromEntries(Object.entries(spec).map(([name, [code]]) => [name, code]));
  return {
    catalogue: Object.freeze({ area, errorClass, ranges, entries: Object.freeze(entries) }) as ErrorCatalogue<Extract<keyof S, string>>,
    codes: Object.freeze(codes) as { readonly [N in keyof S]: S[N][0] },
  };
}
