/**
 * The few facts about H.264 (ITU-T H.264 | ISO/IEC 14496-10) the media layer needs without decoding:
 * where the NAL units of an access unit are, whether it is a key frame (an IDR picture), the picture
 * size from the sequence parameter set, and the two ways NAL units are framed on the way in and out.
 *
 * NAL unit header, one byte (H.264 §7.3.1):
 *
 *    0 1 2 3 4 5 6 7
 *   +-+-+-+-+-+-+-+-+
 *   |F|NRI|  Type   |   F: forbidden_zero_bit; NRI: nal_ref_idc; Type: nal_unit_type (Table 7-1)
 *   +-+-+-+-+-+-+-+-+
 *
 * Framings:
 *   Annex B byte stream (H.264 Annex B): each NAL unit behind a start code 00 00 01 (or 00 00 00 01).
 *     This is what Conclave hands around as "an H.264 frame": one access unit (all NAL units of one
 *     picture) in Annex B form, with SPS and PPS in front of every IDR picture.
 *   Length-prefixed ("AVCC", ISO/IEC 14496-15 §5.3.3): each NAL unit behind its big-endian length;
 *     the form inside FLV and Matroska (V_MPEG4/ISO/AVC), whose parameter sets travel in an
 *     AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1), built and parsed here.
 *
 * With end-to-end encryption the access unit on the wire is SFrame ciphertext, so only the sender
 * (before encrypting) and receivers (after decrypting) can call these.
 */

/** nal_unit_type values used here (H.264 Table 7-1). */
export const NAL_TYPE = {
  /** Coded slice of a non-IDR picture. */
  slice: 1,
  /** Coded slice of an IDR picture: the access unit is a key frame. */
  idr: 5,
  sei: 6,
  sps: 7,
  pps: 8,
  /** Access unit delimiter. */
  aud: 9,
} as const;

export function nalType(nal: Uint8Array): number {
  return nal.length > 0 ? nal[0]! & 0x1f : -1;
}

/**
 * Splits an Annex B byte stream (one or more whole NAL units) into NAL units, start codes and
 * trailing zero bytes (H.264 B.1.1 trailing_zero_8bits) removed. Bytes before the first start code
 * are ignored. The results are views into `data`.
 */
export function splitAnnexB(data: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let start = -1;
  let i = 0;
  const n = data.length;
  while (i + 2 < n) {
    if (data[i] === 0 && data[i + 1] === 0 && data[i + 2] === 1) {
      if (start >= 0) pushNal(out, data, start, i);
      i += 3;
      start = i;
      continue;
    }
    i += 1;
  }
  if (start >= 0) pushNal(out, data, start, n);
  return out;
}

function pushNal(out: Uint8Array[], data: Uint8Array, start: number, end: number): void {
  let e = end;
  while (e > start && data[e - 1] === 0) e -= 1; // the zero before a 4-byte start code, or trailing zeros
  if (e > start) out.push(data.subarray(start, e));
}

const START_CODE = Buffer.from([0, 0, 0, 1]);

/** Joins NAL units into one Annex B access unit, each behind a 4-byte start code. */
export function joinAnnexB(nals: readonly Uint8Array[]): Buffer {
  const parts: Uint8Array[] = [];
  for (const nal of nals) parts.push(START_CODE, nal);
  return Buffer.concat(parts);
}

/** Length-prefixed NAL units (ISO/IEC 14496-15 §5.3.3), each behind a 4-byte big-endian length. */
export function toLengthPrefixed(nals: readonly Uint8Array[]): Buffer {
  let total = 0;
  for (const nal of nals) total += 4 + nal.length;
  const out = Buffer.allocUnsafe(total);
  let off = 0;
  for (const nal of nals) {
    out.writeUInt32BE(nal.length, off);
    out.set(nal, off + 4);
    off += 4 + nal.length;
  }
  return out;
}

/**
 * Splits length-prefixed NAL units (`lengthSize` 1, 2 or 4 bytes). Returns null when a length runs
 * past the end of the data.
 */
export function splitLengthPrefixed(data: Uint8Array, lengthSize: number): Uint8Array[] | null {
  const out: Uint8Array[] = [];
  let off = 0;
  while (off < data.length) {
    if (off + lengthSize > data.length) return null;
    let len = 0;
    for (let k = 0; k < lengthSize; k++) len = len * 256 + data[off + k]!;
    off += lengthSize;
    if (off + len > data.length) return null;
    if (len > 0) out.push(data.subarray(off, off + len));
    off += len;
  }
  return out;
}

/** Whether the Annex B access unit holds a coded slice of an IDR picture (nal_unit_type 5). */
export function isH264Keyframe(accessUnit: Uint8Array): boolean {
  for (const nal of splitAnnexB(accessUnit)) if (nalType(nal) === NAL_TYPE.idr) return true;
  return false;
}

export interface H264FrameInfo {
  keyframe: boolean;
  /** From the SPS in this access unit, if it carries one. */
  width?: number;
  height?: number;
}

/** Key-frame flag and (when the access unit carries an SPS) the picture size. */
export function parseH264AccessUnit(accessUnit: Uint8Array): H264FrameInfo {
  const info: H264FrameInfo = { keyframe: false };
  for (const nal of splitAnnexB(accessUnit)) {
    const type = nalType(nal);
    if (type === NAL_TYPE.idr) info.keyframe = true;
    else if (type === NAL_TYPE.sps && info.width === undefined) {
      const sps = parseSps(nal);
      if (sps) {
        info.width = sps.width;
        info.height = sps.height;
      }
    }
  }
  return info;
}

export interface SpsInfo {
  profileIdc: number;
  /** constraint_set0..5 flags and reserved bits, as one byte. */
  constraintFlags: number;
  levelIdc: number;
  /** Picture size after frame cropping. */
  width: number;
  height: number;
}

/** RBSP: the NAL unit payload with emulation prevention bytes (00 00 03 → 00 00) removed (H.264 §7.4.1). */
function rbsp(nal: Uint8Array): Uint8Array {
  const out = new Uint8Array(nal.length);
  let n = 0;
  let zeros = 0;
  for (let i = 1; i < nal.length; i++) {
    const b = nal[i]!;
    if (zeros >= 2 && b === 3) {
      zeros = 0;
      continue;
    }
    zeros = b === 0 ? zeros + 1 : 0;
    out[n++] = b;
  }
  return out.subarray(0, n);
}

class BitReader {
  #pos = 0;
  constructor(private readonly data: Uint8Array) {}
  u(bits: number): number {
    let v = 0;
    for (let i = 0; i < bits; i++) {
      const byte = this.data[this.#pos >> 3];
      if (byte === undefined) throw new RangeError("SPS ends early");
      v = v * 2 + ((byte >> (7 - (this.#pos & 7))) & 1);
      this.#pos += 1;
    }
    return v;
  }
  /** ue(v), Exp-Golomb (H.264 §9.1). */
  ue(): number {
    let zeros = 0;
    while (this.u(1) === 0) {
      zeros += 1;
      if (zeros > 31) throw new RangeError("Exp-Golomb code too long");
    }
    return 2 ** zeros - 1 + this.u(zeros);
  }
  /** se(v) (H.264 §9.1.1). */
  se(): number {
    const k = this.ue();
    return k % 2 === 1 ? (k + 1) / 2 : -(k / 2);
  }
}

/** Profiles whose SPS carries chroma_format_idc and the fields after it (H.264 §7.3.2.1.1). */
const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

/**
 * Parses a sequence parameter set NAL unit (header byte included) far enough for the picture size
 * (H.264 §7.3.2.1.1, cropping per §7.4.2.1.1). Returns null if it is not a well-formed SPS.
 */
export function parseSps(nal: Uint8Array): SpsInfo | null {
  if (nalType(nal) !== NAL_TYPE.sps || nal.length < 4) return null;
  try {
    const r = new BitReader(rbsp(nal));
    const profileIdc = r.u(8);
    const constraintFlags = r.u(8);
    const levelIdc = r.u(8);
    r.ue(); // seq_parameter_set_id
    let chromaFormatIdc = 1;
    let separateColourPlane = 0;
    if (HIGH_PROFILES.has(profileIdc)) {
      chromaFormatIdc = r.ue();
      if (chromaFormatIdc > 3) return null;
      if (chromaFormatIdc === 3) separateColourPlane = r.u(1);
      r.ue(); // bit_depth_luma_minus8
      r.ue(); // bit_depth_chroma_minus8
      r.u(1); // qpprime_y_zero_transform_bypass_flag
      if (r.u(1)) {
        // seq_scaling_matrix_present_flag: skip the scaling lists (§7.3.2.1.1.1).
        const lists = chromaFormatIdc !== 3 ? 8 : 12;
        for (let i = 0; i < lists; i++) {
          if (!r.u(1)) continue;
          const size = i < 6 ? 16 : 64;
          let last = 8;
          let next = 8;
          for (let j = 0; j < size; j++) {
            if (next !== 0) next = (last + r.se() + 256) % 256;
            last = next === 0 ? last : next;
          }
        }
      }
    }
    r.ue(); // log2_max_frame_num_minus4
    const pocType = r.ue();
    if (pocType === 0) {
      r.ue(); // log2_max_pic_order_cnt_lsb_minus4
    } else if (pocType === 1) {
      r.u(1); // delta_pic_order_always_zero_flag
      r.se(); // offset_for_non_ref_pic
      r.se(); // offset_for_top_to_bottom_field
      const cycle = r.ue();
      if (cycle > 255) return null;
      for (let i = 0; i < cycle; i++) r.se();
    } else if (pocType !== 2) {
      return null;
    }
    r.ue(); // max_num_ref_frames
    r.u(1); // gaps_in_frame_num_value_allowed_flag
    const widthMbs = r.ue() + 1;
    const heightMapUnits = r.ue() + 1;
    const frameMbsOnly = r.u(1);
    if (!frameMbsOnly) r.u(1); // mb_adaptive_frame_field_flag
    r.u(1); // direct_8x8_inference_flag
    let crop = [0, 0, 0, 0];
    if (r.u(1)) crop = [r.ue(), r.ue(), r.ue(), r.ue()];
    // §7.4.2.1.1: crop units depend on ChromaArrayType (SubWidthC, SubHeightC from Table 6-1).
    const chromaArrayType = separateColourPlane ? 0 : chromaFormatIdc;
    const subWidth = chromaArrayType === 1 || chromaArrayType === 2 ? 2 : 1;
    const subHeight = chromaArrayType === 1 ? 2 : 1;
    const cropUnitX = chromaArrayType === 0 ? 1 : subWidth;
    const cropUnitY = (chromaArrayType === 0 ? 1 : subHeight) * (2 - frameMbsOnly);
    const width = widthMbs * 16 - cropUnitX * (crop[0]! + crop[1]!);
    const height = (2 - frameMbsOnly) * heightMapUnits * 16 - cropUnitY * (crop[2]! + crop[3]!);
    if (width <= 0 || height <= 0) return null;
    return { profileIdc, constraintFlags, levelIdc, width, height };
  } catch {
    return null;
  }
}

export interface AvcConfig {
  profileIdc: number;
  constraintFlags: number;
  levelIdc: number;
  /** Bytes in each NAL unit length prefix (1, 2 or 4). */
  lengthSize: number;
  sps: Uint8Array[];
  pps: Uint8Array[];
}

/**
 * AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1), the Matroska CodecPrivate of
 * V_MPEG4/ISO/AVC, with 4-byte NAL unit lengths:
 *
 *   +---+-------+------+-----+-----------+-----------+------------------+-----+------------------+
 *   | 1 |profile|compat|level|111111 LL  |111 nSPS   | (len16, SPS) ... |nPPS | (len16, PPS) ... |
 *   +---+-------+------+-----+-----------+-----------+------------------+-----+------------------+
 *   LL = lengthSizeMinusOne (3); profile, compat and level are bytes 1–3 of the first SPS.
 */
export function encodeAvcConfig(sps: readonly Uint8Array[], pps: readonly Uint8Array[]): Buffer {
  const first = sps[0];
  if (!first || first.length < 4 || pps.length === 0) throw new RangeError("an AVC configuration needs an SPS and a PPS");
  if (sps.length > 31 || pps.length > 255) throw new RangeError("too many parameter sets");
  const parts: Uint8Array[] = [Buffer.from([1, first[1]!, first[2]!, first[3]!, 0xfc | 3, 0xe0 | sps.length])];
  for (const s of sps) parts.push(u16(s.length), s);
  parts.push(Buffer.from([pps.length]));
  for (const p of pps) parts.push(u16(p.length), p);
  return Buffer.concat(parts);
}

function u16(v: number): Buffer {
  if (v > 0xffff) throw new RangeError("parameter set longer than 65535 bytes");
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return b;
}

/** Parses an AVCDecoderConfigurationRecord; null if malformed. */
export function parseAvcConfig(data: Uint8Array): AvcConfig | null {
  if (data.length < 7 || data[0] !== 1) return null;
  const lengthSize = (data[4]! & 3) + 1;
  if (lengthSize === 3) return null;
  let off = 5;
  const take = (count: number): Uint8Array[] | null => {
    const list: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      if (off + 2 > data.length) return null;
      const len = (data[off]! << 8) | data[off + 1]!;
      off += 2;
      if (off + len > data.length || len === 0) return null;
      list.push(data.subarray(off, off + len));
      off += len;
    }
    return list;
  };
  const sps = take(data[off++]! & 0x1f);
  if (!sps || off >= data.length) return null;
  const pps = take(data[off++]!);
  if (!pps) return null;
  return { profileIdc: data[1]!, constraintFlags: data[2]!, levelIdc: data[3]!, lengthSize, sps, pps };
}
