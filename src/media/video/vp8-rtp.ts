/**
 * RTP payload format for VP8 (RFC 7741): the packetizer splits one frame into RTP payloads, each
 * led by the VP8 payload descriptor; the depacketizer puts frames back together.
 *
 * VP8 payload descriptor (RFC 7741 §4.2):
 *
 *        0 1 2 3 4 5 6 7
 *       +-+-+-+-+-+-+-+-+
 *       |X|R|N|S|R| PID |  (required)
 *       +-+-+-+-+-+-+-+-+
 *    X: |I|L|T|K| RSV   |  (optional)
 *       +-+-+-+-+-+-+-+-+
 *    I: |M| PictureID   |  (optional; M = 1: PictureID is 15 bits and continues in the next byte)
 *       +-+-+-+-+-+-+-+-+
 *       |   PictureID   |
 *       +-+-+-+-+-+-+-+-+
 *    L: |   TL0PICIDX   |  (optional)
 *       +-+-+-+-+-+-+-+-+
 *  T/K: |TID|Y| KEYIDX  |  (optional)
 *       +-+-+-+-+-+-+-+-+
 *
 *   X: extended control bits present; N: non-reference frame; S: start of a VP8 partition;
 *   PID: partition index. A frame starts at the packet with S = 1 and PID = 0 (RFC 7741 §4.2), and
 *   its last packet carries the RTP marker bit (RFC 7741 §4.1); every packet of a frame has the same
 *   RTP timestamp.
 *
 * End-to-end encryption changes what follows the descriptor. Conclave encrypts each whole encoded
 * frame as one SFrame message (RFC 9605 §4.4.3) and packetizes the ciphertext, so:
 *   - the payload after the descriptor is opaque: the VP8 payload header (RFC 7741 §4.3, with the
 *     key-frame bit P) is inside the ciphertext. The descriptor, which is in the clear, says nothing
 *     about content beyond the picture number; we always send one "partition" (PID 0, S = 1 on the
 *     first packet only) and never set N;
 *   - the depacketizer therefore never reads past the descriptor. It cannot tell a key frame from a
 *     delta frame: receivers learn that after decrypting (vp8.ts isVp8Keyframe) and tell the
 *     depacketizer with keyframeReceived(), which clears `needsKeyframe`.
 */

/** Largest PictureID in the 15-bit (M = 1) form (RFC 7741 §4.2). */
export const VP8_MAX_PICTURE_ID = 0x7fff;

export interface Vp8PacketizeOptions {
  /** 15-bit PictureID (RFC 7741 §4.2, M = 1). Omitted: the one-byte descriptor without X. */
  pictureId?: number;
}

/**
 * Splits one frame (normally SFrame ciphertext of a VP8 frame) into RTP payloads of at most
 * `maxPayload` bytes, descriptor included, with sizes as equal as possible. The caller sends them in
 * order with consecutive sequence numbers, one RTP timestamp, and the marker bit on the last one.
 */
export function packetizeVp8(frame: Uint8Array, maxPayload = 1100, opts: Vp8PacketizeOptions = {}): Buffer[] {
  if (frame.length === 0) throw new RangeError("cannot packetize an empty frame");
  const pid = opts.pictureId;
  if (pid !== undefined && (!Number.isInteger(pid) || pid < 0 || pid > VP8_MAX_PICTURE_ID)) {
    throw new RangeError("VP8 PictureID must be an integer from 0 to 32767");
  }
  const descLen = pid === undefined ? 1 : 4;
  if (!Number.isInteger(maxPayload) || maxPayload <= descLen) throw new RangeError(`maxPayload must be an integer above ${descLen}`);
  const room = maxPayload - descLen;
  const count = Math.ceil(frame.length / room);
  const base = Math.floor(frame.length / count);
  const extra = frame.length % count; // the first `extra` packets carry one byte more
  const out: Buffer[] = [];
  let off = 0;
  for (let i = 0; i < count; i++) {
    const size = base + (i < extra ? 1 : 0);
    const p = Buffer.allocUnsafe(descLen + size);
    // X | R | N | S | R | PID: S only on the first packet; PID 0; N never (see file comment).
    p[0] = (pid === undefined ? 0 : 0x80) | (i === 0 ? 0x10 : 0);
    if (pid !== undefined) {
      p[1] = 0x80; // I: PictureID present; L, T, K absent
      p[2] = 0x80 | (pid >> 8); // M = 1: 15-bit PictureID
      p[3] = pid & 0xff;
    }
    p.set(frame.subarray(off, off + size), descLen);
    off += size;
    out.push(p);
  }
  return out;
}

/** What the depacketizer needs from a payload header: does a frame start here, where its data starts. */
export interface PayloadHeader {
  frameStart: boolean;
  /** Bytes taken by the header; the frame data follows. */
  length: number;
  pictureId?: number;
}

export interface Vp8Descriptor extends PayloadHeader {
  /** S = 1 and PID = 0: the first packet of a frame. */
  frameStart: boolean;
  /** N bit. */
  nonReference: boolean;
  partitionIndex: number;
  /** PictureID (7- or 15-bit), if present. */
  pictureId?: number;
  /** Bytes taken by the descriptor; the frame data follows. */
  length: number;
}

/** Parses the RFC 7741 §4.2 payload descriptor. Returns null if the payload is too short for it. */
export function parseVp8Descriptor(payload: Uint8Array): Vp8Descriptor | null {
  if (payload.length < 1) return null;
  const b0 = payload[0]!;
  const d: Vp8Descriptor = {
    frameStart: (b0 & 0x10) !== 0 && (b0 & 0x07) === 0,
    nonReference: (b0 & 0x20) !== 0,
    partitionIndex: b0 & 0x07,
    length: 1,
  };
  if ((b0 & 0x80) === 0) return d;
  if (payload.length < 2) return null;
  const x = payload[1]!;
  let off = 2;
  if (x & 0x80) {
    // I: PictureID, 7 bits, or 15 bits when M is set.
    if (payload.length < off + 1) return null;
    const m = payload[off]!;
    if (m & 0x80) {
      if (payload.length < off + 2) return null;
      d.pictureId = ((m & 0x7f) << 8) | payload[off + 1]!;
      off += 2;
    } else {
      d.pictureId = m & 0x7f;
      off += 1;
    }
  }
  if (x & 0x40) off += 1; // L: TL0PICIDX
  if (x & 0x30) off += 1; // T or K: TID | Y | KEYIDX
  if (payload.length < off) return null;
  d.length = off;
  return d;
}

/** The fields of an RTP packet the depacketizer needs (werift: `{ ...rtp.header, payload: rtp.payload }`). */
export interface RtpPacketLike {
  sequenceNumber: number;
  timestamp: number;
  marker: boolean;
  payload: Uint8Array;
}

export interface Vp8AssembledFrame {
  /** The frame as the sender gave it to packetizeVp8 (descriptors removed). */
  data: Buffer;
  /** RTP timestamp (90 kHz). */
  timestamp: number;
  /** RTP sequence numbers of the first and last packet (16-bit). */
  firstSequence: number;
  lastSequence: number;
  packets: number;
  pictureId?: number;
  /** Packets were lost between the previous emitted frame and this one. */
  discontinuity: boolean;
}

export interface Vp8DepacketizerStats {
  packets: number;
  bytes: number;
  framesEmitted: number;
  /** Incomplete frames given up on (a packet never came). */
  framesDropped: number;
  /** Times a gap was given up on (loss events). */
  lossEvents: number;
  duplicates: number;
  /** Packets for frames already emitted or given up on. */
  late: number;
  /** Payloads too short for their descriptor, or frames over the size limits. */
  malformed: number;
  /** Sequence jumps treated as a restarted sender. */
  resets: number;
}

export interface Vp8DepacketizerOptions {
  /**
   * A gap (missing packets before a complete frame) is given up on once this many complete frames
   * wait behind it (default 2: late packets get about one frame interval; 1: no waiting).
   */
  reorderFrames?: number;
  /** Largest frame in bytes (default 8 MiB); bigger ones are dropped. */
  maxFrameBytes?: number;
  /** Incomplete frames kept at once (default 32); the oldest is dropped beyond that. */
  maxPendingFrames?: number;
  /**
   * Parses the payload header in front of the frame data (default: the VP8 descriptor, RFC 7741
   * §4.2). H264Depacketizer (h264-rtp.ts) reuses this reassembly with its own header.
   */
  parseHeader?: (payload: Uint8Array) => PayloadHeader | null;
  /**
   * For plaintext streams only: recognizes key frames in the reassembled data, so needsKeyframe
   * clears by itself. With SFrame ciphertext leave it out and call keyframeReceived().
   */
  isKeyframe?: (frame: Buffer) => boolean;
}

interface PendingPacket {
  data: Uint8Array;
  start: boolean;
  marker: boolean;
  pictureId?: number;
}

interface PendingFrame {
  timestamp: number;
  packets: Map<number, PendingPacket>;
  minSeq: number;
  startSeq?: number;
  endSeq?: number;
  bytes: number;
  complete: boolean;
}

/** A jump of the sequence number larger than this (either way) means the sender restarted. */
const MAX_SEQ_JUMP = 3000;
const MAX_PACKETS_PER_FRAME = 16384;

/**
 * Reassembles frames from RTP packets in any order within the reorder window, emitting them in
 * sequence order. Works on opaque payloads (SFrame ciphertext): only the descriptor, the timestamp,
 * the sequence number and the marker bit are used. Sequence numbers are unwrapped to a running
 * count, so the 16-bit wrap is invisible.
 *
 * Loss: a frame whose packets do not all arrive is dropped (counted in framesDropped) once later
 * frames are ready, and `needsKeyframe` turns true; the frames after the gap are still emitted, with
 * `discontinuity`, and it is the caller's choice to drop them until a key frame (a VP8 decoder needs
 * one) and to send a key frame request. `needsKeyframe` starts true: a receiver must begin with a key
 * frame.
 */
export class Vp8Depacketizer {
  readonly #reorderFrames: number;
  readonly #maxFrameBytes: number;
  readonly #maxPending: number;
  readonly #isKeyframe: ((frame: Buffer) => boolean) | undefined;
  readonly #parseHeader: (payload: Uint8Array) => PayloadHeader | null;
  readonly #frames = new Map<number, PendingFrame>();
  readonly #stats: Vp8DepacketizerStats = {
    packets: 0,
    bytes: 0,
    framesEmitted: 0,
    framesDropped: 0,
    lossEvents: 0,
    duplicates: 0,
    late: 0,
    malformed: 0,
    resets: 0,
  };
  #highest: number | null = null;
  /** Extended sequence number of the last packet of the last emitted frame (or given-up point). */
  #emittedThrough: number | null = null;
  #gapPending = false;
  #needsKeyframe = true;

  constructor(opts: Vp8DepacketizerOptions = {}) {
    this.#reorderFrames = opts.reorderFrames ?? 2;
    this.#maxFrameBytes = opts.maxFrameBytes ?? 8 * 1024 * 1024;
    this.#maxPending = opts.maxPendingFrames ?? 32;
    this.#isKeyframe = opts.isKeyframe;
    this.#parseHeader = opts.parseHeader ?? parseVp8Descriptor;
    if (!Number.isInteger(this.#reorderFrames) || this.#reorderFrames < 1) throw new RangeError("reorderFrames must be a positive integer");
  }

  get stats(): Readonly<Vp8DepacketizerStats> {
    return { ...this.#stats };
  }

  /** True from the start and after a loss, until keyframeReceived() (or the isKeyframe hook). */
  get needsKeyframe(): boolean {
    return this.#needsKeyframe;
  }

  /** Call when a frame emitted by push() turned out (after decryption) to be a key frame. */
  keyframeReceived(): void {
    this.#needsKeyframe = false;
  }

  /** Adds one packet; returns the frames it completed, oldest first (usually zero or one). */
  push(packet: RtpPacketLike): Vp8AssembledFrame[] {
    const desc = this.#parseHeader(packet.payload);
    if (!desc || desc.length >= packet.payload.length) {
      this.#stats.malformed += 1;
      return [];
    }
    const seq = this.#extend(packet.sequenceNumber & 0xffff);
    this.#stats.packets += 1;
    this.#stats.bytes += packet.payload.length;
    if (this.#emittedThrough !== null && seq <= this.#emittedThrough) {
      this.#stats.late += 1;
      return [];
    }
    const ts = packet.timestamp >>> 0;
    let frame = this.#frames.get(ts);
    if (!frame) {
      frame = { timestamp: ts, packets: new Map(), minSeq: seq, bytes: 0, complete: false };
      this.#frames.set(ts, frame);
    }
    if (frame.packets.has(seq)) {
      this.#stats.duplicates += 1;
      return [];
    }
    const data = packet.payload.subarray(desc.length);
    frame.packets.set(seq, { data, start: desc.frameStart, marker: packet.marker, pictureId: desc.pictureId });
    frame.bytes += data.length;
    frame.minSeq = Math.min(frame.minSeq, seq);
    if (desc.frameStart) frame.startSeq = seq;
    if (packet.marker) frame.endSeq = seq;
    if (frame.bytes > this.#maxFrameBytes || frame.packets.size > MAX_PACKETS_PER_FRAME) {
      this.#frames.delete(ts);
      this.#stats.malformed += 1;
      this.#loss();
      return this.#drain(false);
    }
    frame.complete = isComplete(frame);
    if (this.#frames.size > this.#maxPending) this.#dropOldest();
    return this.#drain(false);
  }

  /** Gives up on every gap: emits the complete frames still waiting and drops the incomplete ones. */
  flush(): Vp8AssembledFrame[] {
    return this.#drain(true);
  }

  #extend(seq16: number): number {
    if (this.#highest === null) {
      this.#highest = seq16;
      return seq16;
    }
    let d = (seq16 - (this.#highest & 0xffff)) & 0xffff;
    if (d >= 0x8000) d -= 0x10000;
    if (Math.abs(d) > MAX_SEQ_JUMP) {
      // The sender restarted (new SSRC state, new random sequence base): start over.
      this.#stats.resets += 1;
      this.#frames.clear();
      this.#emittedThrough = null;
      this.#needsKeyframe = true;
      this.#highest = seq16;
      return seq16;
    }
    const ext = this.#highest + d;
    if (ext > this.#highest) this.#highest = ext;
    return ext;
  }

  #loss(): void {
    this.#gapPending = true;
    this.#needsKeyframe = true;
  }

  #dropOldest(): void {
    let oldest: PendingFrame | undefined;
    for (const f of this.#frames.values()) if (!oldest || f.minSeq < oldest.minSeq) oldest = f;
    if (!oldest) return;
    this.#frames.delete(oldest.timestamp);
    this.#stats.framesDropped += 1;
    this.#loss();
  }

  #drain(force: boolean): Vp8AssembledFrame[] {
    const out: Vp8AssembledFrame[] = [];
    for (;;) {
      const ready = [...this.#frames.values()].filter((f) => f.complete).sort((a, b) => a.startSeq! - b.startSeq!);
      const next = ready[0];
      if (!next) break;
      // Before the first frame, "contiguous" means no older (incomplete) frame is still pending.
      const contiguous =
        this.#emittedThrough === null
          ? ![...this.#frames.values()].some((f) => f !== next && f.minSeq < next.startSeq!)
          : next.startSeq === this.#emittedThrough + 1;
      if (!contiguous && !force && ready.length < this.#reorderFrames) break; // wait for late packets
      if (!contiguous && this.#emittedThrough !== null) this.#loss();
      // Everything older than `next` that is still incomplete will never be emitted.
      // Before the first frame these are only the tail of a frame we joined in the middle of.
      for (const f of [...this.#frames.values()]) {
        if (f !== next && !f.complete && f.minSeq < next.startSeq!) {
          this.#frames.delete(f.timestamp);
          if (this.#emittedThrough !== null) {
            this.#stats.framesDropped += 1;
            this.#loss();
          }
        }
      }
      this.#frames.delete(next.timestamp);
      this.#emittedThrough = next.endSeq!;
      out.push(this.#assemble(next));
    }
    if (force && this.#frames.size > 0) {
      // Only incomplete frames are left: drop them, and their packets become late from now on.
      let last = this.#emittedThrough ?? -Infinity;
      for (const f of this.#frames.values()) {
        this.#stats.framesDropped += 1;
        for (const seq of f.packets.keys()) last = Math.max(last, seq);
      }
      this.#emittedThrough = last;
      this.#frames.clear();
      this.#loss();
    }
    return out;
  }

  #assemble(f: PendingFrame): Vp8AssembledFrame {
    const parts: Uint8Array[] = [];
    for (let s = f.startSeq!; s <= f.endSeq!; s++) parts.push(f.packets.get(s)!.data);
    const data = Buffer.concat(parts);
    const first = f.packets.get(f.startSeq!)!;
    const frame: Vp8AssembledFrame = {
      data,
      timestamp: f.timestamp,
      firstSequence: f.startSeq! & 0xffff,
      lastSequence: f.endSeq! & 0xffff,
      packets: f.endSeq! - f.startSeq! + 1,
      discontinuity: this.#gapPending,
    };
    if (first.pictureId !== undefined) frame.pictureId = first.pictureId;
    if (this.#gapPending) this.#stats.lossEvents += 1;
    this.#gapPending = false;
    this.#stats.framesEmitted += 1;
    if (this.#isKeyframe?.(data)) this.#needsKeyframe = false;
    return frame;
  }
}

function isComplete(f: PendingFrame): boolean {
  if (f.startSeq === undefined || f.endSeq === undefined || f.endSeq < f.startSeq) return false;
  if (f.endSeq - f.startSeq + 1 !== f.packets.size) {
    // Packets outside [start, end] with this timestamp would be a broken sender; require the exact range.
    for (let s = f.startSeq; s <= f.endSeq; s++) if (!f.packets.has(s)) return false;
    return true;
  }
  return true;
}
