/**
 * SFrame, RFC 9605: public API.
 *
 * One-shot functions follow the RFC's encrypt/decrypt (§4.4.3, §4.4.4) and derive the key for every
 * call; media code should use SFrameSender / SFrameReceiver, which derive once per KID and enforce
 * counter uniqueness and replay protection. Arguments are checked here, once.
 */

import { CryptoError } from "../errors.js";
import { computeNonce, forgetKey, open, sealInto } from "./aead.js";
import { decodeHeader, headerLength, writeHeader } from "./header.js";
import { deriveKeyAndSaltUnchecked } from "./keys.js";
import type { SFrameKeyMaterial } from "./keys.js";
import type { CipherSuiteId } from "./suites.js";
import { checkBaseKey, checkBytes, checkOptionalBytes, checkSuite, checkU64 } from "./validate.js";

export {
  AES_128_CTR_HMAC_SHA256_32,
  AES_128_CTR_HMAC_SHA256_64,
  AES_128_CTR_HMAC_SHA256_80,
  AES_128_GCM_SHA256_128,
  AES_256_GCM_SHA512_128,
} from "./suites.js";
export type { CipherSuite, CipherSuiteId } from "./suites.js";
export { decodeHeader, encodeHeader, MAX_HEADER_LENGTH } from "./header.js";
export type { SFrameHeader } from "./header.js";
export type { SFrameKeyMaterial } from "./keys.js";
export { SFrameReceiver, SFrameSender } from "./context.js";
export { useGcmBackend, usingGcmBackend } from "./aead.js";
export type { GcmBackend } from "./aead.js";
export type { SFrameDecryptResult, SFrameReceiverOptions, SFrameSenderOptions } from "./context.js";

function checkArgs(args: unknown): asserts args is Record<string, unknown> {
  if (typeof args !== "object" || args === null) throw new TypeError("expected an options object");
}

/** §4.4.2: derives sframe_key and sframe_salt for a KID. The caller should wipe them when done. */
export function deriveKeyAndSalt(suite: CipherSuiteId, kid: bigint, baseKey: Uint8Array): SFrameKeyMaterial {
  const s = checkSuite(suite);
  checkU64("kid", kid);
  checkBaseKey(baseKey);
  return deriveKeyAndSaltUnchecked(s, kid, baseKey);
}

export interface EncryptArgs {
  suite: CipherSuiteId;
  baseKey: Uint8Array;
  kid: bigint;
  ctr: bigint;
  metadata?: Uint8Array;
  plaintext: Uint8Array;
}

/**
 * RFC 9605 §4.4.3 encryption: returns header || ciphertext || tag. The caller is responsible for
 * never reusing (kid, ctr) under one base key; SFrameSender does that for you.
 */
export function encrypt(args: EncryptArgs): Uint8Array {
  checkArgs(args);
  const { baseKey, kid, ctr, metadata, plaintext } = args;
  const suite = checkSuite(args.suite);
  checkBaseKey(baseKey);
  checkU64("kid", kid);
  checkU64("ctr", ctr);
  checkOptionalBytes("metadata", metadata);
  checkBytes("plaintext", plaintext);
  const { key, salt } = deriveKeyAndSaltUnchecked(suite, kid, baseKey);
  try {
    const hlen = headerLength(kid, ctr);
    const out = Buffer.alloc(hlen + plaintext.length + suite.Nt);
    writeHeader(out, 0, kid, ctr);
    sealInto(suite, key, computeNonce(salt, ctr), out.subarray(0, hlen), metadata, plaintext, out, hlen);
    return out;
  } finally {
    forgetKey(key);
    key.fill(0);
    salt.fill(0);
  }
}

export interface DecryptArgs {
  suite: CipherSuiteId;
  baseKey: Uint8Array;
  metadata?: Uint8Array;
  ciphertext: Uint8Array;
}

/**
 * RFC 9605 §4.4.4 decryption of header || ciphertext || tag. Throws CryptoError "sframe-malformed"
 * or "sframe-auth-failed". The base key is assumed to belong to the KID in the header; no replay
 * check is made (SFrameReceiver does that).
 */
export function decrypt(args: DecryptArgs): { kid: bigint; ctr: bigint; plaintext: Uint8Array } {
  checkArgs(args);
  const { baseKey, metadata, ciphertext } = args;
  const suite = checkSuite(args.suite);
  checkBaseKey(baseKey);
  checkOptionalBytes("metadata", metadata);
  checkBytes("ciphertext", ciphertext);
  const { kid, ctr, length: hlen } = decodeHeader(ciphertext);
  const tagStart = ciphertext.length - suite.Nt;
  if (tagStart < hlen) throw new CryptoError("sframe-malformed", "SFrame frame is shorter than header plus tag");
  const { key, salt } = deriveKeyAndSaltUnchecked(suite, kid, baseKey);
  try {
    const plaintext = open(suite, key, computeNonce(salt, ctr), ciphertext.subarray(0, hlen), metadata,
      ciphertext.subarray(hlen, tagStart), ciphertext.subarray(tagStart));
    if (plaintext === null) throw new CryptoError("sframe-auth-failed", "SFrame frame failed authentication");
    return { kid, ctr, plaintext };
  } finally {
    forgetKey(key);
    key.fill(0);
    salt.fill(0);
  }
}
