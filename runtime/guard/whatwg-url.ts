// The WHATWG URL parser as the guard runtime uses it: the global `URL` of Node, Deno, Bun and browsers, typed here so
// that a project compiling guards with neither DOM nor Node types (`lib: es2022`, `types: []`) still type-checks them.

/** The parts of a parsed URL the guard runtime reads. */
export interface WhatwgUrl {
  readonly protocol: string;
  readonly hostname: string;
  readonly port: string;
  readonly pathname: string;
  readonly search: string;
  readonly username: string;
  readonly password: string;
}

const Parser = (globalThis as unknown as { readonly URL: new (input: string) => WhatwgUrl }).URL;

/** Parses an absolute URL; throws (a TypeError) when the text is not one, as `new URL` does. */
export function parseWhatwgUrl(text: string): WhatwgUrl {
  return new Parser(text);
}
