/**
 * Argument checks for the public SFrame API, done once at the module edge (index.ts and the public
 * methods of context.ts); the inner modules trust their inputs. Bad arguments are TypeError or
 * RangeError, never CryptoError.
 */

import { DEFAULT_SUITE, isSuiteId, suiteInfo } from "./suites.js";
import type { CipherSuite } from "./suites.js";

/** RFC 9605 §4.3: KID and CTR are unsigned 64-bit integers. */
export const MAX_U64 = 0xffff_ffff_ffff_ffffn;

/**
 * Shortest base key accepted, in bytes. RFC 9605 §4.4.2 feeds base_key to HKDF-Extract, which takes
 * any length; we refuse keys shorter than 128 bits. (The RFC's own vectors, Appendix C, use a
 * 16-byte base key for every suite, including the AES-256 suite 0x0005.)
 */
export const MIN_BASE_KEY_LENGTH = 16;

export function checkBytes(name: string, v: unknown): asserts v is Uint8Array {
  if (!(v instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
}

export function checkOptionalBytes(name: string, v: unknown): asserts v is Uint8Array | undefined {
  if (v !== undefined && !(v instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array or undefined`);
}

export function checkU64(name: string, v: unknown): asserts v is bigint {
  if (typeof v !== "bigint") throw new TypeError(`${name} must be a bigint`);
  if (v < 0n || v > MAX_U64) throw new RangeError(`${name} must be between 0 and 2^64-1`);
}

/** Resolves an optional suite id (default 0x0004) to its table entry. */
export function checkSuite(v: unknown): CipherSuite {
  if (v === undefined) return suiteInfo(DEFAULT_SUITE);
  if (typeof v !== "number") throw new TypeError("suite must be a number (RFC 9605 §8.1 cipher suite id)");
  if (!isSuiteId(v)) throw new RangeError(`unsupported SFrame cipher suite ${String(v)}`);
  return suiteInfo(v);
}

export function checkBaseKey(v: unknown): asserts v is Uint8Array {
  checkBytes("baseKey", v);
  if (v.length < MIN_BASE_KEY_LENGTH) {
    throw new RangeError(`baseKey must be at least ${MIN_BASE_KEY_LENGTH} bytes, got ${v.length}`);
  }
}
