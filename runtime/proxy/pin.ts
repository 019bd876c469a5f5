// Pins the upstream's tool list to the reviewed digests (a signed manifest, or the guard's compiled-in digests):
// a tool whose definition changed is withheld and refused; a tool nobody reviewed is hidden and refused.
import type { Tool } from "@modelcontextprotocol/sdk/types.js";
import { toolDigest } from "../manifest/digest.js";

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
}

export class ToolPin {
  readonly #reviewed: ReadonlyMap<string, string>;
  #listed = new Map<string, { readonly definition: Tool; readonly status: PinStatus }>();
  #verified = false;

  /** `reviewed`: tool name → SHA3-256 hex of its reviewed definition. */
  constructor(reviewed: Readonly<Record<string, string>>) {
    this.#reviewed = new Map(Object.entries(reviewed));
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
    for (const tool of tools) {
      const reviewed = this.#reviewed.get(tool.name);
      const status: PinStatus =
        reviewed === undefined ? "unreviewed" : toolDigest(tool as unknown as Record<string, unknown>) === reviewed ? "pinned" : "changed";
      listed.set(tool.name, { definition: tool, status });
    }
    this.#listed = listed;
    this.#verified = true;
    const names = (status: PinStatus): string[] => [...listed].filter(([, t]) => t.status === status).map(([name]) => name).sort();
    return {
      pinned: names("pinned"),
      changed: names("changed"),
      unreviewed: names("unreviewed"),
      missing: [...this.#reviewed.keys()].filter((name) => !listed.has(name)).sort(),
    };
  }

  /** The definitions a client may see: only those matching their reviewed digest. */
  visibleTools(): Tool[] {
    return [...this.#listed.values()].filter((t) => t.status === "pinned").map((t) => t.definition);
  }

  status(tool: string): PinStatus {
    return this.#listed.get(tool)?.status ?? (this.#reviewed.has(tool) ? "missing" : "unreviewed");
  }

  /** Why a call to `tool` must be refused, or undefined when its definition is the reviewed one. */
  refusal(tool: string): string | undefined {
    switch (this.status(tool)) {
      case "pinned":
        return undefined;
      case "changed":
        return `the definition of tool \`${tool}\` changed since it was reviewed; it is withheld`;
      case "unreviewed":
        return `tool \`${tool}\` is not in the reviewed manifest`;
      case "missing":
        return `tool \`${tool}\` is not offered by the upstream server`;
    }
  }
}
