// Whether a policy regex can backtrack catastrophically (ReDoS), decided by recheck, the checker behind
// eslint-plugin-redos, on its pure-JavaScript engine in this thread: no native binary, no Java, no network.
import { createRequire } from "node:module";
import type { AttackPattern, Diagnostics, VulnerableComplexity } from "recheck";

type Recheck = typeof import("recheck");

/**
 * How long recheck may analyse one regex before its verdict is `unknown`: recheck's own default. The slowest regex
 * of the shipped policies (an unanchored alternation of command names) takes about 3 s here.
 */
export const REGEX_ANALYSIS_TIMEOUT_MS = 10_000;

/** The most verdicts kept; a process checks a handful of policies, so this only bounds a pathological caller. */
const VERDICT_CACHE_LIMIT = 4096;

/** About this many repeated characters show the shape of an attack; the whole attack shown is at most ATTACK_SHOWN. */
const ATTACK_PUMPED = 30;
const ATTACK_SHOWN = 48;

export type BacktrackingVerdict =
  | { readonly status: "safe" }
  /** `complexity` is `exponential`, `quadratic`, `cubic` or `degree-N polynomial`; `attack` an escaped example input. */
  | { readonly status: "vulnerable"; readonly complexity: string; readonly attack: string }
  | { readonly status: "unknown"; readonly reason: string };

let recheck: Recheck | undefined;

/** recheck is 2.9 MB of JavaScript that takes ~100 ms to load; most policies have no regex and never need it. */
function loadRecheck(): Recheck {
  recheck ??= createRequire(import.meta.url)("recheck") as Recheck;
  return recheck;
}

const verdicts = new Map<string, BacktrackingVerdict>();

/** The verdict on `/source/flags`, analysed once per process: the analysis of one regex can take seconds. */
export function backtrackingVerdict(source: string, flags: string): BacktrackingVerdict {
  const key = `/${source}/${flags}`;
  const cached = verdicts.get(key);
  if (cached !== undefined) return cached;
  const verdict = analyseBacktracking(source, flags, REGEX_ANALYSIS_TIMEOUT_MS);
  if (verdicts.size < VERDICT_CACHE_LIMIT) verdicts.set(key, verdict);
  return verdict;
}

/** One analysis, uncached, that gives up after `timeoutMs`. `source` must compile as a JavaScript regex. */
export function analyseBacktracking(source: string, flags: string, timeoutMs: number): BacktrackingVerdict {
  let result: Diagnostics;
  try {
    result = checkPure(source, flags, timeoutMs);
  } catch (error) {
    return { status: "unknown", reason: `the analyser failed: ${error instanceof Error ? error.message : String(error)}` };
  }
  switch (result.status) {
    case "safe":
      return { status: "safe" };
    case "vulnerable":
      return { status: "vulnerable", complexity: complexityName(result.complexity), attack: attackShape(result.attack) };
    case "unknown":
      return { status: "unknown", reason: unknownReason(result.error, timeoutMs) };
  }
}

const SYNC_BACKEND = "RECHECK_SYNC_BACKEND";

/**
 * recheck's checkSync picks its engine from RECHECK_SYNC_BACKEND on every call. Its default, `synckit`, blocks on a
 * worker that prefers a native binary or Java, with no bound on the wait; `pure` analyses here, in JavaScript, and
 * `timeout` bounds it. The variable is set for the call only and then restored, so the host's setting is kept.
 */
function checkPure(source: string, flags: string, timeoutMs: number): Diagnostics {
  const checkSync = loadRecheck().checkSync;
  const previous = process.env[SYNC_BACKEND];
  process.env[SYNC_BACKEND] = "pure";
  try {
    return checkSync(source, flags, { timeout: timeoutMs });
  } finally {
    if (previous === undefined) delete process.env[SYNC_BACKEND];
    else process.env[SYNC_BACKEND] = previous;
  }
}

function complexityName(complexity: VulnerableComplexity): string {
  if (complexity.type === "exponential") return "exponential";
  if (complexity.degree === 2) return "quadratic";
  if (complexity.degree === 3) return "cubic";
  return `degree-${complexity.degree} polynomial`;
}

type AnalysisError = Extract<Diagnostics, { status: "unknown" }>["error"];

function unknownReason(error: AnalysisError, timeoutMs: number): string {
  switch (error.kind) {
    case "timeout":
      return `the analysis took longer than ${timeoutMs} ms`;
    case "cancel":
      return "the analysis was cancelled";
    case "unsupported":
      return `the analyser does not support it (${withoutPosition(error.message)})`;
    case "invalid":
    case "unexpected":
      return `the analyser cannot read it (${withoutPosition(error.message)})`;
  }
}

/** recheck's messages end in a position such as ` (at 0:15)`, which means nothing to the policy's author. */
function withoutPosition(message: string): string {
  return message.replace(/ \(at [0-9:]+\)$/, "");
}

/**
 * A short example of an attack, escaped: each pumped part repeated to about ATTACK_PUMPED characters shown in all
 * (recheck's own attack string can run to hundreds of thousands), then the suffix; cut at ATTACK_SHOWN characters.
 */
function attackShape(attack: AttackPattern): string {
  const perPump = Math.max(1, Math.floor(ATTACK_PUMPED / Math.max(1, attack.pumps.length)));
  const chars: string[] = [];
  for (const { prefix, pump } of attack.pumps) {
    const pumped = escaped(pump);
    const width = pumped.reduce((sum, c) => sum + c.length, 0);
    const times = Math.max(1, Math.floor(perPump / Math.max(1, width)));
    chars.push(...escaped(prefix));
    for (let i = 0; i < times; i++) chars.push(...pumped);
  }
  chars.push(...escaped(attack.suffix));
  const whole = chars.join("");
  if (whole.length <= ATTACK_SHOWN) return whole;
  let shown = "";
  for (const c of chars) {
    if (shown.length + c.length > ATTACK_SHOWN - 1) break;
    shown += c;
  }
  return `${shown}…`;
}

/** Each character of `text` as it is shown: printable ASCII as itself, anything else as an escape. */
function escaped(text: string): string[] {
  return Array.from(text, escapeChar);
}

const NAMED_ESCAPES: Readonly<Record<string, string>> = { "\t": "\\t", "\n": "\\n", "\r": "\\r", "\\": "\\\\", "`": "\\x60" };

function escapeChar(char: string): string {
  const named = NAMED_ESCAPES[char];
  if (named !== undefined) return named;
  const code = char.codePointAt(0)!;
  if (code >= 0x20 && code < 0x7f) return char;
  if (code < 0x100) return `\\x${code.toString(16).padStart(2, "0")}`;
  if (code < 0x10000) return `\\u${code.toString(16).padStart(4, "0")}`;
  return `\\u{${code.toString(16)}}`;
}
