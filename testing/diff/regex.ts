// Strings around a policy's regular expressions: ones that match (drawn with fast-check's stringMatching) and ones that
// nearly match (one edit away), where a changed anchor or character class shows. Also where in a pattern its anchors
// and character classes are, for the mutation generator.
import fc from "fast-check";

/** Samples drawn per top-level alternative of a regex, before near misses. */
const SAMPLES = 6;
const MAX_SAMPLE_LENGTH = 24;

/**
 * fast-check generates from a subset of regex syntax: not the `i` flag, not `\b`. Matching strings of the pattern
 * without them still match the original (case) or are kept only when they do (`\b`), so sampling uses the subset.
 */
function sampleable(pattern: string, flags: string): RegExp | undefined {
  try {
    return new RegExp(pattern.replace(/(^|[^\\])\\[bB]/g, "$1"), flags.replace(/[igm]/g, ""));
  } catch {
    return undefined;
  }
}

/** The top-level alternatives of a pattern (`a|b(c|d)` gives `a` and `b(c|d)`). */
function alternatives(pattern: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === "\\") i++;
    else if (ch === "[") {
      i++;
      while (i < pattern.length && pattern[i] !== "]") i += pattern[i] === "\\" ? 2 : 1;
    } else if (ch === "(") depth++;
    else if (ch === ")") depth--;
    else if (ch === "|" && depth === 0) {
      out.push(pattern.slice(start, i));
      start = i + 1;
    }
  }
  out.push(pattern.slice(start));
  return out;
}

/** Strings that match a regex: whole samples, and the part of each the regex matched (its core). */
export interface RegexSamples {
  readonly cores: readonly string[];
  readonly samples: readonly string[];
}

/**
 * Strings that match `/pattern/flags`, drawn from `seed` for each top-level alternative (so a rare alternative is not
 * left out), and their cores, where anchors and classes sit. None when the pattern is beyond fast-check's generator.
 */
export function regexSamples(pattern: string, flags: string, seed: number): RegexSamples {
  let original: RegExp;
  try {
    original = new RegExp(pattern, flags);
  } catch {
    return { cores: [], samples: [] };
  }
  const cores: string[] = [];
  const samples: string[] = [];
  for (const alternative of alternatives(pattern)) {
    const simplified = sampleable(alternative, flags);
    if (simplified === undefined) continue;
    let drawn: string[];
    try {
      drawn = fc.sample(fc.stringMatching(simplified, { maxLength: MAX_SAMPLE_LENGTH }), { seed, numRuns: SAMPLES * 2 });
    } catch {
      continue;
    }
    const matching = drawn.filter((s) => original.test(s)).slice(0, SAMPLES);
    cores.push(...matching.map((s) => original.exec(s)?.[0] ?? s));
    samples.push(...matching);
  }
  return { cores: [...new Set(cores)], samples: [...new Set(samples)] };
}

/** The edits that most often cross an anchor or a class: a letter added after, and before. */
export function nearestMisses(s: string): string[] {
  return [`${s}a`, `a${s}`];
}

/** Strings one edit from `s`: a character added at either end (a letter, a slash, a dot), one dropped, one replaced, the case changed. */
export function nearMisses(s: string): string[] {
  const out = [`${s}a`, `a${s}`, `${s}/`, `/${s}`, `${s}.`, s.slice(1), s.slice(0, -1), ` ${s}`, s.toUpperCase(), s.toLowerCase()];
  if (s.length > 2) {
    const mid = Math.floor(s.length / 2);
    out.push(`${s.slice(0, mid)}a${s.slice(mid + 1)}`, `${s.slice(0, mid)}0${s.slice(mid + 1)}`);
  }
  return [...new Set(out)].filter((x) => x !== s);
}

/** A place in a pattern a mutation can change: an anchor, a bracket class, a `\d`. */
export interface RegexSite {
  readonly kind: "anchor" | "class" | "digit";
  readonly start: number;
  readonly end: number;
}

/** The anchors (`^`, `$`), non-negated bracket classes and `\d` escapes of a pattern, in order. */
export function regexSites(pattern: string): RegexSite[] {
  const sites: RegexSite[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === "\\") {
      if (pattern[i + 1] === "d") sites.push({ kind: "digit", start: i, end: i + 2 });
      i++;
    } else if (ch === "[") {
      let j = i + 1;
      const negated = pattern[j] === "^";
      if (negated) j++;
      if (pattern[j] === "]") j++;
      while (j < pattern.length && pattern[j] !== "]") j += pattern[j] === "\\" ? 2 : 1;
      if (!negated) sites.push({ kind: "class", start: i, end: j + 1 });
      i = j;
    } else if (ch === "^" || ch === "$") {
      sites.push({ kind: "anchor", start: i, end: i + 1 });
    }
  }
  return sites;
}

/** Characters tried, in order, to widen a class: the first the class does not match already is added. */
const WIDENING = ["a", "0", "_", "x", "Z", " ", "."];

/** The pattern with the class at `site` matching one more character, or undefined when it matches all tried. */
export function widenClass(pattern: string, site: RegexSite, flags: string): string | undefined {
  const text = pattern.slice(site.start, site.end);
  let cls: RegExp;
  try {
    cls = new RegExp(`^${text}$`, flags);
  } catch {
    return undefined;
  }
  const extra = WIDENING.find((c) => !cls.test(c));
  if (extra === undefined) return undefined;
  return `${pattern.slice(0, site.end - 1)}${extra}${pattern.slice(site.end - 1)}`;
}
