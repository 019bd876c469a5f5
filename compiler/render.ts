// Renders diagnostics for people (`path:line:col: error CODE: message`, the source line and a caret underline)
// and for programs (`--format json`). Errors come before warnings; each group is ordered by position.
import type { Diagnostic } from "./diagnostics.js";

export type DiagnosticFormat = "text" | "json";

/** One diagnostic as `--format json` prints it: the Diagnostic's fields with the span spelled out. */
export interface DiagnosticJson {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly endLine: number;
  readonly endColumn: number;
  readonly code: string;
  readonly severity: "error" | "warning";
  readonly message: string;
  readonly help?: string;
}

/** Errors first, then warnings; within each, by file, then position, then code, so output is stable. */
export function sortDiagnostics(diags: readonly Diagnostic[]): Diagnostic[] {
  const rank = (d: Diagnostic): number => (d.severity === "error" ? 0 : 1);
  return [...diags].sort(
    (a, b) =>
      rank(a) - rank(b) ||
      (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) ||
      a.span.start - b.span.start ||
      a.span.end - b.span.end ||
      (a.code < b.code ? -1 : a.code > b.code ? 1 : 0),
  );
}

/**
 * Renders diagnostics. `sources` maps a diagnostic's `file` to its text, for the excerpt; a file without source
 * (an unreadable one) is rendered without excerpt.
 */
export function renderDiagnostics(
  diags: readonly Diagnostic[],
  sources: Readonly<Record<string, string>> | ReadonlyMap<string, string>,
  format: DiagnosticFormat,
): string {
  const sorted = sortDiagnostics(diags);
  if (format === "json") return `${JSON.stringify(sorted.map(toJson), null, 2)}\n`;
  const lookup = (file: string): string | undefined =>
    sources instanceof Map ? sources.get(file) : Object.hasOwn(sources, file) ? (sources as Record<string, string>)[file] : undefined;
  return sorted.map((d) => renderOne(d, lookup(d.file))).join("");
}

export function toJson(d: Diagnostic): DiagnosticJson {
  const base = {
    file: d.file,
    line: d.span.line,
    column: d.span.column,
    endLine: d.span.endLine,
    endColumn: d.span.endColumn,
    code: d.code,
    severity: d.severity,
    message: d.message,
  };
  return d.help === undefined ? base : { ...base, help: d.help };
}

function headline(d: Diagnostic): string {
  const help = d.help === undefined ? "" : `; ${d.help}`;
  return `${d.file}:${d.span.line}:${d.span.column}: ${d.severity} ${d.code}: ${d.message}${help}\n`;
}

/** Longest source line shown in an excerpt; a minified or binary "line" is cut so output stays readable. */
const MAX_EXCERPT_COLUMNS = 200;

function renderOne(d: Diagnostic, source: string | undefined): string {
  const head = headline(d);
  if (source === undefined) return head;
  const lineText = sourceLine(source, d.span.line);
  if (lineText === undefined) return head;
  const startCol = Math.max(1, d.span.column);
  // A span that runs past its first line is underlined to the end of that line.
  const endCol = d.span.endLine === d.span.line ? Math.max(d.span.endColumn, startCol + 1) : Math.max(lineText.length + 1, startCol + 1);
  const shown = printable(lineText.slice(0, MAX_EXCERPT_COLUMNS));
  // Tabs in the prefix are kept as tabs, so the carets line up with the source however wide a tab is drawn.
  const prefix = printable(lineText.slice(0, startCol - 1)).replace(/[^\t]/g, " ");
  const width = Math.max(1, Math.min(endCol, MAX_EXCERPT_COLUMNS + 1) - startCol);
  const gutter = String(d.span.line);
  const pad = " ".repeat(gutter.length);
  return `${head} ${gutter} | ${shown}\n ${pad} | ${prefix}${"^".repeat(width)}\n`;
}

function sourceLine(source: string, line: number): string | undefined {
  let start = 0;
  for (let current = 1; current < line; current++) {
    const next = source.indexOf("\n", start);
    if (next < 0) return undefined;
    start = next + 1;
  }
  const end = source.indexOf("\n", start);
  return source.slice(start, end < 0 ? source.length : end).replace(/\r$/, "");
}

/** Control characters would garble a terminal; each becomes one `?` so columns keep their place. */
function printable(text: string): string {
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, "?");
}
