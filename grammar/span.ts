// Source spans: from Chevrotain tokens, joined over several nodes, and as zero-length points where something is missing.
import type { IToken } from "chevrotain";
import type { Span } from "./ast.js";

/** The span of a real token; undefined for a token that error recovery inserted (it has no position). */
export function tokenSpan(token: IToken | undefined): Span | undefined {
  if (token === undefined || token.isInsertedInRecovery === true || !Number.isFinite(token.startOffset)) return undefined;
  const endOffset = token.endOffset ?? token.startOffset + token.image.length - 1;
  return {
    start: token.startOffset,
    end: endOffset + 1,
    line: token.startLine ?? 1,
    column: token.startColumn ?? 1,
    endLine: token.endLine ?? token.startLine ?? 1,
    endColumn: (token.endColumn ?? token.startColumn ?? 0) + 1,
  };
}

/** The smallest span covering every given span; undefined entries are ignored. */
export function joinSpans(...spans: readonly (Span | undefined)[]): Span | undefined {
  let first: Span | undefined;
  let last: Span | undefined;
  for (const span of spans) {
    if (span === undefined) continue;
    if (first === undefined || span.start < first.start) first = span;
    if (last === undefined || span.end > last.end) last = span;
  }
  if (first === undefined || last === undefined) return undefined;
  return { start: first.start, line: first.line, column: first.column, end: last.end, endLine: last.endLine, endColumn: last.endColumn };
}

/** A zero-length span just after `span`: where something that should have followed it is missing. */
export function pointAfter(span: Span): Span {
  return { start: span.end, end: span.end, line: span.endLine, column: span.endColumn, endLine: span.endLine, endColumn: span.endColumn };
}

/** A span inside a single-line token, `offset` characters from its start. */
export function spanWithin(token: Span, offset: number, length: number): Span {
  const start = token.start + offset;
  return {
    start,
    end: start + length,
    line: token.line,
    column: token.column + offset,
    endLine: token.line,
    endColumn: token.column + offset + length,
  };
}

/** Line and column just after the last character of `source`, counting `\n`, `\r\n` and `\r` as line breaks. */
export function endOfSource(source: string): Span {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < source.length; i += 1) {
    const ch = source.charCodeAt(i);
    if (ch === 10 || (ch === 13 && source.charCodeAt(i + 1) !== 10)) {
      line += 1;
      lineStart = i + 1;
    }
  }
  const column = source.length - lineStart + 1;
  return { start: source.length, end: source.length, line, column, endLine: line, endColumn: column };
}

export const START_OF_SOURCE: Span = { start: 0, end: 0, line: 1, column: 1, endLine: 1, endColumn: 1 };
