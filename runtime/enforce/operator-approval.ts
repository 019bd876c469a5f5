// An approval channel the calling client does not control: each `ask` is POSTed to an operator's webhook as an
// HMAC-signed request, and only an HMAC-signed answer naming that request approves it; anything else, or no answer in
// time, denies. Configured for the proxy (`--approval-webhook`) and for enforce() (`approve: operatorApproval(...)`).
import { createHmac, randomUUID, timingSafeEqual, type KeyObject } from "node:crypto";
import type { Logger } from "pino";
import type { ApprovalCallback, ApprovalRequest } from "./decide.js";

/** The `format` of the JSON body POSTed to the webhook. */
export const APPROVAL_REQUEST_FORMAT = "pqguard-approval-request/1";
/** The `format` the webhook's answer must carry. */
export const APPROVAL_RESPONSE_FORMAT = "pqguard-approval-response/1";
/** The header carrying `v1=<hex HMAC-SHA256>` on both the request and the response. */
export const APPROVAL_SIGNATURE_HEADER = "pqguard-signature";
/** An answer larger than this is not read: an approval is a few hundred bytes. */
const MAX_RESPONSE_BYTES = 64 * 1024;

/** Separates what the key signs in each direction, so a request can never be replayed as a response. */
const REQUEST_CONTEXT = "pqguard approval request/1\n";
const RESPONSE_CONTEXT = "pqguard approval response/1\n";

export interface OperatorApprovalOptions {
  /** The operator's webhook (use https: the request carries the call's arguments). */
  readonly url: string | URL;
  /** The secret shared with the webhook (`loadAuditKey` reads one; use its own key, not the audit key). */
  readonly key: KeyObject;
  /** Injected for tests; global fetch by default. */
  readonly fetch?: typeof fetch;
  readonly logger?: Logger;
  /** The clock for the request's `time`, epoch ms. */
  readonly now?: () => number;
}

/** The signature header's value for `body` in one direction. */
export function approvalSignature(key: KeyObject, direction: "request" | "response", body: string): string {
  const context = direction === "request" ? REQUEST_CONTEXT : RESPONSE_CONTEXT;
  return `v1=${createHmac("sha256", key).update(context + body, "utf8").digest("hex")}`;
}

function signatureValid(key: KeyObject, direction: "request" | "response", body: string, given: string | null): boolean {
  if (given === null) return false;
  const expected = Buffer.from(approvalSignature(key, direction, body));
  const actual = Buffer.from(given);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/**
 * An approver that asks the operator's webhook. The request body is JSON: `format`, a fresh `id`, the `tool`, its
 * `args`, the guard's `reason` and `rules`, the `session`, the authenticated `client` fingerprint and claims, and
 * `time`. It approves only on a 2xx answer whose body is `{ "format": APPROVAL_RESPONSE_FORMAT, "id": <the same id>,
 * "approved": true }` with a valid signature header: a forged, replayed (another request's id) or malformed answer,
 * an error, or no answer before the decision's approval timeout (the request is then aborted) all deny.
 */
export function operatorApproval(options: OperatorApprovalOptions): ApprovalCallback {
  const send = options.fetch ?? fetch;
  const now = options.now ?? Date.now;
  return async (request: ApprovalRequest): Promise<boolean> => {
    const id = randomUUID();
    const body = JSON.stringify({
      format: APPROVAL_REQUEST_FORMAT,
      id,
      tool: request.tool,
      args: request.args,
      reason: request.decision.reason,
      rules: request.decision.determining,
      session: request.context.session.id,
      client: request.context.client.fingerprint ?? null,
      claims: request.context.client.claims ?? null,
      time: new Date(now()).toISOString(),
    });
    let response: Response;
    try {
      response = await send(options.url, {
        method: "POST",
        headers: { "content-type": "application/json", [APPROVAL_SIGNATURE_HEADER]: approvalSignature(options.key, "request", body) },
        body,
        signal: request.signal,
        redirect: "error",
      });
    } catch (error) {
      options.logger?.warn({ tool: request.tool }, `the approval webhook could not be asked, so the call is denied: ${error instanceof Error ? error.message : String(error)}`);
      return false;
    }
    const text = await boundedText(response);
    if (!response.ok || text === undefined) {
      options.logger?.warn({ tool: request.tool, status: response.status }, "the approval webhook did not answer with an approval, so the call is denied");
      return false;
    }
    if (!signatureValid(options.key, "response", text, response.headers.get(APPROVAL_SIGNATURE_HEADER))) {
      options.logger?.warn({ tool: request.tool }, "the approval webhook's answer is not signed with the approval key, so the call is denied");
      return false;
    }
    let answer: unknown;
    try {
      answer = JSON.parse(text);
    } catch {
      return false;
    }
    const { format, id: answered, approved } = (typeof answer === "object" && answer !== null ? answer : {}) as Record<string, unknown>;
    if (format !== APPROVAL_RESPONSE_FORMAT || answered !== id) {
      options.logger?.warn({ tool: request.tool }, "the approval webhook answered another request (a replayed answer), so the call is denied");
      return false;
    }
    return approved === true;
  };
}

/** The response body as text, or undefined when it is larger than MAX_RESPONSE_BYTES or cannot be read. */
async function boundedText(response: Response): Promise<string | undefined> {
  const declared = Number(response.headers.get("content-length") ?? "0");
  if (declared > MAX_RESPONSE_BYTES) return undefined;
  try {
    const text = await response.text();
    return Buffer.byteLength(text, "utf8") > MAX_RESPONSE_BYTES ? undefined : text;
  } catch {
    return undefined;
  }
}
