// Serving metrics over HTTP: the `/metrics` route of the proxy's listener, and a listener of its own (`--metrics-listen`).
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { PqguardMetrics } from "./metrics.js";

/** Where Prometheus scrapes. */
export const METRICS_PATH = "/metrics";

/** Answers a GET of the metrics in the Prometheus text format; anything else with 405. */
export async function serveMetrics(metrics: PqguardMetrics, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { allow: "GET, HEAD" }).end();
    return;
  }
  try {
    const text = await metrics.text();
    res.writeHead(200, { "content-type": metrics.contentType, "cache-control": "no-store" });
    res.end(req.method === "HEAD" ? undefined : text);
  } catch (error) {
    res.writeHead(500, { "content-type": "text/plain" }).end(`metrics could not be collected: ${error instanceof Error ? error.message : String(error)}\n`);
  }
}

export interface MetricsListener {
  readonly url: URL;
  close(): Promise<void>;
}

/** A listener that serves only `/metrics` (port 0 picks a free port). */
export async function listenMetrics(url: URL, metrics: PqguardMetrics): Promise<MetricsListener> {
  const server = createServer((req, res) => {
    if (new URL(req.url ?? "/", "http://localhost").pathname !== METRICS_PATH) {
      res.writeHead(404, { "content-type": "text/plain" }).end(`metrics are at ${METRICS_PATH}\n`);
      return;
    }
    void serveMetrics(metrics, req, res);
  });
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(url.port === "" ? 80 : Number(url.port), host, resolve);
  });
  const bound = new URL(url.href);
  bound.port = String((server.address() as AddressInfo).port);
  bound.pathname = METRICS_PATH;
  return {
    url: bound,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
