// The catastrophic-backtracking analysis of regex literals: verdicts, the attack shown, the time limit, and that
// recheck runs on its pure-JavaScript engine whatever the environment asks for.
import assert from "node:assert/strict";
import { analyseBacktracking, backtrackingVerdict } from "../../compiler/regex-backtracking.js";

describe("regex backtracking analysis", function () {
  this.timeout(60_000);

  it("finds exponential and polynomial backtracking and proves linear regexes safe", () => {
    assert.deepEqual(backtrackingVerdict("^(a|a)*$", ""), { status: "vulnerable", complexity: "exponential", attack: `${"a".repeat(30)}\\x00` });
    const poly = backtrackingVerdict(".*a.*b.*c", "");
    assert.equal(poly.status, "vulnerable");
    assert.equal(poly.status === "vulnerable" && poly.complexity, "degree-4 polynomial");
    assert.deepEqual(backtrackingVerdict("^[a-z]+$", "i"), { status: "safe" });
  });

  it("shows the attack with control characters escaped and cut to a readable length", () => {
    const verdict = backtrackingVerdict("\\s*#\\s*$", "");
    assert.equal(verdict.status, "vulnerable");
    if (verdict.status !== "vulnerable") return;
    assert.equal(verdict.complexity, "quadratic");
    assert.match(verdict.attack, /^(\\t)+##$/);
    assert.ok(verdict.attack.length <= 64, verdict.attack);
  });

  it("reports an analysis that runs out of time as unknown", () => {
    const verdict = analyseBacktracking("(^|[;&|`(]\\s*)(sudo|curl|wget|ssh|scp|nc|rm\\s+-rf)\\b", "", 1);
    assert.deepEqual(verdict, { status: "unknown", reason: "the analysis took longer than 1 ms" });
  });

  it("runs recheck on its pure-JavaScript engine and leaves the environment as it was", () => {
    // An engine name recheck does not know would make its checkSync throw, were it consulted.
    const previous = process.env["RECHECK_SYNC_BACKEND"];
    process.env["RECHECK_SYNC_BACKEND"] = "no-such-backend";
    try {
      assert.equal(analyseBacktracking("^(b+)+$", "", 10_000).status, "vulnerable");
      assert.equal(process.env["RECHECK_SYNC_BACKEND"], "no-such-backend");
    } finally {
      if (previous === undefined) delete process.env["RECHECK_SYNC_BACKEND"];
      else process.env["RECHECK_SYNC_BACKEND"] = previous;
    }
  });
});
