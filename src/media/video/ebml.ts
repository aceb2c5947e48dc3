/**
 * EBML element encoding (RFC 8794), the binary format under Matroska and WebM.
 *
 * An element is its ID, its data size, then the data (RFC 8794 §4):
 *
 *   +------------------+--------------------+---------------------+
 *   | Element ID       | Element Data Size  | Element Data        |
 *   | 1–4 bytes, VINT  | 1–8 bytes, VINT    | `size` bytes        |
 *   | (marker kept)    | (marker stripped)  |                     |
 *   +------------------+--------------------+---------------------+
 *
 * A variable-size integer (VINT, RFC 8794 §4) spends its leading zero bits on its own length: a
 * 1-byte VINT starts with bit 1, a 2-byte one with 01, ..., an 8-byte one with 0000 0001; the value
 * follows the marker bit, big-endian. A size VINT whose value bits are all 1 means "unknown size"
 * (RFC 8794 §6.2), which a live writer uses for an element whose end it does not know yet.
 * Element IDs are written as they are defined, marker bit included.
 *
 * Unsigned integers take the fewest bytes that hold the value (RFC 8794 §7.2), floats 8 bytes
 * (§7.3), strings are written without a terminator (§7.4, §7.5).
 */

/** The 8-byte "unknown" data size (RFC 8794 §6.2): 0x01 followed by seven 0xff. */
export const EBML_UNKNOWN_SIZE = Buffer.from([0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

/** The ID of the Void element (an RFC 8794 global element): filler a reader skips. */
export const EBML_VOID_ID = 0xec;

/** An element ID's bytes (the ID value includes its VINT marker, e.g. 0x1A45DFA3 → 4 bytes). */
export function encodeElementId(id: number): Buffer {
  if (!Number.isInteger(id) || id < 0x81 || id > 0x1ffffffe) throw new RangeError(`invalid EBML element ID 0x${id.toString(16)}`);
  const len = id <= 0xff ? 1 : id <= 0xffff ? 2 : id <= 0xffffff ? 3 : 4;
  const b = Buffer.alloc(len);
  b.writeUIntBE(id, 0, len);
  return b;
}

/**
 * Encodes a data size as a VINT of `length` bytes (default: the shortest that holds it). The value
 * with all bits set is reserved for "unknown" (RFC 8794 §6.2), so a length holds at most 2^(7·len)−2.
 */
export function encodeVintSize(value: number, length?: number): Buffer {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError("EBML size must be a non-negative safe integer");
  let len = 1;
  while (value > 2 ** (7 * len) - 2) len += 1;
  if (length !== undefined) {
    if (length < len || length > 8) throw new RangeError(`EBML size ${value} does not fit in ${length} bytes`);
    len = length;
  }
  if (len > 8) throw new RangeError("EBML size too large");
  const b = Buffer.alloc(len);
  // Big-endian value, then the marker bit at position 8·len − len (from the least significant bit).
  let v = value;
  for (let i = len - 1; i >= 0; i--) {
    b[i] = v % 256;
    v = Math.floor(v / 256);
  }
  b[0]! |= 0x80 >> (len - 1);
  return b;
}

/** ID + size + data. */
export function ebmlElement(id: number, data: Uint8Array): Buffer {
  return Buffer.concat([encodeElementId(id), encodeVintSize(data.length), data]);
}

/** A master element whose children are already encoded. */
export function ebmlMaster(id: number, children: readonly Uint8Array[]): Buffer {
  return ebmlElement(id, Buffer.concat(children));
}

/** Unsigned integer, shortest big-endian form (at least one byte). */
export function ebmlUint(id: number, value: number): Buffer {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError("EBML uint must be a non-negative safe integer");
  const bytes: number[] = [];
  let v = value;
  do {
    bytes.unshift(v % 256);
    v = Math.floor(v / 256);
  } while (v > 0);
  return ebmlElement(id, Buffer.from(bytes));
}

/** Unsigned integer in exactly 8 bytes (for values patched in place later, e.g. SeekPosition). */
export function ebmlUint64(id: number, value: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(value));
  return ebmlElement(id, b);
}

/** 64-bit IEEE 754 float. */
export function ebmlFloat(id: number, value: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(value);
  return ebmlElement(id, b);
}

/** ASCII string (RFC 8794 §7.4). */
export function ebmlString(id: number, value: string): Buffer {
  if (!/^[\x20-\x7e]*$/.test(value)) throw new RangeError("EBML string must be printable ASCII");
  return ebmlElement(id, Buffer.from(value, "latin1"));
}

/** UTF-8 string (RFC 8794 §7.5). */
export function ebmlUtf8(id: number, value: string): Buffer {
  return ebmlElement(id, Buffer.from(value, "utf8"));
}

/** A Void element of exactly `totalSize` bytes (at least 2), for space to be overwritten later. */
export function ebmlVoid(totalSize: number): Buffer {
  if (!Number.isInteger(totalSize) || totalSize < 2) throw new RangeError("a Void element takes at least 2 bytes");
  // 1 ID byte + a size VINT; grow the VINT when the payload no longer fits its length.
  let sizeLen = 1;
  while (totalSize - 1 - sizeLen > 2 ** (7 * sizeLen) - 2) sizeLen += 1;
  const payload = totalSize - 1 - sizeLen;
  return Buffer.concat([encodeElementId(EBML_VOID_ID), encodeVintSize(payload, sizeLen), Buffer.alloc(payload)]);
}
