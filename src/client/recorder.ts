/**
 * A recorder: a receive-only participant that announces the recorder role (every member sees it),
 * decrypts locally and writes one file per remote participant, copying the media bit for bit:
 * Ogg Opus for members who publish only audio, live WebM (VP8 + Opus) for members who publish VP8
 * video, live Matroska (.mkv: H.264 + Opus) for members who publish H.264.
 * Members who declined recording never give it their keys, so it cannot write their voice or picture.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { OggOpusWriter, WebmWriter } from "../media/index.js";
import type { Invite } from "../protocol/index.js";
import { Participant, type JoinOptions, type ReceivedAudio, type ReceivedVideo } from "./participant.js";

export interface RecorderOptions extends Omit<JoinOptions, "role" | "noRecord"> {
  outDir: string;
}

export interface RecordedFile {
  peerId: string;
  name: string;
  path: string;
  /** Audio packets written. */
  packets: number;
  /** Video frames written (WebM files). */
  videoFrames: number;
}

/** Maps one stream's RTP timestamps onto the recording's millisecond clock, anchored at first arrival. */
class StreamClock {
  private anchorTs: number | undefined;
  private anchorMs = 0;
  private lastTs = 0;
  private unwrapped = 0;
  constructor(private readonly clockRate: number) {}
  ms(timestamp: number, arrivalMs: number): number {
    if (this.anchorTs === undefined) {
      this.anchorTs = timestamp;
      this.lastTs = timestamp;
      this.anchorMs = arrivalMs;
      return arrivalMs;
    }
    this.unwrapped += (timestamp - this.lastTs) | 0;
    this.lastTs = timestamp;
    return this.anchorMs + (this.unwrapped * 1000) / this.clockRate;
  }
}

interface Entry {
  file: RecordedFile;
  ogg?: OggOpusWriter;
  webm?: WebmWriter;
  jitter: JitterBuffer;
  audioClock: StreamClock;
  videoClock: StreamClock;
}

export class Recorder {
  private readonly writers = new Map<string, Entry>();
  private readonly startedAt = Date.now();
  private closed = false;

  private constructor(
    readonly participant: Participant,
    private readonly outDir: string,
    private readonly name: string,
  ) {
    participant.on("audio", (audio) => this.writeAudio(audio));
    participant.on("video", (video) => this.writeVideo(video));
  }

  static async start(invite: string | Invite, options: RecorderOptions): Promise<Recorder> {
    mkdirSync(options.outDir, { recursive: true });
    const name = options.name ?? "recorder";
    const participant = await Participant.join(invite, { ...options, name, role: "recorder" });
    return new Recorder(participant, options.outDir, name);
  }

  get files(): RecordedFile[] {
    return [...this.writers.values()].map((w) => ({ ...w.file }));
  }

  /**
   * Files are keyed by the member's identity, so a member who reconnects (new peer id) or a
   * recorder that reconnects keeps writing to the same file; the writer fills the gap.
   */
  private entryFor(peerId: string): Entry | undefined {
    if (this.closed) return undefined;
    const member = this.participant.e2ee.members.get(peerId);
    const key = member ? Buffer.from(member.identityKey).toString("base64url") : peerId;
    let entry = this.writers.get(key);
    if (entry) return entry;
    const name = member?.name ?? "unknown";
    const safe = name.replace(/[^A-Za-z0-9_.-]+/g, "_").slice(0, 40) || "peer";
    const video = this.participant.publishesVideo(peerId);
    const codec = this.participant.videoCodecOf(peerId) ?? "vp8";
    const path = join(this.outDir, `${safe}-${peerId}.${video ? (codec === "h264" ? "mkv" : "webm") : "ogg"}`);
    entry = {
      file: { peerId, name, path, packets: 0, videoFrames: 0 },
      jitter: new JitterBuffer(),
      audioClock: new StreamClock(48000),
      videoClock: new StreamClock(90000),
      ...(video
        ? { webm: WebmWriter.open(path, { video: { codec }, audio: { channels: 1 }, title: name }) }
        : { ogg: OggOpusWriter.open(path, { tags: { TITLE: name } }) }),
    };
    this.writers.set(key, entry);
    this.participant.emit("event", {
      type: "recording",
      by: [{ peerId: this.participant.peerId, name: this.name }],
      files: this.files.map((f) => f.path),
      time: new Date().toISOString(),
    });
    return entry;
  }

  private writeAudio(audio: ReceivedAudio): void {
    const entry = this.entryFor(audio.peerId);
    if (!entry) return;
    const now = Date.now() - this.startedAt;
    entry.jitter.push(audio.payload, audio.timestamp, now, (payload, timestamp, arrivalMs) => this.emitAudio(entry, payload, timestamp, arrivalMs));
  }

  private emitAudio(entry: Entry, payload: Buffer, timestamp: number, arrivalMs: number): void {
    if (entry.ogg) entry.ogg.writePacket(payload, timestamp);
    else entry.webm?.writeAudio(payload, Math.max(0, Math.round(entry.audioClock.ms(timestamp, arrivalMs))));
    entry.file.packets++;
  }

  private writeVideo(video: ReceivedVideo): void {
    const entry = this.entryFor(video.peerId);
    if (!entry?.webm) return;
    const ms = entry.videoClock.ms(video.timestamp, Date.now() - this.startedAt);
    entry.webm.writeVideo(video.frame, Math.max(0, Math.round(ms)), video.keyframe);
    entry.file.videoFrames++;
  }

  /** Close every file cleanly (final page or cluster) and leave the room. */
  async close(reason = "left"): Promise<RecordedFile[]> {
    if (!this.closed) {
      this.closed = true;
      for (const entry of this.writers.values()) {
        entry.jitter.drain((payload, timestamp, arrivalMs) => this.emitAudio(entry, payload, timestamp, arrivalMs));
        entry.ogg?.close();
        entry.webm?.close();
      }
    }
    await this.participant.close(reason);
    return this.files;
  }
}

/**
 * A small reorder buffer for recording: packets are held for up to `depth` packets (about 200 ms of
 * 20 ms frames) and released in RTP timestamp order, so jitter that reorders packets does not make
 * the writer drop them as late.
 */
type Release = (payload: Buffer, timestamp: number, arrivalMs: number) => void;

export class JitterBuffer {
  private readonly held: { payload: Buffer; timestamp: number; arrivalMs: number }[] = [];

  constructor(private readonly depth = 10) {}

  push(payload: Buffer, timestamp: number, arrivalMs: number, release: Release): void {
    // Insert in timestamp order (signed 32-bit difference, so wraparound sorts correctly).
    let i = this.held.length;
    while (i > 0 && ((timestamp - this.held[i - 1]!.timestamp) | 0) < 0) i--;
    this.held.splice(i, 0, { payload, timestamp, arrivalMs });
    while (this.held.length > this.depth) {
      const next = this.held.shift()!;
      release(next.payload, next.timestamp, next.arrivalMs);
    }
  }

  drain(release: Release): void {
    for (const next of this.held.splice(0)) release(next.payload, next.timestamp, next.arrivalMs);
  }
}
