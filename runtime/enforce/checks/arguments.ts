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
export function argumentsText(args: unknown, source: "wire" | "application"): { readonly text: string } | { readonly problem: string } {
  return source === "wire" ? wireText(args) : applicationText(args);
}

/**
 * Arguments parsed from the wire are plain data: the tree is walked once for problems, then written by the native
 * JSON.stringify (a replacer function costs more than the whole stringify, and this runs on every call).
 */
function wireText(args: unknown): { readonly text: string } | { readonly problem: string } {
  const problem = treeProblem(args);
  if (problem !== undefined) return { problem };
  let text: string | undefined;
  try {
    text = JSON.stringify(args);
  } catch (error) {
    return { problem: `they have no JSON form (${error instanceof Error ? error.message : String(error)})` };
  }
  return text === undefined ? { problem: "they have no JSON form" } : { text };
}

/** The problem the replacer found in the stringify under way (module state: stringify is synchronous, and no closure is made per call). */
let replacerFound: string | undefined;

function checkingReplacer(key: string, value: unknown): unknown {
  if (replacerFound !== undefined) return undefined;
  replacerFound = keyProblem(key) ?? valueProblem(value);
  return value;
}

/**
 * An application's object (a client's arguments) may have getters, `toJSON` or values that change between reads: it
 * is read exactly once, by a stringify whose replacer checks each value as it is written.
 */
function applicationText(args: unknown): { readonly text: string } | { readonly problem: string } {
  replacerFound = undefined;
  let text: string | undefined;
  try {
    text = JSON.stringify(args, checkingReplacer);
  } catch (error) {
    replacerFound ??= `they have no JSON form (${error instanceof Error ? error.message : String(error)})`;
  }
  const problem = replacerFound;
  replacerFound = undefined;
  if (problem !== undefined) return { problem };
  return text === undefined ? { problem: "they have no JSON form" } : { text };
}

/**
 * More values than this in one argument tree are refused: a tree that large is far over any argument size limit, and
 * the bound ends the walk of a cyclic object (which has no JSON form) without a visited set on every call.
 */
export const MAX_ARGUMENT_VALUES = 2 ** 21;

/**
 * The first value or key JSON cannot carry unchanged, walking the tree as JSON.stringify would (own enumerable keys,
 * `toJSON` applied). A loop over an explicit stack, not a replacer: a replacer closure per call costs more than the
 * whole stringify (this runs on every call).
 */
function treeProblem(root: unknown): string | undefined {
  const stack: unknown[] = [root];
  let visited = 0;
  while (stack.length > 0) {
    if (++visited > MAX_ARGUMENT_VALUES) return `they hold more than ${MAX_ARGUMENT_VALUES} values, or a cycle`;
    let value = stack.pop();
    if (typeof value === "object" && value !== null && typeof (value as { toJSON?: unknown }).toJSON === "function") {
      value = (value as { toJSON(): unknown }).toJSON();
    }
    const problem = valueProblem(value);
    if (problem !== undefined) return problem;
    if (typeof value !== "object" || value === null) continue;
    if (Array.isArray(value)) {
      for (const item of value) stack.push(item);
      continue;
    }
    for (const key of Object.keys(value)) {
      const bad = keyProblem(key);
      if (bad !== undefined) return bad;
      stack.push((value as Record<string, unknown>)[key]);
    }
  }
  return undefined;
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
