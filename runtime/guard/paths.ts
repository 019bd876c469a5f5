// Path containment by segments for `args.path under "/srv/docs"`: a path is normalised lexically (POSIX, Windows or a
// file: URI) and read every way a server might read it; it is under a root only when every reading is.
import { fail } from "./helpers.js";
import { LiteralError, LiteralErrorCode } from "./literal-errors.js";
import { parseWhatwgUrl, type WhatwgUrl } from "./whatwg-url.js";

/** How a path argument is written: a POSIX path, a Windows path, or a `file:` URI holding either. */
export type PathStyle = "posix" | "windows" | "file-uri";

/** JSON Schema `format`s that say a string is a URI (or IRI): `under` reads such an argument as a `file:` URI. */
const URI_FORMATS: ReadonlySet<string> = new Set(["uri", "uri-reference", "iri", "iri-reference"]);

/** A root that only Windows reads as absolute: a drive (`C:\`, `c:/`) or a UNC share written with backslashes. */
const WINDOWS_ROOT = /^[A-Za-z]:[\\/]|^\\\\/;

/**
 * The style `ARG under "ROOT"` reads ARG in. The tool's schema decides first: an argument whose `format` is a URI
 * (`uri`, `uri-reference`, `iri`, `iri-reference`) is a `file:` URI, as is one compared with a `file:` root. JSON
 * Schema has no word for a Windows path and real servers state none (nor may a manifest be edited to say so: its
 * digest would no longer match the server's tools), so the root says it: a root with a drive letter or a UNC share
 * (`C:\srv\docs`, `\\fs01\team`) is a path on Windows, and so is the argument it is compared with. Anything else is POSIX.
 */
export function pathStyleFor(format: string | undefined, root: string): PathStyle {
  if ((format !== undefined && URI_FORMATS.has(format)) || /^file:/i.test(root)) return "file-uri";
  return WINDOWS_ROOT.test(root) ? "windows" : "posix";
}

/**
 * The longest path `under` reads, in UTF-16 code units: the Windows extended-length limit (32 767), far above Linux's
 * PATH_MAX of 4096, so no path a server accepts is refused for its length alone.
 */
export const PATH_INPUT_LIMIT = 32_767;

/** Percent-decoding rounds tried before a path is called undecidable: `%25252e` is encoded three times over. */
export const PATH_DECODE_ROUNDS = 3;

/** A normalised absolute path: where it starts (POSIX `/`, a drive `c:`, a UNC share `//host/share`) and its segments. */
interface Normalised {
  readonly windows: boolean;
  /** "" for POSIX; lower-case `c:` or `//host/share` for Windows. */
  readonly prefix: string;
  readonly segments: readonly string[];
}

/** A root for `under`, normalised once when the guard is built. */
export interface PathRoot {
  readonly style: PathStyle;
  readonly text: string;
  readonly normalised: Normalised;
  /** Whether the root's letter case matters for some reading (it has letters that fold). */
  readonly foldable: boolean;
  /** For plainVerdict: the POSIX root's text ("" for `/`), with `/` after it, and both in lower case. */
  readonly plain: string;
  readonly plainSlash: string;
  readonly plainFolded: string;
  readonly plainFoldedSlash: string;
  readonly plainAscii: boolean;
}

/** The answer to "is this path under the root", with the sentence an explanation shows. */
export type PathContainment =
  | { readonly verdict: "under"; readonly path: string }
  | { readonly verdict: "outside"; readonly path: string; readonly reason: string }
  | { readonly verdict: "undecidable"; readonly reason: string };

type Parse = { readonly ok: true; readonly path: Normalised } | { readonly ok: false; readonly reason: string };

const refuse = (reason: string): Parse => ({ ok: false, reason });

// ---------------------------------------------------------------------------------------------------------
// Normalising one reading

/**
 * Look-alikes of `/`, `\`, `.`, `:` and space that Windows' best-fit conversion to an ANSI code page turns into them: the
 * fullwidth forms (`／ ＼ ． ：`), the division and fraction slashes (`∕ ⁄`), small and big solidi, the one-dot leader,
 * `¥` and `₩`, which are `\` in the Japanese and Korean code pages, and the ideographic and no-break spaces, which
 * become a space that Win32 then drops (`..　` is `..`). `..∕..∕secret` is one name to the guard and `../../secret` to
 * a server that opens it with an ANSI API.
 */
const BEST_FIT_SEPARATORS = /[\u3000\u00a0\u2215\u2044\uff0f\ufe68\u29f8\u29f9\uff3c\uff0e\u2024\ufe52\uff1a\ufe55\u2236\u00a5\u20a9]/;

/** Splits on separators and resolves `.`, `..` and empty segments lexically; `..` at the top stays at the top. */
function resolveSegments(rest: string, separators: RegExp | string, windows: boolean): { segments: string[] } | { reason: string } {
  const segments: string[] = [];
  for (const raw of rest.split(separators)) {
    // A name of dots and spaces alone (`...`, `.. `) is `..`, `.` or nothing, depending on which Win32 routine reads it.
    if (windows && raw !== "." && raw !== ".." && raw !== "" && /^[. ]+$/.test(raw)) return { reason: `\`${raw}\` is a name of dots and spaces, which Windows may read as \`..\`` };
    // Win32 drops trailing dots and spaces from every name: `secret.` and `secret ` open `secret`.
    const segment = windows && raw !== "." && raw !== ".." ? raw.replace(/[. ]+$/, "") : raw;
    if (segment === "" || segment === ".") continue;
    if (segment === "..") {
      segments.pop();
      continue;
    }
    if (windows && segment.includes(":")) return { reason: `\`${raw}\` names an alternate data stream` };
    // Win32 ignores spaces before the extension too: `NUL .txt` is `NUL`.
    if (windows && /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$) *(\..*)?$/i.test(segment)) return { reason: `\`${raw}\` names a Windows device, not a file` };
    // A program that passes the name through an ANSI code page gets Windows' "best fit" for these: `/`, `\`, `.` or `:`.
    if (windows && BEST_FIT_SEPARATORS.test(segment)) return { reason: `\`${raw}\` holds a character that Windows' best-fit mapping turns into \`/\`, \`\\\`, \`.\`, \`:\` or a space` };
    // `PROGRA~1` may be the 8.3 short name of any folder: which one, only the file system knows.
    if (windows && /~[0-9]/.test(segment)) return { reason: `\`${raw}\` may be an 8.3 short name, an alias of another name` };
    segments.push(segment);
  }
  return { segments };
}

function normalisePosix(path: string, backslashIsSeparator: boolean): Parse {
  if (path[0] !== "/") return refuse("it is not an absolute path");
  const resolved = resolveSegments(path, backslashIsSeparator ? /[\\/]/ : "/", false);
  return "reason" in resolved ? refuse(resolved.reason) : { ok: true, path: { windows: false, prefix: "", segments: resolved.segments } };
}

function normaliseWindows(path: string): Parse {
  if (/^[\\/]{2}[?.][\\/]/.test(path)) return refuse("it is a Windows device path (`\\\\?\\` or `\\\\.\\`), which skips normalisation");
  const unc = /^[\\/]{2}([^\\/]+)[\\/]+([^\\/]+)(.*)$/s.exec(path);
  let prefix: string;
  let rest: string;
  if (unc !== null) {
    if (/^\.{1,2}$/.test(unc[1]!) || /^\.{1,2}$/.test(unc[2]!)) return refuse("its UNC server or share is `.` or `..`");
    if (BEST_FIT_SEPARATORS.test(unc[1]!) || BEST_FIT_SEPARATORS.test(unc[2]!)) return refuse("its UNC server or share holds a character that Windows' best-fit mapping turns into `/`, `\\`, `.`, `:` or a space");
    prefix = `//${unc[1]!.toLowerCase()}/${unc[2]!.toLowerCase()}`;
    rest = unc[3]!;
  } else if (/^[A-Za-z]:[\\/]/.test(path)) {
    prefix = path.slice(0, 2).toLowerCase();
    rest = path.slice(2);
  } else if (/^[A-Za-z]:/.test(path)) return refuse("it is relative to the drive's current folder");
  else if (/^[\\/]/.test(path)) return refuse("it is relative to the current drive");
  else return refuse("it is not an absolute path");
  const resolved = resolveSegments(rest, /[\\/]/, true);
  return "reason" in resolved ? refuse(resolved.reason) : { ok: true, path: { windows: true, prefix, segments: resolved.segments } };
}

function textOf(path: Normalised): string {
  if (!path.windows) return `/${path.segments.join("/")}`;
  const prefix = path.prefix.startsWith("//") ? path.prefix.replace(/\//g, "\\") : path.prefix.toUpperCase();
  return `${prefix}\\${path.segments.join("\\")}`;
}

// ---------------------------------------------------------------------------------------------------------
// Readings: every way a server might read the text

interface Reading {
  readonly how: string;
  readonly text: string;
  readonly windows: boolean;
  readonly backslashIsSeparator: boolean;
}

const PERCENT = /%[0-9A-Fa-f]{2}/;

/** The text with every `%XX` decoded, or a reason when the bytes are not UTF-8 (`%c0%ae`, the overlong `.`). */
function percentDecoded(text: string): { text: string } | { reason: string } {
  try {
    return { text: decodeURIComponent(text.replace(/%(?![0-9A-Fa-f]{2})/g, "%25")) };
  } catch {
    return { reason: "its percent-encoding is not UTF-8" };
  }
}

/** The text as given and after each round of percent-decoding; a reason when decoding does not settle or yields NUL. */
function decodings(text: string, firstIsDecoded: boolean): { texts: { how: string; text: string }[] } | { reason: string } {
  const texts = [{ how: firstIsDecoded ? "as the URI decodes" : "as given", text }];
  let current = text;
  for (let round = 1; PERCENT.test(current); round++) {
    if (round > PATH_DECODE_ROUNDS) return { reason: `it is still percent-encoded after ${PATH_DECODE_ROUNDS} rounds of decoding` };
    const decoded = percentDecoded(current);
    if ("reason" in decoded) return decoded;
    current = decoded.text;
    if (current.includes("\0")) return { reason: "it decodes to a NUL byte" };
    texts.push({ how: round === 1 && !firstIsDecoded ? "once `%` escapes are decoded" : `after ${round + (firstIsDecoded ? 1 : 0)} rounds of decoding`, text: current });
  }
  return { texts };
}

function readingsOf(text: string, windows: boolean, firstIsDecoded: boolean): { readings: Reading[] } | { reason: string } {
  const decoded = decodings(text, firstIsDecoded);
  if ("reason" in decoded) return decoded;
  const readings: Reading[] = [];
  for (const { how, text: t } of decoded.texts) {
    readings.push({ how, text: t, windows, backslashIsSeparator: windows });
    // On POSIX `\` is an ordinary character, but a server that hands the path on to Windows, or "cleans" it, splits there.
    if (!windows && t.includes("\\")) readings.push({ how: `${how}, with \`\\\` as a separator`, text: t, windows, backslashIsSeparator: true });
  }
  return { readings };
}

// ---------------------------------------------------------------------------------------------------------
// Containment

/** One way a file system that ignores letter case may compare names. */
type Folding = (segment: string) => string;

/** NTFS's upcase table: each UTF-16 unit to its simple upper case (none that expands, `ß` stays `ß`), no normalisation. */
function simpleUpperCase(segment: string): string {
  let out = "";
  for (const unit of segment) {
    const upper = unit.toUpperCase();
    out += upper.length === unit.length ? upper : unit;
  }
  return out;
}

/**
 * The ways case-insensitive file systems compare names, which differ outside ASCII: lower case as given; NFC first
 * (macOS ignores normalisation, NTFS does not: `cafe\u0301` and `café` are one name there, two here); close to
 * Unicode's full case folding (APFS: `ſ` is `s`, `µ` is `μ`, `ß` is `ss`); NTFS's simple upper case (`ı` is `i`, the
 * Kelvin sign `K` is not `k`). A path whose place depends on which of them the server's file system uses is undecidable.
 */
const FOLDINGS: readonly Folding[] = [
  (segment) => segment.toLowerCase(),
  (segment) => segment.normalize("NFC").toLowerCase(),
  (segment) => segment.normalize("NFC").toUpperCase().toLowerCase(),
  simpleUpperCase,
];

const NON_ASCII = /[^\x00-\x7f]/;

function startsWith(path: Normalised, root: Normalised, fold?: Folding): boolean {
  if (path.windows !== root.windows || path.prefix !== root.prefix || path.segments.length < root.segments.length) return false;
  for (let i = 0; i < root.segments.length; i++) {
    const a = path.segments[i]!;
    const b = root.segments[i]!;
    if (a !== b && !(fold !== undefined && fold(a) === fold(b))) return false;
  }
  return true;
}

/** Whether the path is under the root by every folding (true), by none (false), or by some only (undefined). */
function underEveryFolding(path: Normalised, root: Normalised): boolean | undefined {
  const first = startsWith(path, root, FOLDINGS[0]);
  // ASCII names fold alike in every way.
  if (!path.segments.some((s) => NON_ASCII.test(s)) && !root.segments.some((s) => NON_ASCII.test(s))) return first;
  for (let i = 1; i < FOLDINGS.length; i++) if (startsWith(path, root, FOLDINGS[i]) !== first) return undefined;
  return first;
}

function normaliseReading(reading: Reading): Parse {
  return reading.windows ? normaliseWindows(reading.text) : normalisePosix(reading.text, reading.backslashIsSeparator);
}

const HAS_FOLDABLE = /[A-Z]|[^\x00-\x7f]/;

/** Where a path falls, before any sentence is written: a guard that only needs true or false never builds one. */
type Placement =
  | { readonly verdict: "under" | "outside"; readonly path: Normalised }
  | { readonly verdict: "undecidable"; readonly reason: () => string };

const undecidable = (reason: string): Placement => ({ verdict: "undecidable", reason: () => reason });

/**
 * Where `path` falls against `root`. Every reading of the path (as given; percent-decoded, each round; with `\` as a
 * separator on POSIX; with letter case folded, as case-insensitive file systems compare) is normalised lexically and
 * compared segment by segment. All under: under. All outside: outside. Readings that disagree, or a path that cannot
 * be read (relative, NUL byte, device path, too long): undecidable.
 */
function place(path: string, root: PathRoot): Placement {
  if (path.length > PATH_INPUT_LIMIT) return undecidable(`it has ${path.length} characters, more than the ${PATH_INPUT_LIMIT} a path may have`);
  if (path.includes("\0")) return undecidable("it holds a NUL byte, where C code would end the path");
  let text = path;
  let windows = root.normalised.windows;
  let firstIsDecoded = false;
  if (root.style === "file-uri") {
    const fromUri = filePathOf(path);
    if ("reason" in fromUri) return undecidable(fromUri.reason);
    ({ text, windows } = fromUri);
    firstIsDecoded = true;
  }
  const foldable = !windows && (root.foldable || HAS_FOLDABLE.test(text));
  // The common case, a plain POSIX path: one reading, no decoding.
  if (!windows && !firstIsDecoded && !text.includes("%") && !text.includes("\\")) {
    return placeReading({ how: "as given", text, windows: false, backslashIsSeparator: false }, root, foldable);
  }
  const found = readingsOf(text, windows, firstIsDecoded);
  if ("reason" in found) return undecidable(found.reason);
  let first: { reading: Reading; placement: Placement & { path: Normalised } } | undefined;
  for (const reading of found.readings) {
    const placement = placeReading(reading, root, foldable);
    if (placement.verdict === "undecidable") {
      if (first === undefined) return placement;
      return { verdict: "undecidable", reason: () => `${reading.how}, ${placement.reason()}` };
    }
    if (first === undefined) first = { reading, placement };
    else if (first.placement.verdict !== placement.verdict) {
      const [inside, outside] = first.placement.verdict === "under" ? [first, { reading, placement }] : [{ reading, placement }, first];
      return {
        verdict: "undecidable",
        reason: () => `it reads as \`${textOf(inside.placement.path)}\` ${inside.reading.how} but as \`${textOf(outside.placement.path)}\` ${outside.reading.how}`,
      };
    }
  }
  return first!.placement;
}

function placeReading(reading: Reading, root: PathRoot, foldable: boolean): Placement {
  const parsed = normaliseReading(reading);
  if (!parsed.ok) return undecidable(parsed.reason);
  // `\\127.0.0.1\c$\srv` is `C:\srv`, and `Z:\` may be a mapped share: a share and a drive are told apart only by the machine.
  if (parsed.path.windows && root.normalised.windows && parsed.path.prefix.startsWith("//") !== root.normalised.prefix.startsWith("//")) {
    return undecidable(parsed.path.prefix.startsWith("//") ? "a UNC share may be a folder of a local drive (`\\\\localhost\\c$`)" : "a drive letter may be a mapped network share");
  }
  if (reading.windows) {
    const folded = underEveryFolding(parsed.path, root.normalised);
    if (folded === undefined) {
      return { verdict: "undecidable", reason: () => `whether \`${textOf(parsed.path)}\` is under \`${root.text}\` depends on how the file system folds letter case outside ASCII` };
    }
    return { verdict: folded ? "under" : "outside", path: parsed.path };
  }
  const exact = startsWith(parsed.path, root.normalised);
  if (foldable && exact !== underEveryFolding(parsed.path, root.normalised)) {
    return { verdict: "undecidable", reason: () => `\`${textOf(parsed.path)}\` is under \`${root.text}\` only where letter case does not matter` };
  }
  return { verdict: exact ? "under" : "outside", path: parsed.path };
}

/**
 * Whether `path` is under `root` (see place), with the sentence an explanation shows. Undecidable is what a guard
 * treats as a failed evaluation, so a `permit` does not apply and a `forbid` does.
 */
export function containment(path: string, root: PathRoot): PathContainment {
  const placement = place(path, root);
  if (placement.verdict === "undecidable") return { verdict: "undecidable", reason: placement.reason() };
  const normal = textOf(placement.path);
  return placement.verdict === "under" ? { verdict: "under", path: normal } : { verdict: "outside", path: normal, reason: `\`${normal}\` is not under \`${root.text}\`` };
}

/** The path a `file:` URI names, decoded once as fileURLToPath does; only local URIs (no host, or `localhost`). */
function filePathOf(text: string): { text: string; windows: boolean } | { reason: string } {
  if (!/^file:/i.test(text)) return { reason: "it is not a `file:` URI" };
  if (/[\u0000-\u0020\u007f]/.test(text)) return { reason: "it holds a space or a control character, which URI parsers read differently" };
  let url: WhatwgUrl;
  try {
    url = parseWhatwgUrl(text);
  } catch {
    return { reason: "it is not a valid `file:` URI" };
  }
  if (url.hostname !== "" && url.hostname !== "localhost") return { reason: `it names the host \`${url.hostname}\`, not this machine` };
  if (/%2f|%5c/i.test(url.pathname)) return { reason: "it encodes a separator (`%2F` or `%5C`) inside a name" };
  // `file:////server/share/x` is a UNC path to Windows readers (Python's url2pathname) and `/server/share/x` to POSIX ones.
  if (url.pathname.startsWith("//")) return { reason: "its path starts with `//`, which Windows reads as a UNC share" };
  const decoded = percentDecoded(url.pathname);
  if ("reason" in decoded) return decoded;
  if (decoded.text.includes("\0")) return { reason: "it decodes to a NUL byte" };
  const drive = /^\/[A-Za-z]:(\/|$)/.test(decoded.text);
  return drive ? { text: decoded.text.slice(1).replace(/^([A-Za-z]:)$/, "$1/"), windows: true } : { text: decoded.text, windows: false };
}

/**
 * A root for `under`, from its literal: an absolute path of the style (for `file-uri`, an absolute POSIX or Windows
 * path, or a `file:` URI). It must read one way only: no `..`, no percent escapes, no NUL byte. A LiteralError says why not.
 */
export function pathRoot(text: string, style: PathStyle = "posix"): PathRoot {
  const bad = (why: string): never => {
    throw new LiteralError(LiteralErrorCode.BadPathRoot, `\`${text}\` cannot be a root for \`under\`: ${why}`);
  };
  if (text.includes("\0")) bad("it holds a NUL byte");
  if (PERCENT.test(text) && !/^file:/i.test(text)) bad("it holds percent escapes; write the path decoded");
  let source = text;
  let windows = style === "windows";
  if (style === "file-uri") {
    if (/^file:/i.test(text)) {
      const fromUri = filePathOf(text);
      if ("reason" in fromUri) bad(fromUri.reason);
      ({ text: source, windows } = fromUri as { text: string; windows: boolean });
    } else windows = /^[A-Za-z]:|^[\\/]{2}/.test(text);
  }
  if (/(^|[\\/])\.\.([\\/]|$)/.test(source)) bad("it holds `..`; write the folder it means");
  if (!windows && source.includes("\\")) bad("it holds `\\`, which POSIX reads as part of a name");
  const parsed = windows ? normaliseWindows(source) : normalisePosix(source, false);
  if (!parsed.ok) bad(parsed.reason);
  const normalised = (parsed as { path: Normalised }).path;
  const plain = normalised.windows || normalised.segments.length === 0 ? "" : textOf(normalised);
  return {
    style,
    text: textOf(normalised),
    normalised,
    foldable: normalised.segments.some((s) => HAS_FOLDABLE.test(s)),
    plain,
    plainSlash: `${plain}/`,
    plainFolded: plain.toLowerCase(),
    plainFoldedSlash: `${plain.toLowerCase()}/`,
    plainAscii: /^[\x00-\x7f]*$/.test(plain),
  };
}

/** The normalised form of an absolute path as a server would most plainly read it (as given), or why it has none. */
export function normalisePath(path: string, style: PathStyle = "posix"): { readonly ok: true; readonly path: string } | { readonly ok: false; readonly reason: string } {
  if (path.includes("\0")) return { ok: false, reason: "it holds a NUL byte" };
  let text = path;
  let windows = style === "windows";
  if (style === "file-uri") {
    const fromUri = filePathOf(path);
    if ("reason" in fromUri) return { ok: false, reason: fromUri.reason };
    ({ text, windows } = fromUri);
  }
  const parsed = windows ? normaliseWindows(text) : normalisePosix(text, false);
  return parsed.ok ? { ok: true, path: textOf(parsed.path) } : parsed;
}

/**
 * The verdict for the common case without normalising: a POSIX path with no `%`, `\`, `//` or `/.` is already in
 * normal form (but for a trailing `/`), so it is under the root exactly when it is the root or starts with it and a `/`.
 * Undefined when the path needs place(): another style, an escape, a dot segment, or letter case that decides.
 */
function plainVerdict(path: string, root: PathRoot): boolean | undefined {
  if (root.style !== "posix" || !root.plainAscii || path.charCodeAt(0) !== 47 || path.length > PATH_INPUT_LIMIT) return undefined;
  if (path.includes("%") || path.includes("\\") || path.includes("//") || path.includes("/.") || path.includes("\0")) return undefined;
  const exact = root.plain === "" || path === root.plain || path.startsWith(root.plainSlash);
  if (!root.foldable && !HAS_FOLDABLE.test(path)) return exact;
  const lower = path.toLowerCase();
  const folded = root.plain === "" || lower === root.plainFolded || lower.startsWith(root.plainFoldedSlash);
  return exact === folded && /^[\x00-\x7f]*$/.test(path) ? exact : undefined;
}

/**
 * `x under ROOT` in a guard: true or false when every reading agrees, an evaluation failure (fail closed) when they do
 * not or the path cannot be read. `text` is the expression's source text, for the explanation.
 */
export function pathUnder(value: unknown, root: PathRoot, text: string): boolean {
  if (typeof value !== "string") fail(value === undefined ? `\`${text}\` is missing` : `\`${text}\` is not a string`);
  const plain = plainVerdict(value, root);
  if (plain !== undefined) return plain;
  const placement = place(value, root);
  if (placement.verdict === "undecidable") fail(`\`${text}\` cannot be placed against \`${root.text}\`: ${placement.reason()}`);
  return placement.verdict === "under";
}

/** `under` as a plain boolean for code outside guards: only a path every reading puts under the root is under it. */
export function isUnder(path: string, root: PathRoot): boolean {
  return plainVerdict(path, root) ?? place(path, root).verdict === "under";
}
