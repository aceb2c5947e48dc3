/**
 * Sender keys in the style of RFC 9605 §5.1 (security model P5, P6).
 *
 * Every sender owns one SFrame base_key at a time and a 64-bit KID space of its own:
 *
 *    63                               32 31                                0
 *   +-----------------------------------+-----------------------------------+
 *   |            keyspace (u32)         |           generation (u32)        |
 *   +-----------------------------------+-----------------------------------+
 *
 * This is the RFC 9605 §5.1 split of the KID into a "key generation" part and a ratchet part with
 * R = 32: `keyspace` is random per sender per session (so senders never collide on a KID, and the KID
 * reveals nothing linkable across sessions), `generation` counts key changes of that sender — both
 * one-way ratchet steps (on a join) and fresh random keys (on a leave).
 *
 * base_key size: RFC 9605 §4.4.2 feeds base_key only into HKDF-Extract, so its length is free; we
 * use Nh bytes of the suite's hash (as the MLS profile of RFC 9605 §5.2 does with its exporter):
 * 32 bytes for AES_128_GCM_SHA256_128 (0x0004), 64 bytes for AES_256_GCM_SHA512_128 (0x0005),
 * RFC 9605 §4.5.
 *
 * Ratchet (one step, cf. RFC 9605 §5.1):
 *   next = HKDF(Hash of the suite, IKM = base_key, salt = "", info = "conclave/v1/sender-ratchet", L = Nh)
 * HKDF per RFC 5869 §2; an empty salt means HashLen zero bytes (RFC 5869 §2.2).
 */
import { hkdfSync, randomBytes } from "node:crypto";
import { expectBytes, expectU32, expectU64, utf8 } from "./bytes.js";

/** SFrame cipher suites we use: AES_128_GCM_SHA256_128 (4) and AES_256_GCM_SHA512_128 (5), RFC 9605 §4.5. */
export type SenderKeySuite = 4 | 5;

const RATCHET_INFO = utf8("conclave/v1/sender-ratchet");
const EMPTY = new Uint8Array(0);

function suiteParams(suite: SenderKeySuite): { hash: "sha256" | "sha512"; nh: number } {
  if (suite === 4) return { hash: "sha256", nh: 32 };
  if (suite === 5) return { hash: "sha512", nh: 64 };
  throw new RangeError("unsupported SFrame cipher suite (expected 4 or 5)");
}

/** Length of a sender base key for `suite` (Nh: 32 for suite 4, 64 for suite 5). */
export function senderKeyLength(suite: SenderKeySuite): number {
  return suiteParams(suite).nh;
}

/** KID = keyspace << 32 | generation. */
export function kidFor(keyspace: number, generation: number): bigint {
  expectU32(keyspace, "keyspace");
  expectU32(generation, "generation");
  return (BigInt(keyspace) << 32n) | BigInt(generation);
}

/** Inverse of kidFor. */
export function splitKid(kid: bigint): { keyspace: number; generation: number } {
  expectU64(kid, "kid");
  return { keyspace: Number(kid >> 32n), generation: Number(kid & 0xffff_ffffn) };
}

/** A random non-zero u32. */
export function newKeyspace(): number {
  for (;;) {
    const v = randomBytes(4).readUInt32BE(0);
    if (v !== 0) return v;
  }
}

/** A fresh random base key of Nh bytes for `suite`. */
export function newSenderKey(suite: SenderKeySuite): Uint8Array {
  return new Uint8Array(randomBytes(suiteParams(suite).nh));
}

/**
 * One ratchet step (see the file comment). Deterministic and one-way: holders of the result cannot
 * compute `key`. Does not modify `key`; the caller wipes it once no frame needs it any more.
 */
export function ratchetSenderKey(key: Uint8Array, suite: SenderKeySuite): Uint8Array {
  const { hash, nh } = suiteParams(suite);
  expectBytes(key, "sender key", nh);
  return new Uint8Array(hkdfSync(hash, key, EMPTY, RATCHET_INFO, nh));
}
