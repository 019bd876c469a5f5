// The result gate of every enforcement point (`enforce()`, `guardClient()`, the proxy): each `tools/call` result meets
// the policy's result rules before it travels on, and so does a `resources/read` of a resource a tool's result linked
// to (a `resource_link` item): reading the link would otherwise hand the client what the rules withheld. Linked
// contents are inspected as a result of the linking tool.
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import type { SessionView } from "./context.js";
import type { DecisionPoint } from "./decide.js";
import { ResultError, ResultErrorCode, resultRefusal } from "./results.js";

/** Linked resources remembered per session; beyond it the session's reads of unknown resources are refused. */
export const MAX_LINKS_PER_SESSION = 1024;

interface Link {
  readonly tool: string;
  readonly args: Readonly<Record<string, unknown>>;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** A blob's text when it is UTF-8 (a text file served as a blob), else undefined: binary content has no text to read. */
function blobText(blob: string): string | undefined {
  try {
    return utf8.decode(Buffer.from(blob, "base64"));
  } catch {
    return undefined;
  }
}

/** Turns a refusal into what the enforcement point throws (the proxy's Refusal; the McpError itself elsewhere), the message being the reason. */
export type RefusalOf = (error: McpError, text: string) => Error;

export class ResultGate {
  private readonly links = new Map<string, Map<string, Link>>();
  /** Sessions that linked more resources than are remembered: every read of theirs is refused, not let through. */
  private readonly overflowed = new Set<string>();

  constructor(
    private readonly decisions: DecisionPoint,
    private readonly refusal: RefusalOf,
  ) {}

  /** Inspects a tool's result through the decision point's result stages, and remembers the resources it links to. */
  async afterCall(tool: string, args: Readonly<Record<string, unknown>>, session: SessionView | undefined, result: Readonly<Record<string, unknown>>): Promise<unknown> {
    const inspected = await this.decisions.inspectResult({ tool, args, session, result });
    if ("withheld" in inspected) throw this.refusal(inspected.withheld.error, inspected.withheld.error.message.replace(/^MCP error -?\d+: /, ""));
    const content = inspected.result["content"];
    if (session !== undefined && Array.isArray(content)) {
      for (const item of content) {
        if (isRecord(item) && item["type"] === "resource_link" && typeof item["uri"] === "string") this.remember(session.sessionId, item["uri"], { tool, args });
      }
    }
    return inspected.result;
  }

  /**
   * Inspects what `resources/read` answered for a URI a tool linked to in this session, as a result of that tool: text
   * contents and UTF-8 blobs are read, redacted or refused as its result would be. Other reads pass unchanged.
   */
  async afterRead(params: Record<string, unknown> | undefined, session: SessionView | undefined, result: unknown): Promise<unknown> {
    if (session === undefined || typeof params?.["uri"] !== "string") return result;
    const uri = params["uri"];
    const link = this.links.get(session.sessionId)?.get(uri);
    if (link === undefined && this.overflowed.has(session.sessionId)) {
      throw this.withheld("resources/read", `this session linked more than ${MAX_LINKS_PER_SESSION} resources, so a read cannot be matched to its tool and is withheld`, []);
    }
    if (link === undefined) return result;
    const contents = isRecord(result) && Array.isArray(result["contents"]) ? (result["contents"] as unknown[]) : [];
    // Each content as an embedded resource of a tool result, its blob read as text where it is text.
    const asResult = {
      content: contents.map((c) => {
        if (!isRecord(c)) return c;
        const text = typeof c["text"] === "string" ? c["text"] : typeof c["blob"] === "string" ? blobText(c["blob"]) : undefined;
        return { type: "resource", resource: text === undefined ? c : { ...c, text } };
      }),
    };
    const inspected = await this.decisions.inspectResult({ tool: link.tool, args: link.args, session, result: asResult });
    if ("withheld" in inspected) {
      const refusal = inspected.withheld.refusal;
      throw this.withheld(link.tool, `resource \`${uri.slice(0, 200)}\` linked by \`${link.tool}\` withheld: ${refusal.reason}`, refusal.rules);
    }
    const items = Array.isArray(inspected.result["content"]) ? (inspected.result["content"] as unknown[]) : [];
    const back = contents.map((c, i) => {
      const resource = isRecord(items[i]) ? (items[i] as Record<string, unknown>)["resource"] : undefined;
      if (!isRecord(c) || !isRecord(resource) || typeof resource["text"] !== "string") return c;
      if (typeof c["text"] === "string") return { ...c, text: resource["text"] };
      if (typeof c["blob"] === "string" && blobText(c["blob"]) !== undefined) return { ...c, blob: Buffer.from(resource["text"], "utf8").toString("base64") };
      return c;
    });
    return { ...(result as Record<string, unknown>), contents: back };
  }

  private withheld(tool: string, message: string, rules: readonly string[]): Error {
    const error = new ResultError(ResultErrorCode.ResourceWithheld, message, rules);
    return this.refusal(resultRefusal(tool, error), error.message);
  }

  /** Forgets a session's links when it ends. */
  endSession(sessionId: string): void {
    this.links.delete(sessionId);
    this.overflowed.delete(sessionId);
  }

  private remember(sessionId: string, uri: string, link: Link): void {
    let links = this.links.get(sessionId);
    if (links === undefined) {
      links = new Map();
      this.links.set(sessionId, links);
    }
    links.delete(uri);
    links.set(uri, link);
    if (links.size > MAX_LINKS_PER_SESSION) {
      links.delete(links.keys().next().value!);
      this.overflowed.add(sessionId);
    }
  }
}

/**
 * The response to send on once the gate has seen its result: the result it let through (the same message when
 * unchanged), or the refusal as a JSON-RPC error. For `enforce()` and `guardClient()`, whose gate throws McpErrors.
 */
export function gatedResponse(message: Readonly<Record<string, unknown>>, gated: Promise<unknown>): Promise<Record<string, unknown>> {
  return gated.then(
    (result) => (result === message["result"] ? { ...message } : { ...message, result }),
    (error: unknown) => {
      const refusal = error instanceof McpError ? error : new McpError(-32603, `the result could not be inspected: ${String(error)}`);
      return { jsonrpc: "2.0", id: message["id"], error: { code: refusal.code, message: refusal.message, data: refusal.data } };
    },
  );
}
