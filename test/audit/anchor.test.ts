// Truncation across restarts: with an anchor kept elsewhere, a log cut (or rewritten, or extended) while its writer
// was stopped is refused at the next open and reported by the verifier; a crash reads as a crash (a `recovered`
// checkpoint), a rotated file as a rotation (a `rotated` checkpoint continuing the chain), and with the audit key a
// forged checkpoint is found.
import { strict as assert } from "node:assert";
import { randomBytes } from "node:crypto";
import { appendFile, copyFile, mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../../bin/cli.js";
import { AuditError, AuditLog, auditKey, buildCheckpoint, readAnchor, verifyAuditLog, type AuditDecision, type AuditLogOptions } from "../../runtime/audit/index.js";

function decision(i: number): AuditDecision {
  return { time: 1_700_000_000_000 + i, side: "server", tool: "t", decision: "allow", outcome: "allowed", rules: [], reason: "ok", args: { i } };
}

async function refusedWith(promise: Promise<unknown>, code: string): Promise<AuditError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof AuditError, `expected an AuditError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected ${code}`);
}

async function lines(path: string): Promise<Record<string, unknown>[]> {
  return (await readFile(path, "utf8")).split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Waits (at most 10 s: each anchor write syncs three times, slow on a busy disk) until the anchor names line `seq`. */
async function anchoredAt(anchor: string, key: Parameters<typeof readAnchor>[1], seq: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await readAnchor(anchor, key))?.seq !== seq) {
    assert.ok(Date.now() < deadline, `the anchor did not reach line ${seq} within 10 s`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("audit log anchors", () => {
  let dir: string;
  let n = 0;
  const key = auditKey(randomBytes(32));
  /** A log and its anchor, in separate folders (the anchor belongs on other storage). */
  const fresh = () => {
    n++;
    return { log: join(dir, `log-${n}.jsonl`), anchor: join(dir, `anchor-${n}.json`) };
  };
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "pqguard-anchor-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function run(paths: { log: string; anchor: string }, count: number, options: Partial<AuditLogOptions> = {}): Promise<string> {
    const log = await AuditLog.open(paths.log, { anchor: paths.anchor, argumentsKey: key, ...options });
    for (let i = 0; i < count; i++) log.append(decision(i));
    const head = log.head;
    await log.close();
    return head;
  }

  it("writes a checkpoint at each open and close, and the anchor names the close", async () => {
    const paths = fresh();
    await run(paths, 3);
    await run(paths, 2);
    const written = await lines(paths.log);
    assert.deepEqual(written.map((l) => l.checkpoint ?? "decision"), ["open", "decision", "decision", "decision", "close", "open", "decision", "decision", "close"]);
    const anchor = await readAnchor(paths.anchor, key);
    assert.equal(anchor?.state, "closed");
    assert.equal(anchor?.seq, 8);
    assert.equal(anchor?.hash, written.at(-1)!.hash);
    const verified = await verifyAuditLog(paths.log, { anchor, key });
    assert.ok(verified.ok && verified.closed && verified.checkpoints.open === 2 && verified.checkpoints.close === 2, JSON.stringify(verified));
  });

  it("refuses to open a log whose tail was cut while it was stopped (PQG7105), and verify reports it", async () => {
    const paths = fresh();
    await run(paths, 5);
    const text = await readFile(paths.log, "utf8");
    const kept = text.split("\n").slice(0, 3).join("\n") + "\n";
    await writeFile(paths.log, kept);
    assert.ok((await verifyAuditLog(paths.log)).ok, "without the anchor, the cut chain still verifies");
    const error = await refusedWith(AuditLog.open(paths.log, { anchor: paths.anchor, argumentsKey: key }), "PQG7105");
    assert.match(error.message, /was cut/);
    const verified = await verifyAuditLog(paths.log, { anchor: await readAnchor(paths.anchor, key), key });
    assert.ok(!verified.ok && verified.problem === "truncated", JSON.stringify(verified));
  });

  it("refuses a tail rewritten with a valid chain, and lines added after a clean close", async () => {
    const paths = fresh();
    await run(paths, 4);
    const original = await readFile(paths.log, "utf8");
    // Whoever controls the log's disk cuts the last decision and the close, and writes a valid chain of other lines.
    const rewritten = join(dir, `rewritten-${n}.jsonl`);
    await writeFile(rewritten, original.split("\n").slice(0, 4).join("\n") + "\n");
    const plain = await AuditLog.open(rewritten);
    for (let i = 0; i < 5; i++) plain.append({ ...decision(i), reason: "replaced" });
    await plain.close();
    await copyFile(rewritten, paths.log);
    const replaced = await refusedWith(AuditLog.open(paths.log, { anchor: paths.anchor, argumentsKey: key }), "PQG7105");
    assert.match(replaced.message, /does not hold the line/);

    await writeFile(paths.log, original);
    const extended = await AuditLog.open(paths.log);
    extended.append(decision(99));
    await extended.close();
    const added = await refusedWith(AuditLog.open(paths.log, { anchor: paths.anchor, argumentsKey: key }), "PQG7105");
    assert.match(added.message, /after its clean close/);
  });

  it("refuses a log with lines whose anchor is missing, or forged (PQG7106)", async () => {
    const paths = fresh();
    await run(paths, 2);
    const anchorText = await readFile(paths.anchor, "utf8");
    await rm(paths.anchor);
    await refusedWith(AuditLog.open(paths.log, { anchor: paths.anchor, argumentsKey: key }), "PQG7106");
    const forged = JSON.parse(anchorText) as Record<string, unknown>;
    forged.seq = 1;
    await writeFile(paths.anchor, JSON.stringify(forged));
    await refusedWith(AuditLog.open(paths.log, { anchor: paths.anchor, argumentsKey: key }), "PQG7106");
  });

  it("a crash reads as a crash: the next open writes `recovered`, lines anchored before it are still required", async () => {
    const paths = fresh();
    const log = await AuditLog.open(paths.log, { anchor: paths.anchor, argumentsKey: key, anchorIntervalMs: 0 });
    for (let i = 0; i < 4; i++) log.append(decision(i));
    await log.flush();
    // The anchor follows each write at once with a zero interval: wait until it names the fourth decision.
    await anchoredAt(paths.anchor, key, 4);
    // The machine dies here: what is on disk is the log and the anchor as they are now, with no close checkpoint.
    const crashed = { log: join(dir, `crashed-${n}.jsonl`), anchor: join(dir, `crashed-anchor-${n}.json`) };
    await copyFile(paths.log, crashed.log);
    await copyFile(paths.anchor, crashed.anchor);
    await log.close();

    const restarted = await AuditLog.open(crashed.log, { anchor: crashed.anchor, argumentsKey: key });
    restarted.append(decision(10));
    await restarted.close();
    const written = await lines(crashed.log);
    assert.deepEqual(written.map((l) => l.checkpoint ?? "decision"), ["open", "decision", "decision", "decision", "decision", "recovered", "decision", "close"]);
    assert.equal(written[5]!.after, 4, "the recovered checkpoint names the last anchored line");
    const verified = await verifyAuditLog(crashed.log, { anchor: await readAnchor(crashed.anchor, key), key });
    assert.ok(verified.ok && verified.checkpoints.recovered === 1, JSON.stringify(verified));

  });

  it("a crash followed by a cut below the anchor is refused", async () => {
    const paths = fresh();
    const log = await AuditLog.open(paths.log, { anchor: paths.anchor, argumentsKey: key, anchorIntervalMs: 0 });
    for (let i = 0; i < 4; i++) log.append(decision(i));
    await log.flush();
    await anchoredAt(paths.anchor, key, 4);
    const crashed = { log: join(dir, `crashcut-${n}.jsonl`), anchor: join(dir, `crashcut-anchor-${n}.json`) };
    await copyFile(paths.log, crashed.log);
    await copyFile(paths.anchor, crashed.anchor);
    await log.close();
    const text = await readFile(crashed.log, "utf8");
    await writeFile(crashed.log, text.split("\n").slice(0, 3).join("\n") + "\n");
    await refusedWith(AuditLog.open(crashed.log, { anchor: crashed.anchor, argumentsKey: key }), "PQG7105");
  });

  it("a rotated log reads as a rotation: the new file continues the chain, and verifies against the old head", async () => {
    const paths = fresh();
    const oldHead = await run(paths, 3);
    const rotated = `${paths.log}.1`;
    await rename(paths.log, rotated);
    await run(paths, 2);
    const written = await lines(paths.log);
    assert.equal(written[0]!.checkpoint, "rotated");
    assert.equal(written[0]!.seq, 5, "seq continues across files");
    const old = await verifyAuditLog(rotated, { key });
    assert.ok(old.ok);
    const verified = await verifyAuditLog(paths.log, { key, previousHead: old.head, anchor: await readAnchor(paths.anchor, key) });
    assert.ok(verified.ok && verified.follows?.seq === 4 && verified.follows.hash === old.head, JSON.stringify(verified));
    assert.notEqual(oldHead, undefined);
    const other = await verifyAuditLog(paths.log, { previousHead: "0".repeat(64) });
    assert.ok(!other.ok && other.problem === "altered");
  });

  it("with the audit key, a forged close checkpoint after a cut is found", async () => {
    const paths = fresh();
    await run(paths, 4);
    const all = await lines(paths.log);
    // Cut the last two decisions and the close; append a close made without the key.
    const kept = all.slice(0, 3);
    const last = kept.at(-1)!;
    const forged = buildCheckpoint("close", (last.seq as number) + 1, last.hash as string, Date.now(), undefined);
    await writeFile(paths.log, kept.map((l) => JSON.stringify(l)).join("\n") + "\n" + forged.text + "\n");
    assert.ok((await verifyAuditLog(paths.log)).ok, "without the key the chain is well formed");
    const verified = await verifyAuditLog(paths.log, { key });
    assert.ok(!verified.ok && /forged/.test(verified.message), JSON.stringify(verified));
  });

  it("verify checks intermediate anchors, and `pqguard audit verify --anchor/--anchor-at` reports a cut", async () => {
    const paths = fresh();
    await run(paths, 6);
    const all = await lines(paths.log);
    const middle = all[3]!;
    assert.ok((await verifyAuditLog(paths.log, { anchors: [{ seq: middle.seq as number, hash: middle.hash as string }] })).ok);
    await writeFile(paths.log, all.slice(0, 2).map((l) => JSON.stringify(l)).join("\n") + "\n");
    const verified = await verifyAuditLog(paths.log, { anchors: [{ seq: middle.seq as number, hash: middle.hash as string }] });
    assert.ok(!verified.ok && verified.problem === "truncated");
    let err = "";
    const io = { cwd: process.cwd(), out: () => undefined, err: (t: string) => void (err += t) };
    assert.equal(await main(["audit", "verify", paths.log, "--anchor-at", `${String(middle.seq)}:${String(middle.hash)}`], io), 1);
    assert.match(err, /PQG7103/);
    assert.equal(await main(["audit", "verify", paths.log, "--anchor", paths.anchor], io), 1);
  });

  it("`pqguard audit anchor` anchors an existing log's head so that a log can start being anchored", async () => {
    const paths = fresh();
    const plain = await AuditLog.open(paths.log);
    plain.append(decision(1));
    await plain.close();
    await refusedWith(AuditLog.open(paths.log, { anchor: paths.anchor }), "PQG7106");
    const io = { cwd: process.cwd(), out: () => undefined, err: () => undefined };
    assert.equal(await main(["audit", "anchor", paths.log, "--anchor", paths.anchor], io), 0);
    const log = await AuditLog.open(paths.log, { anchor: paths.anchor });
    await log.close();
    await appendFile(paths.log, "");
    assert.ok((await verifyAuditLog(paths.log, { anchor: await readAnchor(paths.anchor, undefined) })).ok);
  });
});
