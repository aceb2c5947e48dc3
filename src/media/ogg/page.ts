/**
 * Ogg page layout, RFC 3533 §6. All multi-byte fields are little-endian.
 *
 *   byte  0-3   capture_pattern "OggS"
 *         4     stream_structure_version (0)
 *         5     header_type_flag: 0x01 continued packet, 0x02 first page (BOS), 0x04 last page (EOS)
 *         6-13  granule_position (int64; -1 = no packet finishes on this page)
 *         14-17 bitstream_serial_number
 *         18-21 page_sequence_number
 *         22-25 CRC_checksum (see crc.ts)
 *         26    number_page_segments (0..255)
 *         27-   segment_table: lacing values; a packet is a run of 255s ended by a value < 255
 *               (RFC 3533 §5), so a packet of length L takes floor(L/255)+1 segments
 *   then the page body (sum of the lacing values).
 */
import { OGG_CRC_OFFSET, oggPageCrc } from "./crc.js";

export const OGG_CAPTURE = Buffer.from("OggS", "latin1");
export const OGG_HEADER_SIZE = 27;
export const OGG_MAX_SEGMENTS = 255;

export const OggFlag = {
  continued: 0x01,
  bos: 0x02,
  eos: 0x04,
} as const;

/** Granule position meaning "no packet finishes on this page" (RFC 3533 §6). */
export const OGG_NO_GRANULE = -1n;

export interface OggPageFields {
  flags: number;
  granule: bigint;
  serial: number;
  sequence: number;
  /** Lacing values, at most 255. */
  segments: readonly number[];
  /** Page body: the concatenation of the segments' bytes. */
  body: readonly Uint8Array[];
}

/** Serialises one page and fills in its CRC. */
export function encodeOggPage(p: OggPageFields): Buffer {
  if (p.segments.length > OGG_MAX_SEGMENTS) throw new RangeError("an Ogg page holds at most 255 segments");
  const bodyLength = p.body.reduce((n, b) => n + b.length, 0);
  const page = Buffer.alloc(OGG_HEADER_SIZE + p.segments.length + bodyLength);
  OGG_CAPTURE.copy(page, 0);
  page[4] = 0;
  page[5] = p.flags;
  page.writeBigInt64LE(p.granule, 6);
  page.writeUInt32LE(p.serial >>> 0, 14);
  page.writeUInt32LE(p.sequence >>> 0, 18);
  page[26] = p.segments.length;
  let off = OGG_HEADER_SIZE;
  for (const s of p.segments) page[off++] = s;
  for (const b of p.body) {
    page.set(b, off);
    off += b.length;
  }
  page.writeUInt32LE(oggPageCrc(page), OGG_CRC_OFFSET);
  return page;
}
