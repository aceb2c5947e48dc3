/**
 * Byte helpers shared by the crypto modules: strict base64url (RFC 4648 §5), constant-time
 * comparison, wiping, and a tiny length-prefixed Writer/Reader used for the envelope layout.
 *
 * Argument checks (`expectBytes`, `expectU32`, …) live here so every module checks its inputs once,
 * at its edge, the same way. Bad arguments are TypeError/RangeError (programming errors); bad data
 * from outside is a CryptoError with a stable code. No message ever contains the bytes themselves.
 */
import { timingSafeEqual } from "node:crypto";
import { CryptoError } from "./errors.js";

const UTF8_ENCODER = new TextEncoder();
const UTF8_DECODER = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** The base64url alphabet of RFC 4648 §5, without padding. */
const BASE64URL_RE = /^[A-Za-z0-9_-]*$/;

export const U32_MAX = 0xffff_ffff;
export const U64_MAX = (1n << 64n) - 1n;

/** Throws TypeError unless `value` is a Uint8Array, RangeError unless it has `length` bytes. */
export function expectBytes(value: unknown, name: string, length?: number): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
  if (length !== undefined && value.length !== length) {
    throw new RangeError(`${name} must be ${length} bytes, got ${value.length}`);
  }
  return value;
}

/** Throws unless `value` is an integer in [0, 2^32-1]. */
export function expectU32(value: unknown, name: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > U32_MAX) {
    throw new RangeError(`${name} must be an integer in [0, 2^32-1]`);
  }
  return value;
}

/** Throws unless `value` is a bigint in [0, 2^64-1]. */
export function expectU64(value: unknown, name: string): bigint {
  if (typeof value !== "bigint") throw new TypeError(`${name} must be a bigint`);
  if (value < 0n || value > U64_MAX) throw new RangeError(`${name} must be in [0, 2^64-1]`);
  return value;
}

/** Unpadded base64url (RFC 4648 §5). */
export function toBase64Url(bytes: Uint8Array): string {
  expectBytes(bytes, "bytes");
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64url");
}

/**
 * Strict unpadded base64url (RFC 4648 §5): only `A-Z a-z 0-9 - _`, no `=` padding, no whitespace,
 * no impossible length, and canonical trailing bits (RFC 4648 §3.5) — so every byte string has
 * exactly one accepted encoding. Anything else is CryptoError('encoding').
 */
export function fromBase64Url(text: string): Uint8Array {
  if (typeof text !== "string") throw new TypeError("base64url input must be a string");
  if (!BASE64URL_RE.test(text) || text.length % 4 === 1) {
    throw new CryptoError("encoding", "invalid base64url text");
  }
  const decoded = Buffer.from(text, "base64url");
  // Node ignores non-zero trailing bits; re-encoding tells us whether the input was canonical.
  if (decoded.toString("base64url") !== text) {
    throw new CryptoError("encoding", "non-canonical base64url text");
  }
  return new Uint8Array(decoded.buffer, decoded.byteOffset, decoded.byteLength).slice();
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += expectBytes(p, "part").length;
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/**
 * Constant-time equality of two byte strings of the same length. Lengths are treated as public:
 * different lengths return false at once.
 */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  expectBytes(a, "a");
  expectBytes(b, "b");
  if (a.length !== b.length) return false;
  if (a.length === 0) return true;
  return timingSafeEqual(a, b);
}

/** Overwrites `bytes` with zeros. Use on key material and plaintext you no longer need. */
export function wipe(...arrays: (Uint8Array | undefined)[]): void {
  for (const a of arrays) a?.fill(0);
}

/** 8-byte big-endian encoding of an unsigned 64-bit integer. */
export function u64be(value: bigint): Uint8Array {
  expectU64(value, "value");
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, value, false);
  return out;
}

export function utf8(text: string): Uint8Array {
  return UTF8_ENCODER.encode(text);
}

/**
 * Builds a binary message from fixed-width integers and length-prefixed fields:
 * `str8` = u8 length ‖ UTF-8, `bytes32` = u32be length ‖ bytes.
 */
export class Writer {
  private readonly parts: Uint8Array[] = [];

  u8(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xff) throw new RangeError("u8 out of range");
    this.parts.push(Uint8Array.of(value));
    return this;
  }

  u32(value: number): this {
    expectU32(value, "u32");
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, value, false);
    this.parts.push(b);
    return this;
  }

  u64(value: bigint): this {
    this.parts.push(u64be(value));
    return this;
  }

  /** Raw bytes, no length prefix (fixed-size fields). */
  raw(bytes: Uint8Array): this {
    this.parts.push(expectBytes(bytes, "raw field"));
    return this;
  }

  /** u8 length ‖ UTF-8 bytes; at most 255 bytes once encoded. */
  str8(text: string): this {
    if (typeof text !== "string") throw new TypeError("str8 field must be a string");
    const b = utf8(text);
    if (b.length > 0xff) throw new RangeError("str8 field longer than 255 bytes");
    return this.u8(b.length).raw(b);
  }

  /** u32be length ‖ bytes. */
  bytes32(bytes: Uint8Array): this {
    expectBytes(bytes, "bytes32 field");
    if (bytes.length > U32_MAX) throw new RangeError("bytes32 field too long");
    return this.u32(bytes.length).raw(bytes);
  }

  finish(): Uint8Array {
    return concatBytes(...this.parts);
  }
}

/**
 * Reads what Writer wrote. Every read past the end, and invalid UTF-8 in a str8, is
 * CryptoError('malformed'). Returned byte fields are copies, never views of the input.
 */
export class Reader {
  private offset = 0;
  private readonly view: DataView;

  constructor(private readonly data: Uint8Array) {
    expectBytes(data, "data");
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  get remaining(): number {
    return this.data.length - this.offset;
  }

  private need(n: number): number {
    if (n > this.remaining) throw new CryptoError("malformed", "message is truncated");
    const at = this.offset;
    this.offset += n;
    return at;
  }

  u8(): number {
    return this.view.getUint8(this.need(1));
  }

  u32(): number {
    return this.view.getUint32(this.need(4), false);
  }

  u64(): bigint {
    return this.view.getBigUint64(this.need(8), false);
  }

  raw(n: number): Uint8Array {
    const at = this.need(n);
    return this.data.slice(at, at + n);
  }

  str8(): string {
    const bytes = this.raw(this.u8());
    try {
      return UTF8_DECODER.decode(bytes);
    } catch {
      throw new CryptoError("malformed", "string field is not valid UTF-8");
    }
  }

  bytes32(): Uint8Array {
    return this.raw(this.u32());
  }

  /** Throws CryptoError('malformed') unless every byte has been read. */
  end(): void {
    if (this.remaining !== 0) throw new CryptoError("malformed", "trailing bytes after message");
  }
}
