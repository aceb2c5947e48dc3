import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import {
  kidFor,
  newKeyspace,
  newSenderKey,
  ratchetSenderKey,
  senderKeyLength,
  splitKid,
  type SenderKeySuite,
} from "../../src/crypto/index.js";

/** RFC 5869 §2.2–2.3 written out with HMAC, independent of the code under test. */
function rfc5869(hash: "sha256" | "sha512", ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  const hashLen = hash === "sha256" ? 32 : 64;
  const prk = createHmac(hash, salt.length ? salt : new Uint8Array(hashLen)).update(ikm).digest();
  const out: Buffer[] = [];
  let t = Buffer.alloc(0);
  for (let i = 1; out.length * hashLen < length; i++) {
    t = createHmac(hash, prk).update(t).update(info).update(Uint8Array.of(i)).digest();
    out.push(t);
  }
  return new Uint8Array(Buffer.concat(out).subarray(0, length));
}

describe("RFC 9605 §5.1 KIDs: keyspace(32) ‖ generation(32)", () => {
  it("joins and splits, including the extremes", () => {
    const cases: [number, number, bigint][] = [
      [0, 0, 0n],
      [0, 1, 1n],
      [1, 0, 1n << 32n],
      [0xffff_ffff, 0, 0xffff_ffff_0000_0000n],
      [0, 0xffff_ffff, 0xffff_ffffn],
      [0xffff_ffff, 0xffff_ffff, 2n ** 64n - 1n],
      [0x1234_5678, 0x9abc_def0, 0x1234_5678_9abc_def0n],
    ];
    for (const [keyspace, generation, kid] of cases) {
      assert.equal(kidFor(keyspace, generation), kid);
      assert.deepEqual(splitKid(kid), { keyspace, generation });
    }
  });

  it("rejects out-of-range parts", () => {
    assert.throws(() => kidFor(-1, 0), RangeError);
    assert.throws(() => kidFor(0, 2 ** 32), RangeError);
    assert.throws(() => kidFor(1.5, 0), RangeError);
    assert.throws(() => kidFor(Number.NaN, 0), RangeError);
    assert.throws(() => splitKid(-1n), RangeError);
    assert.throws(() => splitKid(2n ** 64n), RangeError);
  });

  it("newKeyspace is a non-zero u32 and varies", () => {
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const k = newKeyspace();
      assert.ok(Number.isInteger(k) && k > 0 && k <= 0xffff_ffff);
      seen.add(k);
    }
    assert.ok(seen.size > 190);
  });
});

describe("sender base keys (Nh bytes, RFC 9605 §4.4.2)", () => {
  it("are 32 bytes for suite 4 and 64 bytes for suite 5, random", () => {
    assert.equal(newSenderKey(4).length, 32);
    assert.equal(newSenderKey(5).length, 64);
    assert.equal(senderKeyLength(4), 32);
    assert.equal(senderKeyLength(5), 64);
    assert.notDeepEqual(newSenderKey(4), newSenderKey(4));
    assert.throws(() => newSenderKey(1 as SenderKeySuite), RangeError);
  });
});

describe("sender key ratchet (RFC 9605 §5.1 style)", () => {
  for (const [suite, hash] of [
    [4, "sha256"],
    [5, "sha512"],
  ] as const) {
    it(`suite ${suite}: HKDF-${hash.toUpperCase()}(salt "", info "conclave/v1/sender-ratchet")`, () => {
      const key = newSenderKey(suite);
      const expected = rfc5869(hash, key, new Uint8Array(0), Buffer.from("conclave/v1/sender-ratchet"), key.length);
      assert.deepEqual(ratchetSenderKey(key, suite), expected);
    });

    it(`suite ${suite}: deterministic, changes the key, keeps the length, leaves the input alone`, () => {
      const key = newSenderKey(suite);
      const copy = key.slice();
      const r1 = ratchetSenderKey(key, suite);
      assert.deepEqual(ratchetSenderKey(key, suite), r1);
      assert.deepEqual(key, copy);
      assert.notDeepEqual(r1, key);
      assert.equal(r1.length, key.length);
    });

    it(`suite ${suite}: different keys give different outputs; a chain does not cycle`, () => {
      const seen = new Set<string>();
      let k = newSenderKey(suite);
      for (let i = 0; i < 500; i++) {
        const hex = Buffer.from(k).toString("hex");
        assert.ok(!seen.has(hex));
        seen.add(hex);
        k = ratchetSenderKey(k, suite);
      }
      assert.notDeepEqual(ratchetSenderKey(newSenderKey(suite), suite), ratchetSenderKey(newSenderKey(suite), suite));
    });
  }

  it("rejects a key of the wrong length for the suite", () => {
    assert.throws(() => ratchetSenderKey(newSenderKey(4), 5), RangeError);
    assert.throws(() => ratchetSenderKey(newSenderKey(5), 4), RangeError);
    assert.throws(() => ratchetSenderKey(new Uint8Array(16), 4), RangeError);
  });
});
