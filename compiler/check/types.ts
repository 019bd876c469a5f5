// The checker's vocabulary of types: the constants it assigns, how two types compare, and how messages name them.
import type { Expr } from "../../grammar/ast.js";
import type { AlgorithmFamily } from "../../runtime/guard/algorithms.js";
import type { Type } from "../ir.js";

export const NUMBER: Type = { kind: "number" };
export const STRING: Type = { kind: "string" };
export const BOOLEAN: Type = { kind: "boolean" };
export const DURATION: Type = { kind: "duration" };
export const TIMESTAMP: Type = { kind: "timestamp" };
export const REGEX: Type = { kind: "regex" };
export const TOOL: Type = { kind: "tool" };
export const SCOPE: Type = { kind: "scope" };
export const OBJECT: Type = { kind: "object" };
export const UNKNOWN: Type = { kind: "unknown" };
export const ADDRESS: Type = { kind: "address" };
/** The type of an expression that already produced a diagnostic: it silences every follow-on complaint. */
export const ERROR: Type = Object.freeze({ kind: "unknown" });

export function algorithm(family: AlgorithmFamily): Type {
  return { kind: "algorithm", family };
}

export function sameType(a: Type, b: Type): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === "list" && b.kind === "list") return sameType(a.element, b.element);
  if (a.kind === "algorithm" && b.kind === "algorithm") return a.family === b.family;
  return true;
}

function article(word: string): string {
  return /^[aeiou]/.test(word) ? `an ${word}` : `a ${word}`;
}

export function typeName(t: Type): string {
  switch (t.kind) {
    case "algorithm":
      return article(`${t.family} algorithm`);
    case "regex":
      return "a regular expression";
    case "tool":
      return "a tool reference";
    case "scope":
      return "a history scope";
    case "unknown":
      return "a value of unknown type";
    case "list":
      return t.element.kind === "unknown" ? "a list" : `a list of ${typeName(t.element).replace(/^an? /, "")}s`;
    default:
      return article(t.kind);
  }
}

export function unwrap(e: Expr): Expr {
  let inner = e;
  while (inner.kind === "Paren") inner = inner.inner;
  return inner;
}
