/**
 * SFrame's AES-GCM suites on the native module (src/client/native-crypto.ts → src/media/native.ts):
 * the RFC 9605 Appendix C vectors for suites 0x0004 and 0x0005, byte-for-byte agreement with
 * node:crypto on random frames, and tampered frames refused.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { randomBytes, randomInt } from "node:crypto";
import * as sframe from "../../src/crypto/sframe/index.js";
import { CryptoError } from "../../src/crypto/errors.js";
import { useNativeSframe } from "../../src/client/native-crypto.js";
import { native } from "../../src/media/native.js";
import type { CipherSuiteId } from "../../src/crypto/sframe/suites.js";

interface SFrameVector { cipher_suite: number; kid: bigint; ctr: bigint; base_key: string; metadata: string; pt: string; ct: string }

function vectors(): SFrameVector[] {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = join(dir, "test", "vectors", "sframe-rfc9605.json");
    if (existsSync(p)) {
      const raw = readFileSync(p, "utf8").replace(/("(?:kid|ctr)"\s*:\s*)(\d+)/g, '$1"$2"');
      const all = JSON.parse(raw, (k, v: unknown) => ((k === "kid" || k === "ctr") && typeof v === "string" ? BigInt(v) : v)) as { sframe: SFrameVector[] };
      return all.sframe.filter((v) => v.cipher_suite === 4 || v.cipher_suite === 5);
    }
    dir = dirname(dir);
  }
  throw new Error("test/vectors/sframe-rfc9605.json not found");
}

const hex = (s: string): Buffer => Buffer.from(s, "hex");
const toHex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

after(() => sframe.useGcmBackend(undefined));

test("the native GCM is in use for SFrame once a client session asks for it", () => {
  assert.equal(useNativeSframe(), true, "the test command builds the native module");
  assert.equal(sframe.usingGcmBackend(), true);
});

test("RFC 9605 Appendix C vectors (suites 0x0004, 0x0005) through the native GCM", () => {
  useNativeSframe();
  const list = vectors();
  assert.equal(list.length, 2);
  for (const e of list) {
    const suite = e.cipher_suite as CipherSuiteId;
    const ct = sframe.encrypt({ suite, baseKey: hex(e.base_key), kid: e.kid, ctr: e.ctr, metadata: hex(e.metadata), plaintext: hex(e.pt) });
    assert.equal(toHex(ct), e.ct, `encrypt, suite ${suite}`);
    const r = sframe.decrypt({ suite, baseKey: hex(e.base_key), metadata: hex(e.metadata), ciphertext: hex(e.ct) });
    assert.equal(toHex(r.plaintext), e.pt, `decrypt, suite ${suite}`);
    const bad = hex(e.ct);
    bad[bad.length - 1]! ^= 1;
    assert.throws(
      () => sframe.decrypt({ suite, baseKey: hex(e.base_key), metadata: hex(e.metadata), ciphertext: bad }),
      (err: unknown) => err instanceof CryptoError && err.code === "sframe-auth-failed",
    );
  }
});

test("native and node:crypto GCM give the same frames, and each opens the other's", () => {
  for (const suite of [4, 5] as const) {
    const baseKey = randomBytes(suite === 5 ? 64 : 32);
    const frames: { kid: bigint; ctr: bigint; md: Buffer; pt: Buffer }[] = [];
    for (let i = 0; i < 40; i++) {
      frames.push({ kid: BigInt(randomInt(1, 1000)), ctr: BigInt(i * 7), md: randomBytes(randomInt(0, 20)), pt: randomBytes(randomInt(0, 1500)) });
    }
    const run = (): string[] => frames.map((f) => toHex(sframe.encrypt({ suite, baseKey, kid: f.kid, ctr: f.ctr, metadata: f.md, plaintext: f.pt })));
    sframe.useGcmBackend(undefined);
    const viaNode = run();
    assert.ok(native());
    sframe.useGcmBackend(native());
    const viaNative = run();
    assert.deepEqual(viaNative, viaNode, `suite ${suite}`);
    for (let i = 0; i < frames.length; i++) {
      const r = sframe.decrypt({ suite, baseKey, metadata: frames[i]!.md, ciphertext: hex(viaNode[i]!) });
      assert.deepEqual(r.plaintext, frames[i]!.pt);
    }
  }
});

test("each SFrame key is set up once in the native GCM and destroyed when the key is wiped", () => {
  const n = native()!;
  let created = 0;
  let forgotten = 0;
  const live = new Set<unknown>();
  // The native backend, counting what it is asked to set up and destroy.
  sframe.useGcmBackend({
    aeadKey: (key) => {
      created++;
      const h = n.aeadKey(key);
      live.add(h);
      return h;
    },
    aeadForget: (h) => {
      forgotten++;
      live.delete(h);
      n.aeadForget(h as never);
    },
    aeadSealWith: (h, ...rest) => n.aeadSealWith(h as never, ...rest),
    aeadOpenWith: (h, ...rest) => n.aeadOpenWith(h as never, ...rest),
  });
  try {
    const baseKey = randomBytes(32);
    const tx = new sframe.SFrameSender({ kid: 5n, baseKey });
    const rx = new sframe.SFrameReceiver();
    rx.addKey(5n, baseKey);
    for (let i = 0; i < 100; i++) assert.equal(rx.decrypt(tx.encrypt(Buffer.from(`frame ${i}`))).plaintext.toString(), `frame ${i}`);
    assert.equal(created, 2, "one context for the sender's key, one for the receiver's");
    tx.setKey(6n, randomBytes(32));
    assert.equal(forgotten, 1, "the sender's old key is destroyed when it switches");
    tx.close();
    rx.close();
    assert.equal(live.size, 0, "nothing of a closed context's keys is left in the backend");
    // A one-shot encrypt sets up and destroys its key at once.
    sframe.encrypt({ suite: 4, baseKey, kid: 1n, ctr: 0n, plaintext: Buffer.alloc(10) });
    assert.equal(live.size, 0);
  } finally {
    sframe.useGcmBackend(undefined);
  }
  const h = n.aeadKey(randomBytes(16));
  n.aeadForget(h);
  assert.throws(() => n.aeadOpenWith(h, Buffer.alloc(12), Buffer.alloc(0), Buffer.alloc(0), Buffer.alloc(4), Buffer.alloc(16), Buffer.alloc(4)), /forgotten/);
});

test("a GCM backend's return values are checked: a short plaintext is a failed frame, a short seal throws", () => {
  const n = native()!;
  const baseKey = randomBytes(32);
  const frame = sframe.encrypt({ suite: 4, baseKey, kid: 3n, ctr: 9n, plaintext: Buffer.alloc(64, 7) });
  // The native backend, but reporting fewer bytes than it wrote (as a faulty build could).
  sframe.useGcmBackend({
    aeadKey: (key) => n.aeadKey(key),
    aeadForget: (h) => n.aeadForget(h as never),
    aeadSealWith: (h, ...rest) => n.aeadSealWith(h as never, ...rest) - 1,
    aeadOpenWith: (h, ...rest) => Math.max(0, n.aeadOpenWith(h as never, ...rest) - 1),
  });
  try {
    assert.throws(
      () => sframe.decrypt({ suite: 4, baseKey, ciphertext: frame }),
      (err: unknown) => err instanceof CryptoError && err.code === "sframe-auth-failed",
      "a plaintext shorter than the ciphertext is not taken as opened",
    );
    assert.throws(() => sframe.encrypt({ suite: 4, baseKey, kid: 3n, ctr: 10n, plaintext: Buffer.alloc(64) }), /short frame/);
  } finally {
    sframe.useGcmBackend(undefined);
  }
});
