// Transport benchmark: a sealed tools/call round trip through the real SDK Client and McpServer against the plain
// SDK over InMemoryTransport, measured in the same run, interleaved in rounds so both see the same machine state.
import process from "node:process";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { aead, algorithmNames, resolveSuiteConfig, signature } from "../runtime/crypto/registry.js";
import { fingerprint } from "../runtime/identity/index.js";
import { ServerCredentials } from "../runtime/session/certificate.js";
import { transportSuites } from "../runtime/transport/defaults.js";
import { PqcClientTransport, PqcServerTransport } from "../runtime/transport/index.js";
import { connectClient, echoServer, median, sample, type TransportWrap } from "./echo.js";

const ROUNDS = 10;
const CALLS_PER_ROUND = 600;
const WARMUP_CALLS = 1000;

function connected(wrap?: TransportWrap): Promise<Client> {
  return connectClient(echoServer(), wrap);
}

export async function run({ json }: { json: boolean }): Promise<void> {
  const suites = resolveSuiteConfig();
  const scheme = signature(suites.signature[0]!);
  const pair = scheme.keygen();
  const credentials = new ServerCredentials({ identity: { algorithm: scheme.name, publicKey: pair.publicKey, secretKey: pair.secretKey } });
  const trust = { serverFingerprints: [fingerprint(scheme.name, pair.publicKey)] };
  const sealedWith = (aeadName: string): TransportWrap => (c, s) => [
    new PqcClientTransport(c, { trust, suites: { ...suites, aead: [aeadName] } }),
    new PqcServerTransport(s, { credentials, suites: { ...suites, aead: [aeadName] } }),
  ];

  // The AEAD the transports use when nothing is configured, then every other registry AEAD for comparison.
  const transportDefault = resolveSuiteConfig(transportSuites(undefined)).aead[0]!;
  const aeads = [...new Set([transportDefault, ...algorithmNames("aead")])];
  const plain = await connected();
  const sealed = new Map<string, Client>();
  for (const name of aeads) sealed.set(name, await connected(sealedWith(name)));

  await sample(plain, WARMUP_CALLS, []);
  for (const client of sealed.values()) await sample(client, WARMUP_CALLS, []);
  const plainSamples: number[] = [];
  const sealedSamples = new Map<string, number[]>(aeads.map((name) => [name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    await sample(plain, CALLS_PER_ROUND, plainSamples);
    for (const [name, client] of sealed) await sample(client, CALLS_PER_ROUND, sealedSamples.get(name)!);
  }
  await plain.close();
  for (const client of sealed.values()) await client.close();

  const plainUs = median(plainSamples);
  const byAead = Object.fromEntries(
    aeads.map((name) => {
      const us = median(sealedSamples.get(name)!);
      return [name, { sealed_us: round(us), ratio: round(us / plainUs), provider: aead(name).provider }];
    }),
  );
  const chosen = byAead[transportDefault]!;
  const result = {
    sealed_us: chosen.sealed_us,
    plain_us: round(plainUs),
    ratio: chosen.ratio,
    aead: transportDefault,
    aead_provider: chosen.provider,
    by_aead: byAead,
    node: process.version,
    calls: ROUNDS * CALLS_PER_ROUND,
  };
  if (json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  const lines = [`transport: tools/call round trip over InMemoryTransport, median of ${result.calls} calls (Node ${result.node})`];
  lines.push(`  plain SDK                         ${result.plain_us.toFixed(1)} µs`);
  for (const [name, entry] of Object.entries(byAead)) {
    lines.push(`  sealed, ${`${name} (${entry.provider})`.padEnd(36)}${entry.sealed_us.toFixed(1)} µs  (${entry.ratio}x plain)`);
  }
  process.stdout.write(`${lines.join("\n")}\n`);
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
