/**
 * Video admission: what the relay admits, with its default limits, into a room with one 720p
 * camera, and what that room then costs it.
 *
 * One publisher (the "video" child of bench/video.ts: a Participant sending 1280x720 VP8 at 30 fps,
 * ~1.3 Mbit/s, encoded once and looped) joins a relay started with its default admission limits
 * (packet rate, measured-load guard; only the ping and answer timeouts are relaxed as in
 * bench/relay.ts, and the room-size and participant limits are raised so that the packet rate is the
 * limit that decides). Then RawBots (bench/relay.ts: same signalling, SRTP and packet rate as a
 * Participant, each publishing audio, counting what they receive by SSRC and sequence number) join
 * one at a time until the relay refuses one. Every bot receives the camera and every other bot's
 * audio.
 *
 * Two measurements of the same room, in the same run: with the camera sending (A), then with the
 * camera paused (B, audio only). Relay CPU is process.cpuUsage() of the relay child (all threads).
 * - µs per audio packet = CPU(B) ÷ packets forwarded in B (includes the fixed costs);
 * - µs per video packet (marginal) = (CPU(A) − CPU(B)) ÷ (video packets forwarded in A);
 * - their ratio is what VIDEO_PACKET_COST (src/server/placement.ts) stands for.
 *
 * `node dist/bench/video-admission.js` prints JSON lines (about 2 minutes); BENCH_LIMIT=20000 sets
 * another packet-rate limit (16 bots then), BENCH_LOAD_GUARD=1 keeps the measured-load guard on.
 */
import { fileURLToPath, pathToFileURL } from "node:url";
import { newInvite, defaultLimits, type RelayLimits } from "../src/index.js";
import { Child, cpuMs, round, waitUntil, type Cpu, type RelaySample } from "./relay.js";
import { encodeLoop } from "./video.js";

const VIDEO_SCRIPT = fileURLToPath(new URL("./video.js", import.meta.url));
const BOT_PROCESSES = 2;
const MEASURE_MS = Number(process.env.BENCH_MEASURE_MS ?? 6000);
/** BENCH_LIMIT: another packet-rate limit than the default (a smaller room on a busy machine). */
const LIMIT = process.env.BENCH_LIMIT ? Number(process.env.BENCH_LIMIT) : undefined;
/** At most this many bots (the default limit on two cores refuses the 36th). */
const MAX_BOTS = 80;

interface BotSample {
  cpu: Cpu;
  sent: number;
  receivers: { sink: boolean; streams: number; received: number; lost: number }[];
}

interface Sample {
  relay: RelaySample;
  bots: BotSample[];
}

async function sampleAll(relay: Child, bots: Child[]): Promise<Sample> {
  const [r, ...b] = await Promise.all([relay.request<RelaySample>("sample", undefined, 20_000), ...bots.map((x) => x.request<BotSample>("sample", undefined, 20_000))]);
  return { relay: r as RelaySample, bots: b as BotSample[] };
}

function receiverTotals(s: Sample): { received: number; lost: number } {
  let received = 0;
  let lost = 0;
  for (const b of s.bots) for (const r of b.receivers) (received += r.received), (lost += r.lost);
  return { received, lost };
}

async function measure(
  relay: Child,
  bots: Child[],
  ms: number,
): Promise<{ seconds: number; cpuMs: number; forwarded: number; retransmitted: number; lossPct: number; sample: Sample; engineLoads: number[] }> {
  const a = await sampleAll(relay, bots);
  await new Promise((r) => setTimeout(r, ms));
  const b = await sampleAll(relay, bots);
  const x = receiverTotals(a);
  const y = receiverTotals(b);
  const got = y.received - x.received;
  const lost = Math.max(0, y.lost - x.lost);
  return {
    seconds: (b.relay.atMs - a.relay.atMs) / 1000,
    cpuMs: cpuMs(a.relay.cpu, b.relay.cpu),
    forwarded: b.relay.forwarded - a.relay.forwarded,
    retransmitted: b.relay.retransmitted - a.relay.retransmitted,
    lossPct: round((100 * lost) / Math.max(1, got + lost), 3),
    sample: b,
    engineLoads: b.relay.engineLoads,
  };
}

export async function benchVideoAdmission(): Promise<Array<Record<string, unknown>>> {
  const frames = await encodeLoop();
  const relay = new Child("relay");
  const video = new Child("video", VIDEO_SCRIPT);
  const bots = Array.from({ length: BOT_PROCESSES }, () => new Child("bots"));
  try {
    // The measured-load guard is off while the room fills (BENCH_LOAD_GUARD=1 keeps it): on a shared
    // two-core machine the renegotiations of 30 joins in a row push the smoothed engine load past 0.9
    // before the packet rate is reached. The loads at capacity are reported.
    const loadGuard = process.env.BENCH_LOAD_GUARD === "1";
    const limits: Partial<RelayLimits> = {
      pingIntervalMs: 6000,
      answerTimeoutMs: 30_000,
      maxParticipantsPerRoom: 1000,
      maxParticipants: 1000,
      ...(loadGuard ? {} : { maxEngineLoad: 1 }),
      ...(LIMIT ? { maxForwardedPacketsPerSecond: LIMIT } : {}),
    };
    const { url, engines } = await relay.request<{ url: string; engines: number }>("start", { limits }, 30_000);
    const invite = newInvite(url);
    await video.request("join", { invite, subscribers: 0 }, 60_000);
    await video.request("play", { frames }, 10_000);
    // Past the camera's grace period, so it counts at its measured rate.
    await waitUntil(
      async () => {
        const r = await relay.request<RelaySample>("sample", undefined, 10_000);
        return r.received > 0;
      },
      20_000,
      "the camera's first packets",
    );
    await new Promise((r) => setTimeout(r, 4000));
    const started = Date.now();
    let admitted = 0;
    let refusedWith: string | null = null;
    let retries = 0;
    while (admitted < MAX_BOTS && refusedWith === null) {
      const child = bots[admitted % bots.length]!;
      // A join that fails for another reason than a refusal (ICE on a busy machine) is tried again.
      for (let attempt = 0; ; attempt++) {
        try {
          await child.request("joinRaw", { invite, count: 1 }, 90_000);
          admitted++;
          break;
        } catch (err) {
          const m = (err as Error).message;
          if (/overloaded/.test(m) || attempt >= 2) {
            refusedWith = m;
            break;
          }
          retries++;
        }
      }
    }
    const joinMs = Date.now() - started;
    const estimate = (await relay.request<RelaySample>("sample", undefined, 10_000)) as RelaySample;
    // Every bot receives the camera and the other bots' audio.
    let complete = true;
    await waitUntil(
      async () => (await sampleAll(relay, bots)).bots.every((b) => b.receivers.every((r) => r.streams >= admitted)),
      60_000,
      "every bot to receive every stream",
    ).catch((err: Error) => {
      complete = false;
      process.stderr.write(`[video-admission] ${err.message}\n`);
    });
    await new Promise((r) => setTimeout(r, 2000));
    const withVideo = await measure(relay, bots, MEASURE_MS);
    const framesSent = await video.request<number>("pause", undefined, 10_000);
    await new Promise((r) => setTimeout(r, 2000));
    const audioOnly = await measure(relay, bots, MEASURE_MS);
    const videoPps = withVideo.forwarded / withVideo.seconds - audioOnly.forwarded / audioOnly.seconds;
    const coresA = withVideo.cpuMs / 1000 / withVideo.seconds;
    const coresB = audioOnly.cpuMs / 1000 / audioOnly.seconds;
    const usAudio = (audioOnly.cpuMs * 1000) / Math.max(1, audioOnly.forwarded);
    const usVideo = ((coresA - coresB) * 1e6) / Math.max(1, videoPps);
    return [
      {
        type: "bench",
        name: "relay-video-admission",
        engines,
        limit: LIMIT ?? defaultLimits.maxForwardedPacketsPerSecond,
        maxEngineLoad: loadGuard ? defaultLimits.maxEngineLoad : "off while filling",
        videoPacketCost: defaultLimits.videoPacketCost,
        camera: "1280x720 VP8 30 fps",
        admittedAudioBots: admitted,
        refusedWith,
        joinAllMs: joinMs,
        joinRetries: retries,
        /** Every bot received every stream before the measurements (false: a broken room, figures not valid). */
        roomComplete: complete,
        participantsMeasured: withVideo.sample.relay.participants,
        estimatedPps: estimate.estimatedPps,
        estimatedVideoPps: estimate.estimatedVideoPps,
        framesSent,
        withVideo: {
          forwardedPps: Math.round(withVideo.forwarded / withVideo.seconds),
          relayCores: round(coresA, 3),
          retransmittedPps: Math.round(withVideo.retransmitted / withVideo.seconds),
          lossPct: withVideo.lossPct,
          engineLoads: withVideo.engineLoads,
        },
        audioOnly: {
          forwardedPps: Math.round(audioOnly.forwarded / audioOnly.seconds),
          relayCores: round(coresB, 3),
          lossPct: audioOnly.lossPct,
          engineLoads: audioOnly.engineLoads,
        },
        videoPps: Math.round(videoPps),
        usPerAudioPacket: round(usAudio),
        usPerVideoPacketMarginal: round(usVideo),
        videoToAudioCostRatio: round(usVideo / usAudio),
      },
    ];
  } finally {
    await Promise.all(bots.map((b) => b.stop()));
    await video.stop();
    await relay.stop();
  }
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) {
  for (const r of await benchVideoAdmission()) process.stdout.write(`${JSON.stringify(r)}\n`);
  process.exit(0);
}
