import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import {
  boxSharedKey,
  boxTo,
  boxWith,
  openBoxWith,
  concatBytes,
  CryptoError,
  deriveRoomKeys,
  EnvelopeType,
  generateIdentity,
  generateKxKeyPair,
  newRoomId,
  newRoomSecret,
  openBox,
  openEnvelope,
  sealEnvelope,
  sodiumReady,
  utf8,
  Writer,
  type IdentityKeyPair,
  type RoomKeys,
  type Sodium,
} from "../../src/crypto/index.js";

function code(c: string): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof CryptoError, `expected CryptoError, got ${String(e)}`);
    assert.equal(e.code, c);
    return true;
  };
}

let s: Sodium;
let roomId: string;
let keys: RoomKeys;
let alice: IdentityKeyPair;
let mallory: IdentityKeyPair;

before(async () => {
  s = await sodiumReady();
  roomId = newRoomId();
  keys = deriveRoomKeys(newRoomSecret(), roomId);
  alice = generateIdentity();
  mallory = generateIdentity();
});

function seal(over: Partial<Parameters<typeof sealEnvelope>[0]> = {}): Uint8Array {
  return sealEnvelope({
    keys,
    identity: alice,
    type: EnvelopeType.hello,
    roomId,
    from: "peer-alice",
    seq: 7n,
    timeMs: 1_700_000_000_123,
    body: utf8("hello, room"),
    ...over,
  });
}

/**
 * Builds an envelope by hand from the documented layout, with every part under the test's control,
 * so that wrong proofs and foreign signatures can be produced with the right roster key.
 */
function craft(o: {
  signer?: IdentityKeyPair;
  claimedIdentity?: Uint8Array;
  proofKey?: Uint8Array;
  magic?: string;
  trailing?: Uint8Array;
  roomId?: string;
  from?: string;
  to?: string;
}): Uint8Array {
  const signer = o.signer ?? alice;
  const w = new Writer()
    .raw(utf8(o.magic ?? "CNV1"))
    .u8(EnvelopeType.key)
    .str8(o.roomId ?? roomId)
    .str8(o.from ?? "peer-alice")
    .str8(o.to ?? "")
    .u64(9n)
    .u64(1234n)
    .raw(o.claimedIdentity ?? signer.publicKey)
    .bytes32(utf8("crafted body"));
  if (o.trailing) w.raw(o.trailing);
  const signed = w.finish();
  const sig = s.crypto_sign_detached(concatBytes(utf8("conclave/v1/envelope"), signed), signer.secretKey);
  const proof = createHmac("sha256", o.proofKey ?? keys.proofKey).update(signed).update(sig).digest();
  const nonce = s.randombytes_buf(24);
  return concatBytes(nonce, s.crypto_secretbox_easy(concatBytes(signed, sig, proof), nonce, keys.rosterKey));
}

describe("membership envelope", () => {
  it("round-trips every field", () => {
    const opened = openEnvelope({ keys, roomId, from: "peer-alice", data: seal() });
    assert.equal(opened.type, EnvelopeType.hello);
    assert.equal(opened.from, "peer-alice");
    assert.equal(opened.to, "");
    assert.equal(opened.seq, 7n);
    assert.equal(opened.timeMs, 1_700_000_000_123);
    assert.deepEqual(opened.identityKey, alice.publicKey);
    assert.deepEqual(opened.body, utf8("hello, room"));
  });

  it("round-trips extremes: empty body, max seq, unicode ids, large body", () => {
    const body = new Uint8Array(100_000).fill(0xab);
    const from = "pëer-✓";
    const data = seal({ from, body, seq: 2n ** 64n - 1n, timeMs: 0, type: 255 });
    const o = openEnvelope({ keys, roomId, from, data });
    assert.equal(o.seq, 2n ** 64n - 1n);
    assert.equal(o.type, 255);
    assert.deepEqual(o.body, body);
    const e = openEnvelope({ keys, roomId, from: "peer-alice", data: seal({ body: new Uint8Array(0) }) });
    assert.equal(e.body.length, 0);
  });

  it("matches the documented byte layout (hand-built envelope opens)", () => {
    const o = openEnvelope({ keys, roomId, from: "peer-alice", data: craft({}) });
    assert.equal(o.type, EnvelopeType.key);
    assert.equal(o.seq, 9n);
    assert.equal(o.timeMs, 1234);
    assert.deepEqual(o.body, utf8("crafted body"));
  });

  it("hides everything from the relay: sealed size = 24 + 16 + inner, no plaintext visible", () => {
    const data = seal({ body: utf8("SECRET-NAME") });
    assert.ok(!Buffer.from(data).includes("SECRET-NAME"));
    assert.ok(!Buffer.from(data).includes(roomId));
    assert.ok(!Buffer.from(data).includes(Buffer.from(alice.publicKey)));
    const inner = 4 + 1 + (1 + roomId.length) + (1 + "peer-alice".length) + 1 + 8 + 8 + 32 + 4 + 11 + 64 + 32;
    assert.equal(data.length, 24 + 16 + inner);
  });

  it("uses a fresh nonce per message", () => {
    assert.notDeepEqual(seal().subarray(0, 24), seal().subarray(0, 24));
  });

  it("wrong roster key → envelope-unsealed", () => {
    const other = deriveRoomKeys(newRoomSecret(), roomId);
    assert.throws(() => openEnvelope({ keys: other, roomId, from: "peer-alice", data: seal() }), code("envelope-unsealed"));
  });

  it("short or empty data → envelope-unsealed", () => {
    for (const n of [0, 1, 24, 39]) {
      assert.throws(() => openEnvelope({ keys, roomId, from: "peer-alice", data: new Uint8Array(n) }), code("envelope-unsealed"));
    }
  });

  it("one flipped bit anywhere fails", () => {
    const data = seal();
    for (let i = 0; i < data.length; i++) {
      for (const bit of [0x01, 0x80]) {
        const t = data.slice();
        t[i]! ^= bit;
        assert.throws(() => openEnvelope({ keys, roomId, from: "peer-alice", data: t }), CryptoError, `byte ${i}`);
      }
    }
    assert.throws(() => openEnvelope({ keys, roomId, from: "peer-alice", data: data.subarray(0, data.length - 1) }), CryptoError);
    assert.throws(() => openEnvelope({ keys, roomId, from: "peer-alice", data: concatBytes(data, Uint8Array.of(0)) }), CryptoError);
  });

  it("right roster key, wrong proof key → envelope-bad-proof", () => {
    const forged = seal({ keys: { rosterKey: keys.rosterKey, proofKey: new Uint8Array(32).fill(7) } });
    assert.throws(() => openEnvelope({ keys, roomId, from: "peer-alice", data: forged }), code("envelope-bad-proof"));
    const crafted = craft({ proofKey: new Uint8Array(32) });
    assert.throws(() => openEnvelope({ keys, roomId, from: "peer-alice", data: crafted }), code("envelope-bad-proof"));
  });

  it("signature by another identity than the one claimed → envelope-bad-signature", () => {
    const forged = craft({ signer: mallory, claimedIdentity: alice.publicKey });
    assert.throws(() => openEnvelope({ keys, roomId, from: "peer-alice", data: forged }), code("envelope-bad-signature"));
  });

  it("claimed identity that is not a valid point → envelope-bad-signature", () => {
    const forged = craft({ claimedIdentity: new Uint8Array(32).fill(0xff) });
    assert.throws(() => openEnvelope({ keys, roomId, from: "peer-alice", data: forged }), code("envelope-bad-signature"));
  });

  it("bad magic or trailing bytes inside the seal → malformed", () => {
    assert.throws(() => openEnvelope({ keys, roomId, from: "peer-alice", data: craft({ magic: "CNV2" }) }), code("malformed"));
    assert.throws(
      () => openEnvelope({ keys, roomId, from: "peer-alice", data: craft({ trailing: Uint8Array.of(1, 2) }) }),
      code("malformed"),
    );
    const nonce = s.randombytes_buf(24);
    const tiny = concatBytes(nonce, s.crypto_secretbox_easy(new Uint8Array(95), nonce, keys.rosterKey));
    assert.throws(() => openEnvelope({ keys, roomId, from: "peer-alice", data: tiny }), code("malformed"));
  });

  it("other room → envelope-misbound", () => {
    const data = seal({ roomId: "another-room" });
    assert.throws(() => openEnvelope({ keys, roomId, from: "peer-alice", data }), code("envelope-misbound"));
  });

  it("relay-stamped sender differs from signed sender → envelope-misbound", () => {
    assert.throws(() => openEnvelope({ keys, roomId, from: "peer-mallory", data: seal() }), code("envelope-misbound"));
  });

  it("direct messages are accepted only by their addressee", () => {
    const data = seal({ to: "peer-bob" });
    assert.equal(openEnvelope({ keys, roomId, from: "peer-alice", to: "peer-bob", data }).to, "peer-bob");
    assert.throws(() => openEnvelope({ keys, roomId, from: "peer-alice", to: "peer-carol", data }), code("envelope-misbound"));
    assert.throws(() => openEnvelope({ keys, roomId, from: "peer-alice", data }), code("envelope-misbound"));
    // broadcasts are accepted whoever we are
    assert.equal(openEnvelope({ keys, roomId, from: "peer-alice", to: "peer-carol", data: seal() }).to, "");
  });

  it("refuses bad arguments when sealing", () => {
    assert.throws(() => seal({ seq: -1n }), RangeError);
    assert.throws(() => seal({ seq: 2n ** 64n }), RangeError);
    assert.throws(() => seal({ timeMs: 1.5 }), RangeError);
    assert.throws(() => seal({ type: 256 }), RangeError);
    assert.throws(() => seal({ from: "x".repeat(256) }), RangeError);
    assert.throws(() => seal({ identity: { publicKey: mallory.publicKey, secretKey: alice.secretKey } }), RangeError);
    assert.throws(() => seal({ keys: { proofKey: new Uint8Array(16), rosterKey: keys.rosterKey } }), RangeError);
  });
});

describe("pairwise boxes (X25519 + XSalsa20-Poly1305)", () => {
  it("round-trip", () => {
    const a = generateKxKeyPair();
    const b = generateKxKeyPair();
    assert.equal(a.publicKey.length, 32);
    assert.equal(a.secretKey.length, 32);
    const secret = s.randombytes_buf(32);
    const boxed = boxTo({ recipientPublicKey: b.publicKey, senderSecretKey: a.secretKey, plaintext: secret });
    assert.equal(boxed.length, 24 + 16 + 32);
    assert.deepEqual(openBox({ senderPublicKey: a.publicKey, recipientSecretKey: b.secretKey, data: boxed }), secret);
  });

  it("wrong key, tampering or truncation → box-failed", () => {
    const a = generateKxKeyPair();
    const b = generateKxKeyPair();
    const c = generateKxKeyPair();
    const boxed = boxTo({ recipientPublicKey: b.publicKey, senderSecretKey: a.secretKey, plaintext: utf8("k") });
    assert.throws(() => openBox({ senderPublicKey: a.publicKey, recipientSecretKey: c.secretKey, data: boxed }), code("box-failed"));
    assert.throws(() => openBox({ senderPublicKey: c.publicKey, recipientSecretKey: b.secretKey, data: boxed }), code("box-failed"));
    for (let i = 0; i < boxed.length; i++) {
      const t = boxed.slice();
      t[i]! ^= 1;
      assert.throws(() => openBox({ senderPublicKey: a.publicKey, recipientSecretKey: b.secretKey, data: t }), code("box-failed"));
    }
    assert.throws(
      () => openBox({ senderPublicKey: a.publicKey, recipientSecretKey: b.secretKey, data: boxed.subarray(0, 39) }),
      code("box-failed"),
    );
  });

  it("refuses a low-order public key", () => {
    const a = generateKxKeyPair();
    assert.throws(
      () => boxTo({ recipientPublicKey: new Uint8Array(32), senderSecretKey: a.secretKey, plaintext: utf8("x") }),
      code("box-failed"),
    );
    assert.throws(() => boxSharedKey({ publicKey: new Uint8Array(32), secretKey: a.secretKey }), code("box-failed"));
  });

  it("a precomputed pairwise key (beforenm) boxes and opens exactly what boxTo/openBox do, both ways", () => {
    const a = generateKxKeyPair();
    const b = generateKxKeyPair();
    const ab = boxSharedKey({ publicKey: b.publicKey, secretKey: a.secretKey });
    const ba = boxSharedKey({ publicKey: a.publicKey, secretKey: b.secretKey });
    assert.deepEqual(ab, ba, "both ends derive the same key");
    const secret = s.randombytes_buf(40);
    const boxed = boxWith({ sharedKey: ab, plaintext: secret });
    assert.equal(boxed.length, 24 + 16 + 40);
    assert.deepEqual(openBox({ senderPublicKey: a.publicKey, recipientSecretKey: b.secretKey, data: boxed }), secret);
    const classic = boxTo({ recipientPublicKey: a.publicKey, senderSecretKey: b.secretKey, plaintext: secret });
    assert.deepEqual(openBoxWith({ sharedKey: ab, data: classic }), secret);
    const c = generateKxKeyPair();
    const ac = boxSharedKey({ publicKey: c.publicKey, secretKey: a.secretKey });
    assert.throws(() => openBoxWith({ sharedKey: ac, data: boxed }), code("box-failed"));
    for (const i of [0, 23, 24, 39, boxed.length - 1]) {
      const t = boxed.slice();
      t[i]! ^= 1;
      assert.throws(() => openBoxWith({ sharedKey: ba, data: t }), code("box-failed"));
    }
    assert.throws(() => openBoxWith({ sharedKey: ba, data: boxed.subarray(0, 39) }), code("box-failed"));
  });

  it("nonces do not repeat", () => {
    const a = generateKxKeyPair();
    const k = boxSharedKey({ publicKey: generateKxKeyPair().publicKey, secretKey: a.secretKey });
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) seen.add(Buffer.from(boxWith({ sharedKey: k, plaintext: utf8("x") }).subarray(0, 24)).toString("hex"));
    assert.equal(seen.size, 200);
  });
});
