// The proxy benchmark's floor: a bare JSON-RPC relay with nothing of pqguard in it, in front of the same stdio
// upstream, so the proxy's CPU per call is read beside what relaying a call costs a Node process at all. Plain
// JavaScript run by `node` itself (no loader), for that reason.
//
//   node relay.mjs stdio -- COMMAND ARGS...   newline-delimited JSON-RPC on stdin/stdout, relayed to the command's
//   node relay.mjs http -- COMMAND ARGS...    Streamable HTTP on 127.0.0.1 (a POST answered as one event, one
//                                             upstream process per session), relayed to the command's stdio; prints
//                                             `listening on URL`
//
// Each message is parsed and serialised again on its way, as any relay that reads what it forwards must; nothing is
// checked, decided, logged or audited.
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import process from "node:process";

const [mode, separator, command, ...args] = process.argv.slice(2);
if ((mode !== "stdio" && mode !== "http") || separator !== "--" || command === undefined) {
  process.stderr.write("usage: node relay.mjs stdio|http -- COMMAND ARGS...\n");
  process.exit(2);
}

/** Calls `line` with each complete newline-terminated line of a byte stream. */
function onLines(stream, line) {
  let rest = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk) => {
    let text = rest === "" ? chunk : rest + chunk;
    let start = 0;
    for (let end = text.indexOf("\n"); end !== -1; end = text.indexOf("\n", start)) {
      if (end > start) line(text.slice(start, end));
      start = end + 1;
    }
    rest = start === text.length ? "" : text.slice(start);
    text = "";
  });
}

function startUpstream() {
  return spawn(command, args, { stdio: ["pipe", "pipe", "inherit"] });
}

if (mode === "stdio") {
  const upstream = startUpstream();
  upstream.on("exit", () => process.exit(0));
  onLines(process.stdin, (line) => upstream.stdin.write(`${JSON.stringify(JSON.parse(line))}\n`));
  onLines(upstream.stdout, (line) => process.stdout.write(`${JSON.stringify(JSON.parse(line))}\n`));
  process.stdin.on("end", () => upstream.stdin.end());
} else {
  /** Per session: its upstream and the responses waiting for an answer, by request id. */
  const sessions = new Map();
  const openSession = () => {
    const id = randomUUID();
    const upstream = startUpstream();
    const waiting = new Map();
    upstream.on("exit", () => sessions.delete(id));
    // What the upstream sends that answers no waiting request (its notifications, its own requests) is dropped:
    // the floor opens no server-to-client stream.
    onLines(upstream.stdout, (line) => {
      const message = JSON.parse(line);
      const response = message.method === undefined ? waiting.get(message.id) : undefined;
      if (response === undefined) return;
      waiting.delete(message.id);
      // As one JSON body, as pqguard's listener answers a call when nothing comes before the answer, so that the
      // benchmark's clients do the same work behind the floor as behind pqguard's proxy.
      const body = JSON.stringify(message);
      response.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) }).end(body);
    });
    const session = { id, upstream, waiting };
    sessions.set(id, session);
    return session;
  };
  const server = createServer((request, response) => {
    if (request.method === "DELETE") {
      sessions.get(request.headers["mcp-session-id"])?.upstream.kill();
      response.writeHead(200).end();
      return;
    }
    if (request.method !== "POST") {
      response.writeHead(405, { allow: "POST, DELETE" }).end();
      return;
    }
    const chunks = [];
    request.on("data", (chunk) => chunks.push(chunk));
    request.on("end", () => {
      const message = JSON.parse(chunks.length === 1 ? chunks[0].toString("utf8") : Buffer.concat(chunks).toString("utf8"));
      const session = message.method === "initialize" ? openSession() : sessions.get(request.headers["mcp-session-id"]);
      if (session === undefined) {
        response.writeHead(404).end();
        return;
      }
      session.upstream.stdin.write(`${JSON.stringify(message)}\n`);
      if (message.id === undefined) {
        response.writeHead(202).end();
        return;
      }
      response.setHeader("mcp-session-id", session.id);
      session.waiting.set(message.id, response);
    });
  });
  server.listen(0, "127.0.0.1", () => process.stdout.write(`listening on http://127.0.0.1:${server.address().port}/mcp\n`));
  process.on("SIGTERM", () => {
    for (const { upstream } of sessions.values()) upstream.kill();
    process.exit(0);
  });
}
