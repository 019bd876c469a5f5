// Pinning a tool to the definition the policy was compiled against and, when one is in use, the signed manifest.
import { createHash } from "node:crypto";
import type { GuardModule } from "../guard/types.js";
import { canonicalJson } from "../manifest/digest.js";
import type { VerifiedManifest } from "../manifest/signed.js";
import type { PinVerdict } from "./decide.js";
import { EnforceErrorCode } from "./errors.js";

/** The policy must know the tool and, with a signed manifest, have been compiled against the signed definition. */
export function pinAgainstPolicy(guard: GuardModule, manifest: VerifiedManifest | undefined, tool: string): PinVerdict {
  const compiled = Object.hasOwn(guard.toolDigests, tool) ? guard.toolDigests[tool] : undefined;
  if (compiled === undefined) {
    return { ok: false, code: EnforceErrorCode.ToolUnknown, reason: `\`${tool}\` is not a tool of the policy's manifest` };
  }
  if (manifest === undefined) return { ok: true };
  const signed = Object.hasOwn(manifest.digests, tool) ? manifest.digests[tool] : undefined;
  if (signed === undefined) return { ok: false, code: EnforceErrorCode.ToolUnknown, reason: `\`${tool}\` is not in the signed manifest` };
  if (signed !== compiled) {
    return {
      ok: false,
      code: EnforceErrorCode.ToolChanged,
      reason: `the policy was compiled against another definition of \`${tool}\` than the signed manifest holds`,
    };
  }
  return { ok: true };
}

/** What audit lines cite as the manifest when no signed manifest is in use: a digest of the guard's tool digests. */
export function guardTableDigest(guard: GuardModule): string {
  return createHash("sha3-256").update(canonicalJson(guard.toolDigests), "utf8").digest("hex");
}
