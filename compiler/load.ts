// Entry points for checking a policy: from a file on disk (manifests found next to it) or from text in memory.
// Every failure, a missing file included, comes back as a diagnostic; these functions do not throw for bad input.
import { readFile } from "node:fs/promises";
import { basename, dirname, resolve } from "node:path";
import type { ManifestDecl, PolicyFile, Span } from "../grammar/ast.js";
import { parsePolicy } from "../grammar/parse.js";
import { checkPolicy, type ManifestSource, type ManifestVerifier } from "./check/index.js";
import { diagnostic, syntaxDiagnostic, type Diagnostic } from "./diagnostics.js";
import type { CheckedPolicy } from "./ir.js";
import { parseJsonText, readErrorDetail } from "./manifests.js";

export interface CheckOutcome {
  /** The checked policy; undefined when there is any error. */
  readonly policy: CheckedPolicy | undefined;
  readonly diagnostics: Diagnostic[];
  readonly source: string;
  readonly fileName: string;
}

export interface CheckFileOptions {
  /** Manifest files that replace the ones the policy names (matched by base name, or the only one). */
  readonly manifests?: readonly string[] | undefined;
  readonly verify?: ManifestVerifier | undefined;
  /** The name diagnostics carry, when it should differ from `path` (the CLI shows paths as the user typed them). */
  readonly displayName?: string | undefined;
}

export interface CheckSourceOptions {
  /** The name diagnostics carry; its base name prefixes rule ids. */
  readonly fileName: string;
  /** Parsed manifest JSON keyed by the path as written in the policy. */
  readonly manifests: Readonly<Record<string, unknown>>;
  /**
   * Checks `signed by`; pass `await signedManifestVerifier()` for the real one. Without it every signed-by
   * manifest is refused, since this synchronous entry point cannot load the signature code on demand.
   */
  readonly verify?: ManifestVerifier | undefined;
}

const START: Span = { start: 0, end: 0, line: 1, column: 1, endLine: 1, endColumn: 1 };

function manifestDecls(ast: PolicyFile): ManifestDecl[] {
  return ast.statements.filter((s): s is ManifestDecl => s.kind === "ManifestDecl");
}

type Parsed = ReturnType<typeof parsePolicy>;

function run(
  source: string,
  parsed: Parsed,
  fileName: string,
  manifest: (path: string) => ManifestSource,
  verify: ManifestVerifier | undefined,
  extra: Diagnostic[] = [],
): CheckOutcome {
  const syntax = parsed.problems.map((p) => syntaxDiagnostic(p, fileName));
  // The checker does not run over a tree the parser had to patch: its complaints would mostly echo the syntax errors.
  if (syntax.length > 0) return { policy: undefined, diagnostics: [...syntax, ...extra], source, fileName };
  const checked = checkPolicy({ ast: parsed.ast, source, file: fileName, baseName: basename(fileName), manifest, verify });
  const diagnostics = [...extra, ...checked.diagnostics];
  const failed = diagnostics.some((d) => d.severity === "error");
  return { policy: failed ? undefined : checked.policy, diagnostics, source, fileName };
}

/** Checks policy text with its manifests given in memory. */
export function checkPolicySource(source: string, options: CheckSourceOptions): CheckOutcome {
  const lookup = (path: string): ManifestSource =>
    Object.hasOwn(options.manifests, path) ? { kind: "json", value: options.manifests[path] } : { kind: "unreadable", detail: "no such manifest was provided" };
  return run(source, parsePolicy(source), options.fileName, lookup, options.verify);
}

/** Reads and checks a policy file; manifests it names are read relative to it unless `options.manifests` overrides them. */
export async function checkPolicyFile(path: string, options: CheckFileOptions = {}): Promise<CheckOutcome> {
  const name = options.displayName ?? path;
  let source: string;
  try {
    source = await readFile(path, "utf8");
  } catch (error) {
    const d = diagnostic("unreadablePolicy", START, name, { path: name, detail: readErrorDetail(error) });
    return { policy: undefined, diagnostics: [d], source: "", fileName: name };
  }
  const parsed = parsePolicy(source);
  const declared = manifestDecls(parsed.ast).map((d) => d.path.value);
  const { files, unused } = assignManifests(declared, options.manifests ?? [], dirname(path));
  const loaded = new Map<string, ManifestSource>();
  for (const [written, file] of files) loaded.set(written, await readManifest(file));
  const extra = unused.map((m) => diagnostic("unusedManifestOverride", START, name, { path: m }));
  const lookup = (written: string): ManifestSource => loaded.get(written) ?? { kind: "unreadable", detail: "no such file" };
  const verify = options.verify ?? (declaredSigned(parsed.ast) ? await signedManifestVerifier() : undefined);
  return run(source, parsed, name, lookup, verify, extra);
}

function declaredSigned(ast: PolicyFile): boolean {
  return manifestDecls(ast).some((d) => d.signedBy !== undefined);
}

/**
 * The verifier of runtime/manifest/signed.ts, loaded only when a policy asks for a signature. Should that module not
 * load, the checker's default verifier refuses every signed manifest: a signature that cannot be checked fails.
 */
export async function signedManifestVerifier(): Promise<ManifestVerifier | undefined> {
  let verifySignedManifest: (doc: unknown, options: { signer?: string }) => unknown;
  try {
    ({ verifySignedManifest } = await import("../runtime/manifest/signed.js"));
  } catch {
    return undefined;
  }
  return (doc, fingerprint) => {
    try {
      verifySignedManifest(doc, { signer: fingerprint });
      return { ok: true };
    } catch (error) {
      return { ok: false, detail: error instanceof Error ? error.message : "it does not verify" };
    }
  };
}

/**
 * Where each declared manifest is read from. A `--manifest` file replaces the declared manifest with the same base
 * name; when the policy declares one manifest and one is given, it replaces that one whatever its name.
 */
export function assignManifests(declared: readonly string[], overrides: readonly string[], policyDir: string): { files: Map<string, string>; unused: string[] } {
  const files = new Map<string, string>();
  const used = new Set<string>();
  const unique = [...new Set(declared)];
  for (const written of unique) {
    const match = overrides.find((o) => !used.has(o) && basename(o) === basename(written));
    if (match !== undefined) {
      files.set(written, match);
      used.add(match);
    }
  }
  if (unique.length === 1 && overrides.length === 1 && used.size === 0) {
    files.set(unique[0]!, overrides[0]!);
    used.add(overrides[0]!);
  }
  for (const written of unique) if (!files.has(written)) files.set(written, resolve(policyDir, written));
  return { files, unused: overrides.filter((o) => !used.has(o)) };
}

async function readManifest(file: string): Promise<ManifestSource> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    return { kind: "unreadable", detail: readErrorDetail(error) };
  }
  const json = parseJsonText(text);
  return json.ok ? { kind: "json", value: json.value } : { kind: "invalid", detail: json.detail };
}
