/**
 * Terminal video preview: decode ONE stream's VP8 frames (or H.264 access units, `codec: "h264"`)
 * with an ffmpeg child, a few times a second, into tiny RGB pictures, and draw them with half-block
 * characters.
 *
 * stdio of the ffmpeg child:
 *   fd 0 — IVF (ivf.ts): written by push(), starting at a key frame; pts are milliseconds of
 *          wall-clock time since the preview started, so switching streams never moves time back.
 *          H.264: the Annex B byte stream itself (`-f h264`), starting at an IDR access unit (which
 *          carries SPS and PPS); it has no timestamps, and `-vf fps` samples pictures as they come.
 *   fd 1 — rawvideo rgb24, exactly width × height × 3 bytes per picture, `fps` pictures a second
 *          (`-vf fps=F,scale=…`); each one becomes a 'frame' event.
 *   fd 2 — ffmpeg's log, forwarded to the logger line by line.
 *
 * ffmpeg reads its input with `-probesize 32 -analyzeduration 0` so the first picture comes ~0.2 s
 * after the first key frame. (`-fflags nobuffer` must not be used: it throws away the packets read
 * while probing, the key frame among them.) One decoder thread: pictures are tiny.
 *
 * Half blocks: each character cell shows two pixels stacked vertically, the upper one as the
 * foreground colour of '▀' (U+2580 UPPER HALF BLOCK) and the lower one as the background colour, so
 * a picture of W × H pixels takes W columns × H/2 rows. Terminal cells are about twice as tall as
 * wide, so these pixels are roughly square.
 */
import { MediaError } from "../../errors.js";
import { nullLogger, type Logger } from "../../log.js";
import { TypedEmitter } from "../events.js";
import { FfmpegProcess } from "../ffmpeg/process.js";
import { encodeIvfFrame, encodeIvfHeader } from "./ivf.js";
import { isVp8Keyframe, parseVp8Frame } from "./vp8.js";
import { isH264Keyframe } from "./h264.js";

export interface PreviewFrame {
  /** rgb24, row by row, top to bottom: width × height × 3 bytes. */
  rgb: Buffer;
  width: number;
  height: number;
}

export type VideoPreviewEvents = {
  frame: [frame: PreviewFrame];
  /** The decoder died (not after close()). */
  error: [error: MediaError];
  close: [];
};

export interface VideoPreviewOptions {
  /** Path of ffmpeg (resolveFfmpeg().path). */
  ffmpeg: string;
  /** Picture size in pixels: columns × (2 × rows) for half blocks. */
  width: number;
  height: number;
  /** Pictures per second (default 4). */
  fps?: number;
  /** What push() is given: VP8 frames (default) or H.264 access units in Annex B form. */
  codec?: "vp8" | "h264";
  /** Input waiting in the pipe beyond this many bytes makes push() skip to the next key frame (default 1 MiB). */
  maxQueueBytes?: number;
  logger?: Logger;
}

export interface VideoPreviewStats {
  /** Frames written to the decoder. */
  framesIn: number;
  /** Frames skipped: before the first key frame, or to catch up with a slow decoder. */
  framesSkipped: number;
  /** Pictures emitted. */
  picturesOut: number;
}

/** ffmpeg arguments of the preview decoder (exported for diagnostics and tests). */
export function videoPreviewArgs(width: number, height: number, fps: number, codec: "vp8" | "h264" = "vp8"): string[] {
  return [
    "-hide_banner",
    "-nostats",
    "-loglevel",
    "warning",
    "-probesize",
    "32",
    "-analyzeduration",
    "0",
    "-threads",
    "1",
    // Raw H.264 has no time stamps: number the pictures at 25/s for the fps filter (it only samples).
    ...(codec === "h264" ? ["-f", "h264", "-framerate", "25"] : ["-f", "ivf"]),
    "-i",
    "pipe:0",
    "-vf",
    `fps=${fps},scale=${width}:${height}:force_original_aspect_ratio=decrease,pad=${width}:${height}:(ow-iw)/2:(oh-ih)/2`,
    "-f",
    "rawvideo",
    "-pix_fmt",
    "rgb24",
    "pipe:1",
  ];
}

export class VideoPreview extends TypedEmitter<VideoPreviewEvents> {
  readonly width: number;
  readonly height: number;
  readonly #proc: FfmpegProcess;
  readonly #frameBytes: number;
  readonly #maxQueue: number;
  readonly #h264: boolean;
  readonly #startedAt = performance.now();
  readonly #stats: VideoPreviewStats = { framesIn: 0, framesSkipped: 0, picturesOut: 0 };
  #chunks: Buffer[] = [];
  #buffered = 0;
  #headerSent = false;
  #waitKeyframe = true;
  #lastPts = -1;
  #finished = false;
  #closePromise: Promise<void> | null = null;

  private constructor(opts: VideoPreviewOptions) {
    super();
    const fps = opts.fps ?? 4;
    for (const [name, v] of [["width", opts.width], ["height", opts.height]] as const) {
      if (!Number.isInteger(v) || v < 2 || v > 4096 || v % 2 !== 0) throw new RangeError(`preview ${name} must be an even integer from 2 to 4096`);
    }
    if (!(fps > 0 && fps <= 30)) throw new RangeError("preview fps must be above 0 and at most 30");
    this.width = opts.width;
    this.height = opts.height;
    this.#frameBytes = opts.width * opts.height * 3;
    this.#maxQueue = opts.maxQueueBytes ?? 1024 * 1024;
    this.#h264 = opts.codec === "h264";
    const logger = opts.logger ?? nullLogger;
    this.eventLogger = logger;
    this.#proc = FfmpegProcess.start(videoPreviewArgs(opts.width, opts.height, fps, opts.codec), {
      ffmpeg: opts.ffmpeg,
      logger: logger.child("ffmpeg"),
      stdin: "pipe",
      stdout: "pipe",
    });
    this.#proc.stdout!.on("data", (chunk: Buffer) => this.#output(chunk));
    this.#proc.on("exit", (code, signal, info) => {
      if (!info.requested) {
        const why = this.#proc.lastStderrLine || (signal ? `killed by ${signal}` : `exit code ${code}`);
        this.emit("error", new MediaError(`video preview decoder stopped: ${why}`, "preview-failed"));
      }
      this.#finish();
    });
  }

  /** Starts the decoder; it idles until the first key frame is pushed. */
  static start(opts: VideoPreviewOptions): VideoPreview {
    return new VideoPreview(opts);
  }

  get stats(): Readonly<VideoPreviewStats> {
    return { ...this.#stats };
  }

  get pid(): number | undefined {
    return this.#proc.pid;
  }

  /**
   * Feeds one decrypted VP8 frame (or H.264 access unit). Frames before the first key frame (after
   * start or reset()) are skipped, as are frames while the decoder is behind (until the next key frame).
   */
  push(frame: Uint8Array, keyframe: boolean = this.#h264 ? isH264Keyframe(frame) : isVp8Keyframe(frame)): void {
    if (this.#finished || this.#closePromise || frame.length === 0) return;
    const stdin = this.#proc.stdin;
    if (!stdin || stdin.destroyed) return;
    if (!keyframe && (this.#waitKeyframe || stdin.writableLength > this.#maxQueue)) {
      this.#waitKeyframe = true;
      this.#stats.framesSkipped += 1;
      return;
    }
    if (keyframe) {
      if (stdin.writableLength > this.#maxQueue) {
        this.#stats.framesSkipped += 1;
        this.#waitKeyframe = true;
        return;
      }
      this.#waitKeyframe = false;
      if (!this.#headerSent && !this.#h264) {
        const info = parseVp8Frame(frame);
        stdin.write(encodeIvfHeader({ width: info?.width ?? this.width, height: info?.height ?? this.height, timebaseNum: 1, timebaseDen: 1000 }));
        this.#headerSent = true;
      }
    }
    if (this.#h264) {
      stdin.write(frame);
      this.#stats.framesIn += 1;
      return;
    }
    const pts = Math.max(this.#lastPts + 1, Math.round(performance.now() - this.#startedAt));
    this.#lastPts = pts;
    stdin.write(encodeIvfFrame(frame, pts));
    this.#stats.framesIn += 1;
  }

  /** The next frames come from another stream: wait for its key frame before decoding. */
  reset(): void {
    this.#waitKeyframe = true;
  }

  /** Stops the decoder and resolves once it has exited. Idempotent. */
  close(): Promise<void> {
    if (this.#closePromise) return this.#closePromise;
    this.#closePromise = (async () => {
      await this.#proc.close();
      this.#finish();
    })();
    return this.#closePromise;
  }

  #output(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    while (this.#buffered >= this.#frameBytes) {
      const all = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks);
      const rgb = Buffer.from(all.subarray(0, this.#frameBytes));
      const rest = all.subarray(this.#frameBytes);
      this.#chunks = rest.length > 0 ? [rest] : [];
      this.#buffered = rest.length;
      this.#stats.picturesOut += 1;
      this.emit("frame", { rgb, width: this.width, height: this.height });
    }
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.emit("close");
  }
}

export interface RenderHalfBlocksOptions {
  /** Plain ASCII with a luminance ramp, no colour codes (for terminals without colour). */
  ascii?: boolean;
  /**
   * "truecolor" (default): ANSI 24-bit colours. "256": the xterm 256-colour palette (6×6×6 cube and
   * grey ramp), for terminals without 24-bit colour; its codes are shorter and neighbouring cells
   * share colours more often, so a picture costs about a third of the bytes.
   */
  colors?: "truecolor" | "256";
}

/** Darkest to brightest. */
const ASCII_RAMP = " .:-=+*#%@";
const UPPER_HALF_BLOCK = "\u2580";

/**
 * Renders an rgb24 picture as terminal lines: ceil(height / 2) lines of `width` cells. Colour modes
 * use '▀' with the upper pixel as foreground and the lower one as background colour (a cell whose two
 * pixels have the same colour is a space on that background, one code fewer), emit a code only when
 * a colour changes from the previous cell, and end each line with a reset; ascii mode maps the mean
 * luminance of the two pixels to a ramp.
 */
export function renderHalfBlocks(rgb: Uint8Array, width: number, height: number, opts: RenderHalfBlocksOptions = {}): string[] {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 0 || height < 0) throw new RangeError("width and height must be non-negative integers");
  if (rgb.length < width * height * 3) throw new RangeError(`rgb buffer holds ${rgb.length} bytes, ${width}x${height} needs ${width * height * 3}`);
  const palette = opts.colors === "256";
  // A colour as one number: 0xRRGGBB (truecolor) or the palette index; -1 = none set yet.
  const colourAt = (i: number): number => (palette ? xterm256(rgb[i]!, rgb[i + 1]!, rgb[i + 2]!) : (rgb[i]! << 16) | (rgb[i + 1]! << 8) | rgb[i + 2]!);
  const code = (layer: 38 | 48, c: number): string => (palette ? `\x1b[${layer};5;${c}m` : `\x1b[${layer};2;${c >> 16};${(c >> 8) & 255};${c & 255}m`);
  const lines: string[] = [];
  for (let y = 0; y < height; y += 2) {
    const hasLower = y + 1 < height;
    let line = "";
    let fg = -1;
    let bg = -1;
    for (let x = 0; x < width; x++) {
      const a = (y * width + x) * 3;
      const b = ((y + 1) * width + x) * 3;
      if (opts.ascii) {
        const lum = hasLower ? (luma(rgb, a) + luma(rgb, b)) / 2 : luma(rgb, a);
        line += ASCII_RAMP[Math.min(ASCII_RAMP.length - 1, Math.floor((lum / 256) * ASCII_RAMP.length))];
        continue;
      }
      const top = colourAt(a);
      const bottom = hasLower ? colourAt(b) : 0;
      if (top === bottom) {
        if (bottom !== bg) {
          line += code(48, bottom);
          bg = bottom;
        }
        line += " ";
        continue;
      }
      if (top !== fg) {
        line += code(38, top);
        fg = top;
      }
      if (bottom !== bg) {
        line += code(48, bottom);
        bg = bottom;
      }
      line += UPPER_HALF_BLOCK;
    }
    if (!opts.ascii && width > 0) line += "\x1b[0m";
    lines.push(line);
  }
  return lines;
}

/** Levels of the xterm 6×6×6 colour cube (palette 16–231). */
const CUBE = [0, 95, 135, 175, 215, 255];

function cubeIndex(v: number): number {
  return v < 48 ? 0 : v < 115 ? 1 : Math.min(5, Math.floor((v - 35) / 40));
}

/** The nearest xterm 256-colour palette entry: the cube (16–231) or the grey ramp (232–255: 8, 18, …, 238). */
export function xterm256(r: number, g: number, b: number): number {
  const ri = cubeIndex(r);
  const gi = cubeIndex(g);
  const bi = cubeIndex(b);
  const cube = 16 + 36 * ri + 6 * gi + bi;
  const mean = (r + g + b) / 3;
  const greyIndex = mean > 238 ? 23 : Math.max(0, Math.round((mean - 8) / 10));
  const grey = 8 + 10 * greyIndex;
  const dist = (x: number, y: number, z: number): number => (r - x) ** 2 + (g - y) ** 2 + (b - z) ** 2;
  return dist(grey, grey, grey) < dist(CUBE[ri]!, CUBE[gi]!, CUBE[bi]!) ? 232 + greyIndex : cube;
}

/** ITU-R BT.601 luma of the pixel at byte offset `i`, 0–255. */
function luma(rgb: Uint8Array, i: number): number {
  return 0.299 * rgb[i]! + 0.587 * rgb[i + 1]! + 0.114 * rgb[i + 2]!;
}

/**
 * The largest half-block picture that fits in `maxCols` × `maxRows` cells and keeps the aspect
 * ratio of a `videoWidth` × `videoHeight` video (pixels taken as square). Both results are even
 * pixel counts, as VideoPreview requires: pass `width` and `height` to it; the picture takes
 * `width` columns and `height / 2` rows.
 */
export function fitHalfBlocks(maxCols: number, maxRows: number, videoWidth: number, videoHeight: number): { width: number; height: number } {
  if (!(maxCols >= 2 && maxRows >= 1 && videoWidth > 0 && videoHeight > 0)) throw new RangeError("sizes must be positive (at least 2 columns)");
  const aspect = videoWidth / videoHeight;
  let width = Math.floor(maxCols);
  let height = Math.round(width / aspect);
  if (height > maxRows * 2) {
    height = Math.floor(maxRows) * 2;
    width = Math.round(height * aspect);
  }
  width = Math.max(2, width - (width % 2));
  height = Math.max(2, height - (height % 2));
  return { width, height };
}
