/**
 * The few facts about a VP8 frame that the media layer needs without decoding it: is it a key frame,
 * and, for key frames, the picture size. Everything comes from the uncompressed data chunk at the
 * start of every frame (RFC 6386 §9.1):
 *
 *   frame tag, 3 bytes, little-endian (RFC 6386 §9.1):
 *    0                   1                   2
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3
 *   +-+-----+-+-------------------------------------+
 *   |P| VER |S|       first_part_size (19 bits)     |   P = 0: key frame; S = show_frame
 *   +-+-----+-+-------------------------------------+   (bit 0 is the least significant bit of byte 0)
 *
 *   key frames only, 7 more bytes (RFC 6386 §9.1):
 *   +-----------------+---------------------+---------------------+
 *   | 9d 01 2a        | width: 14 bits      | height: 14 bits     |
 *   | start code      | + 2 bits h. scale   | + 2 bits v. scale   |   (each 16 bits, little-endian)
 *   +-----------------+---------------------+---------------------+
 *
 * With end-to-end encryption the frame on the wire is SFrame ciphertext, so only the sender (before
 * encrypting) and receivers (after decrypting) can call these.
 */

export interface Vp8FrameInfo {
  keyframe: boolean;
  /** RFC 6386 §9.1 version number (0–3). */
  version: number;
  /** Whether the decoder should display the frame (altref frames are not shown). */
  showFrame: boolean;
  /** Size of the first partition in bytes. */
  firstPartitionSize: number;
  /** Picture width and height in pixels (key frames only, else undefined). */
  width?: number;
  height?: number;
}

/** The key-frame start code (RFC 6386 §9.1). */
const START_CODE = [0x9d, 0x01, 0x2a] as const;

/** Whether `frame` is a VP8 key frame: bit 0 of the first byte is 0 (RFC 6386 §9.1). */
export function isVp8Keyframe(frame: Uint8Array): boolean {
  return frame.length > 0 && (frame[0]! & 0x01) === 0;
}

/**
 * Parses the uncompressed data chunk of a VP8 frame. Returns null when the bytes cannot be a VP8
 * frame (too short, or a key frame without its start code).
 */
export function parseVp8Frame(frame: Uint8Array): Vp8FrameInfo | null {
  if (frame.length < 3) return null;
  const tag = frame[0]! | (frame[1]! << 8) | (frame[2]! << 16);
  const keyframe = (tag & 0x01) === 0;
  const info: Vp8FrameInfo = {
    keyframe,
    version: (tag >> 1) & 0x07,
    showFrame: ((tag >> 4) & 0x01) === 1,
    firstPartitionSize: (tag >> 5) & 0x7ffff,
  };
  if (!keyframe) return info;
  if (frame.length < 10) return null;
  if (frame[3] !== START_CODE[0] || frame[4] !== START_CODE[1] || frame[5] !== START_CODE[2]) return null;
  info.width = (frame[6]! | (frame[7]! << 8)) & 0x3fff;
  info.height = (frame[8]! | (frame[9]! << 8)) & 0x3fff;
  return info;
}
