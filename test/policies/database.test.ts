// The database example (the shape of the SQLite MCP servers on npm) behind its policy, over a real SQLite database:
// analysts read without credentials, engineers change rows one statement at a time, and a DELETE without WHERE, a
// DROP or a stacked statement never reaches the database.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { createRequire } from "node:module";
import type { GuardModule } from "../../runtime/guard/types.js";
import type { VerifiedManifest } from "../../runtime/manifest/signed.js";
import { guardedServer, libraryGuard, libraryManifest, POLICIES, textOf, type GuardedServer, type ServerCommand } from "./library.js";

describe("policy library: database example", function () {
  this.timeout(60_000);
  let dir: string;
  let file: string;
  let server: ServerCommand;
  let guard: GuardModule;
  let manifest: VerifiedManifest;
  const open: GuardedServer[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "pqguard-db-"));
    file = join(dir, "shop.db");
    server = { command: process.execPath, args: ["--import", "tsx", join(POLICIES, "database", "server.ts")], env: { DATABASE_FILE: file } };
    guard = await libraryGuard("database", "database", "database.manifest.json");
    manifest = libraryManifest("database", "database.manifest.json");
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

  const count = (table: string): number => {
    const db = readOnly(file);
    try {
      return (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
    } finally {
      db.close();
    }
  };

  it("lets an analyst read orders, never password hashes, and change nothing", async () => {
    const analyst = await as("analyst");
    assert.match(textOf(await analyst.call("read_query", { query: "SELECT id, total FROM orders WHERE total >= 200" })), /"total":200/);
    for (const query of ["SELECT email, password_hash FROM customers", "SELECT * FROM customers", "SELECT id FROM orders; DELETE FROM orders"]) {
      await analyst.refused("read_query", { query });
    }
    assert.equal((await analyst.refused("write_query", { query: "INSERT INTO orders (customer_id, total) VALUES (1, 1)" })).reason, "analysts have read-only access");
  });

  it("lets an engineer insert and update one row, and never runs a delete or update of every row", async () => {
    const engineer = await as("engineer");
    await engineer.call("write_query", { query: "INSERT INTO orders (customer_id, total) VALUES (1, 5)" });
    await engineer.call("write_query", { query: "UPDATE orders SET total = 0 WHERE id = 1" });
    const before = count("orders");
    assert.equal((await engineer.refused("write_query", { query: "DELETE FROM orders" })).reason, "a DELETE or UPDATE without WHERE is never automated");
    assert.equal((await engineer.refused("write_query", { query: "update orders set total = 0" })).reason, "a DELETE or UPDATE without WHERE is never automated");
    assert.equal((await engineer.refused("write_query", { query: "DELETE FROM orders WHERE id = 2" })).code, "PQG7305", "a delete waits for a human");
    assert.equal((await engineer.refused("write_query", { query: "DROP TABLE orders" })).reason, "the schema is never dropped or altered by an agent");
    assert.equal(count("orders"), before, "no row was deleted");
  });
});

/** The example's database file, read-only, through node:sqlite where the runtime has it (a native better-sqlite3 built for another Node would not load). */
function readOnly(file: string): { prepare(sql: string): { get(): unknown }; close(): void } {
  const builtin = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule?.("node:sqlite") as
    | { DatabaseSync?: new (path: string, options: { readOnly: boolean }) => { prepare(sql: string): { get(): unknown }; close(): void } }
    | undefined;
  if (builtin?.DatabaseSync !== undefined) return new builtin.DatabaseSync(file, { readOnly: true });
  const Better = createRequire(import.meta.url)("better-sqlite3") as new (path: string, options: { readonly: boolean }) => { prepare(sql: string): { get(): unknown }; close(): void };
  return new Better(file, { readonly: true });
}
