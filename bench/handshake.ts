// Handshake CPU benchmark: client and server in one process, median of many, against a naive baseline measured in
// the same run (noble X-Wing key exchange plus a fresh ML-DSA-65 signature and verification per handshake).
import process from "node:process";
import { ml_kem768_x25519 } from "@noble/post-quantum/hybrid.js";
import { ml_dsa65 } from "@noble/post-quantum/ml-dsa.js";
import { kem, resolveSuiteConfig, signature } from "../runtime/crypto/registry.js";
import { ServerCredentials, clearVerifiedCertificateCache } from "../runtime/session/certificate.js";
import { ClientHandshake, ServerHandshake } from "../runtime/session/handshake.js";
import { fingerprint } from "../runtime/identity/index.js";

const OURS_RUNS = 300;
const COLD_RUNS = 60;
const BASELINE_RUNS = 40;

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function time(runs: number, body: () => void): number[] {
  for (let i = 0; i < Math.min(10, runs); i++) body();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    body();
    samples.push(performance.now() - start);
  }
  return samples;
}

export async function run({ json }: { json: boolean }): Promise<void> {
  const suites = resolveSuiteConfig();
  const scheme = signature(suites.signature[0]!);
  const pair = scheme.keygen();
  const identity = { algorithm: scheme.name, publicKey: pair.publicKey, secretKey: pair.secretKey };
  const credentials = new ServerCredentials({ identity });
  for (const name of suites.kem) credentials.forKem(name);
  const trusted = [fingerprint(scheme.name, pair.publicKey)];
  const now = Date.now;

  const ours = (): void => {
    const client = new ClientHandshake({ suites, trustedServers: trusted, now });
    const server = new ServerHandshake({ suites, credentials, now });
    const serverHello = server.receiveClientHello(client.hello());
    const { clientFinished } = client.receiveServerHello(serverHello);
    client.receiveServerFinished(server.receiveClientFinished(clientFinished).serverFinished);
  };
  const warm = time(OURS_RUNS, ours);
  // Cold: the client has not seen this certificate before and verifies its ML-DSA signature.
  const cold = time(COLD_RUNS, () => {
    clearVerifiedCertificateCache();
    ours();
  });

  const transcript = new Uint8Array(2048);
  const server = ml_dsa65.keygen();
  const baseline = time(BASELINE_RUNS, () => {
    const ephemeral = ml_kem768_x25519.keygen();
    const { cipherText, sharedSecret } = ml_kem768_x25519.encapsulate(ephemeral.publicKey);
    const signed = ml_dsa65.sign(transcript, server.secretKey);
    const secret = ml_kem768_x25519.decapsulate(cipherText, ephemeral.secretKey);
    if (!ml_dsa65.verify(signed, transcript, server.publicKey) || secret.length !== sharedSecret.length) throw new Error("baseline failed");
  });

  const result = {
    handshake_ms: round(median(warm)),
    handshake_cold_ms: round(median(cold)),
    baseline_ms: round(median(baseline)),
    speedup: round(median(baseline) / median(warm)),
    speedup_cold: round(median(baseline) / median(cold)),
    provider: kem(suites.kem[0]!).provider,
    signature_provider: scheme.provider,
    suite: `${suites.kem[0]} / ${suites.signature[0]} / ${suites.aead[0]}`,
    node: process.version,
    runs: { ours: OURS_RUNS, cold: COLD_RUNS, baseline: BASELINE_RUNS },
  };
  if (json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  process.stdout.write(
    [
      `handshake (${result.suite}; KEM via ${result.provider}, signature via ${result.signature_provider}; Node ${result.node})`,
      `  ours, certificate verification cached  ${result.handshake_ms.toFixed(2)} ms   (${result.speedup}x faster than baseline)`,
      `  ours, first contact (verifies ML-DSA)  ${result.handshake_cold_ms.toFixed(2)} ms   (${result.speedup_cold}x)`,
      `  baseline: X-Wing + ML-DSA-65 sign/verify ${result.baseline_ms.toFixed(2)} ms`,
      "",
    ].join("\n"),
  );
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
