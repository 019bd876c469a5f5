// Transport benchmark: a sealed tools/call round trip through the real SDK Client and McpServer against the plain
// SDK over InMemoryTransport, measured in the same run, interleaved in rounds so both see the same machine state.
// A second pair of variants runs both over a stdio-framed in-memory link, where the plain SDK pays for
// serialisation too, as it does over any real transport. Three more do the sealed path's work without its
// cryptography, layer by layer (bench/floor.ts), to show what each costs in the same run.
import process from "node:process";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { aead, algorithmNames, resolveSuiteConfig, signature } from "../runtime/crypto/registry.js";
import { fingerprint } from "../runtime/identity/index.js";
import { ServerCredentials } from "../runtime/session/certificate.js";
import { transportSuites } from "../runtime/transport/defaults.js";
import { PqcClientTransport, PqcServerTransport } from "../runtime/transport/index.js";
import { connectClient, echoServer, type Link, type TransportWrap } from "./echo.js";
import { floorWrap, type FloorLayer } from "./floor.js";
import { measureIsolated, overallMedian, pairedRatio, type Variant } from "./isolated.js";

const SCHEDULE = { warmupCalls: 3000, rounds: 40, callsPerRound: 250 };

export interface TransportVariantOptions {
  readonly link: Link;
  /** Seal with this AEAD; plain when absent. */
  readonly aead?: string;
  /** Do the sealed path's work up to this layer, without cryptography (ignored when `aead` is set). */
  readonly floor?: FloorLayer;
}

/** A connected echo client for one variant; runs inside a benchmark worker (bench/isolated.ts). */
export async function transportClient(options: TransportVariantOptions): Promise<Client> {
  const wrap = options.aead !== undefined ? sealedWrap(options.aead) : options.floor !== undefined ? floorWrap(options.floor) : undefined;
  return connectClient(echoServer(), wrap, options.link);
}

const FLOOR_LAYERS: readonly { layer: FloorLayer; label: string }[] = [
  { layer: "json", label: "JSON text out and back" },
  { layer: "envelope", label: "+ the session's envelopes and route check" },
  { layer: "base64", label: "+ base64url of the UTF-8 (reused buffer)" },
];

/** Client and server transports sealed with `aeadName`, the server authenticated by a fresh ML-DSA identity. */
export function sealedWrap(aeadName?: string): TransportWrap {
  const suites = resolveSuiteConfig();
  const scheme = signature(suites.signature[0]!);
  const pair = scheme.keygen();
  const credentials = new ServerCredentials({ identity: { algorithm: scheme.name, publicKey: pair.publicKey, secretKey: pair.secretKey } });
  const trust = { serverFingerprints: [fingerprint(scheme.name, pair.publicKey)] };
  const chosen = aeadName === undefined ? {} : { suites: { aead: [aeadName] } };
  return (c, s) => [new PqcClientTransport(c, { trust, ...chosen }), new PqcServerTransport(s, { credentials, ...chosen })];
}

export async function run({ json }: { json: boolean }): Promise<void> {
  // The AEAD the transports use when nothing is configured, then every other registry AEAD for comparison.
  const transportDefault = resolveSuiteConfig(transportSuites(undefined)).aead[0]!;
  const aeads = [...new Set([transportDefault, ...algorithmNames("aead")])];
  const variant = (name: string, options: TransportVariantOptions): Variant => ({ name, module: import.meta.url, factory: "transportClient", options });
  const samples = await measureIsolated(
    [
      variant("plain", { link: "memory" }),
      ...aeads.map((name) => variant(`sealed ${name}`, { link: "memory", aead: name })),
      ...FLOOR_LAYERS.map(({ layer }) => variant(`floor ${layer}`, { link: "memory", floor: layer })),
      variant("plain stdio-framed", { link: "stdio-framed" }),
      variant("sealed stdio-framed", { link: "stdio-framed", aead: transportDefault }),
    ],
    SCHEDULE,
  );

  const us = (name: string): number => overallMedian(samples.get(name)!);
  const ratioOf = (name: string, baseline: string): number => round(pairedRatio(samples.get(name)!, samples.get(baseline)!));
  const plainUs = us("plain");
  const byAead = Object.fromEntries(
    aeads.map((name) => {
      const sealed = us(`sealed ${name}`);
      return [name, { sealed_us: round(sealed), ratio: ratioOf(`sealed ${name}`, "plain"), provider: aead(name).provider }];
    }),
  );
  const chosen = byAead[transportDefault]!;
  const framedPlain = us("plain stdio-framed");
  const framedSealed = us("sealed stdio-framed");
  const result = {
    sealed_us: chosen.sealed_us,
    plain_us: round(plainUs),
    ratio: chosen.ratio,
    aead: transportDefault,
    aead_provider: chosen.provider,
    by_aead: byAead,
    // The sealed path's work without cryptography, per layer: what no record layer could avoid.
    floor: Object.fromEntries(FLOOR_LAYERS.map(({ layer }) => [layer, { us: round(us(`floor ${layer}`)), ratio: ratioOf(`floor ${layer}`, "plain") }])),
    stdio_framed: { plain_us: round(framedPlain), sealed_us: round(framedSealed), ratio: ratioOf("sealed stdio-framed", "plain stdio-framed") },
    node: process.version,
    calls: SCHEDULE.rounds * SCHEDULE.callsPerRound,
  };
  if (json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  const row = (label: string, value: number, ratio?: number) =>
    `  ${label.padEnd(50)}${value.toFixed(1).padStart(6)} µs${ratio === undefined ? "" : `  (${ratio}x plain)`}`;
  const lines = [
    `transport: tools/call round trip, median of ${result.calls} calls, each variant in its own process (Node ${result.node});`,
    "  ratios are medians of per-round ratios to the plain variant run just before",
    "  over InMemoryTransport (no serialisation):",
    row("plain SDK", result.plain_us),
    ...Object.entries(byAead).map(([name, entry]) => row(`sealed, ${name} (${entry.provider})`, entry.sealed_us, entry.ratio)),
    "  the sealed path's work without its cryptography (InMemoryTransport):",
    ...FLOOR_LAYERS.map(({ layer, label }) => row(label, result.floor[layer]!.us, result.floor[layer]!.ratio)),
    "  over a stdio-framed in-memory link (the SDK's stdio serialisation, no pipe):",
    row("plain SDK", result.stdio_framed.plain_us),
    row(`sealed, ${transportDefault}`, result.stdio_framed.sealed_us, result.stdio_framed.ratio),
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
