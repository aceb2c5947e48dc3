/**
 * H.264 access units from ffmpeg's FLV output. An H.264 source's ffmpeg writes FLV to its stdout
 * rather than a raw Annex B stream: in a raw stream the end of an access unit is only known when the
 * next one starts, which would hold every frame back by one frame interval; FLV frames each access
 * unit with its size and timestamp, so a frame leaves as soon as ffmpeg wrote it. The reader turns
 * each one into what the rest of Conclave calls an H.264 frame: one Annex B access unit (h264.ts),
 * SPS and PPS in front of every IDR picture.
 *
 * Layout (Adobe Flash Video File Format Specification 10.1, Annex E; integers big-endian):
 *
 *   header (E.2), 9 bytes, then PreviousTagSize0 (UI32, 0):
 *   +---+---+---+-------+-------+-----------------+
 *   | F | L | V |version| flags | DataOffset UI32 |   DataOffset: header length (9)
 *   +---+---+---+-------+-------+-----------------+
 *
 *   tag (E.4.1), 11 bytes, then DataSize bytes, then PreviousTagSize (UI32, 11 + DataSize):
 *   +-------+----------------+----------------+-------+----------------+
 *   | type  | DataSize UI24  | Timestamp UI24 | TsExt | StreamID UI24  |   type 9: video
 *   +-------+----------------+----------------+-------+----------------+   Timestamp: ms (+ TsExt << 24)
 *
 *   video data (E.4.3.1) with CodecID 7 (AVC):
 *   +--------+--------+----------------+------------------------------------------+
 *   |FT | ID | AVCPT  | CompTime SI24  | AVCPT 0: AVCDecoderConfigurationRecord   |
 *   +--------+--------+----------------+ AVCPT 1: length-prefixed NAL units        |
 *                                       +------------------------------------------+
 *   FT: frame type (1 key frame, 2 inter frame); presentation time = Timestamp + CompTime.
 */
import { MediaError } from "../../errors.js";
import { NAL_TYPE, joinAnnexB, nalType, parseAvcConfig, parseSps, splitLengthPrefixed, type AvcConfig } from "./h264.js";

const FLV_HEADER_MIN = 9;
const TAG_HEADER_SIZE = 11;
const TAG_VIDEO = 9;
const CODEC_AVC = 7;
const AVC_SEQUENCE_HEADER = 0;
const AVC_NALU = 1;
/** Tags above this size are treated as a corrupt stream rather than buffered. */
const MAX_TAG_SIZE = 32 * 1024 * 1024;

export interface H264AccessUnit {
  /** One Annex B access unit; SPS and PPS precede the slices of every IDR picture. */
  data: Buffer;
  /** Presentation time in milliseconds (FLV's time base). */
  ptsMs: number;
  /** Contains an IDR picture (nal_unit_type 5). */
  keyframe: boolean;
  /** Picture size from the latest SPS (0 before one was seen). */
  width: number;
  height: number;
}

/**
 * Incremental FLV reader for one H.264 video stream: `push()` takes stdout bytes as they arrive and
 * returns the access units they completed. Other tags (script data, audio) are skipped. Throws
 * MediaError "flv-invalid" on a stream that is not FLV, after which the reader stays failed.
 */
export class FlvH264Reader {
  #buf: Buffer = Buffer.alloc(0);
  #headerDone = false;
  #config: AvcConfig | null = null;
  #width = 0;
  #height = 0;
  #failed: MediaError | null = null;

  /** Bytes received that do not yet form a complete header or tag. */
  get bufferedBytes(): number {
    return this.#buf.length;
  }

  push(chunk: Uint8Array): H264AccessUnit[] {
    if (this.#failed) throw this.#failed;
    this.#buf = this.#buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.#buf, chunk]);
    const out: H264AccessUnit[] = [];
    try {
      let off = 0;
      if (!this.#headerDone) {
        if (this.#buf.length < FLV_HEADER_MIN) return out;
        if (this.#buf.toString("latin1", 0, 3) !== "FLV") throw new MediaError("not an FLV stream (no FLV signature)", "flv-invalid");
        const dataOffset = this.#buf.readUInt32BE(5);
        if (dataOffset < FLV_HEADER_MIN || dataOffset > 1024) throw new MediaError(`FLV header length ${dataOffset} is invalid`, "flv-invalid");
        if (this.#buf.length < dataOffset + 4) return out;
        off = dataOffset + 4; // header + PreviousTagSize0
        this.#headerDone = true;
      }
      while (this.#buf.length - off >= TAG_HEADER_SIZE) {
        const type = this.#buf[off]! & 0x1f;
        const size = this.#buf.readUIntBE(off + 1, 3);
        if (size > MAX_TAG_SIZE) throw new MediaError(`FLV tag of ${size} bytes exceeds the limit`, "flv-invalid");
        const total = TAG_HEADER_SIZE + size + 4;
        if (this.#buf.length - off < total) break;
        const timestamp = this.#buf.readUIntBE(off + 4, 3) + this.#buf[off + 7]! * 0x1000000;
        if (type === TAG_VIDEO) {
          const au = this.#video(this.#buf.subarray(off + TAG_HEADER_SIZE, off + TAG_HEADER_SIZE + size), timestamp);
          if (au) out.push(au);
        }
        off += total;
      }
      this.#buf = off === this.#buf.length ? Buffer.alloc(0) : this.#buf.subarray(off);
      return out;
    } catch (err) {
      this.#failed = err instanceof MediaError ? err : new MediaError(String(err), "flv-invalid");
      throw this.#failed;
    }
  }

  #video(data: Buffer, timestamp: number): H264AccessUnit | null {
    if (data.length < 5 || (data[0]! & 0x0f) !== CODEC_AVC) return null;
    const packetType = data[1]!;
    const compositionTime = (data.readIntBE(2, 3));
    const body = data.subarray(5);
    if (packetType === AVC_SEQUENCE_HEADER) {
      const config = parseAvcConfig(body);
      if (!config) throw new MediaError("malformed AVC configuration in FLV", "flv-invalid");
      this.#config = config;
      this.#size(config.sps[0]);
      return null;
    }
    if (packetType !== AVC_NALU) return null;
    const nals = splitLengthPrefixed(body, this.#config?.lengthSize ?? 4);
    if (!nals) throw new MediaError("malformed NAL unit lengths in FLV", "flv-invalid");
    if (nals.length === 0) return null;
    let keyframe = false;
    let hasSps = false;
    for (const nal of nals) {
      const t = nalType(nal);
      if (t === NAL_TYPE.idr) keyframe = true;
      if (t === NAL_TYPE.sps) {
        hasSps = true;
        this.#size(nal);
      }
    }
    // Every key frame carries its parameter sets, so a receiver can start at any of them.
    const withHeaders = keyframe && !hasSps && this.#config ? [...this.#config.sps, ...this.#config.pps, ...nals] : nals;
    return { data: joinAnnexB(withHeaders), ptsMs: timestamp + compositionTime, keyframe, width: this.#width, height: this.#height };
  }

  #size(sps: Uint8Array | undefined): void {
    const info = sps ? parseSps(sps) : null;
    if (info) {
      this.#width = info.width;
      this.#height = info.height;
    }
  }
}
