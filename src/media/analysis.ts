/**
 * Audio analysis for tests, benchmarks and the speaking indicator: decode a file to PCM, find the
 * dominant frequency of a tone, measure level in dBFS, and a smoothed level meter over Opus packets.
 */
import { OpusDecoder } from "opus-decoder";
import { MediaError } from "../errors.js";
import { stderrDetail } from "./audio-source.js";
import { FfmpegProcess } from "./ffmpeg/process.js";

/** The level reported for digital silence (and empty input) instead of -Infinity. */
export const SILENCE_DBFS = -120;

/** Decodes the first audio stream of `file` to mono 32-bit float PCM (default 48 kHz). */
export async function decodeToPcm(
  ffmpeg: string,
  file: string,
  opts: { sampleRate?: number } = {},
): Promise<Float32Array> {
  const rate = opts.sampleRate ?? 48000;
  // fd 0: none; fd 1: raw f32le samples; fd 2: log (kept for the error message).
  const proc = FfmpegProcess.start(
    ["-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-i", file, "-map", "0:a:0", "-ac", "1", "-ar", String(rate), "-f", "f32le", "pipe:1"],
    { ffmpeg, stdin: "ignore", stdout: "pipe" },
  );
  const chunks: Buffer[] = [];
  proc.stdout!.on("data", (c: Buffer) => chunks.push(c));
  const exit = await proc.exited;
  if (exit.code !== 0) {
    throw new MediaError(`cannot decode ${file}: ${stderrDetail(proc.stderrTail) || `ffmpeg exit code ${exit.code}`}`, "decode-failed");
  }
  const bytes = Buffer.concat(chunks);
  const out = new Float32Array(Math.floor(bytes.length / 4));
  for (let i = 0; i < out.length; i++) out[i] = bytes.readFloatLE(i * 4);
  return out;
}

/** Root-mean-square level in dB relative to full scale (1.0); SILENCE_DBFS for silence or no samples. */
export function rmsDbfs(samples: ArrayLike<number>): number {
  if (samples.length === 0) return SILENCE_DBFS;
  let sum = 0;
  for (let i = 0; i < samples.length; i++) sum += samples[i]! * samples[i]!;
  const rms = Math.sqrt(sum / samples.length);
  if (rms <= 0) return SILENCE_DBFS;
  return Math.max(SILENCE_DBFS, 20 * Math.log10(rms));
}

/**
 * Frequency (Hz) of the strongest spectral peak. Uses up to 2^17 samples from the middle of the
 * signal, a Hann window, zero-padding to at least 2^16 points and a radix-2 FFT, then refines the
 * peak by quadratic interpolation of the log magnitude: a pure tone comes out within ~1 Hz.
 * Returns 0 for silence or fewer than 64 samples. Ignores content below 20 Hz (DC offset).
 */
export function dominantFrequency(samples: Float32Array, sampleRate: number): number {
  if (samples.length < 64) return 0;
  const take = Math.min(samples.length, 1 << 17);
  const start = Math.floor((samples.length - take) / 2);
  let n = 1 << 16;
  while (n < take) n <<= 1;
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  for (let i = 0; i < take; i++) {
    const w = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (take - 1));
    re[i] = samples[start + i]! * w;
  }
  fft(re, im);
  const half = n / 2;
  const mag = new Float64Array(half);
  for (let k = 0; k < half; k++) mag[k] = Math.hypot(re[k]!, im[k]!);
  const minBin = Math.max(1, Math.ceil((20 * n) / sampleRate));
  let best = -1;
  let bestMag = 0;
  for (let k = minBin; k < half - 1; k++) {
    if (mag[k]! > bestMag) {
      bestMag = mag[k]!;
      best = k;
    }
  }
  if (best < 0 || bestMag <= 1e-9) return 0;
  const a = Math.log(mag[best - 1]! + 1e-30);
  const b = Math.log(bestMag);
  const c = Math.log(mag[best + 1]! + 1e-30);
  const denom = a - 2 * b + c;
  const offset = denom === 0 ? 0 : (0.5 * (a - c)) / denom;
  return ((best + offset) * sampleRate) / n;
}

/** In-place iterative radix-2 FFT; length must be a power of two. */
function fft(re: Float64Array, im: Float64Array): void {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j]!, re[i]!];
      [im[i], im[j]] = [im[j]!, im[i]!];
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const ang = (-2 * Math.PI) / len;
    const wr = Math.cos(ang);
    const wi = Math.sin(ang);
    for (let i = 0; i < n; i += len) {
      let cr = 1;
      let ci = 0;
      for (let j = 0; j < len / 2; j++) {
        const ar = re[i + j]!;
        const ai = im[i + j]!;
        const br = re[i + j + len / 2]! * cr - im[i + j + len / 2]! * ci;
        const bi = re[i + j + len / 2]! * ci + im[i + j + len / 2]! * cr;
        re[i + j] = ar + br;
        im[i + j] = ai + bi;
        re[i + j + len / 2] = ar - br;
        im[i + j + len / 2] = ai - bi;
        const t = cr * wr - ci * wi;
        ci = cr * wi + ci * wr;
        cr = t;
      }
    }
  }
}

export interface OpusLevelMeterOptions {
  /** Level above which a silent participant starts speaking (default -45 dBFS). */
  onDbfs?: number;
  /** Level below which a speaking participant goes quiet, after `holdMs` (default -55 dBFS). */
  offDbfs?: number;
  /** How long the level must stay below offDbfs before `speaking` turns false (default 300 ms). */
  holdMs?: number;
  channels?: number;
}

/**
 * Decodes Opus packets (opus-decoder, WebAssembly libopus) and tracks a smoothed level: fast
 * attack, slow release (per 20 ms: 0.6 / 0.1 of the way to the new frame level, in dB). `speaking`
 * uses hysteresis: on above onDbfs, off only after holdMs below offDbfs.
 */
export class OpusLevelMeter {
  readonly #decoder: OpusDecoder;
  readonly #on: number;
  readonly #off: number;
  readonly #holdSamples: number;
  #level = SILENCE_DBFS;
  #speaking = false;
  #quietSamples = 0;
  #freed = false;

  private constructor(decoder: OpusDecoder, opts: OpusLevelMeterOptions) {
    this.#decoder = decoder;
    this.#on = opts.onDbfs ?? -45;
    this.#off = opts.offDbfs ?? -55;
    if (this.#off > this.#on) throw new RangeError("offDbfs must not exceed onDbfs");
    this.#holdSamples = Math.round(((opts.holdMs ?? 300) * 48000) / 1000);
  }

  static async create(opts: OpusLevelMeterOptions = {}): Promise<OpusLevelMeter> {
    const decoder = new OpusDecoder({ channels: opts.channels ?? 1 });
    await decoder.ready;
    return new OpusLevelMeter(decoder, opts);
  }

  /** Smoothed level in dBFS. */
  get level(): number {
    return this.#level;
  }

  get speaking(): boolean {
    return this.#speaking;
  }

  /** Decodes one packet and updates the level; returns the new smoothed level. */
  push(packet: Uint8Array): number {
    if (this.#freed) throw new Error("OpusLevelMeter used after free()");
    let pcm: Float32Array | undefined;
    let decoded = 0;
    try {
      const out = this.#decoder.decodeFrame(packet);
      pcm = out.channelData[0];
      decoded = out.samplesDecoded;
    } catch {
      return this.#level; // a corrupt packet says nothing about the level
    }
    if (!pcm || decoded === 0) return this.#level;
    const frame = rmsDbfs(pcm.subarray(0, decoded));
    const frames = decoded / 960; // coefficients are per 20 ms
    const k = frame > this.#level ? 0.6 : 0.1;
    const alpha = 1 - Math.pow(1 - k, frames);
    this.#level += alpha * (frame - this.#level);
    if (this.#level >= this.#on) {
      this.#speaking = true;
      this.#quietSamples = 0;
    } else if (this.#level < this.#off) {
      this.#quietSamples += decoded;
      if (this.#quietSamples >= this.#holdSamples) this.#speaking = false;
    } else {
      this.#quietSamples = 0;
    }
    return this.#level;
  }

  /** Releases the WebAssembly decoder. Idempotent. */
  free(): void {
    if (this.#freed) return;
    this.#freed = true;
    this.#decoder.free();
  }
}
