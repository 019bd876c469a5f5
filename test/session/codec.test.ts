// The handshake byte codec: every text field decodes to exactly the string its bytes encode, so re-encoding a
// parsed message (as the server does for the offer digest) gives back the bytes that were received.
import assert from "node:assert/strict";
import fc from "fast-check";
import { ByteReader, ByteWriter, utf8 } from "../../runtime/session/codec.js";
import { decodeClientHello, encodeClientHello, encodeOffer } from "../../runtime/session/messages.js";
import { peers } from "./fixtures.js";

const BOM = "\uFEFF";

describe("session byte codec", () => {
  it("round-trips every name and text byte for byte, a leading byte order mark included", () => {
    fc.assert(
      fc.property(fc.boolean(), fc.string({ unit: "grapheme", maxLength: 60 }), (bom, text) => {
        const value = (bom ? BOM : "") + text;
        const bytes = new ByteWriter().name(value).text(value).finish();
        const reader = new ByteReader(bytes, "test");
        assert.equal(reader.name(), value);
        assert.equal(reader.text(), value);
        reader.end();
      }),
    );
  });

  it("does not parse an offered name with a byte order mark as the name without it", () => {
    const hello = decodeClientHello(peers().client.hello());
    const marked = utf8(BOM + hello.offer.kem[0]);
    const bytes = encodeClientHello({ ...hello, offer: { ...hello.offer, kem: [BOM + hello.offer.kem[0]] }, shares: [{ ...hello.shares[0]!, kem: BOM + hello.offer.kem[0] }] });
    const parsed = decodeClientHello(bytes);
    assert.equal(parsed.offer.kem[0], BOM + hello.offer.kem[0]);
    assert.ok(Buffer.from(encodeOffer(parsed.offer)).includes(Buffer.from(marked)));
  });
});
