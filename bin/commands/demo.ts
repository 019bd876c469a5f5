// `pqguard demo` (what `npm start` runs): checks and compiles the shipped example policies and shows decisions,
// then runs the payments example end to end as real processes behind `pqguard proxy` on the post-quantum transport.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { ElicitRequestSchema, ToolListChangedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { requestFromJson } from "../../compiler/request.js";
import { verifyAuditLog } from "../../runtime/audit/index.js";
import { signature } from "../../runtime/crypto/registry.js";
import { refusalOf } from "../../runtime/enforce/index.js";
import type { Decision } from "../../runtime/guard/types.js";
import { fingerprint, loadSecretKey } from "../../runtime/identity/index.js";
import { issueClientCertificate, PqcClientTransport } from "../../runtime/transport/index.js";
import { CONTROL_FILE_ENV } from "../../policies/example-server.js";
import { compileGuard, NOW_ENV } from "./proxy.js";
import { EXIT_ERRORS, EXIT_OK, type CommandIO } from "./io.js";
import { OWN_POLICIES, OWN_ROOT, ownScript, ownScriptLine } from "./own-scripts.js";

const POLICIES = OWN_POLICIES;

/**
 * The demo's decision clock: a Tuesday, 10:15 in Berlin. Business-hours rules then give the same answers whenever
 * the demo runs. It lies in the past so that `session.age` (now minus the real handshake time) stays at zero.
 */
export const DEMO_NOW = "2025-11-18T09:15:00Z";
/** The same Tuesday at 22:30 in Berlin, to show the business-hours rule refusing. */
const DEMO_EVENING = "2025-11-18T21:30:00Z";
/** 10:00 in New York on that Tuesday, inside the healthcare policy's staffed hours. */
const DEMO_NEW_YORK = "2025-11-18T15:00:00Z";

/** The proxy process loads, checks and compiles its policy before it answers the handshake: allow for a slow machine. */
const DEMO_HANDSHAKE_TIMEOUT_MS = 60_000;

const PQ_TRANSPORT = { kem: "X25519MLKEM768", signature: "ML-DSA-65", aead: "AES-256-GCM" };

interface Example {
  readonly title: string;
  readonly request: Record<string, unknown>;
}

const EXAMPLES: Readonly<Record<string, readonly Example[]>> = {
  payments: [
    { title: "a billing agent refunds 250", request: refund(250, "billing-agent") },
    { title: "a billing agent refunds 2500", request: refund(2500, "billing-agent") },
    { title: "a billing agent refunds 7500", request: refund(7500, "billing-agent") },
    { title: "a support agent refunds 250", request: refund(250, "support-agent") },
    {
      title: "a balance check at 22:30 Berlin time",
      request: { ...refund(0, "billing-agent"), tool: "get_balance", args: { customer_id: "c-17" }, time: DEMO_EVENING },
    },
    {
      title: "a refund over a classical (X25519-only) session",
      request: { ...refund(250, "billing-agent"), transport: { kem: "X25519", signature: "ML-DSA-65", aead: "AES-256-GCM", hybrid: false } },
    },
  ],
  healthcare: [
    { title: "a nurse reads a record", request: clinician("nurse", "read_patient_record", { patient_id: "P-123456" }) },
    {
      title: "after reading a record, a nurse emails a gmail address",
      request: {
        ...clinician("nurse", "send_email", { to: "someone@gmail.com", subject: "notes", body: "..." }),
        history: [{ tool: "read_patient_record", at: "2025-11-18T14:50:00Z", session: "s-1" }],
      },
    },
    {
      title: "a physician exports three records to the hospital system",
      request: clinician("physician", "export_patient_records", {
        patient_ids: ["P-100001", "P-100002", "P-100003"],
        format: "fhir",
        destination: "https://ehr.example-hospital.org/import",
      }),
    },
  ],
  filesystem: [
    { title: "a developer reads /workspace/.env", request: workspace("developer", "read_file", { path: "/workspace/.env" }) },
    { title: "CI runs `npm test`", request: workspace("ci", "run_shell", { command: "npm test" }) },
    { title: "a reviewer deletes a file", request: workspace("reviewer", "delete_file", { path: "/workspace/old.txt" }) },
  ],
};

function refund(amount: number, role: string): Record<string, unknown> {
  return {
    tool: "process_refund",
    args: { amount, customer_id: "c-17" },
    client: { id: "agent-7", role, authenticated: true },
    transport: PQ_TRANSPORT,
    session: { id: "s-1", age: "5m" },
    time: DEMO_NOW,
  };
}

function clinician(role: string, tool: string, args: Record<string, unknown>): Record<string, unknown> {
  return { tool, args, client: { id: "agent-3", role, authenticated: true }, transport: PQ_TRANSPORT, session: { id: "s-1", age: "5m" }, time: DEMO_NEW_YORK };
}

function workspace(role: string, tool: string, args: Record<string, unknown>): Record<string, unknown> {
  return { tool, args, client: { id: "agent-5", role, authenticated: true }, transport: PQ_TRANSPORT, session: { id: "s-1", age: "5m" }, time: DEMO_NOW };
}

function describeDecision(decision: Decision): string[] {
  const rules = decision.determining.length === 0 ? "" : ` [${decision.determining.join(", ")}]`;
  const lines = [`    → ${decision.decision.toUpperCase()}${rules}: ${decision.reason}`];
  if (decision.determining.length === 0) {
    // A default deny is explained by the permits that were considered and the clause of each that failed.
    for (const step of decision.explain) if (step.effect === "permit" || step.effect === "ask") lines.push(`        ${step.rule} (${step.effect}): ${step.detail}`);
  }
  return lines;
}

/** Part one: every example policy checked, compiled, and asked a few questions. */
async function showPolicies(io: CommandIO): Promise<boolean> {
  io.out("== 1. The example policies, checked, compiled and asked\n\n");
  for (const [name, examples] of Object.entries(EXAMPLES)) {
    const compiled = await compileGuard(join(POLICIES, name, `${name}.policy`));
    if ("errors" in compiled) {
      io.err(`error PQG8201: policies/${name}/${name}.policy does not check:\n${compiled.errors}`);
      return false;
    }
    const tools = Object.keys(compiled.guard.toolDigests).length;
    io.out(`policies/${name}/${name}.policy: checked and compiled (${tools} tools, digest ${compiled.guard.policyDigest.slice(0, 16)}…)\n`);
    for (const example of examples) {
      const { request, context } = requestFromJson(example.request, Date.parse(DEMO_NOW));
      io.out(`  ${example.title}: ${request.tool} ${JSON.stringify(request.args)}\n`);
      io.out(describeDecision(compiled.guard.guard(request, context)).join("\n") + "\n");
    }
    io.out("\n");
  }
  return true;
}

/** Runs a pqguard command in this process, returning what it printed. (Not through bin/cli.ts: it is the entry.) */
async function pqguard(io: CommandIO, argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const [name, ...rest] = argv;
  const command = name === "keygen" ? await import("./keygen.js") : await import("./manifest.js");
  let out = "";
  let err = "";
  const code = await command.run({ argv: rest, cwd: io.cwd, out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

interface Tally {
  allowed: number;
  denied: number;
  approved: number;
}

/** Part two: the payments server behind `pqguard proxy`, driven by a scripted agent over the post-quantum transport. */
async function runPayments(io: CommandIO): Promise<boolean> {
  io.out("== 2. The payments server behind `pqguard proxy`, over the post-quantum transport\n\n");
  const dir = await mkdtemp(join(tmpdir(), "pqguard-demo-"));
  try {
    for (const key of ["server", "signer"]) {
      const made = await pqguard(io, ["keygen", "--out", join(dir, key)]);
      if (made.code !== 0) {
        io.err(`error PQG8202: could not generate the demo's ${key} key:\n${made.err}`);
        return false;
      }
    }
    const manifestFile = join(dir, "payments.manifest.json");
    const signed = await pqguard(io, ["manifest", "sign", "--key", join(dir, "signer.key"), join(POLICIES, "payments", "payments.tools.json"), "--out", manifestFile]);
    if (signed.code !== 0) {
      io.err(`error PQG8202: could not sign the demo manifest:\n${signed.err}`);
      return false;
    }
    const server = await loadSecretKey(join(dir, "server.key"));
    const signer = await loadSecretKey(join(dir, "signer.key"));
    const serverFingerprint = fingerprint(server.algorithm, server.publicKey);
    const signerFingerprint = fingerprint(signer.algorithm, signer.publicKey);

    // The agent's identity, certified by a throwaway issuer the proxy is told to trust.
    const scheme = signature("ML-DSA-65");
    const issuer = { algorithm: "ML-DSA-65", ...scheme.keygen() };
    const agent = { algorithm: "ML-DSA-65", ...scheme.keygen() };
    const claims = { id: "agent-7", role: "billing-agent" };
    const certificate = issueClientCertificate({ issuer, subject: { algorithm: agent.algorithm, publicKey: agent.publicKey }, claims, lifetimeMs: 3_600_000 });
    const issuerFingerprint = fingerprint(issuer.algorithm, issuer.publicKey);

    const control = join(dir, "control");
    await writeFile(control, "");
    const auditFile = join(dir, "audit.log");
    const upstream = ownScriptLine("policies/payments/server");
    const cli = ownScript("bin/pqguard");
    io.out(`server key ${serverFingerprint}\nmanifest signed by ${signerFingerprint}\nagent ${JSON.stringify(claims)} certified by ${issuerFingerprint}\n`);
    io.out(`decision clock fixed at ${DEMO_NOW} (a Tuesday, 10:15 in Berlin)\n\n`);

    const inner = new StdioClientTransport({
      command: cli.command,
      args: [
        ...cli.args,
        "proxy",
        "--policy", join(POLICIES, "payments", "payments.policy"),
        "--upstream", upstream,
        "--key", join(dir, "server.key"),
        "--trust-issuer", issuerFingerprint,
        "--manifest", manifestFile,
        "--signer", signerFingerprint,
        "--audit", auditFile,
        "--log-level", "error",
      ],
      env: { ...(process.env as Record<string, string>), [NOW_ENV]: DEMO_NOW, [CONTROL_FILE_ENV]: control },
      cwd: OWN_ROOT,
      stderr: "inherit",
    });
    const transport = new PqcClientTransport(inner, {
      trust: { serverFingerprints: [serverFingerprint] },
      clientIdentity: agent,
      clientCertificate: certificate,
      // The proxy compiles its policy before it answers; on a busy machine that takes longer than the default.
      handshakeTimeoutMs: DEMO_HANDSHAKE_TIMEOUT_MS,
    });
    const client = new Client({ name: "demo-agent", version: "1.0.0" }, { capabilities: { elicitation: {} } });
    // The scripted approver: approves every request the proxy puts to a human, and says so.
    client.setRequestHandler(ElicitRequestSchema, async (request) => {
      io.out(`    (approver asked: "${request.params.message.split("?")[0]}?" → approve)\n`);
      return { action: "accept", content: { approve: true } };
    });
    let listChanged: () => void = () => undefined;
    client.setNotificationHandler(ToolListChangedNotificationSchema, async () => listChanged());
    await client.connect(transport);
    const info = transport.sessionInfo;
    io.out(`session ${info?.sessionId.slice(0, 16)}… suite ${info?.suite.kem} / ${info?.suite.signature} / ${info?.suite.aead}\n`);

    const tally: Tally = { allowed: 0, denied: 0, approved: 0 };
    const listTools = async (): Promise<void> => {
      const { tools } = await client.listTools();
      io.out(`  tools/list → ${tools.map((t) => t.name).join(", ") || "(none)"}\n`);
    };
    const call = async (title: string, name: string, args: Record<string, unknown>, approval = false): Promise<void> => {
      io.out(`  ${title}: ${name} ${JSON.stringify(args)}\n`);
      try {
        const result = await client.callTool({ name, arguments: args });
        const text = (result.content as { type: string; text?: string }[])[0]?.text ?? "";
        io.out(`    → ALLOWED${approval ? " after approval" : ""}: ${text}\n`);
        tally.allowed++;
        if (approval) tally.approved++;
      } catch (error) {
        const refusal = refusalOf(error);
        if (refusal === undefined) throw error;
        const rules = refusal.rules.length === 0 ? "" : ` [${refusal.rules.join(", ")}]`;
        io.out(`    → DENIED ${refusal.code}${rules}: ${refusal.reason}\n`);
        tally.denied++;
      }
    };

    await listTools();
    await call("balance", "get_balance", { customer_id: "c-17" });
    await call("a small refund", "process_refund", { amount: 250, customer_id: "c-17", reason: "duplicate charge" });
    await call("a refund that needs a human", "process_refund", { amount: 2500, customer_id: "c-17" }, true);
    await call("a refund over the hard limit", "process_refund", { amount: 7500, customer_id: "c-42" });
    await call("a third refund within ten minutes", "process_refund", { amount: 40, customer_id: "c-42" });
    await call("a fourth refund within ten minutes", "process_refund", { amount: 60, customer_id: "c-42" });

    io.out("\n  the server now changes the description of `process_refund` under the live session (rug pull)\n");
    const changed = new Promise<void>((resolve) => (listChanged = resolve));
    await writeFile(control, "rug-pull");
    await changed;
    await listTools();
    await call("balance, still reviewed", "get_balance", {});
    await call("a refund with the changed tool", "process_refund", { amount: 10, customer_id: "c-17" });
    await client.close();

    const verified = await verifyAuditLog(auditFile);
    io.out(
      `\nsummary: ${tally.allowed + tally.denied} calls, ${tally.allowed} allowed (${tally.approved} after approval), ${tally.denied} denied; ` +
        (verified.ok ? `audit log ${verified.lines} lines, hash chain intact\n` : `audit log broken: ${verified.message}\n`),
    );
    return verified.ok;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function run(io: CommandIO): Promise<number> {
  if (!(await showPolicies(io))) return EXIT_ERRORS;
  return (await runPayments(io)) ? EXIT_OK : EXIT_ERRORS;
}
