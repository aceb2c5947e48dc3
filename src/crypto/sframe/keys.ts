/**
 * Per-KID key and salt derivation, RFC 9605 §4.4.2:
 *
 *   sframe_secret = HKDF-Extract("", base_key)
 *   sframe_key    = HKDF-Expand(sframe_secret, sframe_key_label,  AEAD.Nk)
 *   sframe_salt   = HKDF-Expand(sframe_secret, sframe_salt_label, AEAD.Nn)
 *
 *   sframe_key_label  = "SFrame 1.0 Secret key "  || KID || cipher_suite
 *   sframe_salt_label = "SFrame 1.0 Secret salt " || KID || cipher_suite
 *
 * where KID is the 64-bit key ID as 8 bytes big-endian and cipher_suite the 2-byte §8.1 identifier
 * (checked against the RFC's test vectors, Appendix C). HKDF is RFC 5869 over the suite's hash.
 *
 * Argument checks are done by the callers at the module edge.
 */

import { createHmac } from "node:crypto";
import type { CipherSuite } from "./suites.js";

// §4.4.2 label prefixes (ASCII, each ending in one space).
const KEY_LABEL = Buffer.from("SFrame 1.0 Secret key ", "latin1");
const SALT_LABEL = Buffer.from("SFrame 1.0 Secret salt ", "latin1");

/** §4.4.2 label: prefix || KID (8 bytes, big-endian) || cipher_suite (2 bytes, big-endian). */
export function sframeLabel(kind: "key" | "salt", kid: bigint, suite: CipherSuite): Buffer {
  const prefix = kind === "key" ? KEY_LABEL : SALT_LABEL;
  const out = Buffer.allocUnsafe(prefix.length + 10);
  prefix.copy(out, 0);
  out.writeBigUInt64BE(kid, prefix.length);
  out.writeUInt16BE(suite.id, prefix.length + 8);
  return out;
}

/** RFC 5869 §2.2 HKDF-Extract with an empty salt (§4.4.2 uses ""). */
export function hkdfExtract(suite: CipherSuite, ikm: Uint8Array): Buffer {
  return createHmac(suite.hash, Buffer.alloc(0)).update(ikm).digest();
}

/** RFC 5869 §2.3 HKDF-Expand. */
export function hkdfExpand(suite: CipherSuite, prk: Uint8Array, info: Uint8Array, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let prev: Buffer = Buffer.alloc(0);
  let filled = 0;
  for (let i = 1; filled < length; i++) {
    const block = createHmac(suite.hash, prk).update(prev).update(info).update(Uint8Array.of(i)).digest();
    prev.fill(0);
    filled += block.copy(out, filled);
    prev = block;
  }
  prev.fill(0);
  return out;
}

export interface SFrameKeyMaterial {
  /** sframe_key, AEAD.Nk bytes. */
  readonly key: Buffer;
  /** sframe_salt, AEAD.Nn bytes. */
  readonly salt: Buffer;
}

/**
 * Derives (sframe_key, sframe_salt) for one KID, §4.4.2. The intermediate secret is wiped; the
 * caller owns the result and should wipe it (`fill(0)`) when the key is retired.
 */
export function deriveKeyAndSaltUnchecked(suite: CipherSuite, kid: bigint, baseKey: Uint8Array): SFrameKeyMaterial {
  const secret = hkdfExtract(suite, baseKey);
  try {
    return {
      key: hkdfExpand(suite, secret, sframeLabel("key", kid, suite), suite.Nk),
      salt: hkdfExpand(suite, secret, sframeLabel("salt", kid, suite), suite.Nn),
    };
  } finally {
    secret.fill(0);
  }
}
