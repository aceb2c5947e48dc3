/**
 * Video relay benchmarks: the relay's CPU per forwarded video packet and per forwarded 720p stream,
 * with one publisher sending 1280x720 VP8 at 30 fps and ~1.5 Mbit/s to 1, 8 and 16 subscribers over
 * 127.0.0.1 (real werift peers, real SFrame, real ffmpeg for the frames).
 *
 * Processes, as in bench/relay.ts (whose Child, serve and relay child this reuses):
 * - the relay in its own child process (its defaults: media worker threads, lean forwarding, video
 *   repair on), reporting process.cpuUsage() of all its threads and its counters;
 * - one "video" child with the publisher and the subscribers (Participants). The publisher sends
 *   frames encoded once beforehand (ffmpeg testsrc, libvpx), looped at 30 fps, so no encoder runs
 *   next to the relay while it is measured: each frame is SFrame-encrypted and packetized as live.
 *
 * Figures: µs of relay CPU per forwarded packet; relay CPU per stream (the whole relay ÷ streams);
 * and the marginal cost of one more 720p stream (the CPU difference between 16 and 1 subscribers ÷ 15),
 * which leaves out the publisher's upload (decrypted once however many subscribe).
 *
 * `node dist/bench/video.js [1,8,16]` prints JSON lines (subscriber counts optional); bench/run.ts
 * calls benchVideo() (part `video`).
 */
import { fileURLToPath, pathToFileURL } from "node:url";
import { Participant, newInvite, resolveFfmpeg, type RelayLimits } from "../src/index.js";
import { VideoSource, parseVideoSource } from "../src/media/index.js";
import { Child, cpuMs, round, serve, waitUntil, type Cpu, type RelaySample } from "./relay.js";

const SELF = fileURLToPath(import.meta.url);

const WIDTH = 1280;
const HEIGHT = 720;
const FPS = 30;
const BITRATE_KBPS = 1500;
/** Frames encoded once and looped (4 s: two keyframe intervals). */
const LOOP_FRAMES = 120;
const KEYFRAME_INTERVAL_MS = 2000;

export interface EncodedFrame {
  data: Uint8Array;
  keyframe: boolean;
}

/** Encode LOOP_FRAMES of 720p testsrc with the project's VideoSource (real ffmpeg, libvpx). */
export async function encodeLoop(): Promise<EncodedFrame[]> {
  const ffmpeg = resolveFfmpeg().path;
  const source = await VideoSource.open(parseVideoSource("testsrc"), {
    ffmpeg,
    width: WIDTH,
    height: HEIGHT,
    fps: FPS,
    bitrateKbps: BITRATE_KBPS,
    keyframeIntervalMs: KEYFRAME_INTERVAL_MS,
    startTimeoutMs: 30_000,
  });
  const frames: EncodedFrame[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the encoder gave ${frames.length} of ${LOOP_FRAMES} frames in 60 s`)), 60_000);
      source.on("frame", (f) => {
        // Start the loop on a keyframe, so every subscriber's first picture comes within one interval.
        if (frames.length === 0 && !f.keyframe) return;
        if (frames.length < LOOP_FRAMES) frames.push({ data: Buffer.from(f.data), keyframe: f.keyframe });
        if (frames.length === LOOP_FRAMES) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  } finally {
    await source.close();
  }
  return frames;
}

// ---------------------------------------------------------------------------------------------
// Video child: one publisher and its subscribers

interface VideoSample {
  cpu: Cpu;
  sentFrames: number;
  sentBytes: number;
  /** Frames each subscriber decrypted. */
  received: number[];
}

function videoChild(): void {
  let publisher: Participant | undefined;
  const subscribers: { p: Participant; frames: number }[] = [];
  let timer: NodeJS.Timeout | undefined;
  let sentFrames = 0;
  serve({
    join: async (args: { invite: string; subscribers: number }) => {
      publisher = await Participant.join(args.invite, { name: "cam", video: true, statsIntervalMs: 0, timeoutMs: 30_000 });
      for (let i = 0; i < args.subscribers; i++) {
        const p = await Participant.join(args.invite, { name: `viewer${i}`, statsIntervalMs: 0, timeoutMs: 30_000 });
        const s = { p, frames: 0 };
        p.on("video", () => s.frames++);
        subscribers.push(s);
      }
      return subscribers.length;
    },
    /** Send the encoded loop at FPS until stop. */
    play: async (args: { frames: EncodedFrame[] }) => {
      const frames = args.frames.map((f) => Buffer.from(f.data));
      const t0 = performance.now();
      const tick = (): void => {
        // Paced by the clock, not by the timer: a late timer sends the frames it owes.
        const due = Math.floor(((performance.now() - t0) * FPS) / 1000);
        while (sentFrames <= due) {
          publisher!.sendVideoFrame({ data: frames[sentFrames % frames.length]!, timestamp90k: (sentFrames * 90000) / FPS });
          sentFrames++;
        }
      };
      tick();
      timer = setInterval(tick, 1000 / FPS / 2);
      return true;
    },
    /** Stop sending video (the publisher stays in the room). */
    pause: async () => {
      clearInterval(timer);
      return sentFrames;
    },
    sample: async (): Promise<VideoSample> => {
      const stats = publisher?.statsEvent();
      return {
        cpu: process.cpuUsage(),
        sentFrames,
        sentBytes: stats?.type === "stats" ? stats.sent.bytes : 0,
        received: subscribers.map((s) => s.frames),
        ...(process.env.BENCH_DEBUG ? { debug: subscribers.map((s) => [...((s.p as unknown as { remotes: Map<string, { video?: { depacketizer: { stats: unknown } } }> }).remotes.values())].map((r) => r.video?.depacketizer.stats)) } : {}),
      };
    },
    stop: async () => {
      clearInterval(timer);
      await Promise.all(subscribers.map((s) => s.p.close().catch(() => {})));
      await publisher?.close().catch(() => {});
      setImmediate(() => process.exit(0));
      return true;
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Driver

interface Both {
  relay: RelaySample;
  video: VideoSample;
}

async function sampleBoth(relay: Child, video: Child): Promise<Both> {
  const [r, v] = await Promise.all([relay.request<RelaySample>("sample", undefined, 10_000), video.request<VideoSample>("sample", undefined, 10_000)]);
  return { relay: r, video: v };
}

export async function runVideoForward(subscribers: number, frames: EncodedFrame[], measureMs: number): Promise<Record<string, unknown>> {
  const relay = new Child("relay");
  const video = new Child("video", SELF);
  try {
    // Admission counts audio streams; a video room of this size is far inside it either way.
    const limits: Partial<RelayLimits> = { maxForwardedPacketsPerSecond: 1e9, maxParticipantsPerRoom: 1000, maxEngineLoad: 1 };
    const { url, engines } = await relay.request<{ url: string; engines: number }>("start", { limits, ...(process.env.BENCH_VIDEO_REPAIR === "0" ? { videoRepair: false } : {}) }, 30_000);
    const invite = newInvite(url);
    await video.request("join", { invite, subscribers }, 120_000);
    await video.request("play", { frames }, 10_000);
    await waitUntil(
      async () => (await video.request<VideoSample>("sample", undefined, 10_000)).received.every((n) => n > 0),
      20_000,
      "every subscriber's first frame",
    );
    // Warm up past the first keyframe interval, then measure.
    await new Promise((r) => setTimeout(r, 1000));
    const a = await sampleBoth(relay, video);
    await new Promise((r) => setTimeout(r, measureMs));
    const b = await sampleBoth(relay, video);
    if (process.env.BENCH_DEBUG) process.stderr.write(`${JSON.stringify((b.video as unknown as { debug: unknown }).debug)}\n`);
    const seconds = (b.relay.atMs - a.relay.atMs) / 1000;
    const relayCpu = cpuMs(a.relay.cpu, b.relay.cpu);
    const forwarded = b.relay.forwarded - a.relay.forwarded;
    const sentFrames = b.video.sentFrames - a.video.sentFrames;
    const delivered = b.video.received.map((n, i) => n - a.video.received[i]!);
    const cores = relayCpu / 1000 / seconds;
    return {
      type: "bench",
      name: "relay-video",
      resolution: `${WIDTH}x${HEIGHT}`,
      fps: FPS,
      streamKbps: round(((b.video.sentBytes - a.video.sentBytes) * 8) / 1000 / seconds, 0),
      subscribers,
      engines,
      forwardedPps: round(forwarded / seconds, 0),
      usPerPacket: round((relayCpu * 1000) / Math.max(1, forwarded)),
      relayCores: round(cores, 3),
      relayCpuPctPerStream: round((100 * cores) / subscribers),
      retransmitted: b.relay.retransmitted - a.relay.retransmitted,
      /** The subscriber that got the fewest frames: frames it decrypted ÷ frames sent in the window. */
      frameDeliveryPct: round((100 * Math.min(...delivered)) / Math.max(1, sentFrames), 1),
      framesSent: sentFrames,
      framesDelivered: delivered,
      clientCores: round(cpuMs(a.video.cpu, b.video.cpu) / 1000 / seconds),
    };
  } finally {
    await video.stop();
    await relay.stop();
  }
}

export interface VideoBenchOptions {
  measureMs?: number;
  subscribers?: number[];
}

export async function benchVideo(options: VideoBenchOptions = {}): Promise<Array<Record<string, unknown>>> {
  const measureMs = options.measureMs ?? 6000;
  const counts = options.subscribers ?? [1, 8, 16];
  const frames = await encodeLoop();
  const results: Array<Record<string, unknown>> = [];
  for (const n of counts) {
    try {
      const r = await runVideoForward(n, frames, measureMs);
      results.push(r);
      if (process.env.BENCH_DEBUG) process.stderr.write(`[bench] ${JSON.stringify(r)}\n`);
    } catch (err) {
      results.push({ type: "bench-error", name: `relay-video-${n}`, error: (err as Error).message });
    }
  }
  const ok = results.filter((r) => r.type === "bench") as { subscribers: number; relayCores: number; forwardedPps: number }[];
  const lo = ok.find((r) => r.subscribers === Math.min(...counts));
  const hi = ok.find((r) => r.subscribers === Math.max(...counts));
  if (lo && hi && hi.subscribers > lo.subscribers) {
    const streams = hi.subscribers - lo.subscribers;
    const extraCores = hi.relayCores - lo.relayCores;
    results.push({
      type: "bench",
      name: "relay-video-marginal",
      resolution: `${WIDTH}x${HEIGHT}`,
      definition: `relay CPU at ${hi.subscribers} subscribers minus at ${lo.subscribers}, per added stream`,
      relayCpuPctPerStream: round((100 * extraCores) / streams),
      usPerPacket: round((extraCores * 1e6) / Math.max(1, hi.forwardedPps - lo.forwardedPps)),
    });
  }
  return results;
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) {
  const role = process.argv[2];
  if (role === "video") videoChild();
  else {
    const subscribers = role?.split(",").map(Number).filter((n) => Number.isInteger(n) && n > 0);
    for (const r of await benchVideo(subscribers && subscribers.length > 0 ? { subscribers } : {})) process.stdout.write(`${JSON.stringify(r)}\n`);
    process.exit(0);
  }
}
