/**
 * SFrame header, RFC 9605 §4.3.
 *
 *     0 1 2 3 4 5 6 7
 *    +-+-+-+-+-+-+-+-+------------------------+------------------------+
 *    |X|  K  |Y|  C  |  KID (0 or K+1 bytes)  |  CTR (0 or C+1 bytes)  |
 *    +-+-+-+-+-+-+-+-+------------------------+------------------------+
 *      config byte
 *
 *  X = 0: KID = K (values 0..7), no KID bytes follow.
 *  X = 1: K+1 bytes (1..8) of KID follow, big-endian.
 *  Y = 0: CTR = C (values 0..7), no CTR bytes follow.
 *  Y = 1: C+1 bytes (1..8) of CTR follow, big-endian, after the KID bytes.
 *
 * KID and CTR are unsigned 64-bit values. The encoder always writes the shortest form (values below
 * 8 in the config byte, otherwise the fewest bytes). The decoder accepts any well-formed form: the
 * header bytes are authenticated as-is (§4.4.3), so a longer form cannot be forged.
 *
 * Range checks on kid/ctr are done by the callers at the module edge (index.ts, context.ts).
 */

import { CryptoError } from "../errors.js";

/** §4.3: the config byte plus at most 8 KID bytes and 8 CTR bytes. */
export const MAX_HEADER_LENGTH = 17;

// §4.3 config byte fields.
const X_BIT = 0x80;
const K_SHIFT = 4;
const Y_BIT = 0x08;
const LOW3 = 0x07;

export interface SFrameHeader {
  readonly kid: bigint;
  readonly ctr: bigint;
  /** Number of header bytes at the start of the input. */
  readonly length: number;
}

/** Bytes needed for a 64-bit value in big-endian without leading zero bytes (at least 1). */
function byteLength(v: bigint): number {
  let n = 1;
  while (v > 0xffn) {
    v >>= 8n;
    n++;
  }
  return n;
}

/** Bytes needed for the 64-bit value hi·2^32 + lo, both uint32 (at least 1). */
function byteLength32(hi: number, lo: number): number {
  if (hi !== 0) return 4 + (hi > 0xffffff ? 4 : hi > 0xffff ? 3 : hi > 0xff ? 2 : 1);
  return lo > 0xffffff ? 4 : lo > 0xffff ? 3 : lo > 0xff ? 2 : 1;
}

/** Length of the encoded header for (kid, ctr), RFC 9605 §4.3. */
export function headerLength(kid: bigint, ctr: bigint): number {
  return 1 + (kid < 8n ? 0 : byteLength(kid)) + (ctr < 8n ? 0 : byteLength(ctr));
}

function writeBig(out: Uint8Array, offset: number, v: bigint, n: number): void {
  for (let i = n - 1; i >= 0; i--) {
    out[offset + i] = Number(v & 0xffn);
    v >>= 8n;
  }
}

/** Writes the §4.3 header for (kid, ctr) at `offset`; returns the number of bytes written. */
export function writeHeader(out: Uint8Array, offset: number, kid: bigint, ctr: bigint): number {
  let config = 0;
  let p = offset + 1;
  if (kid < 8n) {
    config |= Number(kid) << K_SHIFT;
  } else {
    const n = byteLength(kid);
    config |= X_BIT | ((n - 1) << K_SHIFT);
    writeBig(out, p, kid, n);
    p += n;
  }
  if (ctr < 8n) {
    config |= Number(ctr);
  } else {
    const n = byteLength(ctr);
    config |= Y_BIT | (n - 1);
    writeBig(out, p, ctr, n);
    p += n;
  }
  out[offset] = config;
  return p - offset;
}

/** Encodes the RFC 9605 §4.3 header for (kid, ctr), shortest form. */
export function encodeHeader(kid: bigint, ctr: bigint): Uint8Array {
  const out = new Uint8Array(headerLength(kid, ctr));
  writeHeader(out, 0, kid, ctr);
  return out;
}

/**
 * The KID half of a header, prepared once per key for the sender's per-packet path: the K/X bits
 * of the config byte and the KID bytes that follow it (§4.3).
 */
export interface PreparedKid {
  readonly configBits: number;
  readonly bytes: Uint8Array;
}

export function prepareKid(kid: bigint): PreparedKid {
  if (kid < 8n) return { configBits: Number(kid) << K_SHIFT, bytes: new Uint8Array(0) };
  const n = byteLength(kid);
  const bytes = new Uint8Array(n);
  writeBig(bytes, 0, kid, n);
  return { configBits: X_BIT | ((n - 1) << K_SHIFT), bytes };
}

/** Header length for a prepared KID and the counter hi·2^32 + lo. */
export function headerLength32(kid: PreparedKid, hi: number, lo: number): number {
  return 1 + kid.bytes.length + (hi === 0 && lo < 8 ? 0 : byteLength32(hi, lo));
}

/**
 * Per-packet header writer (§4.3) with the counter as two uint32 halves, so the media path does no
 * bigint arithmetic. Writes at offset 0; returns the header length.
 */
export function writeHeader32(out: Uint8Array, kid: PreparedKid, hi: number, lo: number): number {
  let p = 1;
  const kb = kid.bytes;
  for (let i = 0; i < kb.length; i++) out[p++] = kb[i] as number;
  if (hi === 0 && lo < 8) {
    out[0] = kid.configBits | lo;
    return p;
  }
  const n = byteLength32(hi, lo);
  out[0] = kid.configBits | Y_BIT | (n - 1);
  // Big-endian: the low 32 bits last, then as many bytes of the high half as needed.
  for (let i = n - 1; i >= 0; i--) {
    if (i >= n - 4) {
      out[p + i] = lo & 0xff;
      lo >>>= 8;
    } else {
      out[p + i] = hi & 0xff;
      hi >>>= 8;
    }
  }
  return p + n;
}

/**
 * Parsed header for the receiver's per-packet path. The KID is a number when it is at most
 * 2^53 - 1 (always, in practice) and a bigint otherwise; the counter is two uint32 halves.
 */
export interface HeaderFields {
  length: number;
  kid: number | bigint;
  ctrHi: number;
  ctrLo: number;
}

function malformed(): CryptoError {
  return new CryptoError("sframe-malformed", "SFrame header is truncated");
}

/**
 * Parses the §4.3 header at the start of `data` into `into`. Throws CryptoError("sframe-malformed")
 * if the input ends before the header does.
 */
export function parseHeader(data: Uint8Array, into: HeaderFields): void {
  const len = data.length;
  if (len < 1) throw malformed();
  const config = data[0] as number;
  let p = 1;
  const k = (config >>> K_SHIFT) & LOW3;
  if ((config & X_BIT) === 0) {
    into.kid = k;
  } else {
    const n = k + 1;
    if (len < p + n) throw malformed();
    if (n <= 6) {
      let v = 0;
      for (let i = 0; i < n; i++) v = v * 256 + (data[p + i] as number);
      into.kid = v;
    } else {
      let v = 0n;
      for (let i = 0; i < n; i++) v = (v << 8n) | BigInt(data[p + i] as number);
      into.kid = v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
    }
    p += n;
  }
  const c = config & LOW3;
  if ((config & Y_BIT) === 0) {
    into.ctrHi = 0;
    into.ctrLo = c;
  } else {
    const n = c + 1;
    if (len < p + n) throw malformed();
    let hi = 0;
    let lo = 0;
    for (let i = 0; i < n; i++) {
      hi = ((hi << 8) | (lo >>> 24)) >>> 0;
      lo = ((lo << 8) | (data[p + i] as number)) >>> 0;
    }
    into.ctrHi = hi;
    into.ctrLo = lo;
    p += n;
  }
  into.length = p;
}

/** Joins two uint32 halves into a 64-bit bigint. */
export function join64(hi: number, lo: number): bigint {
  return hi === 0 ? BigInt(lo) : (BigInt(hi) << 32n) | BigInt(lo);
}

/** Decodes the RFC 9605 §4.3 header at the start of `data`. */
export function decodeHeader(data: Uint8Array): SFrameHeader {
  if (!(data instanceof Uint8Array)) throw new TypeError("SFrame header must be a Uint8Array");
  const f: HeaderFields = { length: 0, kid: 0, ctrHi: 0, ctrLo: 0 };
  parseHeader(data, f);
  return { kid: BigInt(f.kid), ctr: join64(f.ctrHi, f.ctrLo), length: f.length };
}
