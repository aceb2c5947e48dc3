/**
 * libsodium's randomness after sodiumReady() (src/crypto/sodium.ts): served from a pool filled by
 * node:crypto instead of 4 bytes per crypto.randomBytes call. It must still look random, never
 * repeat, and key generation must still work.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { sodiumReady, randomPoolRefills } from "../../src/crypto/sodium.js";

test("libsodium draws from the pooled generator: distinct, balanced output across pool refills", async () => {
  const s = await sodiumReady();
  const raw = (s as unknown as { libsodium: { getRandomValue: () => number } }).libsodium;
  assert.equal(typeof raw.getRandomValue, "function");
  // More than one 4 KiB pool's worth, so refills are crossed.
  const refillsBefore = randomPoolRefills();
  const seen = new Set<string>();
  let ones = 0;
  const draws = 3000;
  for (let i = 0; i < draws; i++) {
    const b = s.randombytes_buf(32);
    seen.add(Buffer.from(b).toString("hex"));
    for (const byte of b) for (let k = 0; k < 8; k++) ones += (byte >> k) & 1;
  }
  assert.equal(seen.size, draws, "no 32-byte draw repeats");
  assert.ok(randomPoolRefills() - refillsBefore >= 20, `96 KB drawn through the pool: ${randomPoolRefills() - refillsBefore} refills`);
  const ratio = ones / (draws * 32 * 8);
  assert.ok(Math.abs(ratio - 0.5) < 0.01, `share of one bits ${ratio}`);
  const words = new Set<number>();
  for (let i = 0; i < 2048; i++) words.add(raw.getRandomValue());
  assert.ok(words.size > 2040, `distinct 32-bit words: ${words.size} of 2048`);
});

test("key pairs from the pooled generator are distinct and work", async () => {
  const s = await sodiumReady();
  const a = s.crypto_box_keypair();
  const b = s.crypto_box_keypair();
  assert.notDeepEqual(a.privateKey, b.privateKey);
  const nonce = s.randombytes_buf(s.crypto_box_NONCEBYTES);
  const sealed = s.crypto_box_easy(Buffer.from("hello"), nonce, b.publicKey, a.privateKey);
  assert.equal(Buffer.from(s.crypto_box_open_easy(sealed, nonce, a.publicKey, b.privateKey)).toString(), "hello");
});
