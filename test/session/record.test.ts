// The record layer alone: in-order delivery across rekeys (an idle sender's included), and each refusal (tamper at
// every byte, replay, reorder, truncation, oversize) with its own code, after which the direction refuses everything.
import assert from "node:assert/strict";
import fc from "fast-check";
import { aead, kdf, randomBytes } from "../../runtime/crypto/registry.js";
import { nodeChaCha20Poly1305 } from "../../runtime/crypto/node.js";
import { sodiumChaCha20Poly1305 } from "../../runtime/crypto/sodium.js";
import { PROTOCOL_KDF, REPLAY_WINDOW } from "../../runtime/session/constants.js";
import { SessionError, SessionErrorCode } from "../../runtime/session/errors.js";
import { FRAME_HEADER_BYTES, FrameType, RecordOpener, RecordSealer } from "../../runtime/session/record.js";
import type { RecordLimits } from "../../runtime/session/record.js";


function pair(limits: RecordLimits = {}, aeadName = "AES-256-GCM"): { sealer: RecordSealer; opener: RecordOpener } {
  const secret = randomBytes(32);
  const suite = aead(aeadName);
  const hkdf = kdf(PROTOCOL_KDF);
  return { sealer: new RecordSealer(suite, hkdf, new Uint8Array(secret), limits), opener: new RecordOpener(suite, hkdf, new Uint8Array(secret), limits) };
}

function expectCode(action: () => unknown, code: string): void {
  assert.throws(action, (error: unknown) => error instanceof SessionError && error.code === code);
}

const toBytes = (frame: string): Uint8Array => new Uint8Array(Buffer.from(frame, "base64url"));
const toFrame = (bytes: Uint8Array): string => Buffer.from(bytes).toString("base64url");

describe("record layer", () => {
  for (const name of ["AES-256-GCM", "ChaCha20-Poly1305"]) {
    it(`delivers frames in order and follows the sender's rekeys (${name})`, () => {
      fc.assert(
        fc.property(fc.array(fc.tuple(fc.string({ unit: "grapheme" }), fc.boolean()), { maxLength: 40 }), (steps) => {
          const { sealer, opener } = pair({}, name);
          for (const [message, rekey] of steps) {
            if (rekey) assert.equal(opener.open(sealer.sealRekey()).type, FrameType.rekey);
            const frame = opener.open(sealer.sealData(message));
            assert.equal(frame.type, FrameType.data);
            assert.equal(frame.text, message);
          }
          assert.equal(opener.rekeys, sealer.rekeys);
        }),
        { numRuns: 50 },
      );
    });
  }

  it("asks for a rekey after the configured number of messages and time", () => {
    let now = 0;
    const { sealer } = pair({ rekeyAfterMessages: 3, rekeyAfterMs: 1000, now: () => now });
    for (let i = 0; i < 3; i++) {
      assert.equal(sealer.rekeyDue(), false);
      sealer.sealData("x");
    }
    assert.equal(sealer.rekeyDue(), true);
    sealer.sealRekey();
    assert.equal(sealer.rekeyDue(), false);
    now = 1000;
    assert.equal(sealer.rekeyDue(), true);
  });

  it("tells an idle sender to rekey a key past its time only if it sealed a frame, and when to look again", () => {
    let now = 0;
    const { sealer, opener } = pair({ rekeyAfterMs: 1000, now: () => now });
    now = 5000;
    assert.equal(sealer.idleRekeyDue(), false, "a key that sealed nothing is kept");
    assert.equal(sealer.msUntilRekey(), 1000);
    now = 0;
    opener.open(sealer.sealData("x"));
    now = 400;
    assert.equal(sealer.idleRekeyDue(), false);
    assert.equal(sealer.msUntilRekey(), 600);
    now = 1000;
    assert.equal(sealer.idleRekeyDue(), true);
    assert.equal(opener.open(sealer.rekey()!).type, FrameType.rekey);
    assert.equal(sealer.idleRekeyDue(), false);
    assert.equal(sealer.msUntilRekey(), 1000);
    now = 9000;
    assert.equal(sealer.idleRekeyDue(), false, "the new key sealed nothing yet");
    assert.equal(opener.open(sealer.sealData("after")).text, "after");
  });

  it("uses a different key after a rekey: an old-key frame does not open", () => {
    const a = pair();
    const frame0 = a.sealer.sealData("before");
    a.opener.open(frame0);
    a.opener.open(a.sealer.sealRekey());
    const after = toBytes(a.sealer.sealData("after"));
    assert.equal(a.opener.open(toFrame(after)).text, "after");
  });

  it("refuses a sealed frame altered at any byte (full sweep), and everything after it", () => {
    const probe = pair();
    const message = (JSON.stringify({ jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: "echo", arguments: { text: "hi" } } }));
    const length = toBytes(probe.sealer.sealData(message)).length;
    for (let position = 0; position < length; position++) {
      const { sealer, opener } = pair();
      const frame = toBytes(sealer.sealData(message));
      frame[position]! ^= 0x80;
      assert.throws(
        () => opener.open(toFrame(frame)),
        (error: unknown) => error instanceof SessionError && [SessionErrorCode.BadRecordMac, SessionErrorCode.Replay, SessionErrorCode.Reorder].includes(error.code as never),
      );
      expectCode(() => opener.open(sealer.sealData(message)), SessionErrorCode.Closed);
    }
  });

  it("reports an altered ciphertext or tag as a bad MAC", () => {
    const { sealer, opener } = pair();
    const frame = toBytes(sealer.sealData("hello"));
    frame[FRAME_HEADER_BYTES]! ^= 1;
    expectCode(() => opener.open(toFrame(frame)), SessionErrorCode.BadRecordMac);
  });

  it("refuses a replayed frame", () => {
    const { sealer, opener } = pair();
    const frame = sealer.sealData("once");
    opener.open(frame);
    expectCode(() => opener.open(frame), SessionErrorCode.Replay);
  });

  it("refuses frames out of order (a dropped or delayed frame)", () => {
    const { sealer, opener } = pair();
    sealer.sealData("first");
    const second = sealer.sealData("second");
    expectCode(() => opener.open(second), SessionErrorCode.Reorder);
  });

  it("refuses a truncated frame", () => {
    const { sealer, opener } = pair();
    const frame = toBytes(sealer.sealData("hello"));
    expectCode(() => opener.open(toFrame(frame.subarray(0, FRAME_HEADER_BYTES + 3))), SessionErrorCode.TruncatedFrame);
    const again = pair();
    const whole = toBytes(again.sealer.sealData("hello"));
    expectCode(() => again.opener.open(toFrame(whole.subarray(0, whole.length - 1))), SessionErrorCode.BadRecordMac);
  });

  it("refuses frames above the size limit on both sides", () => {
    const { sealer, opener } = pair({ maxFrameBytes: 64 });
    expectCode(() => sealer.sealData("x".repeat(64)), SessionErrorCode.FrameTooLarge);
    // Counted in UTF-8 bytes: 20 two-byte characters are 40 bytes, and with header and tag exceed 64.
    expectCode(() => sealer.sealData("é".repeat(20)), SessionErrorCode.FrameTooLarge);
    assert.equal(opener.open(sealer.sealData("x".repeat(64 - FRAME_HEADER_BYTES - 16))).text.length, 64 - FRAME_HEADER_BYTES - 16);
    const big = pair({ maxFrameBytes: 1024 });
    expectCode(() => opener.open(big.sealer.sealData("x".repeat(200))), SessionErrorCode.FrameTooLarge);
  });

  it("seals records with libsodium's fused path byte for byte as node:crypto's ChaCha20-Poly1305 does", () => {
    const sodium = sodiumChaCha20Poly1305();
    const node = nodeChaCha20Poly1305();
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 12, maxLength: 12 }), fc.uint8Array({ maxLength: 16 }), fc.string({ unit: "grapheme", maxLength: 300 }), (key, nonce, header, message) => {
          const frame = sodium.sealRecord(key, nonce, header, message);
          assert.equal(frame, node.sealRecord(key, nonce, header, message));
          const sealed = new Uint8Array(Buffer.from(frame, "base64url")).subarray(header.length);
          assert.equal(node.openRecord(key, nonce, sealed, header), message);
          assert.equal(sodium.openRecord(key, nonce, sealed, header), message);
          const tampered = new Uint8Array(sealed);
          tampered[tampered.length - 1]! ^= 1;
          assert.equal(sodium.openRecord(key, nonce, tampered, header), undefined);
        },
      ),
      { numRuns: 100 },
    );
  });

  it("seals and opens a frame larger than libsodium's initial scratch region", () => {
    const { sealer, opener } = pair({}, "ChaCha20-Poly1305");
    const message = "ü".repeat(300_000);
    assert.equal(opener.open(sealer.sealData(message)).text, message);
    assert.equal(opener.open(sealer.sealData("small again")).text, "small again");
  });

  it("seals and opens nothing once its keys are wiped (they are zeros: a frame under them would be readable by anyone)", () => {
    const { sealer, opener } = pair();
    const frame = sealer.sealData("{}");
    sealer.wipe();
    expectCode(() => sealer.sealData("secret"), SessionErrorCode.Closed);
    expectCode(() => sealer.rekey(), SessionErrorCode.Closed);
    expectCode(() => sealer.sealClose(), SessionErrorCode.Closed);
    opener.wipe();
    expectCode(() => opener.open(frame), SessionErrorCode.Closed);
    // Over unordered delivery a rekey ratchets without a marker: after wipe it must not derive keys from zeros either.
    const silent = new RecordSealer(aead("ChaCha20-Poly1305"), kdf(PROTOCOL_KDF), new Uint8Array(32).fill(7), { delivery: "unordered" });
    silent.wipe();
    expectCode(() => silent.rekey(), SessionErrorCode.Closed);
  });

  it("refuses a rekey or close marker that carries bytes", () => {
    const secret = randomBytes(32);
    const suite = aead("AES-256-GCM");
    const hkdf = kdf(PROTOCOL_KDF);
    const sealer = new RecordSealer(suite, hkdf, new Uint8Array(secret));
    const opener = new RecordOpener(suite, hkdf, new Uint8Array(secret));
    const frame = toBytes(sealer.sealData("x"));
    // Re-seal a data body under the rekey type: the header is the AAD, so this only fails authentication.
    frame[0] = FrameType.rekey;
    expectCode(() => opener.open(toFrame(frame)), SessionErrorCode.BadRecordMac);
  });

  describe("unordered delivery (Streamable HTTP)", () => {
    const unordered = (limits: RecordLimits = {}) => pair({ ...limits, delivery: "unordered" }, "ChaCha20-Poly1305");

    it("delivers every frame exactly once whatever the arrival order, across rekeys that frames overtake", () => {
      fc.assert(
        fc.property(
          fc.array(fc.tuple(fc.string({ maxLength: 8 }), fc.boolean()), { minLength: 1, maxLength: 60 }),
          fc.array(fc.nat(), { maxLength: 60 }),
          (steps, swaps) => {
            const { sealer, opener } = unordered();
            const frames: { frame: string; text: string | undefined }[] = [];
            steps.forEach(([message, rekey], i) => {
              if (rekey) frames.push({ frame: sealer.sealRekey(), text: undefined });
              frames.push({ frame: sealer.sealData(`${i}:${message}`), text: `${i}:${message}` });
            });
            // Shuffle with bounded displacement, as concurrent HTTP requests do.
            for (const [k, swap] of swaps.entries()) {
              const a = k % frames.length;
              const b = Math.min(frames.length - 1, a + (swap % 6));
              [frames[a], frames[b]] = [frames[b]!, frames[a]!];
            }
            const delivered = frames.flatMap(({ frame }) => {
              const opened = opener.open(frame);
              return opened.type === FrameType.data ? [opened.text] : [];
            });
            assert.deepEqual([...delivered].sort(), frames.flatMap((f) => (f.text === undefined ? [] : [f.text])).sort());
            assert.equal(opener.rekeys, sealer.rekeys);
          },
        ),
        { numRuns: 100 },
      );
    });

    it("refuses a replayed frame, even out of order", () => {
      const { sealer, opener } = unordered();
      const first = sealer.sealData("first");
      const second = sealer.sealData("second");
      opener.open(second);
      opener.open(first);
      expectCode(() => opener.open(first), SessionErrorCode.Replay);
    });

    it("refuses a frame older than the replay window", () => {
      const { sealer, opener } = unordered();
      const old = sealer.sealData("old");
      let last = "";
      for (let i = 0; i < REPLAY_WINDOW; i++) last = sealer.sealData("x");
      opener.open(last);
      expectCode(() => opener.open(old), SessionErrorCode.Replay);
    });

    it("refuses an altered frame and everything after it", () => {
      const { sealer, opener } = unordered();
      const frame = toBytes(sealer.sealData("hello"));
      frame[FRAME_HEADER_BYTES + 1]! ^= 1;
      expectCode(() => opener.open(toFrame(frame)), SessionErrorCode.BadRecordMac);
      expectCode(() => opener.open(sealer.sealData("later")), SessionErrorCode.Closed);
    });

    it("refuses a frame whose epoch was moved forward (the next key does not open it)", () => {
      const { sealer, opener } = unordered();
      const frame = toBytes(sealer.sealData("hello"));
      frame[4]! += 1;
      expectCode(() => opener.open(toFrame(frame)), SessionErrorCode.BadRecordMac);
    });

    it("refuses a frame from an epoch more rekeys ahead than it follows", () => {
      const { sealer, opener } = unordered();
      for (let i = 0; i < 9; i++) sealer.sealRekey();
      expectCode(() => opener.open(sealer.sealData("far ahead")), SessionErrorCode.Reorder);
    });

    it("counts frames still missing below the highest one, for truncation at close", () => {
      const { sealer, opener } = unordered();
      const first = sealer.sealData("first");
      const second = sealer.sealData("second");
      opener.open(sealer.sealData("third"));
      assert.equal(opener.missing, 2);
      opener.open(second);
      opener.open(first);
      assert.equal(opener.missing, 0);
    });

    it("rekeys without a marker, the receiver following each frame's epoch", () => {
      const { sealer, opener } = unordered({ rekeyAfterMessages: 2 });
      const texts: string[] = [];
      for (let i = 0; i < 7; i++) {
        if (sealer.rekeyDue()) assert.equal(sealer.rekey(), undefined);
        texts.push(opener.open(sealer.sealData(`m${i}`)).text);
      }
      assert.deepEqual(texts, ["m0", "m1", "m2", "m3", "m4", "m5", "m6"]);
      assert.equal(opener.rekeys, 3);
      assert.equal(sealer.rekeys, 3);
    });

    it("ratchets an idle sender silently, once however long it stays idle, and the receiver follows its next frame", () => {
      let now = 0;
      const { sealer, opener } = unordered({ rekeyAfterMs: 1000, now: () => now });
      opener.open(sealer.sealData("before"));
      // Twenty idle periods: re-ratcheting each would put the sender further ahead than a receiver follows (8 epochs).
      for (let period = 1; period <= 20; period++) {
        now = period * 1000;
        if (sealer.idleRekeyDue()) assert.equal(sealer.rekey(), undefined);
      }
      assert.equal(sealer.rekeys, 1);
      assert.equal(opener.open(sealer.sealData("after")).text, "after");
      assert.equal(opener.rekeys, 1);
    });

    it("drops an earlier epoch's key after its time, refusing a frame that comes later still", () => {
      let now = 0;
      const { sealer, opener } = unordered({ now: () => now });
      const late = sealer.sealData("sealed before the rekey");
      sealer.rekey();
      opener.open(sealer.sealData("after the rekey"));
      now = 31_000;
      expectCode(() => opener.open(late), SessionErrorCode.Reorder);
    });
  });
});
