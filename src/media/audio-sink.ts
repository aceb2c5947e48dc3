/**
 * Playback: received Opus packets are wrapped in Ogg pages (the same OggOpusWriter that records
 * files, here writing to a pipe, one page per packet) and played by one ffmpeg per player.
 *
 * stdio of the ffmpeg child:
 *   fd 0 (stdin)  — Ogg Opus pages we write (`-f ogg -i pipe:0`)
 *   fd 1 (stdout) — unused (ignored); audio goes to the output device
 *   fd 2 (stderr) — log lines, forwarded to the logger (see FfmpegProcess)
 *
 * ffmpeg opens the output device only once it has read the stream headers and a first packet, so
 * a missing or busy device shows up shortly after the first writePacket(): the player then emits
 * 'error' with MediaError "device-unavailable" and ignores further packets. It never throws from
 * writePacket() and never crashes the process because a device went away.
 */
import { MediaError } from "../errors.js";
import { nullLogger, type Logger } from "../log.js";
import { stderrDetail } from "./audio-source.js";
import { TypedEmitter } from "./events.js";
import { FfmpegProcess } from "./ffmpeg/process.js";
import { OggOpusWriter } from "./ogg/writer.js";

export type AudioOutput =
  /** An ALSA PCM, "default" unless named (e.g. "hw:0,0", "plughw:1"). */
  | { backend: "alsa"; device?: string }
  /** A PulseAudio sink, "default" unless named. Needs an ffmpeg built with libpulse. */
  | { backend: "pulse"; device?: string }
  /** Decode and discard (headless runs, tests). */
  | { backend: "null" };

export interface AudioPlayerOptions {
  ffmpeg: string;
  logger?: Logger;
  /** Default { backend: "alsa", device: "default" }. */
  output?: AudioOutput;
  /** Channels of the incoming Opus stream (default 1). */
  channels?: number;
  /** Pages are dropped while this many bytes wait in the pipe (ffmpeg stalled; default 256 KiB). */
  maxQueuedBytes?: number;
}

export type AudioPlayerEvents = {
  error: [error: MediaError];
  /** The player is finished: after close() or after an error. */
  close: [];
};

export interface AudioPlayerStats {
  packets: number;
  plcPackets: number;
  /** Late or duplicate packets the Ogg writer dropped. */
  dropped: number;
  /** Pages dropped because ffmpeg was not reading fast enough. */
  droppedPages: number;
}

export function audioPlayerArgs(output: AudioOutput): string[] {
  const out =
    output.backend === "null" ? ["-f", "null", "-"] : ["-f", output.backend, output.device ?? "default"];
  return [
    "-hide_banner",
    "-nostats",
    "-loglevel",
    "warning",
    // Start playing as soon as the Ogg headers are in: no probing, no input buffering.
    "-probesize",
    "32",
    "-analyzeduration",
    "0",
    "-fflags",
    "nobuffer",
    "-f",
    "ogg",
    "-i",
    "pipe:0",
    ...out,
  ];
}

export class AudioPlayer extends TypedEmitter<AudioPlayerEvents> {
  readonly output: AudioOutput;
  readonly #proc: FfmpegProcess;
  readonly #writer: OggOpusWriter;
  readonly #maxQueued: number;
  #droppedPages = 0;
  #failed = false;
  #finished = false;
  #closePromise: Promise<void> | null = null;

  private constructor(opts: AudioPlayerOptions) {
    super();
    const logger = opts.logger ?? nullLogger;
    this.eventLogger = logger;
    this.output = opts.output ?? { backend: "alsa", device: "default" };
    this.#maxQueued = opts.maxQueuedBytes ?? 256 * 1024;
    this.#proc = FfmpegProcess.start(audioPlayerArgs(this.output), {
      ffmpeg: opts.ffmpeg,
      logger: logger.child("ffmpeg"),
      stdin: "pipe",
      stdout: "ignore",
    });
    this.#proc.on("exit", (code, _signal, info) => {
      if (!info.requested) {
        this.#failed = true;
        const name = this.output.backend === "null" ? "null" : `${this.output.backend} ${this.output.device ?? "default"}`;
        const detail = stderrDetail(this.#proc.stderrTail) || `ffmpeg exited with code ${code}`;
        this.emit(
          "error",
          this.#proc.pid === undefined
            ? new MediaError(`cannot run ffmpeg at ${opts.ffmpeg} for playback`, "ffmpeg-start-failed")
            : new MediaError(`audio output "${name}" is unavailable: ${detail}`, "device-unavailable"),
        );
      }
      this.#finish();
    });
    this.#writer = OggOpusWriter.toSink((page) => this.#write(page), {
      channels: opts.channels ?? 1,
      flushIntervalMs: 0,
    });
  }

  /** Spawns the playback ffmpeg. Failures arrive as 'error' events, never as exceptions. */
  static open(opts: AudioPlayerOptions): AudioPlayer {
    return new AudioPlayer(opts);
  }

  get stats(): AudioPlayerStats {
    const s = this.#writer.stats;
    return { packets: s.packets, plcPackets: s.plcPackets, dropped: s.dropped, droppedPages: this.#droppedPages };
  }

  /** True once the output failed or the player was closed; packets are then ignored. */
  get finished(): boolean {
    return this.#finished || this.#failed;
  }

  /** Queues one Opus packet with its 48 kHz RTP timestamp; gaps are concealed (PLC). */
  writePacket(packet: Uint8Array, rtpTimestamp: number): void {
    if (this.finished || this.#closePromise) return;
    this.#writer.writePacket(packet, rtpTimestamp);
  }

  /** Stops playback and resolves once ffmpeg has exited. Idempotent. */
  close(): Promise<void> {
    if (this.#closePromise) return this.#closePromise;
    this.#closePromise = (async () => {
      this.#writer.close();
      await this.#proc.close();
      this.#finish();
    })();
    return this.#closePromise;
  }

  #write(page: Buffer): void {
    const stdin = this.#proc.stdin;
    if (!stdin || stdin.destroyed || this.#failed) return;
    if (stdin.writableLength > this.#maxQueued) {
      this.#droppedPages += 1;
      return;
    }
    stdin.write(page);
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.emit("close");
  }
}
