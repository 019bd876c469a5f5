// The arguments check: a call's arguments must be JSON that every reader takes the same way, so that the guard decides
// on exactly the value the tool receives. It yields their JSON text and a plain copy parsed back from it.

/**
 * Why these arguments have no single JSON reading, or undefined when they have one. Refused, anywhere in the tree:
 * - numbers that are not finite (`-1e309` parses to `-Infinity`, which JSON.stringify sends on as `null`);
 * - strings and keys that are not well-formed UTF-16 (a lone surrogate: UTF-8 encoders replace it, other parsers
 *   refuse it, so the reader downstream sees another string or none);
 * - the key `__proto__` (an own property after JSON.parse, a prototype for any code that copies by assignment);
 * - BigInt values (JSON has no form for them).
 * Accepted, and decided on as the copy sent on: `-0` (written and read back as `0`), integers beyond 2^53 (rounded to
 * the nearest double by the first parser; that double is what is decided and sent), duplicate keys (the last one wins
 * at the first parse; the copy sent on has only that one).
 */
export function argumentsText(args: unknown): { readonly text: string } | { readonly problem: string } {
  let problem: string | undefined;
  let text: string | undefined;
  try {
    text = JSON.stringify(args, function check(this: unknown, key: string, value: unknown): unknown {
      if (problem !== undefined) return undefined;
      problem = keyProblem(key) ?? valueProblem(value);
      return value;
    });
  } catch (error) {
    return { problem: problem ?? `they have no JSON form (${error instanceof Error ? error.message : String(error)})` };
  }
  if (problem !== undefined) return { problem };
  if (text === undefined) return { problem: "they have no JSON form" };
  return { text };
}

function keyProblem(key: string): string | undefined {
  if (key === "__proto__") return "they contain the key `__proto__`, which JavaScript readers take apart differently";
  if (!isWellFormed(key)) return "a key contains a lone surrogate, which is not Unicode text";
  return undefined;
}

function valueProblem(value: unknown): string | undefined {
  switch (typeof value) {
    case "number":
      return Number.isFinite(value) ? undefined : `they contain the number \`${String(value)}\`, which JSON cannot carry (it would be sent as \`null\`)`;
    case "string":
      return isWellFormed(value) ? undefined : "a string contains a lone surrogate, which is not Unicode text";
    case "bigint":
      return "they contain a BigInt, which JSON cannot carry";
    default:
      return undefined;
  }
}

/** `String.prototype.isWellFormed` (ES2024, Node ≥ 20), typed here because the project's lib is ES2023. */
function isWellFormed(text: string): boolean {
  return (text as string & { isWellFormed(): boolean }).isWellFormed();
}
