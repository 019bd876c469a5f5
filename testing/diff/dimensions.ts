// All the dimensions of one tool's search, from what the two policies read for it, in the order a probe is set.
import { argsDimension } from "./args.js";
import { clockDimension, nowDimension } from "./clock.js";
import type { Dimension, DimensionContext } from "./dimension.js";
import { historyDimension } from "./history.js";
import { ARGS_PREFIX, HISTORY_PREFIX, type Read } from "./reads.js";
import { ageDimension, clientDimension, peerOrSessionDimension, transportDimension } from "./session.js";

export type { ArgsSchema, Dimension, DimensionContext, RegionSample } from "./dimension.js";
export { realiseHistory, queryText } from "./history.js";

/**
 * The dimensions of the inputs `reads` name, in the order a probe is set (the suite before the client, the client's
 * authentication before its claims, the clock's weekday before its hour). A client fact read implies the client's
 * authentication is varied too, since the two go together.
 */
export function dimensionsOf(reads: readonly Read[], ctx: DimensionContext): Dimension[] {
  const byKey = new Map<string, Read[]>();
  for (const read of reads) byKey.set(read.key, [...(byKey.get(read.key) ?? []), read]);
  const keys = [...byKey.keys()].sort();
  const dims: Dimension[] = [];
  const transport = keys.filter((k) => k.startsWith("transport."));
  const client = keys.filter((k) => k.startsWith("client."));
  if (transport.length > 0 || client.length > 0) dims.push(transportDimension(transport.flatMap((k) => byKey.get(k)!)));
  if (client.length > 0) {
    dims.push(clientDimension("client.authenticated", byKey.get("client.authenticated") ?? []));
    for (const key of client.filter((k) => k !== "client.authenticated")) dims.push(clientDimension(key, byKey.get(key)!));
  }
  for (const key of keys.filter((k) => k.startsWith("peer.") || k === "session.id")) dims.push(peerOrSessionDimension(key, byKey.get(key)!));
  if (byKey.has("session.age")) dims.push(ageDimension(byKey.get("session.age")!));
  const clockKeys = keys.filter((k) => k.startsWith("time.") && k !== "time.now");
  const zones = new Set(clockKeys.map((k) => k.split("@")[1]!));
  const single = zones.size <= 1 && !byKey.has("time.now");
  for (const field of ["weekday", "hour", "minute"] as const) {
    for (const key of clockKeys.filter((k) => k.startsWith(`time.${field}@`))) dims.push(clockDimension(field, key.split("@")[1]!, byKey.get(key)!, single));
  }
  if (byKey.has("time.now")) dims.push(nowDimension(byKey.get("time.now")!));
  const argKeys = keys.filter((k) => k.startsWith(ARGS_PREFIX));
  for (const key of argKeys) dims.push(argsDimension(byKey.get(key)!, ctx));
  const history = keys.filter((k) => k.startsWith(HISTORY_PREFIX));
  if (history.length > 0) dims.push(historyDimension(history.flatMap((k) => byKey.get(k)!), ctx.tool, reads));
  return dims;
}
