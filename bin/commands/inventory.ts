// `pqguard inventory [--policy P.policy] [--keyring DIR | --key NAME.key] [--crypto-config FILE] [--manifest M.json]...
// [--format table|json|cyclonedx] [--strict] [--out FILE]`: what cryptography this deployment uses, from the
// configuration its proxy reads. Exit 0; 1 with --strict when anything is flagged, or when an input cannot be read.
import { writeFile } from "node:fs/promises";
import { isAbsolute, resolve } from "node:path";
import { loadCryptoConfig, type CryptoConfig } from "../../runtime/crypto/config-file.js";
import { checkPolicyFile } from "../../compiler/load.js";
import { renderDiagnostics } from "../../compiler/render.js";
import { evaluate } from "../../compiler/interpreter.js";
import type { CheckedPolicy } from "../../compiler/ir.js";
import { Keyring } from "../../runtime/identity/keyring.js";
import { loadPublicKey, loadSecretKey } from "../../runtime/identity/keys.js";
import { buildInventory, type Inventory, type InventoryInputs } from "../../runtime/inventory/inventory.js";
import { loadSignedManifest } from "../../runtime/manifest/files.js";
import { EXIT_ERRORS, EXIT_OK, UsageError, type CommandIO, parseCommandLine } from "./io.js";

export async function run(io: CommandIO): Promise<number> {
  const { values, positionals } = parseCommandLine({
    args: [...io.argv],
    strict: true,
    allowPositionals: true,
    options: {
      policy: { type: "string" },
      keyring: { type: "string" },
      key: { type: "string" },
      "crypto-config": { type: "string" },
      manifest: { type: "string", multiple: true },
      signer: { type: "string" },
      format: { type: "string", default: "table" },
      strict: { type: "boolean", default: false },
      out: { type: "string" },
    },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument \`${positionals[0]}\``);
  const format = values.format;
  if (format !== "table" && format !== "json" && format !== "cyclonedx") throw new UsageError("`--format` is `table`, `json` or `cyclonedx`");
  if (values.key !== undefined && values.keyring !== undefined) throw new UsageError("`--key` and `--keyring` exclude each other, as for `pqguard proxy`");
  const inCwd = (p: string): string => (isAbsolute(p) ? p : resolve(io.cwd, p));

  let inputs: InventoryInputs;
  try {
    const config: CryptoConfig | undefined = values["crypto-config"] === undefined ? undefined : await loadCryptoConfig(inCwd(values["crypto-config"]));
    const keyring = values.keyring === undefined ? undefined : await Keyring.open(inCwd(values.keyring));
    const staticKey = values.key === undefined ? undefined : await staticKeyOf(inCwd(values.key), values.key);
    const manifests = [];
    for (const path of values.manifest ?? []) {
      const options = { ...(values.signer === undefined ? {} : { signer: values.signer }), ...(keyring === undefined ? {} : { signerKeys: keyring.keys }) };
      manifests.push({ path, manifest: await loadSignedManifest(inCwd(path), options) });
    }
    let policy: InventoryInputs["policy"];
    if (values.policy !== undefined) {
      const checked = await checkPolicyFile(inCwd(values.policy), { manifests: (values.manifest ?? []).map(inCwd) });
      if (checked.policy === undefined) {
        io.err(renderDiagnostics(checked.diagnostics, { [checked.fileName]: checked.source }, "text"));
        return EXIT_ERRORS;
      }
      policy = transportVerdict(checked.policy);
    }
    inputs = {
      ...(config === undefined ? {} : { config }),
      ...(keyring === undefined ? {} : { keyring: { directory: values.keyring!, keys: keyring.keys } }),
      ...(staticKey === undefined ? {} : { staticKey }),
      manifests,
      ...(policy === undefined ? {} : { policy }),
    };
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (typeof code === "string" && /^PQG\d{4}$/.test(code)) {
      io.err(`error ${code}: ${(error as Error).message}\n`);
      return EXIT_ERRORS;
    }
    throw error;
  }
  const inventory = buildInventory(inputs);
  const text = format === "cyclonedx" ? (await import("../../runtime/inventory/cyclonedx.js")).cyclonedxOf(inventory) : format === "json" ? `${JSON.stringify(inventory, null, 2)}\n` : table(inventory);
  if (values.out === undefined) io.out(text);
  else await writeFile(inCwd(values.out), text);
  for (const finding of inventory.findings) io.err(`warning ${finding.kind}: ${finding.message}\n`);
  return values.strict === true && inventory.findings.length > 0 ? EXIT_ERRORS : EXIT_OK;
}

/**
 * The policy's verdict on a suite: its `transport` requirements (the ones about algorithms), evaluated by the reference
 * interpreter with only the suite varying. Identity requirements and rules are left out: they are about who calls
 * what, which an inventory does not know.
 */
function transportVerdict(policy: CheckedPolicy): NonNullable<InventoryInputs["policy"]> {
  const transportOnly: CheckedPolicy = { ...policy, requirements: policy.requirements.filter((r) => r.dimension === "transport"), rules: [], limits: [] };
  return {
    name: policy.name,
    digest: policy.digest,
    refuses(_suite, context) {
      const decision = evaluate(transportOnly, { tool: "", args: {} }, context);
      const failed = transportOnly.requirements.find((r) => decision.determining.includes(r.id));
      return failed === undefined ? undefined : `\`require ${failed.text}\` (${failed.id}) does not hold`;
    },
  };
}

/** A `--key` file: its secret half when it is one (as the proxy reads it), else a public key file. */
async function staticKeyOf(path: string, shown: string): Promise<InventoryInputs["staticKey"]> {
  const key = path.endsWith(".pub") ? await loadPublicKey(path) : await loadSecretKey(path);
  return { keyId: key.keyId, algorithm: key.algorithm, created: key.created, path: shown };
}

function columns(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n") + "\n";
}

/** The inventory for people: one section per kind of asset, then what is flagged. */
function table(inventory: Inventory): string {
  let text = `pqguard ${inventory.pqguardVersion} inventory, ${inventory.generated}\n\nALGORITHMS\n`;
  text += columns([
    ["NAME", "PRIMITIVE", "PARAMS", "NIST", "CLASSICAL", "USED FOR", "IMPLEMENTATION"],
    ...inventory.algorithms.map((a) => [
      a.name,
      a.profile.primitive,
      a.profile.parameterSetIdentifier,
      String(a.profile.nistQuantumSecurityLevel),
      String(a.profile.classicalSecurityLevel),
      a.uses.join(","),
      a.implementations.map((i) => `${i.name} ${i.version}${i.openssl === undefined ? "" : ` (OpenSSL ${i.openssl})`}`).join(" + "),
    ]),
  ]);
  text += `\nPROTOCOL ${inventory.protocol.name}/${inventory.protocol.version} (key schedule ${inventory.protocol.kdf}, transcript ${inventory.protocol.hash})\n`;
  text += columns([["KEM", "SIGNATURE", "AEAD"], ...inventory.protocol.cipherSuites.map((s) => [s.kem, s.signature, s.aead])]);
  text += "\nKEYS\n";
  text +=
    inventory.keys.length === 0
      ? "  none (plain MCP: no session identity)\n"
      : columns([["STATE", "KEY ID", "ALGORITHM", "CREATED", "NOT AFTER", "SOURCE"], ...inventory.keys.map((k) => [k.state, k.keyId, k.algorithm, k.created.slice(0, 19), (k.notAfter ?? "-").slice(0, 19), k.source])]);
  text += "\nMANIFESTS\n";
  text +=
    inventory.manifests.length === 0
      ? "  none\n"
      : columns([["FILE", "SIGNER", "ALGORITHM", "EXPIRES", "TOOLS"], ...inventory.manifests.map((m) => [m.path, m.issuer, m.algorithm, m.expiresAt.slice(0, 19), String(m.tools)])]);
  if (inventory.policy !== undefined) text += `\nPOLICY ${inventory.policy.name} (sha3-256 ${inventory.policy.digest.slice(0, 16)}…)\n`;
  text += `\nFINDINGS (minimum NIST category ${inventory.minimumLevel}, key age ${Math.round(inventory.maxKeyAgeMs / 86_400_000)} days)\n`;
  text += inventory.findings.length === 0 ? "  none\n" : inventory.findings.map((f) => `  ${f.kind}: ${f.message}\n`).join("");
  return text;
}
