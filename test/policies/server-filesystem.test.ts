// The library policy for @modelcontextprotocol/server-filesystem, in front of the real server from npm: what a reader and
// an editor may do inside the served folder, and the traversal, secret-reading and destructive calls it refuses before
// the server sees them. The policy's `/srv/docs` is replaced by a temporary folder the server is started with.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import type { GuardModule } from "../../runtime/guard/types.js";
import type { VerifiedManifest } from "../../runtime/manifest/signed.js";
import { guardedServer, libraryGuard, libraryManifest, textOf, type GuardedServer, type ServerCommand } from "./library.js";

const FOLDER = "server-filesystem";
/** A private key in the shape ssh-keygen writes, pasted into an ordinary file; the body is not a real key. */
const TEST_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----";
const MANIFEST = "server-filesystem-2026.8.31.manifest.json";
const SERVER_JS = join(dirname(createRequire(import.meta.url).resolve("@modelcontextprotocol/server-filesystem/package.json")), "dist", "index.js");

describe("policy library: server-filesystem", function () {
  this.timeout(60_000);
  let base: string;
  let docs: string;
  let server: ServerCommand;
  let guard: GuardModule;
  let manifest: VerifiedManifest;
  const open: GuardedServer[] = [];

  before(async () => {
    base = realpathSync(mkdtempSync(join(tmpdir(), "pqguard-fs-")));
    docs = join(base, "docs");
    mkdirSync(join(docs, "guides"), { recursive: true });
    mkdirSync(join(base, "docs-evil"));
    writeFileSync(join(docs, "guides", "intro.md"), "# Introduction\n");
    writeFileSync(join(docs, "notes.md"), "notes\n");
    writeFileSync(join(docs, ".env"), "TOKEN=not-a-real-token\n");
    writeFileSync(join(docs, "deploy-notes.md"), `# Deploy\nthe key:\n${TEST_KEY}\naws: AKIAIOSFODNN7EXAMPLE\ndone\n`);
    writeFileSync(join(base, "docs-evil", "loot.txt"), "outside\n");
    // The server is allowed the parent folder, so that only the policy stands between a caller and docs-evil.
    server = { command: process.execPath, args: [SERVER_JS, base] };
    manifest = libraryManifest(FOLDER, MANIFEST);
    guard = await libraryGuard(FOLDER, "server-filesystem", MANIFEST, { "/srv/docs": docs });
  });

  after(async () => {
    await Promise.allSettled(open.map((s) => s.close()));
    rmSync(base, { recursive: true, force: true });
  });

  async function as(role: string, approve?: () => Promise<boolean>): Promise<GuardedServer> {
    const connected = await guardedServer(server, guard, manifest, role, approve);
    open.push(connected);
    return connected;
  }

  it("lets a reader read, list and search inside the folder", async () => {
    const reader = await as("reader");
    assert.match(textOf(await reader.call("read_text_file", { path: join(docs, "guides", "intro.md") })), /# Introduction/);
    assert.match(textOf(await reader.call("list_directory", { path: docs })), /guides/);
    assert.match(textOf(await reader.call("read_multiple_files", { paths: [join(docs, "notes.md")] })), /notes/);
  });

  it("refuses a sibling folder sharing the prefix, climbing out, and encoded or backslashed traversal", async () => {
    const reader = await as("reader");
    for (const path of [join(base, "docs-evil", "loot.txt"), `${docs}/../docs-evil/loot.txt`, `${docs}/%2e%2e/docs-evil/loot.txt`, `${docs}/..\\docs-evil\\loot.txt`, "docs/notes.md"]) {
      const refusal = await reader.refused("read_text_file", { path });
      assert.equal(refusal.code, "PQG7301", path);
      assert.match(refusal.reason, /no rule permits `read_text_file`/, path);
    }
  });

  it("never reads secrets inside the folder, which the server itself would serve", async () => {
    const reader = await as("reader");
    const refusal = await reader.refused("read_text_file", { path: join(docs, ".env") });
    assert.equal(refusal.reason, "secrets are never read by agents");
    const editor = await as("editor");
    assert.equal((await editor.refused("read_multiple_files", { paths: [join(docs, ".env")] })).reason, "secrets are never read by agents");
  });

  it("redacts a private key and an access key inside an ordinary file, and the session then writes nothing", async () => {
    const editor = await as("editor");
    await editor.call("write_file", { path: join(docs, "before.md"), content: "fine" });
    const read = await editor.call("read_text_file", { path: join(docs, "deploy-notes.md") });
    const text = textOf(read);
    assert.match(text, /\[redacted private key\]/);
    assert.match(text, /aws: \[redacted access key\]/);
    assert.doesNotMatch(JSON.stringify(read), /b3BlbnNzaC1rZXkt|AKIAIOSFODNN7EXAMPLE/, "neither the text nor the structured content holds a secret");
    const refusal = await editor.refused("write_file", { path: join(docs, "copy.md"), content: "x" });
    assert.equal(refusal.reason, "a session that read a secret writes nothing");
    assert.ok(!existsSync(join(docs, "copy.md")));
    const bulk = await (await as("reader")).call("read_multiple_files", { paths: [join(docs, "deploy-notes.md")] });
    assert.doesNotMatch(JSON.stringify(bulk), /b3BlbnNzaC1rZXkt|AKIAIOSFODNN7EXAMPLE/);
  });

  it("refuses every destructive tool to a reader", async () => {
    const reader = await as("reader");
    for (const [tool, args] of [
      ["write_file", { path: join(docs, "x.md"), content: "x" }],
      ["edit_file", { path: join(docs, "notes.md"), edits: [{ oldText: "notes", newText: "gone" }] }],
      ["create_directory", { path: join(docs, "new") }],
      ["move_file", { source: join(docs, "notes.md"), destination: join(docs, "moved.md") }],
    ] as const) {
      assert.equal((await reader.refused(tool, args)).reason, "readers have read-only access", tool);
    }
    assert.equal(readFileSync(join(docs, "notes.md"), "utf8"), "notes\n", "nothing was changed");
  });

  it("lets an editor write inside the folder and nowhere else", async () => {
    const editor = await as("editor");
    await editor.call("write_file", { path: join(docs, "draft.md"), content: "draft\n" });
    assert.equal(readFileSync(join(docs, "draft.md"), "utf8"), "draft\n");
    await editor.refused("write_file", { path: join(base, "docs-evil", "planted.md"), content: "x" });
    assert.equal(existsSync(join(base, "docs-evil", "planted.md")), false);
  });

  it("allows several files at once only as a list of one, until quantifiers exist", async () => {
    const reader = await as("reader");
    const refusal = await reader.refused("read_multiple_files", { paths: [join(docs, "notes.md"), join(base, "docs-evil", "loot.txt")] });
    assert.match(refusal.reason, /no rule permits/);
  });

  it("moves only with a human's approval", async () => {
    const editor = await as("editor");
    assert.equal((await editor.refused("move_file", { source: join(docs, "notes.md"), destination: join(docs, "moved.md") })).code, "PQG7305");
    const approved = await as("editor", async () => true);
    await approved.call("move_file", { source: join(docs, "notes.md"), destination: join(docs, "moved.md") });
    assert.equal(existsSync(join(docs, "moved.md")), true);
  });
});
