/**
 * A bot fleet: many headless participants of one room in one process, each a full member with its
 * own identity, its own sender keys and its own werift PeerConnection.
 *
 * What makes this cheap enough for dozens of bots per process:
 *   - publishing bots share one encoder per medium: the fleet opens one AudioSource (one ffmpeg)
 *     and one VideoSource (one more), and every publishing bot encrypts the same Opus and VP8
 *     frames under its own SFrame key;
 *   - receiving bots count (RTP sequence numbers, RFC 3550 §A.1), authenticate and decrypt every
 *     frame in-process but decode Opus only when asked (`decode`) and never decode video: frame
 *     rate, key frames and picture size come from the clear VP8 frame header (RFC 6386 §9.1) of
 *     the decrypted frame;
 *   - no per-bot timers besides the participant's own ping: the fleet samples every bot's receive
 *     statistics on one timer.
 *
 * The fleet records what a load test reports (join time, time to first decrypted audio and video
 * from every publisher, per-stream loss, jitter and bitrate, video frames, key frames and size,
 * decrypt failures, key-rotation times, refused joins) as plain data: `Bot.snapshot()` is JSON-safe, so worker processes can ship it as a line.
 */
import { Participant, type JoinOptions } from "./participant.js";
import { signallingTurns } from "./turn-queue.js";
import { type ConclaveEvent } from "./events.js";
import { AudioSource, TypedEmitter, VideoSource, type AudioSourceSpec, type VideoSourceOptions, type VideoSourceSpec } from "../media/index.js";
import { parseInvite, InviteParseError, type Invite } from "../protocol/index.js";
import { ConclaveError, ExitCode, InviteError, UsageError } from "../errors.js";
import { nullLogger, type Logger } from "../log.js";

/** How often addMany looks at the signalling backlog while it holds a join back, ms. */
const LAG_POLL_MS = 50;

export type BotState = "joining" | "joined" | "failed" | "left" | "dropped";

/** One received stream (one remote publisher) as seen by one bot; JSON-safe. */
export interface BotStreamSnapshot {
  peerId: string;
  packetsReceived: number;
  packetsLost: number;
  jitterMs: number;
  /** Mean received bitrate (SFrame payload bytes) over the sampled span; null when too short to say. */
  bitrateKbps: number | null;
}

/** One received video stream (one remote video publisher) as seen by one bot; JSON-safe. */
export interface BotVideoSnapshot {
  peerId: string;
  /** Frames decrypted and delivered (complete, authenticated, decodable from a key frame on). */
  frames: number;
  keyframes: number;
  /** Frames per second over the last 2 s of the stream (as of the last sample while it was there). */
  fps: number;
  /** Picture size from the latest VP8 key frame header (0 before the first key frame). */
  width: number;
  height: number;
  /** From Participant.join() to the first decrypted frame of this publisher; null if none. */
  firstFrameMs: number | null;
  packetsReceived: number;
  packetsLost: number;
  /** Whole frames reassembled from RTP (before decryption). */
  framesAssembled: number;
  /** Incomplete frames given up on (a packet never came). */
  framesDropped: number;
  /** Mean received bitrate over the sampled span; null under a second of data. */
  bitrateKbps: number | null;
}

/** Everything the reports need about one bot; JSON-safe (sent as a line by worker processes). */
export interface BotSnapshot {
  index: number;
  name: string;
  publisher: boolean;
  /** What it publishes (both false for a receiving bot). */
  publishesAudio: boolean;
  publishesVideo: boolean;
  state: BotState;
  peerId: string;
  /** From Participant.join() to media connected (the `joined` event's joinMs). */
  joinMs: number | null;
  /**
   * From Participant.join() to the first decrypted frame of every publisher that was in the room
   * when this bot started joining (the largest `first-audio` afterJoinMs among them). Without such
   * publishers: to the first decrypted frame from anyone. Null when that never happened.
   */
  audioMs: number | null;
  /** Peer ids of expected publishers this bot never decrypted a frame from. */
  missingAudio: string[];
  /** Like audioMs, for the first decrypted video frame of every expected video publisher. */
  videoMs: number | null;
  /** Peer ids of expected video publishers this bot never decrypted a video frame from. */
  missingVideo: string[];
  /** One entry per remote video publisher it received video from. */
  video: BotVideoSnapshot[];
  failure: { code: string; message: string; exitCode: number } | null;
  rotations: { reason: string; tookMs: number }[];
  streams: BotStreamSnapshot[];
  decryptFailures: number;
  /** Frames dropped because their key had not arrived yet (normal right after a join). */
  undecryptable: number;
  /** Times it reconnected after losing the relay (with `reconnect`). */
  reconnects: number;
}

export interface BotFleetOptions {
  /** The invite (with its secret). It is never logged or reported. */
  invite: string | Invite;
  /** Bot names are `${namePrefix}-${index}`. */
  namePrefix?: string;
  /** First bot index (worker processes number their bots after the others'). */
  firstIndex?: number;
  /**
   * What publishing bots send: a spec (the fleet opens one encoder on first use, shares it and
   * closes it) or an AudioSource opened by the caller (shared, never closed by the fleet).
   */
  audio?: AudioSourceSpec | AudioSource;
  /**
   * What publishing bots send as video: a spec (the fleet opens one VP8 encoder on first use,
   * shares it and closes it) or a VideoSource opened by the caller (shared, never closed by it).
   */
  video?: VideoSourceSpec | VideoSource;
  /** Size, frame rate and bitrate of the fleet's video encoder (when `video` is a spec). */
  videoSettings?: Omit<VideoSourceOptions, "ffmpeg" | "logger">;
  /** Path of ffmpeg; needed when `audio` or `video` is a spec. */
  ffmpeg?: string;
  /** Decode received Opus (level meters); off by default: bots decrypt but do not decode. */
  decode?: boolean;
  suite?: 4 | 5;
  logger?: Logger;
  /** Per-bot join timeout, ms (default 10 000). */
  timeoutMs?: number;
  /** How often receive statistics are sampled, ms (default 500). */
  sampleIntervalMs?: number;
  /**
   * Further join options for every bot (a join token, a CA, reconnecting). Bots do not reconnect
   * unless asked (`reconnect: true`): a load test counts a lost connection as a drop.
   */
  join?: Omit<JoinOptions, "name" | "identity" | "role" | "logger" | "onEvent" | "statsIntervalMs" | "levels" | "ffmpeg" | "suite" | "timeoutMs" | "video">;
}

export interface BotFleetEvents {
  "bot-joined": [Bot];
  "bot-failed": [Bot];
  /** A bot was disconnected without being asked to leave (relay closed, media failed). */
  "bot-dropped": [Bot, string];
  /** Every event of every bot. */
  "bot-event": [Bot, ConclaveEvent & { time: string }];
  closed: [];
}

/** A bot's running record of one video stream: the snapshot's counts plus what the bitrate needs. */
interface VideoRecord extends Omit<BotVideoSnapshot, "firstFrameMs" | "bitrateKbps"> {
  firstBytes: number;
  firstAt: number;
  bytesReceived: number;
  lastPacketAt: number;
}

interface StreamRecord {
  peerId: string;
  firstBytes: number;
  firstAt: number;
  last: { packetsReceived: number; packetsLost: number; jitterMs: number; bytesReceived: number; lastPacketAt: number };
}

/** One bot of a fleet: its participant (once joined) and what was measured about it. */
export class Bot {
  readonly index: number;
  readonly name: string;
  readonly publisher: boolean;
  readonly publishesAudio: boolean;
  readonly publishesVideo: boolean;
  state: BotState = "joining";
  participant: Participant | undefined;
  peerId = "";
  /** Date.now() when its join started, and when it finished. */
  readonly startedAt = Date.now();
  joinedAt: number | undefined;
  joinMs: number | null = null;
  failure: { code: string; message: string; exitCode: number } | null = null;
  /** Left on its own before the fleet closed (churn, or dropped): not expected to be heard after. */
  departed = false;
  /** Publishing bots already in the room when this one started joining. */
  readonly expected: Bot[];
  /** Remote peer id → ms from join start to its first decrypted frame. */
  readonly firstAudio = new Map<string, number>();
  /** Remote peer id → ms from join start to its first decrypted video frame. */
  readonly firstVideo = new Map<string, number>();
  readonly rotations: { reason: string; tookMs: number }[] = [];
  reconnects = 0;
  /** Why its participant left, as its `left` event said. */
  leftReason: string | undefined;
  private readonly streams = new Map<string, StreamRecord>();
  private readonly videos = new Map<string, VideoRecord>();
  private decryptFailures = 0;
  private undecryptable = 0;

  /** `media`: what a publishing bot sends (default: audio only). */
  constructor(index: number, name: string, publisher: boolean, expected: Bot[], media: { audio: boolean; video: boolean } = { audio: true, video: false }) {
    this.index = index;
    this.name = name;
    this.publisher = publisher;
    this.publishesAudio = publisher && media.audio;
    this.publishesVideo = publisher && media.video;
    this.expected = expected;
  }

  /** Copy the participant's receive statistics into this record (kept after peers or we leave). */
  sample(): void {
    const p = this.participant;
    if (!p || this.state !== "joined") return;
    for (const peerId of p.e2ee.members.keys()) {
      const s = p.receiveStatsOf(peerId);
      if (!s || s.packetsReceived === 0) continue;
      const last = {
        packetsReceived: s.packetsReceived,
        packetsLost: s.packetsLost,
        jitterMs: s.jitterMs,
        bytesReceived: s.bytesReceived,
        lastPacketAt: s.lastPacketAt,
      };
      const rec = this.streams.get(peerId);
      if (rec) rec.last = last;
      else this.streams.set(peerId, { peerId, firstBytes: s.bytesReceived, firstAt: s.lastPacketAt, last });
    }
    for (const peerId of p.e2ee.members.keys()) this.sampleVideo(p, peerId);
    this.decryptFailures = p.e2ee.stats.decryptFailures;
    this.undecryptable = p.e2ee.stats.unknownKey;
  }

  /** One remote member's video (nothing when it sends none): frame-level figures, no decoding. */
  private sampleVideo(p: Participant, peerId: string): void {
    const v = p.videoStatsOf(peerId);
    const r = p.videoReceiveOf(peerId);
    if (!v || !r || r.packetsReceived === 0) return;
    const rec = this.videos.get(peerId);
    const now = {
      frames: v.frames,
      keyframes: v.keyframes,
      // Only while the stream is live: a publisher that went quiet keeps the rate it had.
      fps: v.fps > 0 || !rec ? round(v.fps, 1) : rec.fps,
      width: v.width,
      height: v.height,
      packetsReceived: r.packetsReceived,
      packetsLost: r.packetsLost,
      framesAssembled: r.framesAssembled,
      framesDropped: r.framesDropped,
      bytesReceived: r.bytesReceived,
      lastPacketAt: r.lastPacketAt,
    };
    if (rec) Object.assign(rec, now);
    else this.videos.set(peerId, { peerId, firstBytes: r.bytesReceived, firstAt: r.lastPacketAt, ...now });
  }

  /** Time to first decrypted audio from every expected publisher, and who was never heard. */
  audioTiming(): { audioMs: number | null; missingAudio: string[] } {
    const { ms, missing } = this.timing(this.firstAudio, (b) => b.publishesAudio);
    return { audioMs: ms, missingAudio: missing };
  }

  /** Time to the first decrypted video frame from every expected video publisher, and who was never seen. */
  videoTiming(): { videoMs: number | null; missingVideo: string[] } {
    const { ms, missing } = this.timing(this.firstVideo, (b) => b.publishesVideo);
    return { videoMs: ms, missingVideo: missing };
  }

  private timing(first: Map<string, number>, sends: (b: Bot) => boolean): { ms: number | null; missing: string[] } {
    const expected = this.expected.filter((b) => sends(b) && b.peerId !== "" && b.peerId !== this.peerId && (!b.departed || first.has(b.peerId)));
    if (expected.length === 0) {
      const any = [...first.values()];
      return { ms: any.length > 0 ? Math.min(...any) : null, missing: [] };
    }
    const missing = expected.filter((b) => !first.has(b.peerId)).map((b) => b.peerId);
    if (missing.length > 0) return { ms: null, missing };
    return { ms: Math.max(...expected.map((b) => first.get(b.peerId)!)), missing: [] };
  }

  snapshot(): BotSnapshot {
    const failed = this.state === "failed";
    const { audioMs, missingAudio } = failed ? { audioMs: null, missingAudio: [] } : this.audioTiming();
    const { videoMs, missingVideo } = failed ? { videoMs: null, missingVideo: [] } : this.videoTiming();
    return {
      index: this.index,
      name: this.name,
      publisher: this.publisher,
      publishesAudio: this.publishesAudio,
      publishesVideo: this.publishesVideo,
      state: this.state,
      peerId: this.peerId,
      joinMs: this.joinMs,
      audioMs,
      missingAudio,
      videoMs,
      missingVideo,
      video: [...this.videos.values()].map((v) => {
        const spanMs = v.lastPacketAt - v.firstAt;
        return {
          peerId: v.peerId,
          frames: v.frames,
          keyframes: v.keyframes,
          fps: v.fps,
          width: v.width,
          height: v.height,
          firstFrameMs: this.firstVideo.get(v.peerId) ?? null,
          packetsReceived: v.packetsReceived,
          packetsLost: v.packetsLost,
          framesAssembled: v.framesAssembled,
          framesDropped: v.framesDropped,
          bitrateKbps: spanMs >= 1000 ? round(((v.bytesReceived - v.firstBytes) * 8) / spanMs, 1) : null,
        };
      }),
      failure: this.failure,
      rotations: [...this.rotations],
      streams: [...this.streams.values()].map((r) => {
        const spanMs = r.last.lastPacketAt - r.firstAt;
        return {
          peerId: r.peerId,
          packetsReceived: r.last.packetsReceived,
          packetsLost: r.last.packetsLost,
          jitterMs: round(r.last.jitterMs, 2),
          // bytes × 8 / ms = kbit/s. Under a second of data says little about a 50 packet/s stream.
          bitrateKbps: spanMs >= 1000 ? round(((r.last.bytesReceived - r.firstBytes) * 8) / spanMs, 1) : null,
        };
      }),
      decryptFailures: this.decryptFailures,
      undecryptable: this.undecryptable,
      reconnects: this.reconnects,
    };
  }

  /** Record one of its participant's events. */
  onEvent(event: ConclaveEvent): void {
    switch (event.type) {
      case "joined":
        this.peerId = event.peerId;
        this.joinMs = event.joinMs;
        return;
      case "first-audio":
        if (!this.firstAudio.has(event.peerId)) this.firstAudio.set(event.peerId, event.afterJoinMs);
        return;
      case "first-video":
        if (!this.firstVideo.has(event.peerId)) this.firstVideo.set(event.peerId, event.afterJoinMs);
        return;
      case "key-rotated":
        if (event.reason !== "start") this.rotations.push({ reason: event.reason, tookMs: event.tookMs });
        return;
      case "left":
        this.leftReason = event.reason;
        return;
      case "reconnected":
        // A new session: a new peer id, and every sender heard afresh.
        this.reconnects++;
        this.peerId = event.peerId;
        return;
      default:
        return;
    }
  }
}

export class BotFleet extends TypedEmitter<BotFleetEvents> {
  readonly invite: Invite;
  readonly bots: Bot[] = [];
  private readonly options: BotFleetOptions;
  private readonly log: Logger;
  private nextIndex: number;
  private source: AudioSource | undefined;
  private sourceOpening: Promise<AudioSource> | undefined;
  private ownsSource = false;
  private videoSource: VideoSource | undefined;
  private videoOpening: Promise<VideoSource> | undefined;
  private ownsVideoSource = false;
  private readonly sampler: NodeJS.Timeout;
  private readonly pending = new Set<Promise<unknown>>();
  private closing = false;

  constructor(options: BotFleetOptions) {
    super();
    this.options = options;
    this.log = options.logger ?? nullLogger;
    this.eventLogger = this.log;
    this.nextIndex = options.firstIndex ?? 1;
    try {
      this.invite = typeof options.invite === "string" ? parseInvite(options.invite) : options.invite;
    } catch (err) {
      if (err instanceof InviteParseError) throw new InviteError(err.message, err.code);
      throw err;
    }
    if (options.audio instanceof AudioSource) this.source = options.audio;
    if (options.video instanceof VideoSource) this.videoSource = options.video;
    this.sampler = setInterval(() => this.sample(), options.sampleIntervalMs ?? 500);
    this.sampler.unref();
  }

  /** Bots that are in the room now. */
  get joined(): Bot[] {
    return this.bots.filter((b) => b.state === "joined");
  }

  /** Does a publishing bot of this fleet send audio, video? */
  get media(): { audio: boolean; video: boolean } {
    const a = this.options.audio;
    const v = this.options.video;
    return { audio: a !== undefined && (a instanceof AudioSource || a.kind !== "none"), video: v !== undefined && (v instanceof VideoSource || v.kind !== "none") };
  }

  /**
   * The encoders this fleet opened itself (one per medium at most, shared by all its publishing
   * bots), with the pid of each ffmpeg and what it produced so far. Caller-provided sources are
   * not listed.
   */
  encoders(): { audio: { pid: number | null; frames: number } | null; video: { pid: number | null; frames: number; keyframes: number; width: number; height: number; fps: number } | null } {
    const a = this.ownsSource ? this.source : undefined;
    const v = this.ownsVideoSource ? this.videoSource : undefined;
    return {
      audio: a ? { pid: a.pid ?? null, frames: a.frames } : null,
      video: v ? { pid: v.pid ?? null, frames: v.stats.frames, keyframes: v.stats.keyframes, width: v.settings.width, height: v.settings.height, fps: v.settings.fps } : null,
    };
  }

  /** The shared video encoder, opened once on first use. */
  private async sharedVideoSource(): Promise<VideoSource> {
    if (this.videoSource) return this.videoSource;
    const spec = this.options.video;
    if (!spec || spec instanceof VideoSource || spec.kind === "none") throw new UsageError("publishing bots need a video source");
    if (!this.options.ffmpeg) throw new ConclaveError("ffmpeg-missing", "publishing bots need ffmpeg", ExitCode.media);
    this.videoOpening ??= VideoSource.open(spec, { ...this.options.videoSettings, ffmpeg: this.options.ffmpeg, logger: this.log.child("video-source") }).then((s) => {
      this.ownsVideoSource = true;
      this.videoSource = s;
      s.on("error", (err) => this.log.warn("the shared video source failed", { code: err.code, error: err.message }));
      return s;
    });
    return this.videoOpening;
  }

  /** The shared encoders a publishing bot sends (opened on first use). */
  private async sharedSources(): Promise<{ audio: AudioSource | undefined; video: VideoSource | undefined }> {
    const media = this.media;
    if (!media.audio && !media.video) throw new UsageError("publishing bots need an audio or a video source");
    const [audio, video] = await Promise.all([media.audio ? this.sharedSource() : undefined, media.video ? this.sharedVideoSource() : undefined]);
    return { audio, video };
  }

  /** The shared audio encoder, opened once on first use. */
  private async sharedSource(): Promise<AudioSource> {
    if (this.source) return this.source;
    const spec = this.options.audio;
    if (!spec || spec instanceof AudioSource || spec.kind === "none") throw new UsageError("publishing bots need an audio source");
    if (!this.options.ffmpeg) throw new ConclaveError("ffmpeg-missing", "publishing bots need ffmpeg", ExitCode.media);
    this.sourceOpening ??= AudioSource.open(spec, { ffmpeg: this.options.ffmpeg, logger: this.log.child("source") }).then((s) => {
      this.ownsSource = true;
      this.source = s;
      s.on("error", (err) => this.log.warn("the shared audio source failed", { code: err.code, error: err.message }));
      return s;
    });
    return this.sourceOpening;
  }

  /**
   * Add one bot: join, and publish the shared source when `publish`. Resolves with the bot whether
   * or not it got in: a refused or failed join is recorded on it (`state: "failed"`, `failure`).
   * Rejects only when the shared source cannot be opened.
   */
  async add(opts: { publish?: boolean; name?: string } = {}): Promise<Bot> {
    if (this.closing) throw new ConclaveError("fleet-closed", "the bot fleet is closed");
    const publish = opts.publish ?? false;
    const sources = publish ? await this.sharedSources() : { audio: undefined, video: undefined };
    const index = this.nextIndex++;
    const expected = this.bots.filter((b) => b.publisher && b.state === "joined");
    const bot = new Bot(index, opts.name ?? `${this.options.namePrefix ?? "bot"}-${index}`, publish, expected, this.media);
    this.bots.push(bot);
    const work = this.join(bot, sources);
    this.pending.add(work);
    try {
      await work;
    } finally {
      this.pending.delete(work);
    }
    return bot;
  }

  private async join(bot: Bot, sources: { audio: AudioSource | undefined; video: VideoSource | undefined }): Promise<void> {
    let participant: Participant;
    try {
      participant = await Participant.join(this.invite, {
        reconnect: false,
        ...this.options.join,
        name: bot.name,
        role: "bot",
        statsIntervalMs: 0,
        levels: this.options.decode ?? false,
        suite: this.options.suite ?? 4,
        timeoutMs: this.options.timeoutMs ?? 10_000,
        // Only a video publisher needs the relay to offer it a video upload m-line.
        ...(sources.video ? { video: true } : {}),
        logger: this.log.child(bot.name),
        ...(this.options.ffmpeg ? { ffmpeg: this.options.ffmpeg } : {}),
        onEvent: (e) => {
          bot.onEvent(e);
          this.emit("bot-event", bot, e);
        },
      });
    } catch (err) {
      bot.state = "failed";
      bot.failure = failureOf(err);
      this.log.debug("bot could not join", { bot: bot.name, code: bot.failure.code });
      this.emit("bot-failed", bot);
      return;
    }
    bot.participant = participant;
    bot.peerId = participant.peerId;
    bot.joinedAt = Date.now();
    bot.state = "joined";
    participant.once("closed", () => {
      if (bot.state !== "joined") return;
      bot.state = "dropped";
      bot.departed = true;
      const reason = bot.leftReason ?? "disconnected";
      bot.failure = { code: "dropped", message: `${bot.name} was disconnected (${reason})`, exitCode: ExitCode.connection };
      this.emit("bot-dropped", bot, reason);
    });
    if (this.closing) {
      await this.remove(bot, "fleet-closed");
      return;
    }
    if (sources.audio) await participant.publish(sources.audio);
    if (sources.video) await participant.publishVideo(sources.video);
    this.emit("bot-joined", bot);
  }

  /**
   * Add `count` bots, starting one join every 1000/rampPerSecond ms without waiting for the
   * previous one to finish (joins overlap the way people joining a call do). With `maxLagMs`, a
   * join also waits while this process is more than that far behind on its signalling work
   * (turn-queue.ts): every join costs each bot already in the room key exchanges and a
   * renegotiation, and on a machine too busy to keep up with the ramp that work would pile up until
   * answers to the relay come too late and bots are dropped. Resolves when every join has settled.
   * `signal` stops starting new ones.
   */
  async addMany(count: number, opts: { publish?: boolean; rampPerSecond?: number; maxLagMs?: number; signal?: AbortSignal } = {}): Promise<Bot[]> {
    if (!Number.isInteger(count) || count < 0) throw new RangeError("count must be a whole number");
    if (opts.maxLagMs !== undefined && !(opts.maxLagMs >= 0)) throw new RangeError("maxLagMs must be a number of milliseconds");
    const interval = opts.rampPerSecond && opts.rampPerSecond > 0 ? 1000 / opts.rampPerSecond : 0;
    if (opts.publish && count > 0) await this.sharedSources();
    const started: Promise<Bot>[] = [];
    let next = Date.now();
    for (let i = 0; i < count; i++) {
      if (opts.signal?.aborted || this.closing) break;
      const wait = next - Date.now();
      if (wait > 0) await delay(wait, opts.signal);
      // Backpressure: poll (bounded by `signal`) until the backlog is worked off.
      while (opts.maxLagMs !== undefined && signallingTurns.lagMs > opts.maxLagMs && !opts.signal?.aborted && !this.closing) {
        await delay(LAG_POLL_MS, opts.signal);
      }
      if (opts.signal?.aborted || this.closing) break;
      // Held back by more than one interval: the ramp goes on from now.
      const now = Date.now();
      next = (now - next > interval ? now : next) + interval;
      started.push(this.add({ publish: opts.publish ?? false }));
    }
    return Promise.all(started);
  }

  /** Take one bot out of the room (it says goodbye, the others rotate their keys). */
  async remove(bot: Bot, reason = "left"): Promise<void> {
    bot.sample();
    if (bot.state === "joined") {
      bot.state = "left";
      if (!this.closing) bot.departed = true;
    }
    await bot.participant?.close(reason);
  }

  /** Sample every bot's receive statistics now (also done on a timer). */
  sample(): void {
    for (const bot of this.bots) bot.sample();
  }

  snapshots(): BotSnapshot[] {
    this.sample();
    return this.bots.map((b) => b.snapshot());
  }

  /** Everyone leaves; the fleet's own encoder stops. Idempotent. */
  async close(reason = "left"): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearInterval(this.sampler);
    this.sample();
    await Promise.allSettled([...this.pending]);
    await Promise.all(this.bots.map((b) => this.remove(b, reason)));
    if (this.ownsSource) await this.source?.close();
    if (this.ownsVideoSource) await this.videoSource?.close();
    this.emit("closed");
  }
}

function failureOf(err: unknown): { code: string; message: string; exitCode: number } {
  if (err instanceof ConclaveError) return { code: err.code, message: err.message, exitCode: err.exitCode };
  const e = err as { code?: unknown; message?: unknown };
  return { code: typeof e?.code === "string" ? e.code : "internal", message: String(e?.message ?? err), exitCode: ExitCode.internal };
}

/** Resolves after `ms`, or at once when `signal` aborts (or already has, or `ms` ≤ 0). */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted || ms <= 0) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

// ---- summary math (pure; shared by `conclave bots` and `conclave loadtest`) -----------------------

export interface Distribution {
  count: number;
  p50: number | null;
  p95: number | null;
  max: number | null;
  mean: number | null;
}

/**
 * Nearest-rank percentile: the smallest value with at least p% of the values at or below it, so
 * it is always one of the observed values (p95 of 20 values is the 19th smallest). Null when empty.
 */
export function percentile(values: readonly number[], p: number): number | null {
  if (!(p >= 0 && p <= 100)) throw new RangeError("percentile must be from 0 to 100");
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return null;
  const sorted = [...finite].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

export function distribution(values: readonly number[], digits = 1): Distribution {
  const finite = values.filter((v) => Number.isFinite(v));
  const r = (v: number | null): number | null => (v === null ? null : round(v, digits));
  return {
    count: finite.length,
    p50: r(percentile(finite, 50)),
    p95: r(percentile(finite, 95)),
    max: r(finite.length > 0 ? Math.max(...finite) : null),
    mean: r(finite.length > 0 ? finite.reduce((s, v) => s + v, 0) / finite.length : null),
  };
}

/** Loss over all streams: lost / (received + lost), in percent. 0 when nothing was expected. */
export function lossPercent(streams: readonly { packetsReceived: number; packetsLost: number }[]): number {
  let received = 0;
  let lost = 0;
  for (const s of streams) {
    received += s.packetsReceived;
    lost += s.packetsLost;
  }
  return received + lost > 0 ? (lost / (received + lost)) * 100 : 0;
}

export interface BotsSummary {
  count: number;
  joined: number;
  failed: number;
  dropped: number;
  publishers: number;
  joinMs: Distribution;
  audioMs: Distribution;
  missingAudio: number;
  streams: number;
  packetsReceived: number;
  packetsLost: number;
  lossPct: number;
  /** Worst single stream's loss, percent. */
  worstLossPct: number;
  jitterMs: Distribution;
  /** Per-stream mean received bitrate. */
  bitrateKbps: Distribution;
  decryptFailures: number;
  /** Received video over all bots (zeros without video publishers). */
  video: BotsVideoSummary;
  /**
   * Failed joins and drops by code, "missing-audio" for bots that never heard a publisher they
   * expected and "missing-video" for bots that never saw a video publisher they expected, each
   * with the bots' names (never the invite).
   */
  errors: { code: string; count: number; bots: string[] }[];
}

export interface BotsVideoSummary {
  /** Bots that published video (and got in). */
  publishers: number;
  /** Received video streams (bot × remote video publisher). */
  streams: number;
  /** Frames decrypted and delivered, over all streams. */
  frames: number;
  keyframes: number;
  /** Incomplete frames given up on. */
  framesDropped: number;
  packetsReceived: number;
  packetsLost: number;
  /** Per-stream frame rate (last 2 s of each stream). */
  fps: Distribution;
  /** Per-bot time to the first video frame of every expected video publisher (videoMs). */
  videoMs: Distribution;
  /** Expected video publishers never seen, summed over bots. */
  missingVideo: number;
  /** Distinct received picture sizes, "WxH" (from VP8 key frame headers). */
  resolutions: string[];
}

function summarizeVideo(bots: readonly BotSnapshot[]): BotsVideoSummary {
  // Worker processes of an older build send no video fields.
  const streams = bots.flatMap((b) => b.video ?? []);
  return {
    publishers: bots.filter((b) => b.publishesVideo === true && b.state !== "failed").length,
    streams: streams.length,
    frames: streams.reduce((n, s) => n + s.frames, 0),
    keyframes: streams.reduce((n, s) => n + s.keyframes, 0),
    framesDropped: streams.reduce((n, s) => n + s.framesDropped, 0),
    packetsReceived: streams.reduce((n, s) => n + s.packetsReceived, 0),
    packetsLost: streams.reduce((n, s) => n + s.packetsLost, 0),
    fps: distribution(streams.map((s) => s.fps)),
    videoMs: distribution(bots.flatMap((b) => (b.videoMs !== null && b.videoMs !== undefined ? [b.videoMs] : []))),
    missingVideo: bots.reduce((n, b) => n + (b.missingVideo?.length ?? 0), 0),
    resolutions: [...new Set(streams.filter((s) => s.width > 0).map((s) => `${s.width}x${s.height}`))].sort(),
  };
}

export function summarizeBots(bots: readonly BotSnapshot[]): BotsSummary {
  const streams = bots.flatMap((b) => b.streams);
  const byCode = new Map<string, string[]>();
  const note = (code: string, name: string): void => {
    const names = byCode.get(code) ?? [];
    names.push(name);
    byCode.set(code, names);
  };
  for (const b of bots) {
    if (b.failure) note(b.failure.code, b.name);
    else if (b.missingAudio.length > 0) note("missing-audio", b.name);
    if (!b.failure && (b.missingVideo?.length ?? 0) > 0) note("missing-video", b.name);
  }
  return {
    count: bots.length,
    joined: bots.filter((b) => b.joinMs !== null && b.state !== "failed").length,
    failed: bots.filter((b) => b.state === "failed").length,
    dropped: bots.filter((b) => b.state === "dropped").length,
    publishers: bots.filter((b) => b.publisher && b.state !== "failed").length,
    joinMs: distribution(bots.flatMap((b) => (b.joinMs !== null ? [b.joinMs] : []))),
    audioMs: distribution(bots.flatMap((b) => (b.audioMs !== null ? [b.audioMs] : []))),
    missingAudio: bots.reduce((n, b) => n + b.missingAudio.length, 0),
    streams: streams.length,
    packetsReceived: streams.reduce((n, s) => n + s.packetsReceived, 0),
    packetsLost: streams.reduce((n, s) => n + s.packetsLost, 0),
    lossPct: round(lossPercent(streams), 3),
    worstLossPct: round(Math.max(0, ...streams.map((s) => lossPercent([s]))), 3),
    jitterMs: distribution(streams.map((s) => s.jitterMs), 2),
    bitrateKbps: distribution(streams.flatMap((s) => (s.bitrateKbps !== null ? [s.bitrateKbps] : []))),
    decryptFailures: bots.reduce((n, b) => n + b.decryptFailures, 0),
    video: summarizeVideo(bots),
    errors: [...byCode].map(([code, names]) => ({ code, count: names.length, bots: names })),
  };
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
