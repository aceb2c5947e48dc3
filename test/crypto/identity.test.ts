import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  CryptoError,
  decodeIdentityFile,
  encodeIdentityFile,
  fingerprint,
  fromBase64Url,
  generateIdentity,
  safetyNumber,
  shortFingerprint,
  sodiumReady,
  toBase64Url,
  utf8,
  type IdentityKeyPair,
  type Sodium,
} from "../../src/crypto/index.js";

function code(c: string): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof CryptoError, `expected CryptoError, got ${String(e)}`);
    assert.equal(e.code, c);
    return true;
  };
}

function edit(text: string, f: (doc: Record<string, any>) => void): string {
  const doc = JSON.parse(text) as Record<string, any>;
  f(doc);
  return JSON.stringify(doc);
}

let s: Sodium;
before(async () => {
  s = await sodiumReady();
});

describe("identity keys (RFC 8032 §5.1 Ed25519)", () => {
  it("generates 32-byte public and 64-byte secret keys that sign", () => {
    const id = generateIdentity();
    assert.equal(id.publicKey.length, 32);
    assert.equal(id.secretKey.length, 64);
    const sig = s.crypto_sign_detached(utf8("hi"), id.secretKey);
    assert.ok(s.crypto_sign_verify_detached(sig, utf8("hi"), id.publicKey));
    assert.notDeepEqual(generateIdentity().publicKey, id.publicKey);
  });
});

describe("fingerprints", () => {
  it("are BLAKE2b-256(label ‖ key), first 16 bytes as 8 groups of 4 hex", () => {
    const id = generateIdentity();
    const fp = fingerprint(id.publicKey);
    assert.match(fp, /^[0-9a-f]{4}( [0-9a-f]{4}){7}$/);
    const expected = Buffer.from(
      s.crypto_generichash(32, Buffer.concat([Buffer.from("conclave/v1/fingerprint"), id.publicKey]), null),
    )
      .subarray(0, 16)
      .toString("hex");
    assert.equal(fp.replaceAll(" ", ""), expected);
    assert.equal(fingerprint(id.publicKey), fp, "deterministic");
    assert.notEqual(fingerprint(generateIdentity().publicKey), fp);
  });

  it("short form is the first two groups", () => {
    const id = generateIdentity();
    assert.match(shortFingerprint(id.publicKey), /^[0-9a-f]{4} [0-9a-f]{4}$/);
    assert.ok(fingerprint(id.publicKey).startsWith(shortFingerprint(id.publicKey) + " "));
  });

  it("rejects keys of the wrong length", () => {
    assert.throws(() => fingerprint(new Uint8Array(31)), RangeError);
  });
});

describe("identity file", () => {
  let id: IdentityKeyPair;
  let plain: string;
  let locked: string;
  before(() => {
    id = generateIdentity();
    plain = encodeIdentityFile(id);
    const t0 = performance.now();
    locked = encodeIdentityFile(id, "correct horse battery staple", { strength: "interactive" });
    const t1 = performance.now();
    decodeIdentityFile(locked, "correct horse battery staple");
    const t2 = performance.now();
    console.log(`argon2id interactive: encode ${(t1 - t0).toFixed(0)} ms, decode ${(t2 - t1).toFixed(0)} ms`);
  });

  it("round-trips without a passphrase", () => {
    const doc = JSON.parse(plain);
    assert.deepEqual(Object.keys(doc).sort(), ["kind", "publicKey", "secretKey", "v"]);
    assert.equal(doc.v, 1);
    assert.equal(doc.kind, "conclave-identity");
    const back = decodeIdentityFile(plain);
    assert.deepEqual(back.publicKey, id.publicKey);
    assert.deepEqual(back.secretKey, id.secretKey);
  });

  it("round-trips with a passphrase (Argon2id13 + secretbox) and hides the secret key", () => {
    const doc = JSON.parse(locked);
    assert.equal(doc.secretKey, undefined);
    assert.equal(doc.encrypted.kdf, "argon2id13");
    assert.equal(doc.encrypted.opslimit, s.crypto_pwhash_OPSLIMIT_INTERACTIVE);
    assert.equal(doc.encrypted.memlimit, s.crypto_pwhash_MEMLIMIT_INTERACTIVE);
    assert.equal(fromBase64Url(doc.encrypted.salt).length, 16);
    assert.equal(fromBase64Url(doc.encrypted.nonce).length, 24);
    assert.equal(fromBase64Url(doc.encrypted.ciphertext).length, 80);
    assert.ok(!locked.includes(toBase64Url(id.secretKey)));
    const back = decodeIdentityFile(locked, "correct horse battery staple");
    assert.deepEqual(back.secretKey, id.secretKey);
    assert.deepEqual(back.publicKey, id.publicKey);
  });

  it("normalises the passphrase to NFC", () => {
    const f = encodeIdentityFile(id, "caf\u00e9", { strength: "interactive" });
    assert.deepEqual(decodeIdentityFile(f, "cafe\u0301").secretKey, id.secretKey);
  });

  it("wrong passphrase → bad-passphrase, none → passphrase-required", () => {
    assert.throws(() => decodeIdentityFile(locked, "wrong"), code("bad-passphrase"));
    assert.throws(() => decodeIdentityFile(locked), code("passphrase-required"));
    assert.throws(() => decodeIdentityFile(locked, ""), code("passphrase-required"));
  });

  it("altered ciphertext → bad-passphrase", () => {
    const f = edit(locked, (d) => {
      const c = fromBase64Url(d.encrypted.ciphertext);
      c[5]! ^= 1;
      d.encrypted.ciphertext = toBase64Url(c);
    });
    assert.throws(() => decodeIdentityFile(f, "correct horse battery staple"), code("bad-passphrase"));
  });

  it("errors carry no key material", () => {
    try {
      decodeIdentityFile(locked, "hunter2-xyz");
      assert.fail("should throw");
    } catch (e) {
      const msg = String((e as Error).message);
      assert.ok(!msg.includes("hunter2-xyz"));
      assert.ok(!msg.includes(toBase64Url(id.publicKey)));
    }
  });

  const corruptions: [string, () => string][] = [
    ["not JSON", () => "{nope"],
    ["not an object", () => "[1,2]"],
    ["empty", () => ""],
    ["wrong version", () => edit(plain, (d) => (d.v = 2))],
    ["wrong kind", () => edit(plain, (d) => (d.kind = "ssh-key"))],
    ["missing public key", () => edit(plain, (d) => delete d.publicKey)],
    ["short public key", () => edit(plain, (d) => (d.publicKey = toBase64Url(new Uint8Array(31))))],
    ["padded base64", () => edit(plain, (d) => (d.publicKey = d.publicKey + "="))],
    ["standard base64 chars", () => edit(plain, (d) => (d.secretKey = Buffer.from(id.secretKey).toString("base64")))],
    ["no secret at all", () => edit(plain, (d) => delete d.secretKey)],
    ["both plain and encrypted", () => edit(locked, (d) => (d.secretKey = toBase64Url(id.secretKey)))],
    ["another identity's public key", () => edit(plain, (d) => (d.publicKey = toBase64Url(generateIdentity().publicKey)))],
    [
      "secret key seed altered",
      () =>
        edit(plain, (d) => {
          const sk = fromBase64Url(d.secretKey);
          sk[0]! ^= 1;
          d.secretKey = toBase64Url(sk);
        }),
    ],
    ["unknown kdf", () => edit(locked, (d) => (d.encrypted.kdf = "scrypt"))],
    ["absurd opslimit", () => edit(locked, (d) => (d.encrypted.opslimit = 1e9))],
    ["absurd memlimit", () => edit(locked, (d) => (d.encrypted.memlimit = 2 ** 40))],
    ["fractional opslimit", () => edit(locked, (d) => (d.encrypted.opslimit = 2.5))],
    ["short salt", () => edit(locked, (d) => (d.encrypted.salt = toBase64Url(new Uint8Array(15))))],
    ["encrypted not an object", () => edit(locked, (d) => (d.encrypted = "x"))],
  ];
  for (const [name, make] of corruptions) {
    it(`corrupt: ${name} → identity-corrupt`, () => {
      assert.throws(() => decodeIdentityFile(make(), "correct horse battery staple"), code("identity-corrupt"));
    });
  }

  it("corrupt: swapped public key in an encrypted file → identity-corrupt", () => {
    const f = edit(locked, (d) => (d.publicKey = toBase64Url(generateIdentity().publicKey)));
    assert.throws(() => decodeIdentityFile(f, "correct horse battery staple"), code("identity-corrupt"));
  });
});

describe("safety numbers", () => {
  it("are symmetric, 12 groups of 5 digits, and differ per pair", () => {
    const a = generateIdentity().publicKey;
    const b = generateIdentity().publicKey;
    const c = generateIdentity().publicKey;
    safetyNumber(a, b); // warm up
    const t0 = performance.now();
    const ab = safetyNumber(a, b);
    const ms = performance.now() - t0;
    console.log(`safety number: ${ms.toFixed(1)} ms`);
    assert.match(ab, /^\d{5}( \d{5}){11}$/);
    assert.equal(safetyNumber(b, a), ab);
    assert.equal(safetyNumber(a, b), ab);
    assert.notEqual(safetyNumber(a, c), ab);
    assert.notEqual(safetyNumber(b, c), ab);
    assert.ok(ms < 200, `safety number took ${ms} ms`);
  });

  it("each half belongs to one key: the common key's half is shared", () => {
    // a < b and a < c bytewise: the lower key's 6 groups come first in both numbers.
    const a = new Uint8Array(32);
    const b = new Uint8Array(32).fill(1);
    const c = new Uint8Array(32).fill(2);
    const ab = safetyNumber(a, b).split(" ");
    const ac = safetyNumber(a, c).split(" ");
    assert.deepEqual(ab.slice(0, 6), ac.slice(0, 6));
    assert.notDeepEqual(ab.slice(6), ac.slice(6));
  });

  it("rejects keys of the wrong length", () => {
    assert.throws(() => safetyNumber(new Uint8Array(32), new Uint8Array(33)), RangeError);
  });
});
