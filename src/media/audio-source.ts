/**
 * Audio sources: one ffmpeg per source encodes to Opus (libopus, 48 kHz mono, 20 ms frames, voip
 * application) and writes Ogg to its stdout; OggPacketReader turns that back into Opus packets,
 * which the source emits as 'frame' events in real time. One source may feed any number of
 * listeners (several participants can share one encoder).
 *
 * Pacing and latency: file and generated inputs are read with `-re` (native rate), and the Ogg muxer
 * is told to close a page per packet (`-page_duration 20000 -flush_packets 1`), so frames leave
 * ffmpeg as they are encoded (~50 frames/s, first frame ~60 ms after spawn). Without
 * `-page_duration` the 2018 ffmpeg's muxer holds a page for a whole second.
 */
import { FLASH_BEEP_AUDIO_LAVFI } from "./video/video-source.js";
import fs from "node:fs/promises";
import path from "node:path";
import { MediaError, UsageError } from "../errors.js";
import { nullLogger, type Logger } from "../log.js";
import { TypedEmitter } from "./events.js";
import { FfmpegProcess } from "./ffmpeg/process.js";
import { OggPacketReader } from "./ogg/reader.js";
import { opusPacketSamples } from "./opus.js";

export type AudioSourceSpec =
  | { kind: "tone"; frequency: number }
  | { kind: "file"; path: string; loop: boolean }
  | { kind: "device"; name: string; backend: "alsa" | "pulse" }
  | { kind: "silence" }
  /** A 1 kHz, 100 ms beep at every whole second, matching the video test pattern `testsrc:flash`. */
  | { kind: "beep" }
  | { kind: "none" };

const FORMS =
  "tone:FREQ (1-20000 Hz, e.g. tone:440), file:PATH or a path, device:NAME (ALSA, e.g. device:default), " +
  "device:pulse:NAME or pulse:NAME (PulseAudio), silence, beep, none";

/** Network inputs ffmpeg reads that we pass through as files without checking the filesystem. */
const URL_LIKE = /^[a-z][a-z0-9+.-]*:\/\//i;

/**
 * Parses a --audio style source description. Throws UsageError naming the accepted forms.
 * A bare path (or `file:PATH`) becomes a file source; `opts.loop` makes it loop.
 */
export function parseAudioSource(text: string, opts: { loop?: boolean } = {}): AudioSourceSpec {
  const s = text.trim();
  const bad = (why: string): UsageError => new UsageError(`invalid audio source "${text}": ${why}; use ${FORMS}`);
  if (s === "") throw bad("empty");
  if (s === "none") return { kind: "none" };
  if (s === "silence") return { kind: "silence" };
  if (s === "beep") return { kind: "beep" };
  const colon = s.indexOf(":");
  const prefix = colon > 0 ? s.slice(0, colon) : "";
  const rest = colon > 0 ? s.slice(colon + 1) : "";
  switch (prefix) {
    case "tone": {
      const f = /^\d+(\.\d+)?$/.test(rest) ? Number(rest) : NaN;
      if (!(f >= 1 && f <= 20000)) throw bad("tone frequency must be a number from 1 to 20000");
      return { kind: "tone", frequency: f };
    }
    case "file":
      if (rest === "") throw bad("missing file path");
      return { kind: "file", path: rest, loop: opts.loop ?? false };
    case "device": {
      if (rest === "") throw bad("missing device name");
      if (rest.startsWith("pulse:")) {
        const name = rest.slice("pulse:".length);
        if (name === "") throw bad("missing PulseAudio device name");
        return { kind: "device", name, backend: "pulse" };
      }
      if (rest.startsWith("alsa:") && rest.length > "alsa:".length) {
        return { kind: "device", name: rest.slice("alsa:".length), backend: "alsa" };
      }
      return { kind: "device", name: rest, backend: "alsa" };
    }
    case "pulse":
      if (rest === "") throw bad("missing PulseAudio device name");
      return { kind: "device", name: rest, backend: "pulse" };
    default:
      break;
  }
  if (prefix !== "" && /^[a-z]+$/i.test(prefix) && prefix.length > 1 && !URL_LIKE.test(s)) {
    throw bad(`unknown kind "${prefix}:" (write file:${s} for a path containing ':')`);
  }
  return { kind: "file", path: s, loop: opts.loop ?? false };
}

/** Human-readable description for logs and messages. */
export function describeAudioSource(spec: AudioSourceSpec): string {
  switch (spec.kind) {
    case "tone":
      return `tone:${spec.frequency}`;
    case "file":
      return `file:${spec.path}${spec.loop ? " (loop)" : ""}`;
    case "device":
      return spec.backend === "pulse" ? `device:pulse:${spec.name}` : `device:${spec.name}`;
    case "silence":
    case "beep":
    case "none":
      return spec.kind;
  }
}

export interface AudioFrame {
  /** One Opus packet (20 ms at 48 kHz unless the encoder chose otherwise). */
  payload: Buffer;
  /** Its duration in 48 kHz samples (RFC 6716 TOC). */
  samples: number;
}

export type AudioSourceEvents = {
  frame: [frame: AudioFrame];
  /** The input ended (a non-looping file played to its end). */
  end: [];
  /** ffmpeg died while running (device unplugged, corrupt file). */
  error: [error: MediaError];
  /** The source is finished: after close(), 'end' or 'error'. */
  close: [];
};

export interface AudioSourceOptions {
  /** Path of ffmpeg (resolveFfmpeg().path). */
  ffmpeg: string;
  logger?: Logger;
  /** Opus bitrate in bit/s (default 32000). */
  bitrate?: number;
  /** How long ffmpeg may take to produce its first output before open() fails (default 10 s). */
  startTimeoutMs?: number;
}

/** The ffmpeg arguments for a source (exported for diagnostics and tests). */
export function audioSourceArgs(spec: Exclude<AudioSourceSpec, { kind: "none" }>, bitrate = 32000): string[] {
  const input: string[] = [];
  switch (spec.kind) {
    case "tone":
      input.push("-re", "-f", "lavfi", "-i", `sine=frequency=${spec.frequency}:sample_rate=48000`);
      break;
    case "silence":
      input.push("-re", "-f", "lavfi", "-i", "anullsrc=channel_layout=mono:sample_rate=48000");
      break;
    case "beep":
      input.push("-re", "-f", "lavfi", "-i", FLASH_BEEP_AUDIO_LAVFI);
      break;
    case "file":
      input.push("-re");
      if (spec.loop) input.push("-stream_loop", "-1");
      input.push("-i", URL_LIKE.test(spec.path) ? spec.path : `file:${path.resolve(spec.path)}`);
      break;
    case "device":
      // Live devices pace themselves; -re would only add latency.
      input.push("-f", spec.backend, "-i", spec.name);
      break;
  }
  return [
    "-hide_banner",
    "-nostdin",
    "-nostats",
    "-loglevel",
    "warning",
    ...input,
    "-map",
    "0:a:0",
    "-ac",
    "1",
    "-ar",
    "48000",
    "-c:a",
    "libopus",
    "-b:a",
    String(bitrate),
    "-frame_duration",
    "20",
    "-application",
    "voip",
    // Make the encoder robust to loss (this ffmpeg build has no switch for in-band FEC itself).
    "-packet_loss",
    "10",
    "-f",
    "ogg",
    // One Ogg page per 20 ms packet, flushed at once: without these the muxer holds pages for 1 s.
    "-page_duration",
    "20000",
    "-flush_packets",
    "1",
    "pipe:1",
  ];
}

export class AudioSource extends TypedEmitter<AudioSourceEvents> {
  readonly spec: Exclude<AudioSourceSpec, { kind: "none" }>;
  readonly #proc: FfmpegProcess;
  readonly #logger: Logger;
  readonly #openedAt = performance.now();
  #firstFrameMs: number | null = null;
  #frames = 0;
  #deliver = false;
  #queued: AudioFrame[] = [];
  #finished = false;
  #closePromise: Promise<void> | null = null;

  private constructor(spec: Exclude<AudioSourceSpec, { kind: "none" }>, proc: FfmpegProcess, logger: Logger) {
    super();
    this.spec = spec;
    this.#proc = proc;
    this.#logger = logger;
    this.eventLogger = logger;
    const reader = new OggPacketReader((p) => this.#packet(p.data));
    // stdout (fd 1) is Ogg Opus; attach synchronously after spawn so no byte is missed.
    proc.stdout!.on("data", (chunk: Buffer) => reader.push(chunk));
    proc.on("exit", (code, _signal, info) => {
      if (info.requested || !info.startedOk) return;
      if (code === 0) {
        this.#logger.debug("audio source ended", { source: describeAudioSource(spec) });
        this.#afterDelivery(() => this.emit("end"));
      } else {
        const err = this.#failure(stderrDetail(proc.stderrTail) || `ffmpeg exited with code ${code}`, false);
        this.#afterDelivery(() => this.emit("error", err));
      }
      this.#afterDelivery(() => this.#finish());
    });
  }

  /**
   * Starts ffmpeg for `spec` and resolves once it produces output. Rejects with MediaError:
   * "source-unreadable" (file missing or unreadable, checked before spawning; or not decodable),
   * "device-unavailable" (device cannot be opened), "source-failed", "source-timeout", or
   * "ffmpeg-start-failed" (the binary does not run). `kind: "none"` is a TypeError.
   */
  static async open(spec: AudioSourceSpec, opts: AudioSourceOptions): Promise<AudioSource> {
    if (spec.kind === "none") throw new TypeError('audio source "none" has nothing to open');
    const bitrate = opts.bitrate ?? 32000;
    if (!Number.isInteger(bitrate) || bitrate < 6000 || bitrate > 510000) {
      throw new RangeError("Opus bitrate must be an integer from 6000 to 510000 bit/s");
    }
    const logger = opts.logger ?? nullLogger;
    if (spec.kind === "file" && !URL_LIKE.test(spec.path)) await checkReadable(spec.path);

    const proc = FfmpegProcess.start(audioSourceArgs(spec, bitrate), {
      ffmpeg: opts.ffmpeg,
      logger: logger.child("ffmpeg"),
      stdin: "ignore",
      stdout: "pipe",
    });
    const source = new AudioSource(spec, proc, logger);
    const timeoutMs = opts.startTimeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new MediaError(`audio source ${describeAudioSource(spec)} produced nothing in ${timeoutMs} ms`, "source-timeout")),
        timeoutMs,
      );
    });
    try {
      await Promise.race([proc.started, timeout]);
    } catch (err) {
      await proc.close();
      source.#finished = true;
      if (err instanceof MediaError && err.code === "ffmpeg-start-failed" && proc.pid !== undefined) {
        throw source.#failure(stderrDetail(proc.stderrTail) || err.message, true);
      }
      throw err;
    } finally {
      clearTimeout(timer);
    }
    logger.debug("audio source started", { source: describeAudioSource(spec), pid: proc.pid });
    // Frames that arrived before open() returned are delivered once the caller could subscribe.
    setImmediate(() => {
      source.#deliver = true;
      const queued = source.#queued;
      source.#queued = [];
      for (const f of queued) source.#emitFrame(f);
    });
    return source;
  }

  /** Frames emitted so far. */
  get frames(): number {
    return this.#frames;
  }

  /** Milliseconds from open() to the first frame, or null before it. */
  get firstFrameLatencyMs(): number | null {
    return this.#firstFrameMs;
  }

  get pid(): number | undefined {
    return this.#proc.pid;
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

  #packet(data: Buffer): void {
    // The first two packets of the stream are the OpusHead and OpusTags headers (RFC 7845 §5).
    if (data.length >= 8) {
      const magic = data.toString("latin1", 0, 8);
      if (magic === "OpusHead" || magic === "OpusTags") return;
    }
    let samples: number;
    try {
      samples = opusPacketSamples(data);
    } catch {
      this.#logger.debug("ignoring malformed Opus packet from ffmpeg", { bytes: data.length });
      return;
    }
    const frame: AudioFrame = { payload: data, samples };
    if (this.#firstFrameMs === null) this.#firstFrameMs = performance.now() - this.#openedAt;
    if (this.#deliver) this.#emitFrame(frame);
    else this.#queued.push(frame);
  }

  #emitFrame(frame: AudioFrame): void {
    if (this.#finished) return;
    this.#frames += 1;
    this.emit("frame", frame);
  }

  /** Runs `fn` after queued frames are delivered (exit can race the first setImmediate). */
  #afterDelivery(fn: () => void): void {
    if (this.#deliver) fn();
    else setImmediate(() => this.#afterDelivery(fn));
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
        return new MediaError(
          `audio device "${spec.name}" (${spec.backend})${atStart ? " is unavailable" : when}: ${detail}`,
          "device-unavailable",
        );
      case "file":
        return new MediaError(`cannot read audio from ${spec.path}${when}: ${detail}`, "source-unreadable");
      default:
        return new MediaError(`audio source ${describeAudioSource(spec)} failed${when}: ${detail}`, "source-failed");
    }
  }
}

async function checkReadable(file: string): Promise<void> {
  const abs = path.resolve(file);
  try {
    const st = await fs.stat(abs);
    if (st.isDirectory()) throw new MediaError(`cannot read audio file ${abs}: it is a directory`, "source-unreadable");
    await fs.access(abs, fs.constants.R_OK);
  } catch (err) {
    if (err instanceof MediaError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : (code ?? String(err));
    throw new MediaError(`cannot read audio file ${abs}: ${why}`, "source-unreadable", { cause: err });
  }
}

/**
 * The useful part of ffmpeg's last words: the last two distinct lines without the "[alsa @ 0x…]"
 * context prefix, e.g. "cannot open audio device hw:9 (No such file or directory); hw:9: Input/output error".
 */
export function stderrDetail(tail: readonly string[]): string {
  if (tail.some((l) => l.includes("matches no streams"))) return "no audio stream in the input";
  const lines = tail.slice(-2).map((l) => l.replace(/^\[[^\]]* @ 0x[0-9a-f]+\]\s*/i, ""));
  return [...new Set(lines)].join("; ");
}
