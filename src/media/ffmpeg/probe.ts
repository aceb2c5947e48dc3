/**
 * What an ffmpeg binary can do, and which capture devices this machine has.
 */
import { execFile } from "node:child_process";
import fs from "node:fs/promises";
import path from "node:path";
import { MediaError } from "../../errors.js";

export interface FfmpegCapabilities {
  /** e.g. "N-47683-g0e8eb07980-static" or "6.1.1". */
  version: string;
  hasLibopus: boolean;
  hasLibvpx: boolean;
  hasLibx264: boolean;
}

function run(ffmpeg: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(ffmpeg, args, { timeout: 10_000, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        const detail = (stderr || "").trim().split("\n").pop() || (err as NodeJS.ErrnoException).code || err.message;
        reject(new MediaError(`cannot run ffmpeg at ${ffmpeg}: ${detail}`, "ffmpeg-unusable", { cause: err }));
      } else {
        resolve(stdout);
      }
    });
  });
}

export async function probeFfmpeg(ffmpeg: string): Promise<FfmpegCapabilities> {
  const [versionText, encoders] = await Promise.all([
    run(ffmpeg, ["-hide_banner", "-version"]),
    run(ffmpeg, ["-hide_banner", "-encoders"]),
  ]);
  const m = /ffmpeg version (\S+)/.exec(versionText);
  if (!m) throw new MediaError(`${ffmpeg} does not look like ffmpeg (no version line)`, "ffmpeg-unusable");
  // Encoder list lines look like " A..... libopus              libopus Opus (codec opus)".
  const has = (name: string): boolean => new RegExp(`^\\s*[A-Z.]{6}\\s+${name}\\s`, "m").test(encoders);
  return { version: m[1]!, hasLibopus: has("libopus"), hasLibvpx: has("libvpx"), hasLibx264: has("libx264") };
}

export interface CaptureDevices {
  /** ALSA capture PCMs as device names for `device:NAME`, e.g. "hw:0,0". */
  alsa: string[];
  /** Whether a PulseAudio (or PipeWire-pulse) server looks reachable. */
  pulse: boolean;
}

export interface ListCaptureDevicesOptions {
  env?: NodeJS.ProcessEnv;
  /** Default /proc/asound/pcm. */
  procPcmPath?: string;
}

/** Never throws: a machine without sound hardware simply has no devices. */
export async function listCaptureDevices(opts: ListCaptureDevicesOptions = {}): Promise<CaptureDevices> {
  const env = opts.env ?? process.env;
  const alsa: string[] = [];
  try {
    const text = await fs.readFile(opts.procPcmPath ?? "/proc/asound/pcm", "utf8");
    // Lines: "00-00: ALC3246 Analog : ALC3246 Analog : playback 1 : capture 1"
    for (const line of text.split("\n")) {
      const m = /^(\d+)-(\d+):/.exec(line);
      if (m && /:\s*capture\s+\d+/.test(line)) alsa.push(`hw:${Number(m[1])},${Number(m[2])}`);
    }
  } catch {
    // no ALSA (container, no sound card)
  }
  let pulse = Boolean(env.PULSE_SERVER);
  if (!pulse && env.XDG_RUNTIME_DIR) {
    try {
      await fs.access(path.join(env.XDG_RUNTIME_DIR, "pulse", "native"));
      pulse = true;
    } catch {
      // no socket
    }
  }
  return { alsa, pulse };
}
