// Consumer fixture (TypeScript): uses every public entry point; the test type-checks it with strict options.
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import {
  AuditLog,
  createProxy,
  enforce,
  generateIdentity,
  guardClient,
  MemoryStateStore,
  PqcClientTransport,
  PqcServerTransport,
  SealedHttpEndpoint,
  signManifest,
  verifySignedManifest,
  type Decision,
  type GuardModule,
  type ProxyOptions,
  type SessionInfo,
} from "pqguard";
import { isJsonObject, type GuardContext, type GuardRequest } from "pqguard/guard";
import { checkPolicySource, generateGuardModule, interpret, renderDiagnostics, type CheckOutcome } from "pqguard/compiler";
import payments from "./payments.guard.js";

const identity = generateIdentity();
const [a, b] = InMemoryTransport.createLinkedPair();
const server: PqcServerTransport = new PqcServerTransport(b, { identity });
const client: PqcClientTransport = new PqcClientTransport(a, { trust: { serverFingerprints: [identity.keyId] } });
const info: SessionInfo | undefined = client.sessionInfo;

const outcome: CheckOutcome = checkPolicySource("policy p version 1", { fileName: "p.policy", manifests: {} });
const text: string = renderDiagnostics(outcome.diagnostics, { "p.policy": outcome.source }, "json");
const module: GuardModule | undefined = outcome.policy === undefined ? undefined : interpret(outcome.policy);
const source: Promise<string> | undefined = outcome.policy === undefined ? undefined : generateGuardModule(outcome.policy, { runtimeImport: "pqguard/guard" });

const request: GuardRequest = { tool: "get_balance", args: {} };
declare const context: GuardContext;
const decision: Decision = payments.guard(request, context);
const amount: number | undefined = isJsonObject(request.args) && typeof request.args["amount"] === "number" ? request.args["amount"] : undefined;

const mcp = new McpServer({ name: "consumer", version: "1.0.0" });
const enforcement = enforce(mcp, payments, { allowUnsealed: true });
declare const options: ProxyOptions;
const proxyFactory: typeof createProxy = createProxy;
const classes = [AuditLog, MemoryStateStore, SealedHttpEndpoint, guardClient, signManifest, verifySignedManifest] as const;

export { server, info, text, module, source, decision, amount, enforcement, options, proxyFactory, classes };
