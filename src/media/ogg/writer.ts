/**
 * Ogg Opus writer (RFC 7845) for packets that arrive over RTP.
 *
 * Stream layout (RFC 7845 §3): page 0 holds only the ID header (OpusHead, BOS flag, granule 0);
 * the comment header (OpusTags) follows and completes its own page (granule 0); audio packets start
 * on a fresh page. The last page has the EOS flag.
 *
 * Timeline: the first packet's RTP timestamp is the origin. Every packet advances the decoded
 * sample count by its duration (RFC 6716 TOC). The granule position of a page is the total number of
 * 48 kHz samples decoded from the start of the stream through the last packet completed on that
 * page, pre-skip included (RFC 7845 §4), so a player outputs `granule - preSkip` samples.
 *
 * Gaps in RTP timestamps (lost packets, a sender that paused) are filled with 1-byte PLC packets
 * (opus.ts) so the file keeps the sender's timing and granule = samples decoded stays exact. Rules:
 *   - a gap up to `maxGapMs` (default 30 s) is filled; the previous packet's frame size is used
 *     first, then shorter Opus frame sizes; a remainder below 2.5 ms (not a multiple of 120
 *     samples, which a conforming sender never produces) cannot be expressed and is dropped from the
 *     timeline;
 *   - a jump larger than that, either way, is a discontinuity (sender restarted, new timestamp base):
 *     nothing is filled, the new timestamp becomes the origin and the file simply continues;
 *   - a packet that starts before the end of the last written one (late, reordered or duplicate)
 *     is dropped and counted: audio already on disk is never rewritten.
 * RTP timestamps are 32-bit and wrap; all comparisons use the signed 32-bit difference.
 *
 * Paging: packets wait in memory at most `flushIntervalMs` (default 250 ms; 0 = every packet gets
 * its own page), then one page with everything pending is written. A page never exceeds 255
 * segments: a flush happens early when the next packet would not fit, and a single packet longer
 * than a page continues on following pages. The file sink writes each page synchronously, so a
 * process killed with SIGKILL loses at most the packets still pending.
 */
import fs from "node:fs";
import { randomInt } from "node:crypto";
import { MediaError } from "../../errors.js";
import { OPUS_FRAME_SIZES, opusFrameSamples, opusPacketSamples, opusPlcPacketOfDuration } from "../opus.js";
import { encodeOggPage, OGG_MAX_SEGMENTS, OGG_NO_GRANULE, OggFlag } from "./page.js";

export type OggPageSink = (page: Buffer) => void;

export interface OggOpusWriterOptions {
  /** Output channel count in OpusHead (1 or 2; default 1). */
  channels?: number;
  /** Samples at 48 kHz the player discards at the start (default 312, libopus' encoder delay). */
  preSkip?: number;
  /** Extra comment-header tags, e.g. { TITLE: "standup", PARTICIPANT: "alice" }. */
  tags?: Record<string, string>;
  /** Longest time a packet waits in memory before its page is written (default 250 ms). */
  flushIntervalMs?: number;
  /** Largest RTP timestamp gap filled with PLC packets (default 30 000 ms). */
  maxGapMs?: number;
  /** Ogg bitstream serial number (default random). */
  serial?: number;
}

export interface OggOpusWriterStats {
  /** Audio packets written (not counting PLC). */
  packets: number;
  /** PLC packets inserted to fill timestamp gaps. */
  plcPackets: number;
  /** Late or duplicate packets dropped, and packets written after close(). */
  dropped: number;
  /** Packets dropped because they are not valid Opus (RFC 6716 §3.4). */
  invalid: number;
  /** Timestamp jumps larger than maxGapMs, treated as a new origin. */
  discontinuities: number;
  /** Samples at 48 kHz in the stream, PLC and pre-skip included (= final granule position). */
  durationSamples: number;
  pages: number;
  bytes: number;
}

/** RFC 7845 §5.1 ID header: "OpusHead", version 1, channels, pre-skip, input rate, gain, family 0. */
export function encodeOpusHead(channels: number, preSkip: number, inputSampleRate = 48000): Buffer {
  const h = Buffer.alloc(19);
  h.write("OpusHead", 0, "latin1");
  h[8] = 1; // version
  h[9] = channels;
  h.writeUInt16LE(preSkip, 10);
  h.writeUInt32LE(inputSampleRate, 12);
  h.writeInt16LE(0, 16); // output gain, Q7.8 dB
  h[18] = 0; // channel mapping family 0: mono or stereo, no mapping table
  return h;
}

/** RFC 7845 §5.2 comment header: "OpusTags", vendor string, then "KEY=value" comments. */
export function encodeOpusTags(vendor: string, tags: Record<string, string> = {}): Buffer {
  const parts: Buffer[] = [Buffer.from("OpusTags", "latin1")];
  const str = (s: string): void => {
    const b = Buffer.from(s, "utf8");
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length, 0);
    parts.push(len, b);
  };
  str(vendor);
  const entries = Object.entries(tags);
  const count = Buffer.alloc(4);
  count.writeUInt32LE(entries.length, 0);
  parts.push(count);
  for (const [key, value] of entries) {
    // Vorbis comment field names: printable ASCII 0x20–0x7D except '=' (RFC 7845 §5.2).
    if (!/^[\x20-\x3c\x3e-\x7d]+$/.test(key)) throw new RangeError(`invalid Ogg comment tag name: ${JSON.stringify(key)}`);
    str(`${key}=${value}`);
  }
  return Buffer.concat(parts);
}

interface Pending {
  data: Uint8Array;
  granule: bigint;
}

const RTP_RATE = 48000;

export class OggOpusWriter {
  readonly preSkip: number;
  readonly channels: number;
  readonly #stats: OggOpusWriterStats = {
    packets: 0,
    plcPackets: 0,
    dropped: 0,
    invalid: 0,
    discontinuities: 0,
    durationSamples: 0,
    pages: 0,
    bytes: 0,
  };
  readonly #sink: OggPageSink;
  readonly #onClose: () => void;
  readonly #serial: number;
  readonly #flushIntervalMs: number;
  readonly #maxGap: number;
  #sequence = 0;
  #pending: Pending[] = [];
  #pendingSegments = 0;
  #pendingSince = 0;
  #timer: NodeJS.Timeout | null = null;
  #nextTs: number | null = null;
  #granule = 0;
  #lastPacket: Uint8Array | undefined;
  #closed = false;
  #error: Error | null = null;

  /** Writes to `sink` (one call per page); `onClose` runs once after the last page. */
  constructor(sink: OggPageSink, opts: OggOpusWriterOptions = {}, onClose: () => void = () => {}) {
    const channels = opts.channels ?? 1;
    if (channels !== 1 && channels !== 2) throw new RangeError("channels must be 1 or 2 (mapping family 0)");
    const preSkip = opts.preSkip ?? 312;
    if (!Number.isInteger(preSkip) || preSkip < 0 || preSkip > 0xffff) throw new RangeError("preSkip must be 0..65535");
    const flush = opts.flushIntervalMs ?? 250;
    if (!(flush >= 0)) throw new RangeError("flushIntervalMs must be >= 0");
    const maxGapMs = opts.maxGapMs ?? 30_000;
    if (!(maxGapMs >= 0) || maxGapMs > 40_000_000) throw new RangeError("maxGapMs must be 0..40000000");
    this.channels = channels;
    this.preSkip = preSkip;
    this.#sink = sink;
    this.#onClose = onClose;
    this.#serial = opts.serial ?? randomInt(0, 0xffffffff);
    this.#flushIntervalMs = flush;
    this.#maxGap = Math.round((maxGapMs * RTP_RATE) / 1000);

    // Headers go out at once, so even a recording killed before any audio is a valid file.
    const tags = encodeOpusTags("conclave", opts.tags);
    this.#emit([{ data: encodeOpusHead(channels, preSkip), granule: 0n }], OggFlag.bos, false);
    this.#emit([{ data: tags, granule: 0n }], 0, false);
  }

  /** Creates (or truncates) `path` and writes each page to it synchronously. */
  static open(path: string, opts: OggOpusWriterOptions = {}): OggOpusWriter {
    let fd: number;
    try {
      fd = fs.openSync(path, "w", 0o644);
    } catch (err) {
      throw new MediaError(`cannot create recording ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, "recording-unwritable", { cause: err });
    }
    const sink: OggPageSink = (page) => {
      let off = 0;
      try {
        while (off < page.length) off += fs.writeSync(fd, page, off, page.length - off);
      } catch (err) {
        throw new MediaError(`cannot write recording ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, "recording-write-failed", { cause: err });
      }
    };
    try {
      return new OggOpusWriter(sink, opts, () => fs.closeSync(fd));
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  }

  /** Writes pages to a callback instead of a file (e.g. a pipe to ffmpeg). */
  static toSink(sink: OggPageSink, opts: OggOpusWriterOptions = {}): OggOpusWriter {
    return new OggOpusWriter(sink, opts);
  }

  get stats(): Readonly<OggOpusWriterStats> {
    return { ...this.#stats };
  }

  /** Granule position after the last packet accepted (pending or written). */
  get granule(): number {
    return this.#granule;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Adds one Opus packet whose first sample has 48 kHz RTP timestamp `rtpTimestamp`.
   * Throws MediaError if the output cannot be written (also for a failure of a timed flush).
   */
  writePacket(packet: Uint8Array, rtpTimestamp: number): void {
    if (this.#error) throw this.#error;
    if (this.#closed) {
      this.#stats.dropped += 1;
      return;
    }
    let samples: number;
    try {
      samples = opusPacketSamples(packet);
    } catch {
      this.#stats.invalid += 1;
      return;
    }
    const ts = rtpTimestamp >>> 0;
    if (this.#nextTs !== null) {
      const diff = (ts - this.#nextTs) | 0; // signed 32-bit distance: wraparound-safe
      if (diff < -this.#maxGap || diff > this.#maxGap) {
        this.#stats.discontinuities += 1;
      } else if (diff < 0) {
        this.#stats.dropped += 1;
        return;
      } else if (diff > 0) {
        this.#fill(diff);
      }
    }
    const copy = Uint8Array.from(packet); // the caller may reuse its buffer
    this.#add(copy, samples);
    this.#stats.packets += 1;
    this.#lastPacket = copy;
    this.#nextTs = (ts + samples) >>> 0;
    this.#maybeFlush();
  }

  /** Writes everything pending as one page (more if over 255 segments). */
  flush(): void {
    if (this.#error) throw this.#error;
    this.#flushPending(false);
  }

  /** Writes the pending packets with the EOS flag and closes the output. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#clearTimer();
    try {
      if (!this.#error) this.#flushPending(true);
    } finally {
      this.#onClose();
    }
  }

  #fill(gap: number): void {
    let left = gap;
    const frame = this.#lastPacket ? opusFrameSamples(this.#lastPacket[0]!) : 960;
    for (const size of [frame, ...OPUS_FRAME_SIZES.filter((s) => s < frame)]) {
      while (left >= size) {
        this.#add(opusPlcPacketOfDuration(size, this.#lastPacket), size);
        this.#stats.plcPackets += 1;
        left -= size;
      }
    }
  }

  #add(data: Uint8Array, samples: number): void {
    const segments = Math.floor(data.length / 255) + 1;
    if (this.#pending.length > 0 && this.#pendingSegments + segments > OGG_MAX_SEGMENTS) {
      this.#flushPending(false);
    }
    if (this.#pending.length === 0) this.#pendingSince = performance.now();
    this.#granule += samples;
    this.#stats.durationSamples = this.#granule;
    this.#pending.push({ data, granule: BigInt(this.#granule) });
    this.#pendingSegments += segments;
  }

  #maybeFlush(): void {
    if (this.#pending.length === 0) return;
    if (performance.now() - this.#pendingSince >= this.#flushIntervalMs) {
      this.#flushPending(false);
      return;
    }
    if (!this.#timer) {
      const wait = Math.max(0, this.#flushIntervalMs - (performance.now() - this.#pendingSince));
      this.#timer = setTimeout(() => {
        this.#timer = null;
        try {
          this.#flushPending(false);
        } catch (err) {
          this.#error = err instanceof Error ? err : new Error(String(err));
        }
      }, wait);
      this.#timer.unref();
    }
  }

  #clearTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #flushPending(eos: boolean): void {
    this.#clearTimer();
    const packets = this.#pending;
    this.#pending = [];
    this.#pendingSegments = 0;
    if (packets.length === 0 && !eos) return;
    try {
      this.#emit(packets, 0, eos);
    } catch (err) {
      this.#error = err instanceof Error ? err : new Error(String(err));
      throw this.#error;
    }
  }

  /**
   * Lays `packets` out on as few pages as possible (RFC 3533 §5–6): lacing values of 255 continue a
   * packet, a value < 255 ends it; a page is cut at 255 segments, and the next page has the
   * "continued" flag when it starts mid-packet. Each page's granule is that of the last packet
   * completed on it, or -1 when none completes there. With `eos` the last page gets the EOS flag
   * (an empty page if there is nothing to write).
   */
  #emit(packets: readonly Pending[], firstFlags: number, eos: boolean): void {
    let flags = firstFlags;
    let segments: number[] = [];
    let body: Uint8Array[] = [];
    let granule = OGG_NO_GRANULE;
    const out = (last: boolean): void => {
      const page = encodeOggPage({
        flags: flags | (last && eos ? OggFlag.eos : 0),
        granule: last && segments.length === 0 ? BigInt(this.#granule) : granule,
        serial: this.#serial,
        sequence: this.#sequence,
        segments,
        body,
      });
      this.#sink(page);
      this.#sequence = (this.#sequence + 1) >>> 0;
      this.#stats.pages += 1;
      this.#stats.bytes += page.length;
    };
    for (const p of packets) {
      let off = 0;
      for (;;) {
        if (segments.length === OGG_MAX_SEGMENTS) {
          out(false);
          flags = off > 0 ? OggFlag.continued : 0;
          segments = [];
          body = [];
          granule = OGG_NO_GRANULE;
        }
        const take = Math.min(255, p.data.length - off);
        segments.push(take);
        body.push(p.data.subarray(off, off + take));
        off += take;
        if (take < 255) {
          granule = p.granule;
          break;
        }
      }
    }
    if (segments.length > 0 || eos) out(true);
  }
}
