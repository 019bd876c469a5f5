// The checker's declarations: the header's version, `manifest` statements (loading, signatures, the tools they
// define), the `timezone`, and the statements that become the checked policy: requirements, call rules, limits
// with their targets resolved against the manifests.
import type { CallRule, LimitRule, ManifestDecl, PolicyFile, RequireBlock, Requirement, StringLiteral, ToolTarget } from "../../grammar/ast.js";
import { didYouMean } from "../diagnostics.js";
import type { CheckedLimit, CheckedRequirement, CheckedRule } from "../ir.js";
import { parseManifest, type Manifest, type ManifestTool } from "../manifests.js";
import type { CheckContext, Scope } from "./context.js";
import type { ExpressionTyper } from "./expressions.js";
import { isTimeZone, knownTimeZones } from "./literals.js";

export class Declarations {
  private zone: { zone: string; line: number } | undefined;

  constructor(
    private readonly ctx: CheckContext,
    private readonly typer: ExpressionTyper,
  ) {}

  /** The zone of the `timezone` statement; UTC when there is none. */
  get timezone(): string {
    return this.zone?.zone ?? "UTC";
  }

  /** Checks the header and every `manifest` and `timezone` statement, wherever they are written. */
  checkDeclarations(ast: PolicyFile): void {
    const version = ast.header?.version;
    if (version !== undefined && (!version.integer || version.value < 0 || !Number.isSafeInteger(version.value))) {
      this.ctx.report("badVersion", version, { version: version.text });
    }
    // Manifests first, wherever they are written: rules may precede the manifest statement that defines their tools.
    const manifests = new Map<string, number>();
    for (const s of ast.statements) {
      if (s.kind === "ManifestDecl") this.manifestDecl(s, manifests);
      if (s.kind === "TimezoneDecl") this.timezoneDecl(s.zone);
    }
  }

  private timezoneDecl(zone: StringLiteral): void {
    if (this.zone !== undefined) {
      this.ctx.report("duplicateTimezone", zone, { line: this.zone.line });
      return;
    }
    this.zone = { zone: zone.value, line: zone.span.line };
    if (!isTimeZone(zone.value)) this.ctx.report("unknownTimeZone", zone, { zone: zone.value }, didYouMean(zone.value, knownTimeZones()));
  }

  private manifestDecl(decl: ManifestDecl, seen: Map<string, number>): void {
    const path = decl.path.value;
    const earlier = seen.get(path);
    if (earlier !== undefined) {
      this.ctx.report("duplicateManifest", decl.path, { path, line: earlier });
      return;
    }
    seen.set(path, decl.path.span.line);
    const manifest = this.loadManifest(decl);
    if (manifest === undefined) {
      this.ctx.manifestFailed = true;
      return;
    }
    for (const tool of manifest.tools) {
      const other = this.ctx.tools.get(tool.name);
      if (other !== undefined) {
        this.ctx.report("duplicateToolDefinition", decl.path, { tool: tool.name, first: other.manifest, second: path });
        continue;
      }
      this.ctx.tools.set(tool.name, { tool, manifest: path });
    }
  }

  private loadManifest(decl: ManifestDecl): Manifest | undefined {
    const path = decl.path.value;
    const found = this.ctx.input.manifest(path);
    if (found.kind === "unreadable") return void this.ctx.report("manifestNotFound", decl.path, { path, detail: found.detail });
    if (found.kind === "invalid") return void this.ctx.report("invalidManifest", decl.path, { path, detail: found.detail });
    const parsed = parseManifest(found.value);
    if (!parsed.ok) return void this.ctx.report("invalidManifest", decl.path, { path, detail: parsed.detail });
    if (decl.signedBy !== undefined && !this.signatureHolds(decl, parsed.manifest)) return undefined;
    return parsed.manifest;
  }

  private signatureHolds(decl: ManifestDecl, manifest: Manifest): boolean {
    const fingerprint = decl.signedBy!.value;
    const path = decl.path.value;
    if (manifest.signed === undefined || manifest.signed["signature"] === undefined) {
      this.ctx.report("manifestNotSigned", decl.path, { path, fingerprint });
      return false;
    }
    const verify = this.ctx.input.verify ?? verifyUnavailable;
    const verdict = verify(manifest.signed, fingerprint);
    if (!verdict.ok) {
      this.ctx.report("manifestSignature", decl.signedBy!, { path, detail: verdict.detail });
      return false;
    }
    return true;
  }

  // -------------------------------------------------------------------------------------------------------
  // Statements

  requireBlock(block: RequireBlock): CheckedRequirement[] {
    return block.requirements.map((r: Requirement) => {
      this.typer.condition(r.condition, { tools: undefined });
      return { id: this.ctx.id(r.span), dimension: block.dimension, condition: r.condition, text: this.ctx.text(r.condition.span) };
    });
  }

  callRule(rule: CallRule): CheckedRule {
    const targeted = this.target(rule.target);
    const scope: Scope = { tools: targeted.tools, incomplete: targeted.incomplete };
    if (rule.when !== undefined) this.typer.condition(rule.when, scope);
    if (rule.unless !== undefined) this.typer.condition(rule.unless, scope);
    return {
      id: this.ctx.id(rule.span),
      effect: rule.effect,
      tools: targeted.names,
      when: rule.when,
      unless: rule.unless,
      because: rule.because?.value,
      whenText: rule.when === undefined ? undefined : this.ctx.text(rule.when.span),
      unlessText: rule.unless === undefined ? undefined : this.ctx.text(rule.unless.span),
    };
  }

  limitRule(rule: LimitRule): CheckedLimit {
    const targeted = this.target(rule.target);
    const count = rule.count;
    if (count.kind === "NumberLiteral" && (!count.integer || count.value < 1 || !Number.isSafeInteger(count.value))) {
      this.ctx.report("badLimitCount", count, { count: count.text });
    }
    this.ctx.duration(rule.window);
    return { id: this.ctx.id(rule.span), tools: targeted.names, count: count.value, windowMs: rule.window.ms, scope: rule.scope };
  }

  /** Resolves a rule target: its tool names as written (or `*`) and the manifest tools they name. */
  target(target: ToolTarget): { names: readonly string[] | "*"; tools: readonly ManifestTool[]; incomplete: boolean } {
    if (target.kind === "AnyTool") return { names: "*", tools: [...this.ctx.tools.values()].map((e) => e.tool), incomplete: false };
    const names: string[] = [];
    const tools: ManifestTool[] = [];
    for (const t of target.tools) {
      if (names.includes(t.name)) {
        this.ctx.report("duplicateTarget", t, { tool: t.name });
        continue;
      }
      names.push(t.name);
      const found = this.ctx.resolveTool(t.name, t);
      if (found !== undefined) tools.push(found);
    }
    return { names, tools, incomplete: tools.length < names.length };
  }
}

function verifyUnavailable(): { ok: false; detail: string } {
  return { ok: false, detail: "no signature verifier is available" };
}

