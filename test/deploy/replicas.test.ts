// A real deployment (docs/deploy.md): three `pqguard proxy` replicas behind HAProxy, sticky on Mcp-Session-Id,
// sharing one redis-server. Limits are exact across replicas under 20 concurrent clients, a killed replica loses no
// recorded call, and a stopped Redis refuses stateful calls until it returns. Also: health, readiness and the drain.
import { strict as assert } from "node:assert";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateIdentity, writeIdentity } from "../../runtime/identity/index.js";
import { REDIS_SERVER, skipLoudly, startRedis, type RedisServer } from "../support/redis.js";
import { call, eventually, HAPROXY, probe, sealedClient, startHaproxy, startReplica, type Balancer, type Replica } from "./support.js";

const ECHO_LIMIT = 7;
const SLOW_LIMIT = 6;

describe("a replicated deployment: pqguard proxy ×3, HAProxy, Redis", function () {
  this.timeout(240_000);
  let dir: string;
  let redis: RedisServer;
  let replicas: Replica[] = [];
  let balancer: Balancer;
  let fingerprint: string;

  before(async function () {
    if (REDIS_SERVER === undefined || HAPROXY === undefined) {
      skipLoudly(this, `the replicated deployment is not tested: ${REDIS_SERVER === undefined ? "redis-server" : "haproxy"} is not installed (apt-get install redis-server haproxy)`);
    }
    dir = await mkdtemp(join(tmpdir(), "pqguard-deploy-"));
    const identity = generateIdentity();
    fingerprint = identity.keyId;
    await writeIdentity(identity, join(dir, "proxy"));
    redis = await startRedis({ persistent: true });
    const state = `redis://127.0.0.1:${redis.port}/0`;
    replicas = await Promise.all([0, 1, 2].map(() => startReplica({ key: join(dir, "proxy.key"), state, extra: ["--deployment", "deploy-test"] })));
    balancer = await startHaproxy(dir, replicas);
    assert.ok(await eventually(async () => (await Promise.all(replicas.map((r) => probe(r, "/readyz")))).every((s) => s === 200), 20_000), "every replica is ready");
  });

  afterEach(function () {
    // A failure here is easiest read with what HAProxy and the replicas saw.
    if (this.currentTest?.state !== "failed") return;
    console.error(`--- haproxy ---\n${balancer?.log().slice(-5000)}`);
    for (const r of replicas) console.error(`--- replica ${r.port} ---\n${r.log().slice(-3000)}`);
  });

  after(async () => {
    await balancer?.stop();
    for (const r of replicas) if (r.child.exitCode === null) r.child.kill("SIGKILL");
    await redis?.dispose();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it("admits exactly the limit over all replicas when 20 clients call at once", async () => {
    const clients = await Promise.all(Array.from({ length: 20 }, () => sealedClient(balancer.url, fingerprint)));
    try {
      const outcomes = await Promise.all(clients.map((c) => call(c.client, "echo", { text: "hello" })));
      const admitted = outcomes.filter((o) => o.allowed).length;
      assert.equal(admitted, ECHO_LIMIT, JSON.stringify(outcomes));
      for (const o of outcomes) if (!o.allowed) assert.equal(o.code, "PQG7301", o.message);
      const replicasUsed = new Set(clients.flatMap((c) => [...c.servedBy]));
      assert.ok(replicasUsed.size >= 2, `sessions were spread over replicas: ${[...replicasUsed].join(", ")}`);
      for (const c of clients) assert.equal(c.servedBy.size, 1, "each session stayed on its replica");
    } finally {
      await Promise.all(clients.map((c) => c.client.close().catch(() => undefined)));
    }
  });

  it("keeps every recorded call when a replica is killed: its client's count holds on the others", async () => {
    const first = await sealedClient(balancer.url, fingerprint);
    for (let i = 0; i < 3; i++) assert.deepEqual(await call(first.client, "slow", { ms: 0 }), { allowed: true });
    const [served] = [...first.servedBy];
    const victim = replicas.find((r) => served === `127.0.0.1:${r.port}`)!;
    assert.ok(victim !== undefined, `the replica that served the client is known: ${served}`);
    victim.child.kill("SIGKILL");
    await victim.exited(10_000);
    await first.client.close().catch(() => undefined);
    // HAProxy notices on its next health check; a new session then goes to a surviving replica.
    assert.ok(await eventually(() => probe(victim, "/healthz").then((s) => s === 0), 5_000));
    const second = await sealedClient(balancer.url, fingerprint);
    try {
      assert.ok(![...second.servedBy].includes(served!), "the new session is on another replica");
      const outcomes = [];
      for (let i = 0; i < 5; i++) outcomes.push(await call(second.client, "slow", { ms: 0 }));
      assert.equal(outcomes.filter((o) => o.allowed).length, SLOW_LIMIT - 3, JSON.stringify(outcomes));
    } finally {
      await second.client.close().catch(() => undefined);
    }
  });

  it("refuses stateful calls while Redis is stopped, reports not ready, and decides again when it returns", async () => {
    const live = replicas.filter((r) => r.child.exitCode === null && r.child.signalCode === null);
    const client = await sealedClient(balancer.url, fingerprint);
    try {
      await redis.stop();
      const refused = await call(client.client, "echo", { text: "during the outage" });
      assert.equal(refused.allowed, false);
      assert.ok(!refused.allowed && refused.code === "PQG7307", JSON.stringify(refused));
      assert.match(refused.allowed ? "" : refused.message, /Redis/);
      assert.ok(await eventually(async () => (await Promise.all(live.map((r) => probe(r, "/readyz")))).every((s) => s === 503), 10_000), "not ready while Redis is down");
      assert.ok((await Promise.all(live.map((r) => probe(r, "/healthz")))).every((s) => s === 200), "yet alive");
      await client.client.ping();
      await redis.start();
      assert.ok(await eventually(async () => (await Promise.all(live.map((r) => probe(r, "/readyz")))).every((s) => s === 200), 15_000), "ready again");
      // The counts came back with Redis: echo is at its limit, refused by the policy now, not by the store.
      const decided = await call(client.client, "echo", { text: "after the outage" });
      assert.ok(!decided.allowed && decided.code === "PQG7301", JSON.stringify(decided));
      assert.ok(live.some((r) => /Redis state store (failed|disconnected)/.test(r.log())), "the outage was logged");
    } finally {
      await client.client.close().catch(() => undefined);
    }
  });
});

describe("pqguard proxy over HTTP: health, readiness and the drain on SIGTERM", function () {
  this.timeout(120_000);

  it("finishes a call in flight, refuses new sessions while draining, then exits 0", async () => {
    const dir = await mkdtemp(join(tmpdir(), "pqguard-drain-"));
    const identity = generateIdentity();
    await writeIdentity(identity, join(dir, "proxy"));
    const replica = await startReplica({ key: join(dir, "proxy.key"), state: `sqlite:${join(dir, "state.db")}`, env: { FLAKY_ANNOUNCE_SLOW: "1" } });
    try {
      assert.equal(await probe(replica, "/healthz"), 200);
      assert.equal(await probe(replica, "/readyz"), 200);
      const { client } = await sealedClient(replica.url, identity.keyId);
      const inFlight = call(client, "slow", { ms: 4000 });
      // SIGTERM once the server has the call: a drain with nothing in flight would end at once.
      assert.ok(await eventually(async () => replica.log().includes("flaky: slow call started"), 15_000), `the call reached the server: ${replica.log()}`);
      replica.child.kill("SIGTERM");
      assert.ok(await eventually(async () => (await probe(replica, "/readyz")) === 503, 3000), "not ready while draining");
      await assert.rejects(sealedClient(replica.url, identity.keyId), "no new session while draining");
      assert.deepEqual(await inFlight, { allowed: true }, "the call in flight finished");
      assert.equal(await replica.exited(15_000), 0, replica.log());
    } finally {
      if (replica.child.exitCode === null) replica.child.kill("SIGKILL");
      await rm(dir, { recursive: true, force: true });
    }
  });
});
