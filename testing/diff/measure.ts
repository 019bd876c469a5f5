// Measuring `pqguard diff` by mutation: every checked mutant of a policy should be reported as a change (unless the
// diff proves it equivalent by an exhaustive check), and every rewrite as none. bench/diff.ts and the mutation test
// both run this.
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import type { CheckedPolicy } from "../../compiler/ir.js";
import { checkPolicyFile, checkPolicySource } from "../../compiler/load.js";
import { diffPolicies, type DiffOptions, type PolicyDiff } from "./index.js";
import { mutants, rewrites, type MutationKind, type RewriteKind } from "./mutants.js";

export interface CheckedVariant<K extends string> {
  readonly kind: K;
  readonly description: string;
  readonly policy: CheckedPolicy;
}

export interface PolicyVariants {
  readonly original: CheckedPolicy;
  readonly mutants: readonly CheckedVariant<MutationKind>[];
  readonly rewrites: readonly CheckedVariant<RewriteKind>[];
  /** Mutants that no longer check, left out. */
  readonly unchecked: number;
  /** Rewrites that no longer check: each is a bug in the rewriting. */
  readonly brokenRewrites: readonly string[];
}

/** The policy's mutants and rewrites that still check, against the manifests it names. */
export async function policyVariants(file: string): Promise<PolicyVariants> {
  const outcome = await checkPolicyFile(file);
  const original = outcome.policy;
  if (original === undefined) throw new Error(`${file} does not check: ${outcome.diagnostics.map((d) => d.message).join("; ")}`);
  const manifests: Record<string, unknown> = {};
  for (const statement of original.ast.statements) {
    if (statement.kind !== "ManifestDecl") continue;
    manifests[statement.path.value] = JSON.parse(await readFile(resolve(dirname(file), statement.path.value), "utf8"));
  }
  const check = (source: string): CheckedPolicy | undefined => checkPolicySource(source, { fileName: original.fileName, manifests }).policy;
  let unchecked = 0;
  const checkedMutants: CheckedVariant<MutationKind>[] = [];
  for (const m of mutants(original)) {
    const policy = check(m.source);
    if (policy === undefined) unchecked++;
    else checkedMutants.push({ kind: m.kind, description: m.description, policy });
  }
  const checkedRewrites: CheckedVariant<RewriteKind>[] = [];
  const brokenRewrites: string[] = [];
  for (const r of rewrites(original)) {
    const policy = check(r.source);
    if (policy === undefined) brokenRewrites.push(r.description);
    else checkedRewrites.push({ kind: r.kind, description: r.description, policy });
  }
  return { original, mutants: checkedMutants, rewrites: checkedRewrites, unchecked, brokenRewrites };
}

export type MutantVerdict = "detected" | "equivalent" | "missed";

export interface VariantResult {
  readonly kind: string;
  readonly description: string;
  readonly verdict: MutantVerdict;
  readonly ms: number;
  readonly diff: PolicyDiff;
}

/**
 * Diffs the original with one variant: a change found is `detected`; none found where every tool was checked
 * exhaustively or has the same rules is `equivalent` (the exhaustive check is the proof); none found otherwise, `missed`.
 */
export function judgeVariant(original: CheckedPolicy, variant: CheckedVariant<string>, options: DiffOptions): VariantResult {
  const start = performance.now();
  const diff = diffPolicies(original, variant.policy, options);
  const ms = performance.now() - start;
  const verdict: MutantVerdict = !diff.same ? "detected" : diff.exhaustive ? "equivalent" : "missed";
  return { kind: variant.kind, description: variant.description, verdict, ms, diff };
}
