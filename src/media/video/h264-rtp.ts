/**
 * H.264 over RTP (RFC 6184, packetization-mode=1) for end-to-end encrypted access units.
 *
 * Conclave encrypts each whole access unit as one SFrame message (RFC 9605 §4.4.3) and packetizes
 * the ciphertext. Ciphertext has no NAL unit structure, so the sender carries it as the body of ONE
 * opaque NAL unit per frame, with a fixed NAL header that is the only byte of the frame in the clear:
 *
 *   opaque NAL header (H.264 §7.3.1), the same for every frame:
 *    0 1 2 3 4 5 6 7
 *   +-+-+-+-+-+-+-+-+
 *   |0|1 1|1 0 1 1 1|   F = 0, NRI = 3 (do not discard), Type = 23 (reserved in H.264 Table 7-1:
 *   +-+-+-+-+-+-+-+-+   "decoders shall ignore" it, so a receiver without the key never decodes ciphertext)
 *
 * A frame that fits in one packet goes as a single NAL unit packet (RFC 6184 §5.6): the opaque NAL
 * header, then the ciphertext. A larger one goes as FU-A fragments (RFC 6184 §5.8), sizes as equal as
 * possible:
 *
 *    0                   1                   2
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 ...
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |F|NRI|  Type   |S|E|R|  Type   |  ciphertext ...  FU indicator: F = 0, NRI = 3, Type = 28
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  FU header: S first, E last, R = 0, Type = 23
 *
 * Every packet of a frame has the same RTP timestamp and the last one carries the marker bit (RFC
 * 6184 §5.1). What is in the clear is therefore the same as with VP8 (vp8-rtp.ts): sizes, timing,
 * the first/last-fragment bits, and a constant header. The NAL type is the same for key and delta
 * frames, so, as with VP8, key frames are not marked (only their size hints at them); the real NAL
 * units, SPS and PPS included, are all inside the ciphertext.
 *
 * The depacketizer accepts only this form (single NAL unit packets and FU-A of type 23); anything
 * else (STAP-A, plaintext slices) is counted as malformed and dropped. It never reads past the
 * two-byte header: receivers learn key-frame-ness after decrypting (h264.ts isH264Keyframe) and tell
 * the depacketizer with keyframeReceived().
 */
import { Vp8Depacketizer, type PayloadHeader, type Vp8DepacketizerOptions } from "./vp8-rtp.js";

/** Type of the opaque NAL unit that carries one encrypted access unit (reserved in H.264 Table 7-1). */
export const H264_OPAQUE_NAL_TYPE = 23;
/** F = 0, NRI = 3, Type = 23. */
export const H264_OPAQUE_NAL_HEADER = 0x60 | H264_OPAQUE_NAL_TYPE;
/** FU-A (RFC 6184 §5.8). */
const FU_A = 28;
/** FU indicator: F = 0, NRI = 3 (copied from the opaque NAL header), Type = FU-A. */
const FU_INDICATOR = 0x60 | FU_A;
const FU_START = 0x80;
const FU_END = 0x40;
const FU_RESERVED = 0x20;

/**
 * Splits one frame (SFrame ciphertext of an access unit) into RTP payloads of at most `maxPayload`
 * bytes. The caller sends them in order with consecutive sequence numbers, one RTP timestamp, and
 * the marker bit on the last one.
 */
export function packetizeH264(frame: Uint8Array, maxPayload = 1100): Buffer[] {
  if (frame.length === 0) throw new RangeError("cannot packetize an empty frame");
  if (!Number.isInteger(maxPayload) || maxPayload <= 2) throw new RangeError("maxPayload must be an integer above 2");
  if (frame.length + 1 <= maxPayload) {
    const p = Buffer.allocUnsafe(frame.length + 1);
    p[0] = H264_OPAQUE_NAL_HEADER;
    p.set(frame, 1);
    return [p];
  }
  const room = maxPayload - 2;
  const count = Math.ceil(frame.length / room); // at least 2 here: S and E never share a packet
  const base = Math.floor(frame.length / count);
  const extra = frame.length % count;
  const out: Buffer[] = [];
  let off = 0;
  for (let i = 0; i < count; i++) {
    const size = base + (i < extra ? 1 : 0);
    const p = Buffer.allocUnsafe(2 + size);
    p[0] = FU_INDICATOR;
    p[1] = (i === 0 ? FU_START : 0) | (i === count - 1 ? FU_END : 0) | H264_OPAQUE_NAL_TYPE;
    p.set(frame.subarray(off, off + size), 2);
    off += size;
    out.push(p);
  }
  return out;
}

export interface H264PayloadHeader extends PayloadHeader {
  /** A single NAL unit packet or the FU-A fragment with S = 1. */
  frameStart: boolean;
  /** FU-A with E = 1, or a single NAL unit packet. */
  frameEnd: boolean;
}

/**
 * Parses the payload header of a packet in the opaque form above. Returns null for anything else:
 * a forbidden bit, another NAL or packet type, an FU with both S and E or the reserved bit, or no
 * data after the header.
 */
export function parseH264PayloadHeader(payload: Uint8Array): H264PayloadHeader | null {
  if (payload.length < 2) return null;
  const b0 = payload[0]!;
  if (b0 === H264_OPAQUE_NAL_HEADER) return { frameStart: true, frameEnd: true, length: 1 };
  if (b0 !== FU_INDICATOR || payload.length < 3) return null;
  const fu = payload[1]!;
  if ((fu & 0x1f) !== H264_OPAQUE_NAL_TYPE || fu & FU_RESERVED) return null;
  const start = (fu & FU_START) !== 0;
  const end = (fu & FU_END) !== 0;
  if (start && end) return null; // RFC 6184 §5.8: one FU never holds a whole NAL unit
  return { frameStart: start, frameEnd: end, length: 2 };
}

export type H264DepacketizerOptions = Omit<Vp8DepacketizerOptions, "parseHeader">;

/**
 * Reassembles encrypted access units from RTP packets in the opaque form above: the same reorder,
 * loss and key-frame logic as Vp8Depacketizer (in any order within the window, emitted in sequence
 * order, `needsKeyframe` after a loss), with the H.264 payload header instead of the VP8 descriptor.
 */
export class H264Depacketizer extends Vp8Depacketizer {
  constructor(opts: H264DepacketizerOptions = {}) {
    super({ ...opts, parseHeader: parseH264PayloadHeader });
  }
}
