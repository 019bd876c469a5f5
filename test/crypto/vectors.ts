// Finds and reads the public known-answer vectors that live beside the project (../shared/vectors or $PQGUARD_VECTORS).
// They are never copied into the repository; a suite whose files are absent skips with a message saying where it looked.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { nativeCapabilities } from "../../runtime/crypto/native.js";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export const vectorsDir = process.env.PQGUARD_VECTORS ?? path.resolve(repoRoot, "../shared/vectors");

export function vectorPath(relative: string): string {
  return path.join(vectorsDir, relative);
}

/** Skips the calling mocha test or hook when the vector file is missing; returns its path otherwise. */
export function requireVectors(context: Mocha.Context, relative: string): string {
  const file = vectorPath(relative);
  if (!existsSync(file)) {
    console.log(`      (skipped: known-answer vectors not found at ${file}; set PQGUARD_VECTORS to the vectors folder)`);
    context.skip();
  }
  return file;
}

export interface WycheproofTest {
  readonly tcId: number;
  readonly comment?: string;
  readonly result: "valid" | "invalid" | "acceptable";
  readonly flags?: readonly string[];
  readonly [field: string]: unknown;
}

export interface WycheproofGroup {
  readonly tests: readonly WycheproofTest[];
  readonly [field: string]: unknown;
}

export interface WycheproofFile {
  readonly algorithm: string;
  readonly testGroups: readonly WycheproofGroup[];
}

export function readWycheproof(file: string): WycheproofFile {
  return JSON.parse(readFileSync(file, "utf8")) as WycheproofFile;
}

export function hex(value: unknown): Uint8Array {
  if (typeof value !== "string") return new Uint8Array();
  return new Uint8Array(Buffer.from(value, "hex"));
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

/** CCTV's text format: `name = hexvalue` lines, one vector per file. */
export function readCctv(file: string): Record<string, Uint8Array> {
  const fields: Record<string, Uint8Array> = {};
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const match = /^\s*([A-Za-z]+)\s*=\s*([0-9a-fA-F]*)\s*$/.exec(line);
    if (match) fields[match[1]!] = hex(match[2]);
  }
  return fields;
}

/** Skips the calling test when node:crypto on this Node lacks ML-KEM or ML-DSA; CI runs these on Node 24. */
export function requireNative(context: Mocha.Context, family: "mlKem" | "mlDsa"): void {
  if (!nativeCapabilities()[family]) {
    console.log(`      (skipped: node:crypto in Node ${process.versions.node} has no ${family === "mlKem" ? "ML-KEM" : "ML-DSA"}; runs on Node >= 24.7)`);
    context.skip();
  }
}
