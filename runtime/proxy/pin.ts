// Pins the upstream's tool list to the reviewed digests (a signed manifest, or the guard's compiled-in digests):
// a tool whose definition changed is withheld and refused; a tool nobody reviewed is hidden and refused.
import type { Tool } from "@modelcontextprotocol/sdk/types.js";
import { EnforceErrorCode, pinAgainstPolicy, type PinVerdict } from "../enforce/index.js";
import type { GuardModule } from "../guard/types.js";
import type { VerifiedManifest } from "../manifest/signed.js";
import { compareToolList } from "../manifest/compare.js";
import { summarizeToolChange } from "../manifest/diff.js";
import { currentMetrics, type PqguardMetrics } from "../metrics/metrics.js";

export type PinStatus = "pinned" | "changed" | "unreviewed" | "missing";

export interface PinReport {
  /** Tools served as reviewed. */
  readonly pinned: readonly string[];
  /** Tools whose definition no longer matches its reviewed digest: withheld, every call refused. */
  readonly changed: readonly string[];
  /** Tools the upstream lists that were never reviewed: hidden, every call refused. */
  readonly unreviewed: readonly string[];
  /** Reviewed tools the upstream no longer lists. */
  readonly missing: readonly string[];
  /**
   * For each tool in `changed`, in the same order, what changed (`pqguard manifest diff`'s comparison): the field
   * names and JSON pointers (`description`, `inputSchema /properties/amount/maximum`), or `definition` when only the
   * reviewed digest is known (no signed manifest); `listed N times` first for a repeated name; and the digests
   * shortened, reviewed → live (`a1b2c3d4… → c3d4e5f6…`). Never the texts themselves: the proxy logs this.
   */
  readonly changes: readonly { readonly tool: string; readonly changed: readonly string[]; readonly digest: string }[];
}

export class ToolPin {
  readonly #reviewed: ReadonlyMap<string, string>;
  readonly #guard: GuardModule;
  readonly #manifest: VerifiedManifest | undefined;
  /** The signed definitions, to tell what changed in a tool; none without a manifest (a guard holds only digests). */
  readonly #definitions: ReadonlyMap<string, Readonly<Record<string, unknown>>>;
  #listed = new Map<string, { readonly definition: Tool; readonly status: PinStatus }>();
  #verified = false;
  readonly #metrics: PqguardMetrics;

  /** Reviewed definitions: the signed manifest's when there is one, else those the guard was compiled against. */
  constructor(guard: GuardModule, manifest?: VerifiedManifest, metrics: PqguardMetrics = currentMetrics()) {
    this.#metrics = metrics;
    this.#guard = guard;
    this.#manifest = manifest;
    this.#reviewed = new Map(Object.entries(manifest?.digests ?? guard.toolDigests));
    this.#definitions = new Map((manifest?.tools ?? []).map((tool) => [tool.name, tool]));
  }

  /** Whether a tool list has been compared since the upstream (re)started. */
  get verified(): boolean {
    return this.#verified;
  }

  /** Forgets the compared list, e.g. when the upstream restarted and may serve different definitions. */
  invalidate(): void {
    this.#verified = false;
  }

  /** Compares a full tool list with the reviewed digests and remembers the outcome. */
  update(tools: readonly Tool[]): PinReport {
    const listed = new Map<string, { definition: Tool; status: PinStatus }>();
    const comparison = compareToolList(tools as unknown as Record<string, unknown>[], { digests: Object.fromEntries(this.#reviewed) });
    tools.forEach((tool, index) => {
      const status = comparison[index]!.status;
      // A name listed twice stays "changed" whichever copy comes last: a client could use either.
      const previous = listed.get(tool.name)?.status;
      listed.set(tool.name, { definition: tool, status: previous === undefined ? (status === "ok" ? "pinned" : status === "new" ? "unreviewed" : "changed") : "changed" });
    });
    const before = this.#listed;
    this.#listed = listed;
    this.#verified = true;
    const names = (status: PinStatus): string[] => [...listed].filter(([, t]) => t.status === status).map(([name]) => name).sort();
    const changed = names("changed");
    // Counted when a tool becomes mismatched, not at every recheck that finds it still so.
    for (const name of changed) if (before.get(name)?.status !== "changed") this.#metrics.manifestMismatch(name);
    const copies = new Map<string, Record<string, unknown>[]>(changed.map((name) => [name, []]));
    for (const tool of tools) copies.get(tool.name)?.push(tool as unknown as Record<string, unknown>);
    return {
      pinned: names("pinned"),
      changed,
      unreviewed: names("unreviewed"),
      missing: [...this.#reviewed.keys()].filter((name) => !listed.has(name)).sort(),
      changes: changed.map((name) => {
        const [first, ...rest] = copies.get(name)!;
        return summarizeToolChange([first!, ...rest], { definition: this.#definitions.get(name), digest: this.#reviewed.get(name) });
      }),
    };
  }

  /** The definitions a client may see: only those matching their reviewed digest. */
  visibleTools(): Tool[] {
    return [...this.#listed.values()].filter((t) => t.status === "pinned").map((t) => t.definition);
  }

  status(tool: string): PinStatus {
    return this.#listed.get(tool)?.status ?? (this.#reviewed.has(tool) ? "missing" : "unreviewed");
  }

  /** Whether a call to `tool` may go ahead as far as its definition is concerned, and why not. */
  verdict(tool: string): PinVerdict {
    const policy = pinAgainstPolicy(this.#guard, this.#manifest, tool);
    if (!policy.ok) return policy;
    switch (this.status(tool)) {
      case "pinned":
        return { ok: true };
      case "changed":
        return { ok: false, code: EnforceErrorCode.ToolChanged, reason: `the definition of tool \`${tool}\` changed since it was reviewed, so it is withheld` };
      case "unreviewed":
        return { ok: false, code: EnforceErrorCode.ToolUnknown, reason: `tool \`${tool}\` is not in the reviewed manifest` };
      case "missing":
        return { ok: false, code: EnforceErrorCode.ToolUnknown, reason: `tool \`${tool}\` is not offered by the upstream server` };
    }
  }
}
