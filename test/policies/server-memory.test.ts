// The library policy for @modelcontextprotocol/server-memory, in front of the real server from npm: viewers read,
// assistants add, curators prune; credentials are never stored and bulk deletes never run unattended.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import type { GuardModule } from "../../runtime/guard/types.js";
import type { VerifiedManifest } from "../../runtime/manifest/signed.js";
import { guardedServer, libraryGuard, libraryManifest, textOf, type GuardedServer, type ServerCommand } from "./library.js";

const FOLDER = "server-memory";
const MANIFEST = "server-memory-2026.8.31.manifest.json";
const SERVER_JS = join(dirname(createRequire(import.meta.url).resolve("@modelcontextprotocol/server-memory/package.json")), "dist", "index.js");

describe("policy library: server-memory", function () {
  this.timeout(60_000);
  let dir: string;
  let server: ServerCommand;
  let guard: GuardModule;
  let manifest: VerifiedManifest;
  const open: GuardedServer[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "pqguard-memory-"));
    // The graph lives in a file of the test's own; by default the server writes beside its code.
    server = { command: process.execPath, args: [SERVER_JS], env: { MEMORY_FILE_PATH: join(dir, "memory.jsonl") } };
    manifest = libraryManifest(FOLDER, MANIFEST);
    guard = await libraryGuard(FOLDER, "server-memory", MANIFEST);
  });

  after(async () => {
    await Promise.allSettled(open.map((s) => s.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  async function as(role: string): Promise<GuardedServer> {
    const connected = await guardedServer(server, guard, manifest, role);
    open.push(connected);
    return connected;
  }

  const entities = (names: readonly string[]) => ({ entities: names.map((name) => ({ name, entityType: "person", observations: [`${name} likes tea`] })) });

  it("lets an assistant add entities a viewer then reads, and refuses the viewer any change", async () => {
    const assistant = await as("assistant");
    await assistant.call("create_entities", entities(["ada", "grace"]));
    const viewer = await as("viewer");
    assert.match(textOf(await viewer.call("read_graph", {})), /ada/);
    assert.equal((await viewer.refused("create_entities", entities(["mallory"]))).reason, "viewers have read-only access");
    assert.equal((await viewer.refused("delete_entities", { entityNames: ["ada"] })).reason, "viewers have read-only access");
    assert.doesNotMatch(textOf(await viewer.call("read_graph", {})), /mallory/);
  });

  it("never stores a credential as an observation", async () => {
    const assistant = await as("assistant");
    const refusal = await assistant.refused("add_observations", { observations: [{ entityName: "ada", contents: ["deploy key AKIAIOSFODNN7EXAMPLE"] }] });
    assert.equal(refusal.reason, "credentials are never stored in memory");
    await assistant.call("add_observations", { observations: [{ entityName: "ada", contents: ["prefers email"] }] });
    const graph = textOf(await assistant.call("read_graph", {}));
    assert.match(graph, /prefers email/);
    assert.doesNotMatch(graph, /AKIA/);
  });

  it("lets a curator prune a little, asks a human for more, and never runs a bulk delete", async () => {
    const curator = await as("curator");
    const many = Array.from({ length: 60 }, (_, i) => `bulk-${i}`);
    await curator.call("create_entities", entities(many.slice(0, 20)));
    await curator.call("create_entities", entities(many.slice(20, 40)));
    await curator.call("create_entities", entities(many.slice(40, 60)));
    await curator.call("delete_entities", { entityNames: ["bulk-0", "bulk-1"] });
    assert.equal((await curator.refused("delete_entities", { entityNames: many.slice(2, 12) })).code, "PQG7305", "ask without an approver is refused");
    assert.equal((await curator.refused("delete_entities", { entityNames: many })).reason, "bulk deletes of more than 50 entities are never automated");
    const graph = textOf(await curator.call("read_graph", {}));
    assert.doesNotMatch(graph, /"bulk-0"/);
    assert.match(graph, /"bulk-2"/);
    assert.match(graph, /"bulk-59"/);
  });

  it("refuses deletes to an assistant", async () => {
    const assistant = await as("assistant");
    assert.match((await assistant.refused("delete_entities", { entityNames: ["grace"] })).reason, /no rule permits/);
  });
});
