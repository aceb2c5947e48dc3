/**
 * Ogg page checksum, RFC 3533 §6: CRC-32 with generator polynomial 0x04c11db7, initial value 0,
 * no reflection of input or output, no final XOR, computed over the whole page with the 4 CRC
 * bytes (offsets 22–25) set to zero. Table-driven, one byte at a time (MSB first).
 */

const TABLE: Uint32Array = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let b = 0; b < 8; b++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
    t[i] = r >>> 0;
  }
  return t;
})();

/** CRC of `data`, continuing from `crc` (0 to start). Unsigned 32-bit result. */
export function oggCrc32(data: Uint8Array, crc = 0): number {
  let c = crc >>> 0;
  for (let i = 0; i < data.length; i++) {
    c = ((c << 8) ^ TABLE[((c >>> 24) ^ data[i]!) & 0xff]!) >>> 0;
  }
  return c;
}

/** Offset of the CRC field in the page header (RFC 3533 §6). */
export const OGG_CRC_OFFSET = 22;

/** CRC of a full page as stored in it: computed with the CRC field zeroed. */
export function oggPageCrc(page: Uint8Array): number {
  const head = oggCrc32(page.subarray(0, OGG_CRC_OFFSET));
  const zeroed = oggCrc32(new Uint8Array(4), head);
  return oggCrc32(page.subarray(OGG_CRC_OFFSET + 4), zeroed);
}
