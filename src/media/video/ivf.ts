/**
 * IVF, the minimal container libvpx and ffmpeg use for VP8 on a pipe: a 32-byte file header, then
 * each frame behind a 12-byte frame header. It is not an RFC; the layout is libvpx's (ivfenc.c /
 * ivfdec.c) and ffmpeg's ivf muxer and demuxer follow it. All integers are little-endian.
 *
 *   file header, 32 bytes:
 *    0       4       8      12      16              24      28      32
 *   +-------+---+---+-------+---+---+-------+-------+-------+-------+
 *   | DKIF  |ver|hdr| FourCC| W | H | rate  | scale | count | unused|
 *   +-------+---+---+-------+---+---+-------+-------+-------+-------+
 *   ver: 0; hdr: header length (32); FourCC: "VP80" for VP8; W, H: 16-bit pixels;
 *   rate / scale: time base denominator / numerator (pts unit = scale/rate seconds);
 *   count: number of frames (ffmpeg writes 0xffffffff on a pipe, where it cannot seek back).
 *
 *   frame header, 12 bytes, followed by `size` bytes of frame data:
 *    0       4                       12
 *   +-------+-----------------------+
 *   | size  | pts (64-bit)          |
 *   +-------+-----------------------+
 *
 * IvfReader parses a stream incrementally (ffmpeg's stdout arrives in arbitrary chunks); the two
 * encoders produce the bytes VideoPreview pipes into a decoding ffmpeg.
 */
import { MediaError } from "../../errors.js";
import { parseVp8Frame } from "./vp8.js";

export const IVF_FILE_HEADER_SIZE = 32;
export const IVF_FRAME_HEADER_SIZE = 12;
const SIGNATURE = "DKIF";
/** Frames above this size are treated as a corrupt stream rather than buffered. */
const MAX_FRAME_SIZE = 32 * 1024 * 1024;

export interface IvfHeader {
  /** Codec FourCC, e.g. "VP80". */
  fourcc: string;
  width: number;
  height: number;
  /** Time base as a fraction of a second: pts × timebaseNum / timebaseDen seconds. */
  timebaseNum: number;
  timebaseDen: number;
  /** Frame count field (0xffffffff or 0 when the writer did not know it). */
  frameCount: number;
}

export interface IvfFrame {
  data: Buffer;
  /** Presentation timestamp in header time-base units. */
  pts: number;
  /** VP8: bit 0 of the first byte is 0 (RFC 6386 §9.1). Always false for other FourCCs. */
  keyframe: boolean;
  /** Picture size: from the latest VP8 key frame, else from the file header. */
  width: number;
  height: number;
}

/** Parses a 32-byte IVF file header. Throws MediaError "ivf-invalid" when it is not one. */
export function parseIvfHeader(bytes: Uint8Array): IvfHeader {
  if (bytes.length < IVF_FILE_HEADER_SIZE) throw new MediaError("IVF header is shorter than 32 bytes", "ivf-invalid");
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.toString("latin1", 0, 4) !== SIGNATURE) throw new MediaError("not an IVF stream (no DKIF signature)", "ivf-invalid");
  const headerSize = b.readUInt16LE(6);
  if (headerSize < IVF_FILE_HEADER_SIZE) throw new MediaError(`IVF header length ${headerSize} is below 32`, "ivf-invalid");
  const timebaseDen = b.readUInt32LE(16);
  const timebaseNum = b.readUInt32LE(20);
  if (timebaseDen === 0 || timebaseNum === 0) throw new MediaError("IVF header has a zero time base", "ivf-invalid");
  return {
    fourcc: b.toString("latin1", 8, 12),
    width: b.readUInt16LE(12),
    height: b.readUInt16LE(14),
    timebaseNum,
    timebaseDen,
    frameCount: b.readUInt32LE(24),
  };
}

export interface IvfHeaderFields {
  fourcc?: string;
  width: number;
  height: number;
  /** Time base numerator and denominator (default 1/1000: pts in milliseconds). */
  timebaseNum?: number;
  timebaseDen?: number;
  frameCount?: number;
}

/** Encodes a 32-byte IVF file header. */
export function encodeIvfHeader(fields: IvfHeaderFields): Buffer {
  const fourcc = fields.fourcc ?? "VP80";
  if (!/^[\x20-\x7e]{4}$/.test(fourcc)) throw new RangeError("IVF FourCC must be 4 printable ASCII characters");
  for (const [name, v] of [["width", fields.width], ["height", fields.height]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new RangeError(`IVF ${name} must be an integer 0..65535`);
  }
  const num = fields.timebaseNum ?? 1;
  const den = fields.timebaseDen ?? 1000;
  if (!Number.isInteger(num) || !Number.isInteger(den) || num < 1 || den < 1 || num > 0xffffffff || den > 0xffffffff) {
    throw new RangeError("IVF time base must be positive 32-bit integers");
  }
  const h = Buffer.alloc(IVF_FILE_HEADER_SIZE);
  h.write(SIGNATURE, 0, "latin1");
  h.writeUInt16LE(0, 4); // version
  h.writeUInt16LE(IVF_FILE_HEADER_SIZE, 6);
  h.write(fourcc, 8, "latin1");
  h.writeUInt16LE(fields.width, 12);
  h.writeUInt16LE(fields.height, 14);
  h.writeUInt32LE(den, 16); // rate
  h.writeUInt32LE(num, 20); // scale
  h.writeUInt32LE((fields.frameCount ?? 0) >>> 0, 24);
  return h;
}

/** Encodes one frame: the 12-byte frame header followed by the data (one buffer). */
export function encodeIvfFrame(data: Uint8Array, pts: number): Buffer {
  if (!Number.isSafeInteger(pts) || pts < 0) throw new RangeError("IVF pts must be a non-negative safe integer");
  const out = Buffer.allocUnsafe(IVF_FRAME_HEADER_SIZE + data.length);
  out.writeUInt32LE(data.length, 0);
  out.writeBigUInt64LE(BigInt(pts), 4);
  out.set(data, IVF_FRAME_HEADER_SIZE);
  return out;
}

/**
 * Incremental IVF parser. `push()` takes bytes as they arrive and returns the frames completed by
 * them; `header` is available once the first 32 bytes have been seen. Throws MediaError
 * "ivf-invalid" on a stream that is not IVF (after which the reader stays failed).
 */
export class IvfReader {
  #buf: Buffer = Buffer.alloc(0);
  #header: IvfHeader | null = null;
  #headerSize = IVF_FILE_HEADER_SIZE;
  #width = 0;
  #height = 0;
  #frames = 0;
  #failed: MediaError | null = null;

  get header(): IvfHeader | null {
    return this.#header;
  }

  /** Frames parsed so far. */
  get frames(): number {
    return this.#frames;
  }

  /** Bytes received that do not yet form a complete header or frame. */
  get bufferedBytes(): number {
    return this.#buf.length;
  }

  push(chunk: Uint8Array): IvfFrame[] {
    if (this.#failed) throw this.#failed;
    this.#buf = this.#buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.#buf, chunk]);
    const out: IvfFrame[] = [];
    try {
      let off = 0;
      if (!this.#header) {
        if (this.#buf.length < IVF_FILE_HEADER_SIZE) return out;
        const header = parseIvfHeader(this.#buf);
        this.#headerSize = this.#buf.readUInt16LE(6);
        if (this.#buf.length < this.#headerSize) return out;
        this.#header = header;
        this.#width = header.width;
        this.#height = header.height;
        off = this.#headerSize;
      }
      while (this.#buf.length - off >= IVF_FRAME_HEADER_SIZE) {
        const size = this.#buf.readUInt32LE(off);
        if (size > MAX_FRAME_SIZE) throw new MediaError(`IVF frame of ${size} bytes exceeds the ${MAX_FRAME_SIZE}-byte limit`, "ivf-invalid");
        if (this.#buf.length - off < IVF_FRAME_HEADER_SIZE + size) break;
        const pts = Number(this.#buf.readBigUInt64LE(off + 4));
        // A copy, so the frame does not pin the (possibly large) receive buffer.
        const data = Buffer.from(this.#buf.subarray(off + IVF_FRAME_HEADER_SIZE, off + IVF_FRAME_HEADER_SIZE + size));
        off += IVF_FRAME_HEADER_SIZE + size;
        out.push(this.#frame(data, pts));
      }
      this.#buf = off === this.#buf.length ? Buffer.alloc(0) : this.#buf.subarray(off);
      return out;
    } catch (err) {
      this.#failed = err instanceof MediaError ? err : new MediaError(String(err), "ivf-invalid");
      throw this.#failed;
    }
  }

  #frame(data: Buffer, pts: number): IvfFrame {
    this.#frames += 1;
    let keyframe = false;
    if (this.#header!.fourcc === "VP80") {
      const info = parseVp8Frame(data);
      keyframe = info?.keyframe ?? false;
      if (info?.width && info.height) {
        this.#width = info.width;
        this.#height = info.height;
      }
    }
    return { data, pts, keyframe, width: this.#width, height: this.#height };
  }
}
