/**
 * Per-stream video statistics for the stats view: frame rate over a sliding window, resolution
 * (from the latest key frame) and the key-frame count. Fed with frames after decryption, when
 * key-frame-ness and picture size are known (vp8.ts parseVp8Frame; for H.264 the IDR flag and the
 * SPS of h264.ts parseH264AccessUnit); on the sending side with the VideoSource's frames.
 */
import { parseVp8Frame } from "./vp8.js";
import { parseH264AccessUnit } from "./h264.js";

export interface VideoStreamSnapshot {
  /** Frames per second over the window (0 until two frames were seen). */
  fps: number;
  width: number;
  height: number;
  frames: number;
  keyframes: number;
  bytes: number;
}

export class VideoStreamStats {
  readonly #windowMs: number;
  readonly #times: number[] = [];
  #frames = 0;
  #keyframes = 0;
  #bytes = 0;
  #width = 0;
  #height = 0;

  /** `windowMs`: how far back the frame rate looks (default 2000 ms). */
  constructor(windowMs = 2000) {
    if (!(windowMs > 0)) throw new RangeError("windowMs must be positive");
    this.#windowMs = windowMs;
  }

  /** Records one plaintext VP8 frame: key-frame flag and size come from its header. */
  recordVp8(frame: Uint8Array, nowMs: number = performance.now()): void {
    const info = parseVp8Frame(frame);
    this.record({ keyframe: info?.keyframe ?? false, width: info?.width, height: info?.height, bytes: frame.length }, nowMs);
  }

  /** Records one plaintext H.264 access unit (Annex B): IDR flag, and the size from its SPS if it has one. */
  recordH264(accessUnit: Uint8Array, nowMs: number = performance.now()): void {
    const info = parseH264AccessUnit(accessUnit);
    this.record({ keyframe: info.keyframe, width: info.width, height: info.height, bytes: accessUnit.length }, nowMs);
  }

  /** Records one frame whose properties the caller already knows. */
  record(frame: { keyframe: boolean; width?: number; height?: number; bytes?: number }, nowMs: number = performance.now()): void {
    this.#frames += 1;
    this.#bytes += frame.bytes ?? 0;
    if (frame.keyframe) this.#keyframes += 1;
    if (frame.width && frame.height) {
      this.#width = frame.width;
      this.#height = frame.height;
    }
    this.#times.push(nowMs);
    this.#trim(nowMs);
  }

  snapshot(nowMs: number = performance.now()): VideoStreamSnapshot {
    this.#trim(nowMs);
    const t = this.#times;
    // n frames spanning (last − first) ms are n − 1 intervals. Frames leave the window after
    // windowMs, so a stream that stopped reads 0 within one window.
    let fps = 0;
    if (t.length >= 2) {
      const span = t[t.length - 1]! - t[0]!;
      fps = span > 0 ? ((t.length - 1) * 1000) / span : 0;
    }
    return { fps, width: this.#width, height: this.#height, frames: this.#frames, keyframes: this.#keyframes, bytes: this.#bytes };
  }

  #trim(nowMs: number): void {
    while (this.#times.length > 0 && nowMs - this.#times[0]! > this.#windowMs) this.#times.shift();
  }
}
