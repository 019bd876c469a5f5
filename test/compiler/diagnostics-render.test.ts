// The text and JSON forms of diagnostics: headline, excerpt and caret underline, ordering, and odd input.
import assert from "node:assert/strict";
import type { Span } from "../../grammar/ast.js";
import { diagnostic, type Diagnostic } from "../../compiler/diagnostics.js";
import { renderDiagnostics } from "../../compiler/render.js";

function span(line: number, column: number, endLine: number, endColumn: number, start = 0): Span {
  return { start, end: start + 1, line, column, endLine, endColumn };
}

describe("rendering diagnostics", () => {
  const source = "policy p\npermit tool proces_refund\n\tforbid tool x\n";

  it("prints the headline, the source line and carets under the span", () => {
    const d = diagnostic("unknownTool", span(2, 13, 2, 26, 21), "p.policy", { tool: "proces_refund" }, "did you mean `process_refund`?");
    assert.equal(
      renderDiagnostics([d], { "p.policy": source }, "text"),
      "p.policy:2:13: error PQG2001: unknown tool `proces_refund`; did you mean `process_refund`?\n" +
        " 2 | permit tool proces_refund\n" +
        "   |             ^^^^^^^^^^^^^\n",
    );
  });

  it("keeps tabs in the caret prefix so carets line up", () => {
    const d = diagnostic("unknownTool", span(3, 14, 3, 15, 40), "p.policy", { tool: "x" });
    assert.match(renderDiagnostics([d], { "p.policy": source }, "text"), /\n {3}\| \t {12}\^\n$/);
  });

  it("underlines a span over several lines to the end of its first line", () => {
    const d = diagnostic("shadowedRule", span(2, 1, 3, 5, 9), "p.policy", { target: "*", line: 9, tools: "every tool" });
    assert.match(renderDiagnostics([d], { "p.policy": source }, "text"), /\n {3}\| \^{25}\n$/);
  });

  it("puts errors before warnings, each in source order", () => {
    const w = diagnostic("duplicateTarget", span(1, 1, 1, 2, 0), "p.policy", { tool: "a" });
    const e2 = diagnostic("unknownTool", span(3, 1, 3, 2, 30), "p.policy", { tool: "b" });
    const e1 = diagnostic("unknownTool", span(2, 1, 2, 2, 10), "p.policy", { tool: "c" });
    const json = JSON.parse(renderDiagnostics([w, e2, e1], {}, "json")) as { code: string; line: number }[];
    assert.deepEqual(json.map((d) => `${d.code}@${d.line}`), ["PQG2001@2", "PQG2001@3", "PQG4004@1"]);
  });

  it("prints only the headline when the source is unavailable or the line is past its end", () => {
    const d = diagnostic("unknownTool", span(9, 1, 9, 2, 0), "p.policy", { tool: "x" });
    assert.equal(renderDiagnostics([d], {}, "text"), "p.policy:9:1: error PQG2001: unknown tool `x`\n");
    assert.equal(renderDiagnostics([d], { "p.policy": source }, "text"), "p.policy:9:1: error PQG2001: unknown tool `x`\n");
  });

  it("replaces control characters in the excerpt", () => {
    const d: Diagnostic = diagnostic("unknownTool", span(1, 1, 1, 2, 0), "b.policy", { tool: "x" });
    assert.match(renderDiagnostics([d], new Map([["b.policy", "\u0000\u0007x"]]), "text"), /\n 1 \| \?\?x\n/);
  });

  it("gives JSON the same fields, with line and column spelled out", () => {
    const d = diagnostic("unknownTool", span(2, 13, 2, 26, 21), "p.policy", { tool: "proces_refund" }, "did you mean `process_refund`?");
    assert.deepEqual(JSON.parse(renderDiagnostics([d], {}, "json")), [
      { file: "p.policy", line: 2, column: 13, endLine: 2, endColumn: 26, code: "PQG2001", severity: "error", message: "unknown tool `proces_refund`", help: "did you mean `process_refund`?" },
    ]);
  });
});
