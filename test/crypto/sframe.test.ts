/**
 * SFrame (RFC 9605) tests: the official vectors (test/vectors/sframe-rfc9605.json, a verbatim copy
 * of the RFC's Appendix C values), tamper and replay tests, and argument checks at the API edge.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { CryptoError } from "../../src/crypto/errors.js";
import * as sframe from "../../src/crypto/sframe/index.js";
import { computeNonce, open, sealInto } from "../../src/crypto/sframe/aead.js";
import { Counter64, ReplayWindow } from "../../src/crypto/sframe/context.js";
import { headerLength32, parseHeader, prepareKid, writeHeader32 } from "../../src/crypto/sframe/header.js";
import type { HeaderFields } from "../../src/crypto/sframe/header.js";
import { hkdfExtract, sframeLabel } from "../../src/crypto/sframe/keys.js";
import { suiteInfo } from "../../src/crypto/sframe/suites.js";
import type { CipherSuiteId } from "../../src/crypto/sframe/suites.js";

const { SFrameReceiver, SFrameSender, decodeHeader, encodeHeader, deriveKeyAndSalt } = sframe;

// ---------------------------------------------------------------------------------------------
// Vectors

interface HeaderVector { kid: bigint; ctr: bigint; encoded: string }
interface AeadVector {
  cipher_suite: number; key: string; enc_key: string; auth_key: string;
  nonce: string; aad: string; pt: string; ct: string;
}
interface SFrameVector {
  cipher_suite: number; kid: bigint; ctr: bigint; base_key: string;
  sframe_key_label: string; sframe_salt_label: string; sframe_secret: string;
  sframe_key: string; sframe_salt: string; metadata: string; nonce: string; aad: string;
  pt: string; ct: string;
}
interface Vectors { header: HeaderVector[]; aes_ctr_hmac: AeadVector[]; sframe: SFrameVector[] }

function findVectors(): string {
  // Compiled to dist/test/crypto/; walk up to the repository root.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = join(dir, "test", "vectors", "sframe-rfc9605.json");
    if (existsSync(p)) return p;
    dir = dirname(dir);
  }
  throw new Error("test/vectors/sframe-rfc9605.json not found");
}

/**
 * 64-bit kid/ctr values lose precision as JSON numbers, so quote those literals in the raw text
 * before parsing and turn them into bigints afterwards.
 */
function loadVectors(): Vectors {
  const raw = readFileSync(findVectors(), "utf8");
  const quoted = raw.replace(/("(?:kid|ctr)"\s*:\s*)(\d+)/g, '$1"$2"');
  return JSON.parse(quoted, (key, value: unknown) =>
    (key === "kid" || key === "ctr") && typeof value === "string" ? BigInt(value) : value) as Vectors;
}

const V = loadVectors();
const hex = (s: string): Buffer => Buffer.from(s, "hex");
const toHex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const SUPPORTED = new Set([1, 2, 3, 4, 5]);
const GCM = [4, 5] as const;

function assertCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CryptoError, `expected CryptoError, got ${String(e)}`);
    assert.equal(e.name, "CryptoError");
    assert.equal(e.code, code);
    return true;
  });
}

function codeOf(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (e) {
    assert.ok(e instanceof CryptoError, `expected CryptoError, got ${String(e)}`);
    return e.code;
  }
}

const KEY_A = Buffer.from("000102030405060708090a0b0c0d0e0f", "hex");
const KEY_B = Buffer.from("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff", "hex");
const KEY_32 = Buffer.alloc(32, 7);

test("vector file holds header, sframe and aes_ctr_hmac vectors for the suites we implement", () => {
  assert.equal(V.header.length, 289);
  assert.ok(V.sframe.length >= 5);
  assert.ok(V.aes_ctr_hmac.length >= 3);
  for (const e of V.sframe) assert.ok(SUPPORTED.has(e.cipher_suite), `unexpected suite ${e.cipher_suite}`);
  assert.deepEqual(V.sframe.filter((e) => e.cipher_suite >= 4).map((e) => e.cipher_suite), [4, 5]);
  assert.equal(typeof V.header[V.header.length - 1]?.ctr, "bigint");
  assert.ok(V.header.some((e) => e.kid === 0xffff_ffff_ffff_ffffn && e.ctr === 0xffff_ffff_ffff_ffffn));
});

// ---------------------------------------------------------------------------------------------
// RFC 9605 §4.3 header

test("RFC 9605 §4.3 header encoding (all Appendix C header vectors)", () => {
  for (const e of V.header) {
    assert.equal(toHex(encodeHeader(e.kid, e.ctr)), e.encoded, `kid=${e.kid} ctr=${e.ctr}`);
  }
});

test("RFC 9605 §4.3 header decoding (all Appendix C header vectors, with trailing payload)", () => {
  for (const e of V.header) {
    const bytes = hex(e.encoded);
    assert.deepEqual(decodeHeader(bytes), { kid: e.kid, ctr: e.ctr, length: bytes.length });
    const withPayload = Buffer.concat([bytes, Buffer.from([0xde, 0xad, 0xbe, 0xef])]);
    assert.deepEqual(decodeHeader(withPayload), { kid: e.kid, ctr: e.ctr, length: bytes.length });
  }
});

test("RFC 9605 §4.3 per-packet header path (uint32 halves) matches the header vectors", () => {
  const f: HeaderFields = { length: 0, kid: 0, ctrHi: 0, ctrLo: 0 };
  const out = Buffer.alloc(sframe.MAX_HEADER_LENGTH);
  for (const e of V.header) {
    const hi = Number(e.ctr >> 32n);
    const lo = Number(e.ctr & 0xffff_ffffn);
    const kid = prepareKid(e.kid);
    const n = writeHeader32(out, kid, hi, lo);
    assert.equal(n, headerLength32(kid, hi, lo));
    assert.equal(toHex(out.subarray(0, n)), e.encoded);
    parseHeader(hex(e.encoded), f);
    assert.equal(BigInt(f.kid), e.kid);
    assert.equal(f.ctrHi, hi);
    assert.equal(f.ctrLo, lo);
    assert.equal(f.length, n);
  }
});

test("RFC 9605 §4.3 truncated header is rejected as sframe-malformed", () => {
  assertCode(() => decodeHeader(new Uint8Array(0)), "sframe-malformed");
  for (const e of V.header) {
    const bytes = hex(e.encoded);
    for (let n = 1; n < bytes.length; n++) assertCode(() => decodeHeader(bytes.subarray(0, n)), "sframe-malformed");
  }
});

// ---------------------------------------------------------------------------------------------
// RFC 9605 §4.4.2 key derivation

test("RFC 9605 §4.4.2 key and salt labels, secret, key and salt (Appendix C vectors)", () => {
  for (const e of V.sframe) {
    const suite = suiteInfo(e.cipher_suite as CipherSuiteId);
    assert.equal(toHex(sframeLabel("key", e.kid, suite)), e.sframe_key_label);
    assert.equal(toHex(sframeLabel("salt", e.kid, suite)), e.sframe_salt_label);
    assert.equal(toHex(hkdfExtract(suite, hex(e.base_key))), e.sframe_secret);
    const { key, salt } = deriveKeyAndSalt(suite.id, e.kid, hex(e.base_key));
    assert.equal(toHex(key), e.sframe_key, `suite ${e.cipher_suite} key`);
    assert.equal(toHex(salt), e.sframe_salt, `suite ${e.cipher_suite} salt`);
  }
});

// ---------------------------------------------------------------------------------------------
// RFC 9605 §4.4.3 / §4.4.4 encryption and decryption

test("RFC 9605 §4.4.3 nonce and AAD (Appendix C vectors)", () => {
  for (const e of V.sframe) {
    assert.equal(toHex(computeNonce(hex(e.sframe_salt), e.ctr)), e.nonce);
    assert.equal(toHex(encodeHeader(e.kid, e.ctr)) + e.metadata, e.aad);
  }
});

for (const suiteId of [4, 5, 1, 2, 3]) {
  const label = suiteId >= 4 ? "AES-GCM" : "AES-CTR-HMAC";
  test(`RFC 9605 §4.4.3 encryption, suite 0x000${suiteId} ${label} (Appendix C vector)`, () => {
    const e = V.sframe.find((x) => x.cipher_suite === suiteId);
    assert.ok(e);
    const ct = sframe.encrypt({
      suite: suiteId as CipherSuiteId, baseKey: hex(e.base_key), kid: e.kid, ctr: e.ctr,
      metadata: hex(e.metadata), plaintext: hex(e.pt),
    });
    assert.equal(toHex(ct), e.ct);
  });

  test(`RFC 9605 §4.4.4 decryption, suite 0x000${suiteId} ${label} (Appendix C vector)`, () => {
    const e = V.sframe.find((x) => x.cipher_suite === suiteId);
    assert.ok(e);
    const r = sframe.decrypt({ suite: suiteId as CipherSuiteId, baseKey: hex(e.base_key), metadata: hex(e.metadata), ciphertext: hex(e.ct) });
    assert.equal(r.kid, e.kid);
    assert.equal(r.ctr, e.ctr);
    assert.equal(toHex(r.plaintext), e.pt);
    // The receiver context reads the same frame.
    const rx = new SFrameReceiver({ suite: suiteId as CipherSuiteId });
    rx.addKey(e.kid, hex(e.base_key));
    const r2 = rx.decrypt(hex(e.ct), hex(e.metadata));
    assert.equal(toHex(r2.plaintext), e.pt);
    assert.equal(r2.ctr, e.ctr);
    // Without the metadata the AAD differs and authentication fails.
    assertCode(() => sframe.decrypt({ suite: suiteId as CipherSuiteId, baseKey: hex(e.base_key), ciphertext: hex(e.ct) }), "sframe-auth-failed");
  });
}

test("RFC 9605 §4.5.1 AES-CTR-HMAC AEAD (Appendix C vectors, bonus suites 0x0001-0x0003)", () => {
  for (const e of V.aes_ctr_hmac) {
    const suite = suiteInfo(e.cipher_suite as CipherSuiteId);
    const key = hex(e.key);
    assert.equal(toHex(key.subarray(0, suite.Nka)), e.enc_key);
    assert.equal(toHex(key.subarray(suite.Nka)), e.auth_key);
    const pt = hex(e.pt);
    const out = Buffer.alloc(pt.length + suite.Nt);
    sealInto(suite, key, hex(e.nonce), hex(e.aad), undefined, pt, out, 0);
    assert.equal(toHex(out), e.ct);
    const ct = hex(e.ct);
    const back = open(suite, key, hex(e.nonce), hex(e.aad), undefined, ct.subarray(0, pt.length), ct.subarray(pt.length));
    assert.ok(back);
    assert.equal(toHex(back), e.pt);
    ct[0] = (ct[0] as number) ^ 1;
    assert.equal(open(suite, key, hex(e.nonce), hex(e.aad), undefined, ct.subarray(0, pt.length), ct.subarray(pt.length)), null);
  }
});

// ---------------------------------------------------------------------------------------------
// RFC 9605 §4.4 contexts

test("RFC 9605 §4.4.3 SFrameSender output equals one-shot encrypt across header length boundaries", () => {
  for (const suite of GCM) {
    for (const kid of [0n, 7n, 8n, 291n, 0xffff_ffff_ffff_ffffn]) {
      const baseKey = suite === 5 ? KEY_32 : KEY_A;
      const tx = new SFrameSender({ suite, kid, baseKey });
      const rx = new SFrameReceiver({ suite });
      rx.addKey(kid, baseKey);
      const md = Buffer.from("rtp-header");
      for (let i = 0n; i < 300n; i++) {
        const pt = Buffer.from(`frame ${i}`);
        assert.equal(tx.counter, i);
        const frame = tx.encrypt(pt, md);
        assert.equal(toHex(frame), toHex(sframe.encrypt({ suite, baseKey, kid, ctr: i, metadata: md, plaintext: pt })));
        const r = rx.decrypt(frame, md);
        assert.equal(r.kid, kid);
        assert.equal(r.ctr, i);
        assert.equal(r.plaintext.toString(), `frame ${i}`);
      }
    }
  }
});

test("RFC 9605 §4.4.3 empty plaintext and metadata-free frames round-trip", () => {
  const tx = new SFrameSender({ kid: 3n, baseKey: KEY_A });
  const rx = new SFrameReceiver();
  rx.addKey(3n, KEY_A);
  const f = tx.encrypt(new Uint8Array(0));
  assert.equal(f.length, 1 + 16);
  assert.equal(rx.decrypt(f).plaintext.length, 0);
  const g = tx.encrypt(new Uint8Array([1, 2, 3]));
  assert.deepEqual([...rx.decrypt(new Uint8Array(g)).plaintext], [1, 2, 3]);
});

test("RFC 9605 §4.4.3 the counter is never reused across many encrypts", () => {
  const tx = new SFrameSender({ kid: 1n, baseKey: KEY_A });
  const seen = new Set<bigint>();
  const pt = Buffer.alloc(10);
  for (let i = 0; i < 20_000; i++) {
    const { ctr } = decodeHeader(tx.encrypt(pt));
    assert.equal(ctr, BigInt(i));
    assert.ok(!seen.has(ctr));
    seen.add(ctr);
  }
  assert.equal(tx.counter, 20_000n);
});

test("RFC 9605 §4.4.3 the 64-bit counter refuses to wrap (sframe-counter-exhausted)", () => {
  const c = new Counter64(0xffff_ffff_ffff_fffdn);
  const got: bigint[] = [];
  for (let i = 0; i < 3; i++) {
    got.push(c.value);
    c.take();
  }
  assert.deepEqual(got, [0xffff_ffff_ffff_fffdn, 0xffff_ffff_ffff_fffen, 0xffff_ffff_ffff_ffffn]);
  assertCode(() => c.take(), "sframe-counter-exhausted");
  assertCode(() => c.take(), "sframe-counter-exhausted");
  const d = new Counter64(0xffff_ffffn);
  d.take();
  assert.equal(d.value, 0x1_0000_0000n);
});

test("RFC 9605 §4.4.2 setKey switches KID, restarts the counter and refuses an old KID", () => {
  const tx = new SFrameSender({ kid: 10n, baseKey: KEY_A });
  const rx = new SFrameReceiver();
  rx.addKey(10n, KEY_A);
  rx.addKey(11n, KEY_B);
  tx.encrypt(Buffer.from("a"));
  const f1 = tx.encrypt(Buffer.from("b"));
  assert.equal(tx.counter, 2n);
  tx.setKey(11n, KEY_B);
  assert.equal(tx.kid, 11n);
  assert.equal(tx.counter, 0n);
  const f2 = tx.encrypt(Buffer.from("c"));
  assert.deepEqual(decodeHeader(f2), { kid: 11n, ctr: 0n, length: 2 });
  assert.equal(rx.decrypt(f1).plaintext.toString(), "b");
  assert.equal(rx.decrypt(f2).plaintext.toString(), "c");
  assert.throws(() => tx.setKey(10n, KEY_A), RangeError);
  assert.throws(() => tx.setKey(11n, KEY_B), RangeError);
  assert.equal(tx.kid, 11n);
  assert.equal(tx.counter, 1n);
});

test("RFC 9605 §4.4.4 unknown KID is rejected (sframe-unknown-kid), also after removeKey", () => {
  const tx = new SFrameSender({ kid: 5n, baseKey: KEY_A });
  const rx = new SFrameReceiver();
  const f = tx.encrypt(Buffer.from("x"));
  assertCode(() => rx.decrypt(f), "sframe-unknown-kid");
  rx.addKey(5n, KEY_A);
  assert.ok(rx.hasKey(5n));
  assert.equal(rx.decrypt(f).plaintext.toString(), "x");
  rx.removeKey(5n);
  assert.ok(!rx.hasKey(5n));
  assertCode(() => rx.decrypt(tx.encrypt(Buffer.from("y"))), "sframe-unknown-kid");
  rx.removeKey(5n); // idempotent
  // A 64-bit KID beyond 2^53 is looked up exactly.
  const big = 0xffff_ffff_ffff_fff0n;
  const tx2 = new SFrameSender({ kid: big, baseKey: KEY_A });
  rx.addKey(big, KEY_A);
  assert.equal(rx.decrypt(tx2.encrypt(Buffer.from("z"))).kid, big);
  assert.ok(!rx.hasKey(big + 1n));
});

test("RFC 9605 §4.4.4 truncated frames are rejected (sframe-malformed)", () => {
  const tx = new SFrameSender({ kid: 300n, baseKey: KEY_A });
  const rx = new SFrameReceiver();
  rx.addKey(300n, KEY_A);
  for (let i = 0; i < 300; i++) tx.encrypt(Buffer.alloc(0)); // make the counter take header bytes
  const f = tx.encrypt(Buffer.from("hello"));
  const hlen = decodeHeader(f).length;
  assert.equal(hlen, 1 + 2 + 2);
  for (let n = 0; n < hlen + 16; n++) assertCode(() => rx.decrypt(f.subarray(0, n)), "sframe-malformed");
  for (let n = 0; n < hlen + 16; n++) {
    assertCode(() => sframe.decrypt({ suite: 4, baseKey: KEY_A, ciphertext: f.subarray(0, n) }), "sframe-malformed");
  }
  // Cut inside the ciphertext: structurally fine, fails authentication.
  assertCode(() => rx.decrypt(f.subarray(0, f.length - 1)), "sframe-auth-failed");
  assert.equal(rx.decrypt(f).plaintext.toString(), "hello");
});

for (const suite of [4, 5, 1] as const) {
  test(`RFC 9605 §4.4.4 flipping any single bit of header, ciphertext or tag fails (suite ${suite})`, () => {
    const baseKey = KEY_32;
    const tx = new SFrameSender({ suite, kid: 9n, baseKey });
    const rx = new SFrameReceiver({ suite });
    rx.addKey(9n, baseKey);
    for (let i = 0; i < 12; i++) tx.encrypt(Buffer.alloc(1)); // ctr 12: one counter byte
    const md = Buffer.from("md");
    const f = tx.encrypt(Buffer.from("short msg"), md);
    const codes = new Set<string | null>();
    for (let bit = 0; bit < f.length * 8; bit++) {
      const g = Buffer.from(f);
      g[bit >>> 3] = (g[bit >>> 3] as number) ^ (0x80 >>> (bit & 7));
      const code = codeOf(() => rx.decrypt(g, md));
      assert.ok(code !== null, `bit ${bit} flipped but frame accepted`);
      codes.add(code);
      assert.ok(codeOf(() => sframe.decrypt({ suite, baseKey, metadata: md, ciphertext: g })) !== null);
    }
    assert.ok(codes.has("sframe-auth-failed"));
    for (const c of codes) assert.ok(["sframe-auth-failed", "sframe-unknown-kid", "sframe-malformed"].includes(c as string), String(c));
    // Flipping a metadata bit fails too.
    assertCode(() => rx.decrypt(f, Buffer.from("mc")), "sframe-auth-failed");
    // None of the failures moved the replay window: the genuine frame is still accepted once.
    assert.equal(rx.decrypt(f, md).plaintext.toString(), "short msg");
    assertCode(() => rx.decrypt(f, md), "sframe-replay");
  });
}

test("RFC 9605 §9.3 replay of the same frame is rejected (sframe-replay)", () => {
  const tx = new SFrameSender({ kid: 2n, baseKey: KEY_A });
  const rx = new SFrameReceiver();
  rx.addKey(2n, KEY_A);
  const f = tx.encrypt(Buffer.from("once"));
  rx.decrypt(f);
  assertCode(() => rx.decrypt(f), "sframe-replay");
  // Replacing the key of a KID keeps its window.
  rx.addKey(2n, KEY_A);
  assertCode(() => rx.decrypt(f), "sframe-replay");
});

test("RFC 9605 §9.3 out-of-order frames inside the window are accepted once; older ones are rejected", () => {
  const tx = new SFrameSender({ kid: 4n, baseKey: KEY_A });
  const rx = new SFrameReceiver({ replayWindow: 128 });
  rx.addKey(4n, KEY_A);
  const frames = Array.from({ length: 400 }, (_, i) => tx.encrypt(Buffer.from(String(i))));
  const dec = (i: number): string => rx.decrypt(frames[i] as Buffer).plaintext.toString();
  assert.equal(dec(150), "150");
  assert.equal(dec(23), "23"); // 150 - 127: the oldest counter still in the window
  assertCode(() => dec(22), "sframe-replay"); // 150 - 128: just outside
  assertCode(() => dec(0), "sframe-replay");
  assert.equal(dec(149), "149");
  assert.equal(dec(100), "100");
  assertCode(() => dec(100), "sframe-replay");
  assertCode(() => dec(150), "sframe-replay");
  assert.equal(dec(151), "151");
  // A jump larger than the window clears it.
  assert.equal(dec(399), "399");
  assert.equal(dec(272), "272");
  assertCode(() => dec(271), "sframe-replay");
  assertCode(() => dec(151), "sframe-replay");
  assertCode(() => dec(399), "sframe-replay");
});

test("RFC 9605 §9.3 replay window bookkeeping matches a reference set (random order, 64-bit counters)", () => {
  for (const size of [1, 5, 32, 100, 128]) {
    for (const base of [0n, 0xffff_ff00n, 0xffff_ffff_ffff_f000n]) {
      const w = new ReplayWindow(size);
      const accepted = new Set<bigint>();
      let top = -1n;
      let seed = 12345;
      const rand = (n: number): number => {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        return seed % n;
      };
      let cursor = 0n;
      for (let i = 0; i < 3000; i++) {
        cursor += BigInt(rand(4));
        const ctr = base + cursor - BigInt(rand(size + 40));
        if (ctr < 0n) continue;
        const expect = top < 0n || ctr > top || (top - ctr < BigInt(size) && !accepted.has(ctr));
        const hi = Number(ctr >> 32n);
        const lo = Number(ctr & 0xffff_ffffn);
        assert.equal(w.check(hi, lo), expect, `size ${size} ctr ${ctr} top ${top}`);
        if (expect && rand(5) !== 0) {
          w.commit(hi, lo);
          accepted.add(ctr);
          if (ctr > top) top = ctr;
        }
      }
    }
  }
});

test("RFC 9605 §9.3 a failed authentication does not move the replay window", () => {
  const tx = new SFrameSender({ kid: 6n, baseKey: KEY_A });
  const rx = new SFrameReceiver();
  rx.addKey(6n, KEY_A);
  const f0 = tx.encrypt(Buffer.from("zero"));
  // A forged frame far ahead (ctr 2^40) with a bogus tag must not slide the window past f0.
  const forged = Buffer.concat([encodeHeader(6n, 1n << 40n), Buffer.alloc(20, 0xaa)]);
  assertCode(() => rx.decrypt(forged), "sframe-auth-failed");
  // A forgery of the same counter as f0 must not mark it as seen.
  const bad = Buffer.from(f0);
  bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 1;
  assertCode(() => rx.decrypt(bad), "sframe-auth-failed");
  assert.equal(rx.decrypt(f0).plaintext.toString(), "zero");
  assertCode(() => rx.decrypt(f0), "sframe-replay");
});

test("RFC 9605 §4.5 suite mismatch between sender and receiver fails authentication", () => {
  const tx = new SFrameSender({ suite: 5, kid: 1n, baseKey: KEY_32 });
  const rx5 = new SFrameReceiver({ suite: 5 });
  const rx4 = new SFrameReceiver({ suite: 4 });
  rx5.addKey(1n, KEY_32);
  rx4.addKey(1n, KEY_32);
  const f = tx.encrypt(Buffer.from("suite five"));
  assert.equal(tx.suite, 5);
  assertCode(() => rx4.decrypt(f), "sframe-auth-failed");
  assert.equal(rx5.decrypt(f).plaintext.toString(), "suite five");
  // Wrong base key, same KID.
  const rxWrong = new SFrameReceiver({ suite: 5 });
  rxWrong.addKey(1n, Buffer.alloc(32, 8));
  assertCode(() => rxWrong.decrypt(f), "sframe-auth-failed");
});

test("SFrame contexts: close() wipes keys and later use throws sframe-closed", () => {
  const tx = new SFrameSender({ kid: 1n, baseKey: KEY_A });
  const rx = new SFrameReceiver();
  rx.addKey(1n, KEY_A);
  const f = tx.encrypt(Buffer.from("x"));
  tx.close();
  tx.close();
  rx.close();
  rx.close();
  assertCode(() => tx.encrypt(Buffer.from("y")), "sframe-closed");
  assertCode(() => rx.decrypt(f), "sframe-closed");
  assert.ok(!rx.hasKey(1n));
});

test("CryptoError carries a stable code and never the key or plaintext", () => {
  const rx = new SFrameReceiver();
  rx.addKey(1n, KEY_A);
  const frame = sframe.encrypt({ suite: 4, baseKey: KEY_A, kid: 1n, ctr: 0n, plaintext: Buffer.from("secret-words") });
  const tampered = Buffer.from(frame);
  tampered[3] = (tampered[3] as number) ^ 0xff;
  try {
    rx.decrypt(tampered);
    assert.fail("expected failure");
  } catch (e) {
    assert.ok(e instanceof CryptoError && e instanceof Error);
    assert.equal(e.code, "sframe-auth-failed");
    assert.ok(!e.message.includes(KEY_A.toString("hex")));
    assert.ok(!e.message.includes("secret-words"));
  }
});

// ---------------------------------------------------------------------------------------------
// Argument checks at the edge

test("one-shot API rejects bad arguments with TypeError/RangeError", () => {
  const ok = { suite: 4 as CipherSuiteId, baseKey: KEY_A, kid: 1n, ctr: 0n, plaintext: Buffer.from("p") };
  assert.ok(sframe.encrypt(ok) instanceof Uint8Array);
  const bad = (patch: Record<string, unknown>, type: typeof TypeError | typeof RangeError): void => {
    assert.throws(() => sframe.encrypt({ ...ok, ...patch } as unknown as sframe.EncryptArgs), type, JSON.stringify(Object.keys(patch)));
  };
  bad({ suite: 0 }, RangeError);
  bad({ suite: 6 }, RangeError);
  bad({ suite: 4.5 }, RangeError);
  bad({ suite: "4" }, TypeError);
  bad({ baseKey: Buffer.alloc(15) }, RangeError);
  bad({ baseKey: new Uint8Array(0) }, RangeError);
  bad({ baseKey: "000102030405060708090a0b0c0d0e0f" }, TypeError);
  bad({ baseKey: Array.from(KEY_A) }, TypeError);
  bad({ kid: -1n }, RangeError);
  bad({ kid: 1n << 64n }, RangeError);
  bad({ kid: 1 }, TypeError);
  bad({ ctr: -1n }, RangeError);
  bad({ ctr: 1n << 64n }, RangeError);
  bad({ ctr: 0 }, TypeError);
  bad({ metadata: "md" }, TypeError);
  bad({ plaintext: "p" }, TypeError);
  bad({ plaintext: undefined }, TypeError);
  assert.throws(() => sframe.encrypt(null as unknown as sframe.EncryptArgs), TypeError);
  // Edges of the 64-bit range are fine.
  const max = sframe.encrypt({ ...ok, kid: 0xffff_ffff_ffff_ffffn, ctr: 0xffff_ffff_ffff_ffffn });
  assert.deepEqual(decodeHeader(max), { kid: 0xffff_ffff_ffff_ffffn, ctr: 0xffff_ffff_ffff_ffffn, length: 17 });
  assert.equal(toHex(sframe.decrypt({ suite: 4, baseKey: KEY_A, ciphertext: max }).plaintext), "70");

  const frame = sframe.encrypt(ok);
  assert.throws(() => sframe.decrypt({ suite: 4, baseKey: KEY_A, ciphertext: toHex(frame) } as unknown as sframe.DecryptArgs), TypeError);
  assert.throws(() => sframe.decrypt({ suite: 9, baseKey: KEY_A, ciphertext: frame } as unknown as sframe.DecryptArgs), RangeError);
  assert.throws(() => sframe.decrypt({ suite: 4, baseKey: KEY_A.subarray(1), ciphertext: frame }), RangeError);
  assert.throws(() => sframe.decrypt({ suite: 4, baseKey: KEY_A, metadata: [1] as unknown as Uint8Array, ciphertext: frame }), TypeError);
  assert.throws(() => deriveKeyAndSalt(4, -1n, KEY_A), RangeError);
  assert.throws(() => deriveKeyAndSalt(7 as CipherSuiteId, 1n, KEY_A), RangeError);
  assert.throws(() => decodeHeader("00" as unknown as Uint8Array), TypeError);
});

test("context classes reject bad arguments with TypeError/RangeError", () => {
  assert.throws(() => new SFrameSender({ kid: 1, baseKey: KEY_A } as unknown as sframe.SFrameSenderOptions), TypeError);
  assert.throws(() => new SFrameSender({ kid: -1n, baseKey: KEY_A }), RangeError);
  assert.throws(() => new SFrameSender({ kid: 1n, baseKey: Buffer.alloc(8) }), RangeError);
  assert.throws(() => new SFrameSender({ suite: 3.5 as CipherSuiteId, kid: 1n, baseKey: KEY_A }), RangeError);
  assert.throws(() => new SFrameReceiver({ replayWindow: 0 }), RangeError);
  assert.throws(() => new SFrameReceiver({ replayWindow: 70_000 }), RangeError);
  assert.throws(() => new SFrameReceiver({ replayWindow: 1.5 }), TypeError);
  const tx = new SFrameSender({ kid: 1n, baseKey: KEY_A });
  assert.throws(() => tx.encrypt("frame" as unknown as Uint8Array), TypeError);
  assert.throws(() => tx.encrypt(Buffer.alloc(1), "md" as unknown as Uint8Array), TypeError);
  assert.throws(() => tx.setKey(1n << 64n, KEY_B), RangeError);
  assert.equal(tx.counter, 0n, "rejected calls do not consume counters");
  const rx = new SFrameReceiver();
  assert.throws(() => rx.addKey(1n, "key" as unknown as Uint8Array), TypeError);
  assert.throws(() => rx.decrypt([1, 2, 3] as unknown as Uint8Array), TypeError);
  assert.throws(() => rx.hasKey(1 as unknown as bigint), TypeError);
});
