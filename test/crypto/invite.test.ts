import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import {
  concatBytes,
  CryptoError,
  decodeRoomSecret,
  deriveRoomKeys,
  encodeRoomSecret,
  equalBytes,
  fromBase64Url,
  newRoomId,
  newRoomSecret,
  Reader,
  toBase64Url,
  u64be,
  wipe,
  Writer,
} from "../../src/crypto/index.js";

function code(c: string): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof CryptoError, `expected CryptoError, got ${String(e)}`);
    assert.equal(e.code, c);
    return true;
  };
}

/** RFC 5869 HKDF-SHA256 for L ≤ 32, written out independently of the code under test. */
function hkdf256(ikm: Uint8Array, salt: string, info: string): Uint8Array {
  const prk = createHmac("sha256", salt).update(ikm).digest();
  return new Uint8Array(createHmac("sha256", prk).update(info).update(Uint8Array.of(1)).digest());
}

describe("invite secrets and room ids", () => {
  it("secret is 32 random bytes; room id is 16 random bytes base64url", () => {
    const a = newRoomSecret();
    assert.equal(a.length, 32);
    assert.notDeepEqual(newRoomSecret(), a);
    const id = newRoomId();
    assert.match(id, /^[A-Za-z0-9_-]{22}$/);
    assert.equal(fromBase64Url(id).length, 16);
    assert.notEqual(newRoomId(), id);
  });

  it("secret text round-trips and is checked", () => {
    const sec = newRoomSecret();
    const text = encodeRoomSecret(sec);
    assert.equal(text.length, 43);
    assert.deepEqual(decodeRoomSecret(text), sec);
    assert.throws(() => decodeRoomSecret(text.slice(0, 42)), code("invite-secret-invalid"));
    assert.throws(() => decodeRoomSecret(toBase64Url(new Uint8Array(31))), code("invite-secret-invalid"));
    assert.throws(() => decodeRoomSecret(text + "="), code("invite-secret-invalid"));
    assert.throws(() => decodeRoomSecret(""), code("invite-secret-invalid"));
  });
});

describe("room key derivation (HKDF-SHA256, RFC 5869)", () => {
  it("matches HKDF with salt conclave/v1 and the two labels", () => {
    const secret = newRoomSecret();
    const room = newRoomId();
    const k = deriveRoomKeys(secret, room);
    assert.deepEqual(k.proofKey, hkdf256(secret, "conclave/v1", "conclave/v1/membership-proof|" + room));
    assert.deepEqual(k.rosterKey, hkdf256(secret, "conclave/v1", "conclave/v1/roster-seal|" + room));
  });

  it("is deterministic and differs per label, room and secret", () => {
    const secret = newRoomSecret();
    const a = deriveRoomKeys(secret, "room-a");
    assert.deepEqual(deriveRoomKeys(secret, "room-a"), a);
    assert.equal(a.proofKey.length, 32);
    assert.equal(a.rosterKey.length, 32);
    assert.ok(!equalBytes(a.proofKey, a.rosterKey));
    const b = deriveRoomKeys(secret, "room-b");
    assert.ok(!equalBytes(a.proofKey, b.proofKey));
    assert.ok(!equalBytes(a.rosterKey, b.rosterKey));
    const c = deriveRoomKeys(newRoomSecret(), "room-a");
    assert.ok(!equalBytes(a.proofKey, c.proofKey));
    assert.ok(!equalBytes(a.rosterKey, c.rosterKey));
  });

  it("checks the secret length and room id", () => {
    assert.throws(() => deriveRoomKeys(new Uint8Array(31), "r"), RangeError);
    assert.throws(() => deriveRoomKeys(new Uint8Array(33), "r"), RangeError);
    assert.throws(() => deriveRoomKeys(newRoomSecret(), ""), RangeError);
    assert.throws(() => deriveRoomKeys(newRoomSecret(), "r".repeat(256)), RangeError);
    assert.throws(() => deriveRoomKeys("x".repeat(32) as unknown as Uint8Array, "r"), TypeError);
  });
});

describe("base64url (RFC 4648 §5), strict", () => {
  it("round-trips every length 0..64", () => {
    for (let n = 0; n <= 64; n++) {
      const b = new Uint8Array(randomBytes(n));
      const t = toBase64Url(b);
      assert.match(t, /^[A-Za-z0-9_-]*$/);
      assert.deepEqual(fromBase64Url(t), b);
    }
  });

  it("encodes a subarray view, not its whole buffer", () => {
    const whole = Uint8Array.of(1, 2, 3, 4, 5);
    assert.equal(toBase64Url(whole.subarray(1, 3)), toBase64Url(Uint8Array.of(2, 3)));
  });

  for (const bad of ["AA==", "AA=", "A+B/", "AB C", " AAAA", "AAAA\n", "A", "AAAAA", "AB", "AAB", "ä", "AA.A"]) {
    it(`rejects ${JSON.stringify(bad)}`, () => {
      assert.throws(() => fromBase64Url(bad), code("encoding"));
    });
  }

  it("accepts canonical short forms", () => {
    assert.deepEqual(fromBase64Url(""), new Uint8Array(0));
    assert.deepEqual(fromBase64Url("AA"), Uint8Array.of(0));
    assert.deepEqual(fromBase64Url("AAA"), Uint8Array.of(0, 0));
    assert.deepEqual(fromBase64Url("_w"), Uint8Array.of(0xff));
  });
});

describe("byte helpers", () => {
  it("concat, equal, wipe, u64be", () => {
    assert.deepEqual(concatBytes(Uint8Array.of(1), new Uint8Array(0), Uint8Array.of(2, 3)), Uint8Array.of(1, 2, 3));
    assert.ok(equalBytes(Uint8Array.of(1, 2), Uint8Array.of(1, 2)));
    assert.ok(!equalBytes(Uint8Array.of(1, 2), Uint8Array.of(1, 3)));
    assert.ok(!equalBytes(Uint8Array.of(1, 2), Uint8Array.of(1, 2, 3)));
    assert.ok(equalBytes(new Uint8Array(0), new Uint8Array(0)));
    const k = Uint8Array.of(9, 9, 9);
    wipe(k);
    assert.deepEqual(k, new Uint8Array(3));
    assert.deepEqual(u64be(0x0102030405060708n), Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
    assert.deepEqual(u64be(2n ** 64n - 1n), new Uint8Array(8).fill(0xff));
    assert.throws(() => u64be(2n ** 64n), RangeError);
    assert.throws(() => u64be(-1n), RangeError);
  });

  it("Writer/Reader round-trip and truncation → malformed", () => {
    const msg = new Writer().u8(7).u32(0xdeadbeef).u64(42n).str8("héllo").bytes32(Uint8Array.of(1, 2, 3)).raw(Uint8Array.of(9)).finish();
    const r = new Reader(msg);
    assert.equal(r.u8(), 7);
    assert.equal(r.u32(), 0xdeadbeef);
    assert.equal(r.u64(), 42n);
    assert.equal(r.str8(), "héllo");
    assert.deepEqual(r.bytes32(), Uint8Array.of(1, 2, 3));
    assert.deepEqual(r.raw(1), Uint8Array.of(9));
    r.end();
    for (let n = 0; n < msg.length; n++) {
      const t = new Reader(msg.subarray(0, n));
      assert.throws(() => {
        t.u8();
        t.u32();
        t.u64();
        t.str8();
        t.bytes32();
        t.raw(1);
      }, code("malformed"));
    }
    const trailing = new Reader(Uint8Array.of(1, 2));
    trailing.u8();
    assert.throws(() => trailing.end(), code("malformed"));
    assert.throws(() => new Reader(Uint8Array.of(2, 0xc3, 0x28)).str8(), code("malformed"));
    assert.throws(() => new Reader(Uint8Array.of(0xff, 0xff, 0xff, 0xff)).bytes32(), code("malformed"));
  });
});
