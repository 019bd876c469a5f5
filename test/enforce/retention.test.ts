// The state store against the policy's longest window, checked at set-up: enforce(), guardClient and the proxy refuse
// a store that forgets calls a window still counts (PQG7311), and without a store they make one that keeps them.
import { strict as assert } from "node:assert";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { interpret } from "../../compiler/interpreter.js";
import { silentLogger } from "../../runtime/audit/index.js";
import { DecisionPoint, enforce, EnforceError, guardClient, refusalOf, stateStoreFor, type PinVerdict, type SessionView } from "../../runtime/enforce/index.js";
import type { GuardModule } from "../../runtime/guard/types.js";
import { toolDigest } from "../../runtime/manifest/digest.js";
import { signManifest, verifySignedManifest, type VerifiedManifest } from "../../runtime/manifest/signed.js";
import { signature } from "../../runtime/crypto/registry.js";
import { createProxy } from "../../runtime/proxy/index.js";
import { DEFAULT_RETENTION_MS, MemoryStateStore, type StateStore } from "../../runtime/state/index.js";
import { checked, compiledGuard } from "../support/guards.js";
import { connect, paymentsGuard, paymentsServer, paymentsTools, sessionInfo } from "./fixtures.js";

const HOUR = 3_600_000;
/** A limit over a window longer than the default retention: the default store then keeps calls exactly that long. */
const TWO_DAY_LIMIT = ["policy retention", 'manifest "payments.tools.json"', "permit tool process_refund", "limit tool process_refund to 3 per 2d per client", ""].join("\n");

function refusesAtSetup(setUp: () => unknown, pattern: RegExp): void {
  assert.throws(setUp, (error: unknown) => {
    assert.ok(error instanceof EnforceError, `expected an EnforceError, got ${String(error)}`);
    assert.equal(error.code, "PQG7311");
    assert.match(error.message, pattern);
    return true;
  });
}

describe("state store retention against the policy's longest window", () => {
  let digests: Record<string, string>;
  let tools: Record<string, unknown>[];
  let manifest: VerifiedManifest;
  /** The payments guard, counting over `ms` at the longest. */
  const countingOver = (ms: number): GuardModule => ({ ...paymentsGuard(digests), longestWindowMs: ms });

  before(async () => {
    tools = await paymentsTools();
    digests = Object.fromEntries(tools.map((t) => [t.name as string, toolDigest(t)]));
    const scheme = signature("ML-DSA-65");
    manifest = verifySignedManifest(signManifest(tools, { algorithm: "ML-DSA-65", ...scheme.keygen() }));
  });

  it("enforce() refuses at set-up a store that keeps calls for less than the longest window, naming both", async () => {
    const { server } = paymentsServer();
    const store = new MemoryStateStore({ retentionMs: HOUR });
    refusesAtSetup(
      () => enforce(server, countingOver(2 * HOUR), { store, logger: silentLogger() }),
      /counts calls over 2 h but the state store keeps them for 1 h: create the store with `retentionMs` of at least 7200000 \(2 h\)/,
    );
    // Nothing was attached: the server's own handler still answers.
    const { client, close } = await connect(server);
    assert.equal((await client.listTools()).tools.length, 3);
    await close();
  });

  it("guardClient refuses at set-up a store that keeps calls for less than the longest window", async () => {
    const { server } = paymentsServer();
    const { client, close } = await connect(server);
    refusesAtSetup(
      () => guardClient(client, countingOver(25 * HOUR), { manifest, store: new MemoryStateStore(), logger: silentLogger() }),
      /counts calls over 25 h but the state store keeps them for 1 d/,
    );
    await close();
  });

  it("createProxy refuses a store that keeps calls for less than the longest window, and sizes its default store", () => {
    const options = { upstream: { command: process.execPath, args: [] }, logger: silentLogger() };
    refusesAtSetup(() => createProxy({ ...options, guard: countingOver(2 * HOUR), state: new MemoryStateStore({ retentionMs: HOUR }) }), /2 h/);
    const proxy = createProxy({ ...options, guard: countingOver(3 * 24 * HOUR) });
    assert.equal(proxy.decisions.store.retentionMs, 3 * 24 * HOUR);
  });

  it("accepts a store as long as the window, one of unknown retention, and any store for a policy that counts nothing", () => {
    assert.ok(stateStoreFor(countingOver(HOUR), new MemoryStateStore({ retentionMs: HOUR })));
    const unknown: StateStore = { record: async () => undefined, snapshot: async () => assert.fail(), endSession: async () => undefined };
    assert.equal(stateStoreFor(countingOver(30 * 24 * HOUR), unknown), unknown);
    assert.ok(stateStoreFor(countingOver(0), new MemoryStateStore({ retentionMs: 1 })));
    assert.ok(stateStoreFor(paymentsGuard({}), new MemoryStateStore({ retentionMs: 1 })), "a guard without longestWindowMs");
  });

  it("fails closed on a retention or a window that is not a duration", () => {
    refusesAtSetup(() => stateStoreFor(countingOver(HOUR), new MemoryStateStore({ retentionMs: Number.NaN })), /keeps them for `NaN` ms/);
    refusesAtSetup(() => stateStoreFor(countingOver(Number.NaN), undefined), /longest window as `NaN`, which is not a duration/);
    refusesAtSetup(() => stateStoreFor(countingOver(-1), undefined), /not a duration/);
  });

  it("refuses a window that grows with session.age without bound, unless the store keeps calls for good", () => {
    const policy = checked(
      'policy unbounded\nmanifest "payments.tools.json"\npermit tool get_balance\nforbid tool process_refund when calls(process_refund, session.age) >= 5\n',
      { "payments.tools.json": { tools } },
    );
    const guard = interpret(policy);
    assert.equal(guard.longestWindowMs, Number.POSITIVE_INFINITY);
    refusesAtSetup(() => stateStoreFor(guard, undefined), /grows with `session.age` without bound, but the default state store keeps them for 1 d: require `session.age < DURATION`/);
    refusesAtSetup(() => stateStoreFor(guard, new MemoryStateStore({ retentionMs: 1e12 })), /without bound/);
    assert.ok(stateStoreFor(guard, new MemoryStateStore({ retentionMs: Number.POSITIVE_INFINITY })));
  });

  it("without a store, counts a window longer than the default retention correctly past the default retention period", async () => {
    const guard = await compiledGuard(checked(TWO_DAY_LIMIT, { "payments.tools.json": { tools } }, "retention.policy"), "retention");
    assert.equal(guard.longestWindowMs, 2 * 24 * HOUR);
    assert.ok(2 * 24 * HOUR > DEFAULT_RETENTION_MS, "the window outlasts the default retention");
    const payments = paymentsServer();
    const clock = { now: 2_000_000 };
    const enforcement = enforce(payments.server, guard, { session: () => sessionInfo(), now: () => clock.now, logger: silentLogger() });
    assert.equal(enforcement.decisions.store.retentionMs, 2 * 24 * HOUR);
    const { client, close } = await connect(payments.server);
    const refund = async (atHours: number): Promise<string> => {
      clock.now = 2_000_000 + atHours * HOUR;
      try {
        await client.callTool({ name: "process_refund", arguments: { customer_id: "c", amount: 10 } });
        return "allowed";
      } catch (error) {
        assert.ok(error instanceof McpError, String(error));
        const data = refusalOf(error);
        return `${data?.code} ${data?.rules.join(",")}`;
      }
    };
    try {
      assert.equal(await refund(0), "allowed");
      // Past the default retention, the call at 0 h still counts: a store of 24 h would refuse these (PQG7307).
      assert.equal(await refund(25), "allowed");
      assert.equal(await refund(26), "allowed");
      assert.equal(await refund(27), "PQG7301 retention.policy:4", "the third call in 2 d is over the limit");
      assert.equal(await refund(49), "allowed", "the call at 0 h left the window");
      assert.equal(payments.runs.count("process_refund"), 4);
    } finally {
      await close();
    }
  });

  it("answers a window exactly as long as the retention for a decision that awaited its pin while a later one ran", async () => {
    const guard = await compiledGuard(checked(TWO_DAY_LIMIT, { "payments.tools.json": { tools } }, "retention.policy"), "retention-late");
    const window = 2 * 24 * HOUR;
    const clock = { now: 0 };
    const point = new DecisionPoint(guard, "server", { now: () => clock.now, logger: silentLogger() }, "m".repeat(64));
    assert.equal(point.store.retentionMs, window, "the default store keeps calls exactly as long as the window");
    const session: SessionView = { sessionId: "s-late", establishedAt: 0, sealed: true, info: sessionInfo() };
    const refund = (at: number, pin: () => PinVerdict | Promise<PinVerdict> = () => ({ ok: true })) => {
      clock.now = at;
      return point.decide({ tool: "process_refund", args: { customer_id: "c", amount: 10 }, session, pin, approve: undefined });
    };
    const code = (verdict: Awaited<ReturnType<typeof refund>>) => (verdict.allowed ? "allowed" : `${verdict.refusal.code} ${verdict.refusal.rules.join(",")} ${verdict.refusal.reason}`);
    assert.equal(code(await refund(0)), "allowed");
    assert.equal(code(await refund(500)), "allowed");
    // This decision reads its clock, then waits for its tool pin (a tool list being read again)...
    let release: () => void = () => assert.fail("the pin was not awaited");
    const pinned = new Promise<PinVerdict>((resolve) => (release = () => resolve({ ok: true })));
    const late = refund(window + 400, () => pinned);
    // ...while one with a later reading runs, and the calls at 0 and 500 pass the retention period by its clock.
    assert.equal(code(await refund(window + 1_600)), "allowed");
    release();
    // The late window starts at 400: the call at 500 and the one at window + 1600 are in it, 2 of 3, so it is allowed.
    assert.equal(code(await late), "allowed");
    assert.equal(code(await refund(window + 450)), "PQG7301 retention.policy:4 rate limit of 3 calls per 2d per client exceeded", "the late call was recorded: with the call at 500, three in 2 d");
  });
});
