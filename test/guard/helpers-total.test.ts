// The path, URL and address helpers on arbitrary input: each returns or throws an EvaluationFailure (which the rule
// turns into "could not be evaluated"), never another error, which would escape the guard as a bug.
import assert from "node:assert/strict";
import fc from "fast-check";
import { hostInSet, IP_SETS, ipOf, parseIp } from "../../runtime/guard/addresses.js";
import { EvaluationFailure } from "../../runtime/guard/helpers.js";
import { containment, pathRoot, pathUnder } from "../../runtime/guard/paths.js";
import { domainName, hostAddressFrom, hostOf, hostWithin, urlOf } from "../../runtime/guard/urls.js";

const ROOTS = [pathRoot("/srv/docs"), pathRoot("C:\\Data", "windows"), pathRoot("/srv/docs", "file-uri")];
const EXAMPLE = domainName("example.org");

/** Runs `f` and says whether it returned (true) or failed closed (false); any other throw fails the test. */
function totalOrFailure(f: () => unknown): boolean {
  try {
    f();
    return true;
  } catch (error) {
    assert.ok(error instanceof EvaluationFailure, `threw ${String(error)}`);
    return false;
  }
}

/** Strings made of what breaks parsers: separators, escapes, brackets, dots, digits, controls, non-ASCII. */
const hostile = fc.oneof(
  fc.string({ maxLength: 60 }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.array(fc.constantFrom("/", "\\", "%", "2e", "2f", "00", ".", "..", ":", "[", "]", "@", "#", "?", "file:", "http://", "C:", "0x", "127", "::", "ffff", "é", "\u0000", " ", "\t"), { maxLength: 16 }).map((parts) => parts.join("")),
);

describe("guard helpers on arbitrary input", () => {
  it("under: a verdict or an evaluation failure, for every style", () => {
    fc.assert(
      fc.property(hostile, fc.constantFrom(...ROOTS), (text, root) => {
        assert.ok(["under", "outside", "undecidable"].includes(containment(text, root).verdict));
        totalOrFailure(() => pathUnder(text, root, "args.path"));
      }),
      { numRuns: 5000 },
    );
  });

  it("url(), host(), within and ip(): a value or an evaluation failure", () => {
    fc.assert(
      fc.property(hostile, (text) => {
        totalOrFailure(() => urlOf(text, "args.url"));
        totalOrFailure(() => hostWithin(hostOf(text, "args.url"), EXAMPLE));
        totalOrFailure(() => hostInSet(hostAddressFrom(text, "args.host"), IP_SETS.internal));
        totalOrFailure(() => ipOf(text, "args.ip"));
        const ip = parseIp(text);
        if (ip !== undefined) assert.equal(parseIp(ip.text)?.text, ip.text, "an address's text reads back to itself");
      }),
      { numRuns: 5000 },
    );
  });

  it("non-strings fail closed everywhere", () => {
    for (const value of [undefined, null, 42, true, [], {}, ["/srv/docs"]]) {
      assert.equal(totalOrFailure(() => pathUnder(value, ROOTS[0]!, "x")), false);
      assert.equal(totalOrFailure(() => urlOf(value, "x")), false);
      assert.equal(totalOrFailure(() => hostOf(value, "x")), false);
      assert.equal(totalOrFailure(() => hostAddressFrom(value, "x")), false);
      assert.equal(totalOrFailure(() => ipOf(value, "x")), false);
    }
  });
});
