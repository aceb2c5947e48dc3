/**
 * Video sources: one ffmpeg per source scales the input to the requested size and frame rate,
 * encodes VP8 (libvpx, realtime settings) and writes IVF to its stdout; IvfReader splits that into
 * whole encoded frames, which the source emits as 'frame' events in real time. Whole frames are what
 * end-to-end encryption needs: each one becomes one SFrame message (RFC 9605 §4.4.3) before it is
 * packetized (vp8-rtp.ts), so nothing about the frame content is visible on the wire.
 *
 * stdio of the ffmpeg child:
 *   fd 0 — ignored (/dev/null; -nostdin).
 *   fd 1 — IVF: 32-byte file header, then one 12-byte frame header + VP8 frame per picture
 *          (`-flush_packets 1`: each frame leaves ffmpeg as soon as it is encoded).
 *   fd 2 — ffmpeg's log, forwarded line by line to the logger (FfmpegProcess).
 *
 * Encoder settings (libvpx VP8, all accepted by the 2018 static ffmpeg shipped via npm):
 *   -deadline realtime -cpu-used 8   fastest realtime mode (640x360@15 costs ~5 % of one core)
 *   -lag-in-frames 0                 no look-ahead: a frame leaves as soon as it is captured
 *   -error-resilient 1               decoders recover better after a lost frame
 *   -b:v = -minrate = -maxrate       libvpx CBR (ffmpeg selects VPX_CBR when the three are equal)
 *   -g N -keyint_min N               a key frame exactly every N frames (keyframeIntervalMs)
 *
 * H.264 (`codec: "h264"`): libx264 instead, and FLV on stdout instead of IVF (flv.ts says why: FLV
 * frames each access unit, so no frame waits for the next one); FlvH264Reader turns it into Annex B
 * access units with SPS and PPS in front of every IDR picture. Encoder settings:
 *   -profile:v baseline              Constrained Baseline (no B-frames, no CABAC): every decoder
 *   -preset veryfast -tune zerolatency  no look-ahead, no frame delay; sliced threads
 *   -b:v -maxrate -bufsize           VBV-constrained bitrate (x264 has no exact CBR in this mode)
 *   -g N -keyint_min N -sc_threshold 0  an IDR picture exactly every N frames, none at scene cuts
 *
 * Key frame requests: ffmpeg cannot be asked for a key frame at run time (its keyboard commands
 * reach filters, never the encoder; `-force_key_frames` is fixed at start; libzmq is not built in).
 * Restarting ffmpeg would cost ~100–300 ms of black, reopen the device and restart files. So key
 * frames come on a fixed short interval (default 1 s), and requestKeyframe() answers how long until
 * the next one; a receiver that lost a frame, or joined late, waits at most one interval.
 *
 * Pacing: file and generated inputs are read with `-re` (native rate); devices and the screen pace
 * themselves. Output timestamps are ffmpeg's (constant frame rate after the `fps` filter), converted
 * to the 90 kHz RTP video clock (RFC 7741 §4.1: "the RTP timestamp ... 90 kHz clock rate").
 */
import { execFile } from "node:child_process";
import fs from "node:fs/promises";
import path from "node:path";
import { MediaError, UsageError } from "../../errors.js";
import { nullLogger, type Logger } from "../../log.js";
import { TypedEmitter } from "../events.js";
import { FfmpegProcess } from "../ffmpeg/process.js";
import { IvfReader, type IvfFrame } from "./ivf.js";
import { FlvH264Reader, type H264AccessUnit } from "./flv.js";

/** The video codecs Conclave sends and receives. */
export type VideoCodecName = "vp8" | "h264";
export const VIDEO_CODECS: readonly VideoCodecName[] = ["vp8", "h264"];

export type VideoSourceSpec =
  /** ffmpeg's test pattern (moving gradient and a running clock); "flash" adds a white frame at every whole second. */
  | { kind: "testsrc"; pattern?: "clock" | "flash" }
  | { kind: "file"; path: string; loop: boolean }
  /** A V4L2 capture device, e.g. /dev/video0. */
  | { kind: "device"; path: string }
  /** X11 screen grab of `display` (e.g. ":0" or ":0.0+100,200" for an offset). */
  | { kind: "screen"; display: string }
  | { kind: "none" };

export type OpenableVideoSourceSpec = Exclude<VideoSourceSpec, { kind: "none" }>;

const FORMS = "testsrc, testsrc:flash, file:PATH or a path, device:/dev/videoN, screen or screen:DISPLAY (e.g. screen::0), none";

/** Network inputs ffmpeg reads that we pass through as files without checking the filesystem. */
const URL_LIKE = /^[a-z][a-z0-9+.-]*:\/\//i;

export interface ParseVideoSourceOptions {
  /** Loop a file source. */
  loop?: boolean;
  /** Environment for DISPLAY (default process.env). */
  env?: NodeJS.ProcessEnv;
}

/**
 * Parses a --video style source description. Throws UsageError naming the accepted forms.
 * A bare path (or `file:PATH`) is a file; a bare /dev/video* path is a device; `screen` uses $DISPLAY.
 */
export function parseVideoSource(text: string, opts: ParseVideoSourceOptions = {}): VideoSourceSpec {
  const s = text.trim();
  const bad = (why: string): UsageError => new UsageError(`invalid video source "${text}": ${why}; use ${FORMS}`);
  if (s === "") throw bad("empty");
  if (s === "none") return { kind: "none" };
  if (s === "testsrc") return { kind: "testsrc" };
  if (s === "screen") {
    const display = (opts.env ?? process.env).DISPLAY ?? "";
    if (display === "") throw bad("no X display: DISPLAY is not set (write screen:DISPLAY, e.g. screen::0)");
    return { kind: "screen", display };
  }
  if (/^\/dev\/video\d+$/.test(s)) return { kind: "device", path: s };
  const colon = s.indexOf(":");
  const prefix = colon > 0 ? s.slice(0, colon) : "";
  const rest = colon > 0 ? s.slice(colon + 1) : "";
  switch (prefix) {
    case "testsrc":
      if (rest === "flash" || rest === "clock") return { kind: "testsrc", pattern: rest };
      throw bad(`unknown test pattern "${rest}" (testsrc or testsrc:flash)`);
    case "file":
      if (rest === "") throw bad("missing file path");
      return { kind: "file", path: rest, loop: opts.loop ?? false };
    case "device":
      if (rest === "") throw bad("missing device path");
      return { kind: "device", path: rest };
    case "screen":
      if (!/^[A-Za-z0-9.\-_]*:\d+(\.\d+)?(\+\d+,\d+)?$/.test(rest)) throw bad(`"${rest}" is not an X display such as :0 or :0.0`);
      return { kind: "screen", display: rest };
    default:
      break;
  }
  if (prefix !== "" && /^[a-z]+$/i.test(prefix) && prefix.length > 1 && !URL_LIKE.test(s)) {
    throw bad(`unknown kind "${prefix}:" (write file:${s} for a path containing ':')`);
  }
  return { kind: "file", path: s, loop: opts.loop ?? false };
}

/** Human-readable description for logs and messages. */
export function describeVideoSource(spec: VideoSourceSpec): string {
  switch (spec.kind) {
    case "testsrc":
      return spec.pattern === "flash" ? "testsrc:flash" : "testsrc";
    case "file":
      return `file:${spec.path}${spec.loop ? " (loop)" : ""}`;
    case "device":
      return `device:${spec.path}`;
    case "screen":
      return `screen:${spec.display}`;
    case "none":
      return "none";
  }
}

/**
 * The lavfi audio source that matches `testsrc:flash`: a 1 kHz beep of 100 ms starting at every
 * whole second, for the A/V sync test (the flash is the frame at every whole second). Use as
 * `-f lavfi -i <this>` in an audio source.
 */
export const FLASH_BEEP_AUDIO_LAVFI = "aevalsrc=exprs=0.5*sin(2*PI*1000*t)*lt(mod(t\\,1)\\,0.1):s=48000:c=mono";

export interface VideoFrame {
  /**
   * One whole encoded frame: a VP8 frame as libvpx produced it (RFC 6386), or for an H.264 source
   * one Annex B access unit (h264.ts).
   */
  data: Buffer;
  /** Presentation time on the 90 kHz RTP video clock, from 0 at the first frame; not wrapped. */
  timestamp90k: number;
  /** VP8: RFC 6386 §9.1, bit 0 of the first byte is 0. H.264: an IDR picture. */
  keyframe: boolean;
  /** Picture size from the latest key frame. */
  width: number;
  height: number;
}

export type VideoSourceEvents = {
  frame: [frame: VideoFrame];
  /** The input ended (a non-looping file played to its end). */
  end: [];
  /** ffmpeg died while running (device unplugged, corrupt file). */
  error: [error: MediaError];
  /** The source is finished: after close(), 'end' or 'error'. */
  close: [];
};

export interface VideoSourceOptions {
  /** Path of ffmpeg (resolveFfmpeg().path). */
  ffmpeg: string;
  /** Output size in pixels (default 640x360). Inputs are scaled to fit and letterboxed. */
  width?: number;
  height?: number;
  /** Output frame rate (integer, default 15). */
  fps?: number;
  /** Target bitrate in kbit/s (default 500). */
  bitrateKbps?: number;
  /** Distance between key frames in ms (default 1000; rounded to whole frames, at least one). */
  keyframeIntervalMs?: number;
  /** Encoder: "vp8" (libvpx, default) or "h264" (libx264, Constrained Baseline). */
  codec?: VideoCodecName;
  logger?: Logger;
  /** How long ffmpeg may take to produce its first frame before open() fails (default 10 s). */
  startTimeoutMs?: number;
}

export interface VideoEncodeSettings {
  width: number;
  height: number;
  fps: number;
  bitrateKbps: number;
  /** Frames between key frames (libvpx kf_min_dist = kf_max_dist; x264 keyint = min-keyint). */
  gop: number;
  /** Encoder (absent: "vp8"). */
  codec?: VideoCodecName;
  /** For screen grabs: the screen size to capture (default: the output size). */
  captureWidth?: number;
  captureHeight?: number;
}

/** Resolves and checks VideoSourceOptions (RangeError on bad values). */
export function videoEncodeSettings(opts: Omit<VideoSourceOptions, "ffmpeg" | "logger" | "startTimeoutMs">): VideoEncodeSettings {
  const width = opts.width ?? 640;
  const height = opts.height ?? 360;
  const fps = opts.fps ?? 15;
  const bitrateKbps = opts.bitrateKbps ?? 500;
  const keyMs = opts.keyframeIntervalMs ?? 1000;
  // VP8 carries 14-bit dimensions (RFC 6386 §9.1); libvpx wants them at least 16 and even for 4:2:0.
  for (const [name, v] of [["width", width], ["height", height]] as const) {
    if (!Number.isInteger(v) || v < 16 || v > 16383 || v % 2 !== 0) throw new RangeError(`video ${name} must be an even integer from 16 to 16382`);
  }
  if (!Number.isInteger(fps) || fps < 1 || fps > 60) throw new RangeError("video fps must be an integer from 1 to 60");
  if (!Number.isInteger(bitrateKbps) || bitrateKbps < 30 || bitrateKbps > 20000) throw new RangeError("video bitrate must be an integer from 30 to 20000 kbit/s");
  if (!(keyMs > 0) || keyMs > 60_000) throw new RangeError("key frame interval must be from 1 to 60000 ms");
  if (opts.codec !== undefined && !VIDEO_CODECS.includes(opts.codec)) throw new RangeError(`video codec must be one of ${VIDEO_CODECS.join(", ")}`);
  const settings: VideoEncodeSettings = { width, height, fps, bitrateKbps, gop: Math.max(1, Math.round((fps * keyMs) / 1000)) };
  if (opts.codec !== undefined) settings.codec = opts.codec;
  return settings;
}

/** Scale to fit inside W×H keeping the aspect ratio, pad to exactly W×H, constant frame rate, 4:2:0. */
function fitFilter(s: VideoEncodeSettings): string {
  return (
    `fps=${s.fps},scale=${s.width}:${s.height}:force_original_aspect_ratio=decrease,` +
    `pad=${s.width}:${s.height}:(ow-iw)/2:(oh-ih)/2,setsar=1,format=yuv420p`
  );
}

/** The ffmpeg arguments for a source (exported for diagnostics and tests). */
export function videoSourceArgs(spec: OpenableVideoSourceSpec, s: VideoEncodeSettings): string[] {
  const input: string[] = [];
  let filter = fitFilter(s);
  switch (spec.kind) {
    case "testsrc": {
      input.push("-re", "-f", "lavfi", "-i", `testsrc=size=${s.width}x${s.height}:rate=${s.fps}`);
      filter = "format=yuv420p";
      if (spec.pattern === "flash") {
        // Frame n is white when n is a multiple of fps: exactly one frame at every whole second.
        filter = `drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='eq(mod(n\\,${s.fps})\\,0)',${filter}`;
      }
      break;
    }
    case "file":
      input.push("-re");
      if (spec.loop) input.push("-stream_loop", "-1");
      input.push("-i", URL_LIKE.test(spec.path) ? spec.path : `file:${path.resolve(spec.path)}`);
      break;
    case "device":
      // The driver picks the nearest mode it supports; fitFilter makes the output exact.
      input.push("-f", "v4l2", "-framerate", String(s.fps), "-video_size", `${s.width}x${s.height}`, "-i", spec.path);
      break;
    case "screen":
      input.push(
        "-f",
        "x11grab",
        "-framerate",
        String(s.fps),
        "-video_size",
        `${s.captureWidth ?? s.width}x${s.captureHeight ?? s.height}`,
        "-i",
        spec.display,
      );
      break;
  }
  const rate = `${s.bitrateKbps}k`;
  const common = ["-hide_banner", "-nostdin", "-nostats", "-loglevel", "warning", ...input, "-map", "0:v:0", "-vf", filter];
  if (s.codec === "h264") {
    return [
      ...common,
      "-c:v",
      "libx264",
      "-profile:v",
      "baseline",
      "-preset",
      "veryfast",
      "-tune",
      "zerolatency",
      "-b:v",
      rate,
      "-maxrate",
      rate,
      "-bufsize",
      rate,
      "-g",
      String(s.gop),
      "-keyint_min",
      String(s.gop),
      "-sc_threshold",
      "0",
      "-f",
      "flv",
      "-flush_packets",
      "1",
      "pipe:1",
    ];
  }
  return [
    ...common,
    "-c:v",
    "libvpx",
    "-deadline",
    "realtime",
    "-cpu-used",
    "8",
    "-lag-in-frames",
    "0",
    "-error-resilient",
    "1",
    "-b:v",
    rate,
    "-minrate",
    rate,
    "-maxrate",
    rate,
    "-bufsize",
    rate,
    "-g",
    String(s.gop),
    "-keyint_min",
    String(s.gop),
    "-f",
    "ivf",
    "-flush_packets",
    "1",
    "pipe:1",
  ];
}

export interface VideoSourceStats {
  frames: number;
  keyframes: number;
  bytes: number;
  keyframeRequests: number;
  width: number;
  height: number;
}

export class VideoSource extends TypedEmitter<VideoSourceEvents> {
  readonly spec: OpenableVideoSourceSpec;
  readonly settings: VideoEncodeSettings;
  readonly #proc: FfmpegProcess;
  readonly #logger: Logger;
  readonly #openedAt = performance.now();
  readonly #stats: VideoSourceStats = { frames: 0, keyframes: 0, bytes: 0, keyframeRequests: 0, width: 0, height: 0 };
  #firstFrameMs: number | null = null;
  #framesSinceKey = 0;
  #timebase = { num: 1, den: 90000 };
  #deliver = false;
  #flushScheduled = false;
  #queued: VideoFrame[] = [];
  #finished = false;
  #closePromise: Promise<void> | null = null;
  #resolveFirst!: () => void;
  #rejectFirst!: (err: Error) => void;
  readonly #firstFrame: Promise<void>;

  private constructor(spec: OpenableVideoSourceSpec, settings: VideoEncodeSettings, proc: FfmpegProcess, logger: Logger) {
    super();
    this.spec = spec;
    this.settings = settings;
    this.#proc = proc;
    this.#logger = logger;
    this.eventLogger = logger;
    this.#firstFrame = new Promise<void>((resolve, reject) => {
      this.#resolveFirst = resolve;
      this.#rejectFirst = reject;
    });
    this.#firstFrame.catch(() => {});
    // stdout (fd 1) is IVF, or FLV for H.264; attach synchronously after spawn so no byte is missed.
    if (settings.codec === "h264") {
      const flv = new FlvH264Reader();
      proc.stdout!.on("data", (chunk: Buffer) => {
        let units: H264AccessUnit[];
        try {
          units = flv.push(chunk);
        } catch (err) {
          this.#logger.warn("malformed FLV from ffmpeg", { error: (err as Error).message });
          void this.#proc.close();
          return;
        }
        for (const u of units) this.#accessUnit(u);
      });
    } else {
      const reader = new IvfReader();
      proc.stdout!.on("data", (chunk: Buffer) => {
        let frames: IvfFrame[];
        try {
          frames = reader.push(chunk);
        } catch (err) {
          // Cannot happen with ffmpeg's ivf muxer; stop rather than emit garbage.
          this.#logger.warn("malformed IVF from ffmpeg", { error: (err as Error).message });
          void this.#proc.close();
          return;
        }
        const header = reader.header;
        if (header) this.#timebase = { num: header.timebaseNum, den: header.timebaseDen };
        for (const f of frames) this.#frame(f);
      });
    }
    proc.on("exit", (code, _signal, info) => {
      if (info.requested) return;
      const detail = videoStderrDetail(proc.stderrTail) || (code === null ? `ffmpeg was killed by ${_signal}` : `ffmpeg exited with code ${code}`);
      if (this.#firstFrameMs === null) {
        this.#rejectFirst(this.#failure(detail, true));
        return;
      }
      if (code === 0) {
        this.#logger.debug("video source ended", { source: describeVideoSource(spec) });
        this.#afterDelivery(() => this.emit("end"));
      } else {
        const err = this.#failure(detail, false);
        this.#afterDelivery(() => this.emit("error", err));
      }
      this.#afterDelivery(() => this.#finish());
    });
  }

  /**
   * Starts ffmpeg for `spec` and resolves once it produced its first frame (a key frame). Rejects
   * with MediaError: "source-unreadable" (file missing or unreadable, checked before spawning; or no
   * decodable video), "device-unavailable" (V4L2 device or X display cannot be opened),
   * "source-failed", "source-timeout", or "ffmpeg-start-failed". Bad options are RangeErrors;
   * `kind: "none"` is a TypeError.
   */
  static async open(spec: VideoSourceSpec, opts: VideoSourceOptions): Promise<VideoSource> {
    if (spec.kind === "none") throw new TypeError('video source "none" has nothing to open');
    const settings = videoEncodeSettings(opts);
    const logger = opts.logger ?? nullLogger;
    if (spec.kind === "file" && !URL_LIKE.test(spec.path)) await checkReadable(spec.path);
    if (spec.kind === "device") await checkDevice(spec.path);
    if (spec.kind === "screen") {
      await checkDisplay(spec.display);
      const size = await probeScreenSize(spec.display);
      if (size) {
        settings.captureWidth = size.width;
        settings.captureHeight = size.height;
      }
    }

    const proc = FfmpegProcess.start(videoSourceArgs(spec, settings), {
      ffmpeg: opts.ffmpeg,
      logger: logger.child("ffmpeg"),
      stdin: "ignore",
      stdout: "pipe",
    });
    const source = new VideoSource(spec, settings, proc, logger);
    const timeoutMs = opts.startTimeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new MediaError(`video source ${describeVideoSource(spec)} produced no frame in ${timeoutMs} ms`, "source-timeout")),
        timeoutMs,
      );
    });
    try {
      // `started` rejects when the binary cannot run at all; the first frame proves the pipeline works.
      await Promise.race([proc.started.then(() => source.#firstFrame), timeout]);
    } catch (err) {
      await proc.close();
      source.#finished = true;
      if (err instanceof MediaError && err.code === "ffmpeg-start-failed" && proc.pid !== undefined) {
        throw source.#failure(videoStderrDetail(proc.stderrTail) || err.message, true);
      }
      throw err;
    } finally {
      clearTimeout(timer);
    }
    logger.debug("video source started", { source: describeVideoSource(spec), pid: proc.pid, firstFrameMs: source.#firstFrameMs });
    return source;
  }

  /**
   * Frames are held until the first 'frame' listener is attached (only from the latest key frame
   * on, so the held part stays decodable), then delivered on the next turn of the event loop.
   * Unlike a fixed setImmediate after open(), this cannot lose the first key frame when the caller
   * awaits something else (e.g. Promise.all with an audio source) before subscribing.
   */
  override on<K extends keyof VideoSourceEvents>(event: K, fn: (...args: VideoSourceEvents[K]) => void): this {
    super.on(event, fn);
    if (event === "frame") this.#startDelivery();
    return this;
  }

  override once<K extends keyof VideoSourceEvents>(event: K, fn: (...args: VideoSourceEvents[K]) => void): this {
    super.once(event, fn);
    if (event === "frame") this.#startDelivery();
    return this;
  }

  #startDelivery(): void {
    if (this.#deliver || this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      this.#deliver = true;
      const queued = this.#queued;
      this.#queued = [];
      for (const f of queued) this.#emitFrame(f);
    });
  }

  get stats(): Readonly<VideoSourceStats> {
    return { ...this.#stats };
  }

  /** Frames emitted so far. */
  get frames(): number {
    return this.#stats.frames;
  }

  /** Milliseconds from open() to the first frame, or null before it. */
  get firstFrameLatencyMs(): number | null {
    return this.#firstFrameMs;
  }

  get pid(): number | undefined {
    return this.#proc.pid;
  }

  /**
   * Asks for a key frame. ffmpeg cannot take the request at run time (see the file comment), so this
   * records it and returns the expected wait in ms until the next scheduled key frame.
   */
  requestKeyframe(): number {
    this.#stats.keyframeRequests += 1;
    const framesLeft = Math.max(1, this.settings.gop - this.#framesSinceKey);
    return Math.round((framesLeft * 1000) / this.settings.fps);
  }

  /** Stops ffmpeg and resolves once it has exited. Idempotent. */
  close(): Promise<void> {
    if (this.#closePromise) return this.#closePromise;
    this.#closePromise = (async () => {
      await this.#proc.close();
      this.#finish();
    })();
    return this.#closePromise;
  }

  /** The encoder of this source's frames. */
  get codec(): VideoCodecName {
    return this.settings.codec ?? "vp8";
  }

  #accessUnit(u: H264AccessUnit): void {
    // FLV time is in whole ms; the output is constant-rate (the fps filter), so snap to the frame grid.
    const fps = this.settings.fps;
    const index = Math.round((u.ptsMs * fps) / 1000);
    this.#deliverFrame({ data: u.data, timestamp90k: Math.round((index * 90000) / fps), keyframe: u.keyframe, width: u.width, height: u.height });
  }

  #frame(f: IvfFrame): void {
    if (f.data.length === 0) return; // a dropped frame: libvpx emits nothing useful
    this.#deliverFrame({
      data: f.data,
      // pts × num/den seconds × 90000; exact for the integer frame rates ffmpeg uses here.
      timestamp90k: Math.round((f.pts * 90000 * this.#timebase.num) / this.#timebase.den),
      keyframe: f.keyframe,
      width: f.width,
      height: f.height,
    });
  }

  #deliverFrame(frame: VideoFrame): void {
    if (this.#firstFrameMs === null) {
      this.#firstFrameMs = performance.now() - this.#openedAt;
      this.#resolveFirst();
    }
    if (this.#deliver) {
      this.#emitFrame(frame);
      return;
    }
    if (frame.keyframe) this.#queued = [];
    this.#queued.push(frame);
  }

  #emitFrame(frame: VideoFrame): void {
    if (this.#finished) return;
    const s = this.#stats;
    s.frames += 1;
    s.bytes += frame.data.length;
    if (frame.keyframe) {
      s.keyframes += 1;
      this.#framesSinceKey = 0;
    } else {
      this.#framesSinceKey += 1;
    }
    s.width = frame.width;
    s.height = frame.height;
    this.emit("frame", frame);
  }

  /** Runs `fn` after held frames are delivered, if their delivery is under way. */
  #afterDelivery(fn: () => void): void {
    if (this.#flushScheduled && !this.#closePromise) setImmediate(() => this.#afterDelivery(fn));
    else fn();
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.emit("close");
  }

  #failure(detail: string, atStart: boolean): MediaError {
    const spec = this.spec;
    const when = atStart ? "" : " stopped";
    switch (spec.kind) {
      case "device":
        return new MediaError(`video device ${spec.path}${atStart ? " is unavailable" : when}: ${detail}`, "device-unavailable");
      case "screen":
        return new MediaError(`screen capture of X display ${spec.display}${atStart ? " is unavailable" : when}: ${detail}`, "device-unavailable");
      case "file":
        return new MediaError(`cannot read video from ${spec.path}${when}: ${detail}`, "source-unreadable");
      default:
        return new MediaError(`video source ${describeVideoSource(spec)} failed${when}: ${detail}`, "source-failed");
    }
  }
}

/** ffmpeg's last words without the "[demuxer @ 0x…]" prefix; "no video stream" for an audio-only input. */
export function videoStderrDetail(tail: readonly string[]): string {
  if (tail.some((l) => l.includes("matches no streams"))) return "no video stream in the input";
  const lines = tail.slice(-2).map((l) => l.replace(/^\[[^\]]* @ 0x[0-9a-f]+\]\s*/i, ""));
  return [...new Set(lines)].join("; ");
}

async function checkReadable(file: string): Promise<void> {
  const abs = path.resolve(file);
  try {
    const st = await fs.stat(abs);
    if (st.isDirectory()) throw new MediaError(`cannot read video file ${abs}: it is a directory`, "source-unreadable");
    await fs.access(abs, fs.constants.R_OK);
  } catch (err) {
    if (err instanceof MediaError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : (code ?? String(err));
    throw new MediaError(`cannot read video file ${abs}: ${why}`, "source-unreadable", { cause: err });
  }
}

async function checkDevice(device: string): Promise<void> {
  try {
    await fs.access(device, fs.constants.R_OK | fs.constants.W_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such device" : code === "EACCES" ? "permission denied (are you in the video group?)" : (code ?? String(err));
    throw new MediaError(`video device ${device} is unavailable: ${why}`, "device-unavailable", { cause: err });
  }
}

/**
 * A local display (":N") must have its socket: the 2018 ffmpeg's x11grab crashes (SIGSEGV) instead
 * of reporting an unreachable display. Remote displays (host:N) are left to ffmpeg.
 */
async function checkDisplay(display: string): Promise<void> {
  const m = /^(?:unix)?:(\d+)/.exec(display);
  if (!m) return;
  const socket = `/tmp/.X11-unix/X${m[1]}`;
  try {
    await fs.access(socket);
  } catch (err) {
    throw new MediaError(`screen capture of X display ${display} is unavailable: no X server socket ${socket}`, "device-unavailable", { cause: err });
  }
}

/** The root window size from `xdpyinfo` ("dimensions:    1920x1080 pixels"), or null if unknown. */
async function probeScreenSize(display: string): Promise<{ width: number; height: number } | null> {
  const offset = /\+(\d+),(\d+)$/.exec(display);
  const base = offset ? display.slice(0, offset.index) : display;
  const out = await new Promise<string>((resolve) => {
    execFile("xdpyinfo", ["-display", base], { timeout: 3000 }, (err, stdout) => resolve(err ? "" : stdout));
  });
  const size = parseXdpyinfoDimensions(out);
  if (!size) return null;
  // A grab offset by (x, y) must stay inside the screen.
  const width = (size.width - Number(offset?.[1] ?? 0)) & ~1;
  const height = (size.height - Number(offset?.[2] ?? 0)) & ~1;
  return width >= 16 && height >= 16 ? { width, height } : null;
}

/** Parses the first "dimensions: WxH pixels" line of xdpyinfo output (exported for tests). */
export function parseXdpyinfoDimensions(text: string): { width: number; height: number } | null {
  const m = /dimensions:\s+(\d+)x(\d+) pixels/.exec(text);
  if (!m) return null;
  // x11grab captures a region; keep it even for 4:2:0 chroma.
  return { width: Number(m[1]) & ~1, height: Number(m[2]) & ~1 };
}
