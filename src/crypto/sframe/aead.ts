/**
 * The AEAD step of SFrame, RFC 9605 §4.4.3, for the suites of §4.5:
 *
 *   nonce = sframe_salt XOR encode_big_endian(CTR, AEAD.Nn)
 *   aad   = header || metadata
 *   ct    = AEAD.Encrypt(sframe_key, nonce, aad, plaintext)     (ciphertext || tag)
 *
 * AES-GCM suites use node:crypto's GCM, or a faster implementation of the same function handed in
 * with useGcmBackend() (the client installs the native module's, src/media/native.ts, which keeps
 * one OpenSSL context instead of building a cipher object per frame). The AES-CTR + HMAC suites
 * (0x0001–0x0003) follow §4.5.1. The AAD is passed in two parts (header, metadata) so no buffer is
 * built to join them.
 *
 * Argument checks are done by the callers at the module edge.
 */

import { createCipheriv, createDecipheriv, createHmac, timingSafeEqual } from "node:crypto";
import type { CipherGCMTypes } from "node:crypto";
import type { CipherSuite } from "./suites.js";

/**
 * AES-GCM with a 12-byte nonce and a 16-byte tag (16- or 32-byte keys): the same function as
 * node:crypto's, so every output is identical (test/client/native-sframe.test.ts runs the RFC 9605
 * vectors through both). A key is set up once (`aeadKey`, an opaque handle holding the key
 * schedule) and used for every frame under it; `aeadForget` destroys that state when the key is
 * wiped.
 */
export interface GcmBackend {
  aeadKey(key: Uint8Array): unknown;
  aeadForget(handle: unknown): void;
  /** Writes ciphertext ‖ tag into `out` at `offset`; returns the bytes written. */
  aeadSealWith(handle: unknown, nonce: Uint8Array, aad1: Uint8Array, aad2: Uint8Array, plaintext: Uint8Array, out: Uint8Array, offset: number): number;
  /** Writes the plaintext into `out`; returns its length, or −1 when the tag does not verify. */
  aeadOpenWith(handle: unknown, nonce: Uint8Array, aad1: Uint8Array, aad2: Uint8Array, ciphertext: Uint8Array, tag: Uint8Array, out: Uint8Array): number;
}

let gcmBackend: GcmBackend | undefined;
const NO_BYTES = new Uint8Array(0);
const GCM_TAG = 16;
/**
 * The backend's handle for a derived key rides on the key's own buffer under this symbol (a
 * property read per frame, where a WeakMap lookup cost more); forgetKey removes it.
 */
const HANDLE = Symbol("sframe.gcmHandle");
type Keyed = Uint8Array & { [HANDLE]?: { backend: GcmBackend; handle: unknown } };

/** Use `backend` for the AES-GCM suites from now on (undefined: node:crypto again). */
export function useGcmBackend(backend: GcmBackend | undefined): void {
  gcmBackend = backend;
}

function handleFor(backend: GcmBackend, key: Keyed): unknown {
  const known = key[HANDLE];
  if (known !== undefined && known.backend === backend) return known.handle;
  if (known !== undefined) known.backend.aeadForget(known.handle);
  const handle = backend.aeadKey(key);
  key[HANDLE] = { backend, handle };
  return handle;
}

/** Destroy whatever a backend derived from `key` (call before wiping the key). */
export function forgetKey(key: Uint8Array): void {
  const keyed = key as Keyed;
  const known = keyed[HANDLE];
  if (known === undefined) return;
  keyed[HANDLE] = undefined;
  known.backend.aeadForget(known.handle);
}

/** Whether a GcmBackend is in use. */
export function usingGcmBackend(): boolean {
  return gcmBackend !== undefined;
}

/** §4.4.3: nonce = salt XOR CTR, CTR left-padded with zeros to AEAD.Nn bytes. */
export function computeNonce(salt: Uint8Array, ctr: bigint): Buffer {
  const nonce = Buffer.from(salt);
  const tail = nonce.length - 8;
  nonce.writeBigUInt64BE(nonce.readBigUInt64BE(tail) ^ ctr, tail);
  return nonce;
}

// §4.5.1: the AES-CTR initial counter block is the 12-byte nonce followed by 32 zero bits.
function ctrIv(nonce: Uint8Array): Buffer {
  const iv = Buffer.alloc(16);
  iv.set(nonce, 0);
  return iv;
}

/**
 * §4.5.1 compute_tag: HMAC(auth_key, len(aad) || len(ct) || Nt || nonce || aad || ct), each length
 * 8 bytes big-endian, truncated to Nt bytes.
 */
function ctrHmacTag(suite: CipherSuite, authKey: Uint8Array, nonce: Uint8Array, header: Uint8Array,
  metadata: Uint8Array | undefined, ct: Uint8Array): Buffer {
  const mdLen = metadata === undefined ? 0 : metadata.length;
  const lengths = Buffer.allocUnsafe(24);
  lengths.writeBigUInt64BE(BigInt(header.length + mdLen), 0);
  lengths.writeBigUInt64BE(BigInt(ct.length), 8);
  lengths.writeBigUInt64BE(BigInt(suite.Nt), 16);
  const h = createHmac(suite.hash, authKey).update(lengths).update(nonce).update(header);
  if (mdLen !== 0) h.update(metadata as Uint8Array);
  return h.update(ct).digest().subarray(0, suite.Nt);
}

/**
 * Encrypts `plaintext` and writes ciphertext || tag into `out` at `offset`
 * (`out` must have plaintext.length + Nt bytes free there).
 */
export function sealInto(suite: CipherSuite, key: Buffer, nonce: Buffer, header: Uint8Array,
  metadata: Uint8Array | undefined, plaintext: Uint8Array, out: Buffer, offset: number): void {
  if (suite.kind === "gcm") {
    if (gcmBackend !== undefined && suite.Nt === GCM_TAG) {
      // Anything but the whole ciphertext and tag would leave bytes of `out` unwritten.
      if (gcmBackend.aeadSealWith(handleFor(gcmBackend, key), nonce, header, metadata ?? NO_BYTES, plaintext, out, offset) !== plaintext.length + GCM_TAG) {
        throw new Error("SFrame GCM backend wrote a short frame");
      }
      return;
    }
    const c = createCipheriv(suite.cipher as CipherGCMTypes, key, nonce, { authTagLength: suite.Nt });
    c.setAAD(header);
    if (metadata !== undefined && metadata.length !== 0) c.setAAD(metadata);
    let n = c.update(plaintext).copy(out, offset);
    n += c.final().copy(out, offset + n);
    c.getAuthTag().copy(out, offset + n);
    return;
  }
  const c = createCipheriv(suite.cipher, key.subarray(0, suite.Nka), ctrIv(nonce));
  let n = c.update(plaintext).copy(out, offset);
  n += c.final().copy(out, offset + n);
  const ct = out.subarray(offset, offset + n);
  ctrHmacTag(suite, key.subarray(suite.Nka), nonce, header, metadata, ct).copy(out, offset + n);
}

/** Decrypts and authenticates; returns the plaintext, or null if authentication fails. */
export function open(suite: CipherSuite, key: Buffer, nonce: Buffer, header: Uint8Array,
  metadata: Uint8Array | undefined, ciphertext: Uint8Array, tag: Uint8Array): Buffer | null {
  if (suite.kind === "gcm") {
    if (gcmBackend !== undefined && tag.length === GCM_TAG) {
      const pt = Buffer.allocUnsafe(ciphertext.length);
      // `pt` is uninitialised memory: only a whole plaintext counts as opened.
      return gcmBackend.aeadOpenWith(handleFor(gcmBackend, key), nonce, header, metadata ?? NO_BYTES, ciphertext, tag, pt) === ciphertext.length ? pt : null;
    }
    const d = createDecipheriv(suite.cipher as CipherGCMTypes, key, nonce, { authTagLength: suite.Nt });
    d.setAuthTag(tag);
    d.setAAD(header);
    if (metadata !== undefined && metadata.length !== 0) d.setAAD(metadata);
    const pt = d.update(ciphertext);
    try {
      d.final(); // GCM: verifies the tag, outputs nothing
    } catch {
      pt.fill(0);
      return null;
    }
    return pt;
  }
  // §4.5.1: check the tag (constant time) before decrypting.
  const expected = ctrHmacTag(suite, key.subarray(suite.Nka), nonce, header, metadata, ciphertext);
  if (!timingSafeEqual(expected, tag)) return null;
  const d = createDecipheriv(suite.cipher, key.subarray(0, suite.Nka), ctrIv(nonce));
  const head = d.update(ciphertext);
  const rest = d.final();
  return rest.length === 0 ? head : Buffer.concat([head, rest]);
}
