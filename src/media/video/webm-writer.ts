/**
 * A live WebM writer (Matroska, RFC 9559, with DocType "webm") for one participant's VP8 video and
 * Opus audio, copying the encoded frames as they are: no re-encoding. With `video.codec: "h264"` it
 * writes Matroska (DocType "matroska", a .mkv file; WebM has no H.264) with an H.264 track instead:
 * CodecID V_MPEG4/ISO/AVC, CodecPrivate the AVCDecoderConfigurationRecord built from the SPS and
 * PPS of the first key frame (h264.ts), and each access unit as one block of length-prefixed NAL
 * units (the Annex B start codes replaced by 4-byte lengths; the NAL units themselves untouched, SPS
 * and PPS stay in band before every IDR picture).
 *
 * File layout, written front to back:
 *
 *   EBML header            DocType "webm", DocTypeVersion 4, DocTypeReadVersion 2
 *   Segment                size "unknown" (RFC 8794 §6.2) while recording; patched on close()
 *     Void (96 bytes)      reserved; becomes SeekHead (→ Info, Tracks, Cues) + Void on close()
 *     Info                 TimestampScale 1 ms, MuxingApp/WritingApp "conclave", [Title],
 *                          Void (11 bytes) that becomes Duration on close()
 *     Tracks               video track (V_VP8, PixelWidth, PixelHeight) and/or
 *                          audio track (A_OPUS, CodecPrivate = OpusHead, 48000 Hz, CodecDelay,
 *                          SeekPreRoll 80 ms); numbered 1, 2 in that order
 *     Cluster …            known size, Timestamp + SimpleBlocks, each cluster one write() call
 *     Cues                 on close() only: one CuePoint per cluster that starts a GOP
 *
 * Survival: a cluster reaches the file only once complete, in one synchronous write, so a process
 * killed with SIGKILL leaves a file that ends after its last complete cluster (plus, rarely, a
 * partial one that readers stop at). Everything a player needs (header, tracks) precedes the first
 * cluster, so the file is readable while it is being written and after a crash; what is lost is the
 * cluster in memory, at most ~1.5 s plus the reorder delay. A clean close() adds Cues, SeekHead,
 * Duration and the Segment size, so players can seek.
 *
 * Timestamps: callers pass milliseconds on one clock shared by audio and video (e.g. RTP timestamps
 * converted with a per-sender offset). The first block written becomes time 0. Blocks wait
 * `reorderMs` (default 300 ms) in memory so audio and video that arrive slightly out of step are
 * still written in timestamp order. Per track, timestamps must not go backwards: one that does is
 * moved forward to the previous one (counted in `clamped`), as is a block that arrives after its
 * cluster was already written. Video before the first key frame is dropped: a file must start
 * decodable.
 *
 * Clusters: a new cluster starts at a video key frame once the current one spans 1/4 of `clusterMs`
 * (default 1000 ms), so clusters start on GOPs where possible; otherwise after `clusterMs`
 * (audio-only) or 1.5 × `clusterMs` (with video, leaving room for a key frame that is due). Block
 * timestamps are relative to the cluster and must fit in a signed 16-bit field (RFC 9559, SimpleBlock
 * structure), which these bounds guarantee.
 *
 * SimpleBlock (RFC 9559 Block structure, track number < 127 so its VINT is one byte):
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |1| track (7)   |  timestamp relative to the cluster (int16)    |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |K|rsv  |I|LAC|D|  frame data …                                 |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   K: key frame (set for VP8 key frames and for every Opus packet); I: invisible;
 *   LAC: lacing (00, none, here); D: discardable.
 */
import fs from "node:fs";
import { randomInt } from "node:crypto";
import { MediaError } from "../../errors.js";
import { opusPacketSamples } from "../opus.js";
import { encodeOpusHead } from "../ogg/writer.js";
import {
  EBML_UNKNOWN_SIZE,
  ebmlElement,
  ebmlFloat,
  ebmlMaster,
  ebmlString,
  ebmlUint,
  ebmlUint64,
  ebmlUtf8,
  ebmlVoid,
  encodeElementId,
  encodeVintSize,
} from "./ebml.js";
import { parseVp8Frame } from "./vp8.js";
import { NAL_TYPE, encodeAvcConfig, nalType, parseSps, splitAnnexB, toLengthPrefixed } from "./h264.js";

/** Element IDs: the EBML header's from RFC 8794, the rest from the Matroska schema in RFC 9559. */
const ID = {
  EBML: 0x1a45dfa3,
  EBMLVersion: 0x4286,
  EBMLReadVersion: 0x42f7,
  EBMLMaxIDLength: 0x42f2,
  EBMLMaxSizeLength: 0x42f3,
  DocType: 0x4282,
  DocTypeVersion: 0x4287,
  DocTypeReadVersion: 0x4285,
  Segment: 0x18538067,
  SeekHead: 0x114d9b74,
  Seek: 0x4dbb,
  SeekID: 0x53ab,
  SeekPosition: 0x53ac,
  Info: 0x1549a966,
  TimestampScale: 0x2ad7b1,
  Duration: 0x4489,
  MuxingApp: 0x4d80,
  WritingApp: 0x5741,
  Title: 0x7ba9,
  Tracks: 0x1654ae6b,
  TrackEntry: 0xae,
  TrackNumber: 0xd7,
  TrackUID: 0x73c5,
  TrackType: 0x83,
  FlagLacing: 0x9c,
  CodecID: 0x86,
  CodecPrivate: 0x63a2,
  CodecDelay: 0x56aa,
  SeekPreRoll: 0x56bb,
  Video: 0xe0,
  PixelWidth: 0xb0,
  PixelHeight: 0xba,
  Audio: 0xe1,
  SamplingFrequency: 0xb5,
  Channels: 0x9f,
  Cluster: 0x1f43b675,
  Timestamp: 0xe7,
  SimpleBlock: 0xa3,
  Cues: 0x1c53bb6b,
  CuePoint: 0xbb,
  CueTime: 0xb3,
  CueTrackPositions: 0xb7,
  CueTrack: 0xf7,
  CueClusterPosition: 0xf1,
} as const;

/** TrackType values (RFC 9559, TrackType element). */
const TRACK_TYPE_VIDEO = 1;
const TRACK_TYPE_AUDIO = 2;
/** Nanoseconds per TimestampScale tick: 1 ms. */
const TIMESTAMP_SCALE_NS = 1_000_000;
/** Opus in Matroska: 80 ms of pre-roll after a seek (the Matroska Opus codec mapping). */
const OPUS_SEEK_PRE_ROLL_NS = 80_000_000;
const SEEKHEAD_RESERVE = 96;
/** Duration element: 2-byte ID + 1-byte size + 8-byte float. */
const DURATION_SIZE = 11;
/** How long audio may wait for the first video key frame to learn the picture size. */
const HEADER_WAIT_MS = 5000;
const FALLBACK_SIZE = { width: 640, height: 360 };

export interface WebmWriterOptions {
  /**
   * A video track: VP8 (default) or H.264 (then the file is Matroska). Width and height default to
   * those of the first key frame.
   */
  video?: { codec?: "vp8" | "h264"; width?: number; height?: number };
  /** An Opus audio track (channels 1 or 2, default 1; preSkip default 312 samples, libopus' delay). */
  audio?: { channels?: number; preSkip?: number };
  /** Segment title (Info/Title). */
  title?: string;
  /** Target cluster duration in ms (default 1000). */
  clusterMs?: number;
  /** How long blocks wait for earlier ones of the other track, ms (default 300). */
  reorderMs?: number;
  /** Write Cues on close() (default true). */
  cues?: boolean;
}

export interface WebmWriterStats {
  videoFrames: number;
  audioPackets: number;
  /** Video frames dropped because no key frame had been written yet. */
  droppedBeforeKeyframe: number;
  /** Blocks whose timestamp was moved forward to keep the file in order. */
  clamped: number;
  clusters: number;
  /** Bytes in the file so far. */
  bytes: number;
  /** Time from the first block to the end of the last written one, ms. */
  durationMs: number;
}

interface Block {
  track: number;
  video: boolean;
  ts: number;
  data: Uint8Array;
  keyframe: boolean;
  /** Expected duration in ms (audio from the Opus TOC; video from the previous interval). */
  duration: number;
}

interface OpenCluster {
  start: number;
  blocks: Block[];
}

interface EncodedCluster {
  buf: Buffer;
  start: number;
  cue: { time: number; track: number } | null;
}

export class WebmWriter {
  readonly path: string;
  readonly #fd: number;
  readonly #videoTrack: number | null;
  readonly #audioTrack: number | null;
  readonly #channels: number;
  readonly #preSkip: number;
  readonly #title: string | undefined;
  readonly #clusterMs: number;
  readonly #reorderMs: number;
  readonly #writeCues: boolean;
  #width: number | undefined;
  #height: number | undefined;
  readonly #h264: boolean;
  /** H.264: AVCDecoderConfigurationRecord from the first key frame's SPS and PPS. */
  #avcConfig: Buffer | undefined;
  readonly #stats: WebmWriterStats = {
    videoFrames: 0,
    audioPackets: 0,
    droppedBeforeKeyframe: 0,
    clamped: 0,
    clusters: 0,
    bytes: 0,
    durationMs: 0,
  };
  #offset = 0;
  #headerWritten = false;
  #segmentSizePos = 0;
  #segmentDataStart = 0;
  #seekVoidPos = 0;
  #durationVoidPos = 0;
  #infoPos = 0;
  #tracksPos = 0;
  #pending: Block[] = [];
  #latest = -Infinity;
  readonly #lastTrackTs = new Map<number, number>();
  #origin: number | null = null;
  #frontier = 0;
  #cluster: OpenCluster | null = null;
  #queued: EncodedCluster[] = [];
  readonly #cues: { time: number; track: number; position: number }[] = [];
  #sawKeyframe = false;
  #lastVideoTs: number | null = null;
  #videoInterval = 0;
  #idleTimer: NodeJS.Timeout | null = null;
  #lastInputAt = 0;
  #closed = false;
  #error: Error | null = null;

  private constructor(path: string, fd: number, opts: WebmWriterOptions) {
    this.path = path;
    this.#fd = fd;
    if (!opts.video && !opts.audio) throw new TypeError("a WebM file needs a video or an audio track");
    this.#videoTrack = opts.video ? 1 : null;
    this.#audioTrack = opts.audio ? (opts.video ? 2 : 1) : null;
    this.#channels = opts.audio?.channels ?? 1;
    if (this.#channels !== 1 && this.#channels !== 2) throw new RangeError("audio channels must be 1 or 2");
    this.#preSkip = opts.audio?.preSkip ?? 312;
    if (!Number.isInteger(this.#preSkip) || this.#preSkip < 0 || this.#preSkip > 0xffff) throw new RangeError("preSkip must be 0..65535");
    this.#width = opts.video?.width;
    this.#height = opts.video?.height;
    this.#h264 = opts.video?.codec === "h264";
    for (const v of [this.#width, this.#height]) {
      if (v !== undefined && (!Number.isInteger(v) || v < 1 || v > 16383)) throw new RangeError("video width and height must be integers from 1 to 16383");
    }
    this.#title = opts.title;
    this.#clusterMs = opts.clusterMs ?? 1000;
    if (!(this.#clusterMs >= 100 && this.#clusterMs <= 20_000)) throw new RangeError("clusterMs must be from 100 to 20000");
    this.#reorderMs = opts.reorderMs ?? 300;
    if (!(this.#reorderMs >= 0 && this.#reorderMs <= 10_000)) throw new RangeError("reorderMs must be from 0 to 10000");
    this.#writeCues = opts.cues ?? true;
    if (this.#headerReady()) this.#writeHeader();
  }

  /** Everything the Tracks element needs is known: picture size, and for H.264 the parameter sets. */
  #headerReady(): boolean {
    if (this.#videoTrack === null) return true;
    return this.#width !== undefined && this.#height !== undefined && (!this.#h264 || this.#avcConfig !== undefined);
  }

  /** Creates (or truncates) `path`. Throws MediaError "recording-unwritable" if it cannot. */
  static open(path: string, opts: WebmWriterOptions): WebmWriter {
    let fd: number;
    try {
      fd = fs.openSync(path, "w", 0o644);
    } catch (err) {
      throw new MediaError(`cannot create recording ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, "recording-unwritable", { cause: err });
    }
    try {
      return new WebmWriter(path, fd, opts);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  }

  get stats(): Readonly<WebmWriterStats> {
    return { ...this.#stats };
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Adds one VP8 frame, or one H.264 access unit in Annex B form (plaintext: the writer reads the
   * key frame's size, and H.264 parameter sets, from it), presented at `timestampMs`. Throws
   * MediaError "recording-write-failed" if the file cannot be written.
   */
  writeVideo(frame: Uint8Array, timestampMs: number, keyframe: boolean): void {
    if (this.#videoTrack === null) throw new TypeError("this WebM writer has no video track");
    if (!this.#accepting(frame, timestampMs)) return;
    if (!this.#sawKeyframe) {
      if (!keyframe) {
        this.#stats.droppedBeforeKeyframe += 1;
        return;
      }
      this.#sawKeyframe = true;
    }
    let data: Uint8Array = frame;
    if (this.#h264) {
      const nals = splitAnnexB(frame);
      if (nals.length === 0) return;
      if (keyframe && this.#avcConfig === undefined) this.#learnAvcConfig(nals);
      data = toLengthPrefixed(nals);
    } else if (keyframe && (this.#width === undefined || this.#height === undefined)) {
      const info = parseVp8Frame(frame);
      if (info?.width && info.height) {
        this.#width = info.width;
        this.#height = info.height;
      }
    }
    const ts = Math.round(timestampMs);
    if (this.#lastVideoTs !== null && ts > this.#lastVideoTs) this.#videoInterval = ts - this.#lastVideoTs;
    this.#lastVideoTs = Math.max(ts, this.#lastVideoTs ?? ts);
    this.#stats.videoFrames += 1;
    this.#add({ track: this.#videoTrack, video: true, ts, data: data === frame ? Uint8Array.from(frame) : data, keyframe, duration: this.#videoInterval });
  }

  #learnAvcConfig(nals: Uint8Array[]): void {
    const sps = nals.filter((n) => nalType(n) === NAL_TYPE.sps);
    const pps = nals.filter((n) => nalType(n) === NAL_TYPE.pps);
    const info = sps[0] ? parseSps(sps[0]) : null;
    if (!info || pps.length === 0) return;
    this.#avcConfig = encodeAvcConfig(sps, pps);
    this.#width ??= info.width;
    this.#height ??= info.height;
  }

  /** Adds one Opus packet starting at `timestampMs`. Invalid Opus packets are ignored. */
  writeAudio(packet: Uint8Array, timestampMs: number): void {
    if (this.#audioTrack === null) throw new TypeError("this WebM writer has no audio track");
    if (!this.#accepting(packet, timestampMs)) return;
    let samples: number;
    try {
      samples = opusPacketSamples(packet);
    } catch {
      return;
    }
    this.#stats.audioPackets += 1;
    this.#add({
      track: this.#audioTrack,
      video: false,
      ts: Math.round(timestampMs),
      data: Uint8Array.from(packet),
      keyframe: true,
      duration: (samples * 1000) / 48000,
    });
  }

  /** Writes everything held in memory now (ends the current cluster). */
  flush(): void {
    if (this.#error) throw this.#error;
    if (this.#closed) return;
    this.#guard(() => this.#settle(true));
  }

  /**
   * Writes what is pending, then Cues, SeekHead, Duration and the Segment size, and closes the
   * file. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#clearTimer();
    try {
      if (!this.#error) {
        this.#settle(true);
        if (!this.#headerWritten) this.#writeHeader();
        this.#finalize();
      }
    } finally {
      fs.closeSync(this.#fd);
    }
  }

  #accepting(data: Uint8Array, timestampMs: number): boolean {
    if (this.#error) throw this.#error;
    if (!Number.isFinite(timestampMs)) throw new RangeError("timestamp must be a finite number of ms");
    return !this.#closed && data.length > 0;
  }

  #add(b: Block): void {
    const last = this.#lastTrackTs.get(b.track);
    if (last !== undefined && b.ts < last) {
      b.ts = last;
      this.#stats.clamped += 1;
    }
    this.#lastTrackTs.set(b.track, b.ts);
    // Insert after every block with a timestamp <= b.ts: equal timestamps keep arrival order.
    let lo = 0;
    let hi = this.#pending.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#pending[mid]!.ts <= b.ts) lo = mid + 1;
      else hi = mid;
    }
    this.#pending.splice(lo, 0, b);
    if (b.ts > this.#latest) this.#latest = b.ts;
    this.#guard(() => this.#settle(false));
    this.#lastInputAt = performance.now();
    this.#armIdleTimer();
  }

  /** Runs `fn`, turning write failures into a sticky MediaError. */
  #guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#error = err instanceof Error ? err : new Error(String(err));
      throw this.#error;
    }
  }

  /** Moves blocks older than the reorder window (all with `force`) into clusters. */
  #settle(force: boolean): void {
    while (this.#pending.length > 0 && (force || this.#pending[0]!.ts <= this.#latest - this.#reorderMs)) {
      this.#place(this.#pending.shift()!);
    }
    if (force) this.#flushCluster();
  }

  #place(b: Block): void {
    if (this.#origin === null) this.#origin = b.ts;
    let rel = b.ts - this.#origin;
    if (rel < this.#frontier) {
      rel = this.#frontier;
      this.#stats.clamped += 1;
    }
    this.#frontier = rel;
    if (this.#cluster) {
      const span = rel - this.#cluster.start;
      const maxSpan = this.#videoTrack === null ? this.#clusterMs : this.#clusterMs * 1.5;
      if ((b.video && b.keyframe && span >= this.#clusterMs / 4) || span >= maxSpan) this.#flushCluster();
    }
    if (!this.#cluster) this.#cluster = { start: rel, blocks: [] };
    this.#cluster.blocks.push({ ...b, ts: rel });
    const end = rel + b.duration;
    if (end > this.#stats.durationMs) this.#stats.durationMs = end;
  }

  #flushCluster(): void {
    const c = this.#cluster;
    this.#cluster = null;
    if (!c || c.blocks.length === 0) return;
    const parts: Buffer[] = [ebmlUint(ID.Timestamp, c.start)];
    for (const b of c.blocks) {
      const head = Buffer.alloc(4);
      head[0] = 0x80 | b.track; // track number as a 1-byte VINT
      head.writeInt16BE(b.ts - c.start, 1);
      head[3] = b.keyframe ? 0x80 : 0x00;
      parts.push(ebmlElement(ID.SimpleBlock, Buffer.concat([head, b.data])));
    }
    const buf = ebmlMaster(ID.Cluster, parts);
    // Seek targets: clusters whose first video frame is a key frame (all clusters without video).
    let cue: EncodedCluster["cue"] = null;
    if (this.#videoTrack !== null) {
      const firstVideo = c.blocks.find((b) => b.video);
      if (firstVideo?.keyframe) cue = { time: firstVideo.ts, track: this.#videoTrack };
    } else if (this.#audioTrack !== null) {
      cue = { time: c.start, track: this.#audioTrack };
    }
    this.#queued.push({ buf, start: c.start, cue });
    if (!this.#headerWritten) {
      // Wait for the first key frame's size (and H.264 parameter sets), but not forever: audio goes on.
      if (!this.#headerReady() && c.start < HEADER_WAIT_MS) return;
      this.#writeHeader();
    }
    this.#writeQueued();
  }

  #writeQueued(): void {
    for (const q of this.#queued) {
      if (q.cue) this.#cues.push({ ...q.cue, position: this.#offset - this.#segmentDataStart });
      this.#write(q.buf);
      this.#stats.clusters += 1;
    }
    this.#queued = [];
  }

  #writeHeader(): void {
    if (this.#headerWritten) return;
    this.#headerWritten = true;
    const ebml = ebmlMaster(ID.EBML, [
      ebmlUint(ID.EBMLVersion, 1),
      ebmlUint(ID.EBMLReadVersion, 1),
      ebmlUint(ID.EBMLMaxIDLength, 4),
      ebmlUint(ID.EBMLMaxSizeLength, 8),
      ebmlString(ID.DocType, this.#h264 ? "matroska" : "webm"),
      ebmlUint(ID.DocTypeVersion, 4),
      ebmlUint(ID.DocTypeReadVersion, 2),
    ]);
    const segmentHead = Buffer.concat([encodeElementId(ID.Segment), EBML_UNKNOWN_SIZE]);
    this.#segmentSizePos = ebml.length + 4;
    this.#segmentDataStart = ebml.length + segmentHead.length;
    this.#seekVoidPos = this.#segmentDataStart;

    const infoChildren = [
      ebmlUint(ID.TimestampScale, TIMESTAMP_SCALE_NS),
      ebmlUtf8(ID.MuxingApp, "conclave"),
      ebmlUtf8(ID.WritingApp, "conclave"),
    ];
    if (this.#title !== undefined) infoChildren.push(ebmlUtf8(ID.Title, this.#title));
    const infoHeadLen = encodeElementId(ID.Info).length + encodeVintSize(Buffer.concat(infoChildren).length + DURATION_SIZE).length;
    this.#infoPos = this.#seekVoidPos + SEEKHEAD_RESERVE;
    this.#durationVoidPos = this.#infoPos + infoHeadLen + Buffer.concat(infoChildren).length;
    infoChildren.push(ebmlVoid(DURATION_SIZE));
    const info = ebmlMaster(ID.Info, infoChildren);

    const entries: Buffer[] = [];
    if (this.#videoTrack !== null) {
      const width = this.#width ?? FALLBACK_SIZE.width;
      const height = this.#height ?? FALLBACK_SIZE.height;
      entries.push(
        ebmlMaster(ID.TrackEntry, [
          ebmlUint(ID.TrackNumber, this.#videoTrack),
          ebmlUint(ID.TrackUID, randomInt(1, 2 ** 47)),
          ebmlUint(ID.TrackType, TRACK_TYPE_VIDEO),
          ebmlUint(ID.FlagLacing, 0),
          ebmlString(ID.CodecID, this.#h264 ? "V_MPEG4/ISO/AVC" : "V_VP8"),
          ...(this.#avcConfig ? [ebmlElement(ID.CodecPrivate, this.#avcConfig)] : []),
          ebmlMaster(ID.Video, [ebmlUint(ID.PixelWidth, width), ebmlUint(ID.PixelHeight, height)]),
        ]),
      );
    }
    if (this.#audioTrack !== null) {
      entries.push(
        ebmlMaster(ID.TrackEntry, [
          ebmlUint(ID.TrackNumber, this.#audioTrack),
          ebmlUint(ID.TrackUID, randomInt(1, 2 ** 47)),
          ebmlUint(ID.TrackType, TRACK_TYPE_AUDIO),
          ebmlUint(ID.FlagLacing, 0),
          ebmlString(ID.CodecID, "A_OPUS"),
          ebmlElement(ID.CodecPrivate, encodeOpusHead(this.#channels, this.#preSkip)),
          // The decoder discards pre-skip samples at the start: the same delay in ns.
          ebmlUint(ID.CodecDelay, Math.round((this.#preSkip * 1e9) / 48000)),
          ebmlUint(ID.SeekPreRoll, OPUS_SEEK_PRE_ROLL_NS),
          ebmlMaster(ID.Audio, [ebmlFloat(ID.SamplingFrequency, 48000), ebmlUint(ID.Channels, this.#channels)]),
        ]),
      );
    }
    const tracks = ebmlMaster(ID.Tracks, entries);
    this.#tracksPos = this.#infoPos + info.length;
    // One write: a file killed right after open() already has a complete header.
    this.#write(Buffer.concat([ebml, segmentHead, ebmlVoid(SEEKHEAD_RESERVE), info, tracks]));
  }

  #finalize(): void {
    let cuesPos: number | null = null;
    if (this.#writeCues && this.#cues.length > 0) {
      cuesPos = this.#offset;
      const points = this.#cues.map((c) =>
        ebmlMaster(ID.CuePoint, [
          ebmlUint(ID.CueTime, c.time),
          ebmlMaster(ID.CueTrackPositions, [ebmlUint(ID.CueTrack, c.track), ebmlUint(ID.CueClusterPosition, c.position)]),
        ]),
      );
      this.#write(ebmlMaster(ID.Cues, points));
    }
    const seek = (id: number, pos: number): Buffer =>
      ebmlMaster(ID.Seek, [ebmlElement(ID.SeekID, encodeElementId(id)), ebmlUint64(ID.SeekPosition, pos - this.#segmentDataStart)]);
    const seeks = [seek(ID.Info, this.#infoPos), seek(ID.Tracks, this.#tracksPos)];
    if (cuesPos !== null) seeks.push(seek(ID.Cues, cuesPos));
    const seekHead = ebmlMaster(ID.SeekHead, seeks);
    this.#pwrite(Buffer.concat([seekHead, ebmlVoid(SEEKHEAD_RESERVE - seekHead.length)]), this.#seekVoidPos);
    this.#pwrite(ebmlFloat(ID.Duration, this.#stats.durationMs), this.#durationVoidPos);
    this.#pwrite(encodeVintSize(this.#offset - this.#segmentDataStart, 8), this.#segmentSizePos);
  }

  #write(buf: Buffer): void {
    this.#pwrite(buf, this.#offset);
    this.#offset += buf.length;
    this.#stats.bytes = this.#offset;
  }

  #pwrite(buf: Buffer, position: number): void {
    let off = 0;
    try {
      while (off < buf.length) off += fs.writeSync(this.#fd, buf, off, buf.length - off, position + off);
    } catch (err) {
      throw new MediaError(`cannot write recording ${this.path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, "recording-write-failed", { cause: err });
    }
  }

  /** When input stops (a participant left or muted video), write what is held after a while. */
  #armIdleTimer(): void {
    if (this.#idleTimer) return;
    const idleMs = this.#clusterMs + this.#reorderMs;
    const check = (): void => {
      this.#idleTimer = null;
      if (this.#closed || this.#error) return;
      const quiet = performance.now() - this.#lastInputAt;
      if (quiet < idleMs) {
        this.#idleTimer = setTimeout(check, idleMs - quiet);
        this.#idleTimer.unref();
        return;
      }
      try {
        this.#settle(true);
      } catch (err) {
        this.#error = err instanceof Error ? err : new Error(String(err));
      }
    };
    this.#idleTimer = setTimeout(check, idleMs);
    this.#idleTimer.unref();
  }

  #clearTimer(): void {
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
  }
}
