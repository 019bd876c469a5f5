// The operational logger (pino): events an operator watches (write failures, refused manifests, approval timeouts).
// It goes to stderr, because stdout carries JSON-RPC for stdio servers; it never receives arguments or key material.
import { pino, type Logger } from "pino";

export type { Logger } from "pino";

/** Default level: warnings and errors only, so a healthy gateway stays quiet. */
export const DEFAULT_LOG_LEVEL = "warn";

export function operationalLogger(level: string = DEFAULT_LOG_LEVEL): Logger {
  return pino({ name: "pqguard", level }, pino.destination(2));
}

/** A logger that drops everything, for tests and embedders that log elsewhere. */
export function silentLogger(): Logger {
  return pino({ enabled: false });
}
