/**
 * bots-video: what a publishing video bot costs, with the ffmpeg encoder apart from Conclave's own
 * share (SFrame encryption of each frame, VP8 RTP packetization, SRTP, the send system calls, and
 * the bot's fixed costs: signalling, ICE consent, RTCP, GC).
 *
 * Layout (every part in its own process, so each is measured alone):
 *   - the relay: `conclave serve` in a child process (startRelayProcess);
 *   - the publishers: this file run with `--child`, K publishing bots, each alone in its own room
 *     with one observer, so a bot sends and receives nothing but the observer's signalling — what
 *     is measured is the cost of publishing, not of receiving the other bots' video;
 *   - the observers: one Participant per room in this (parent) process, counting and decrypting
 *     what each bot sent (the check that the frames were real and complete).
 *
 * Scenarios, in the same run:
 *   - shared: K bots publish one VideoSource (one ffmpeg, libvpx VP8) — how `conclave bots` does it;
 *   - per-bot: K bots each with their own encoder (K ffmpeg), the baseline.
 *
 * Measured over a steady window once every observer has its first frame:
 *   - Conclave: the bot process's CPU (process.cpuUsage() in that process, all its threads);
 *   - ffmpeg: each encoder's utime + stime from /proc/<pid>/stat;
 *   - frames: what the encoders produced in the window × the bots that send each frame.
 * Reported per sent frame (µs), per bot (share of a core) and their ratio. Then every bot stops
 * publishing (it stays in its room, the encoders keep running) and a second window measures the
 * bot process idle: the difference is the marginal cost of sending a frame, without the fixed
 * cost of K connected bots (timers, ICE consent, RTCP, signalling pings, GC).
 *
 * `node dist/bench/bots-video.js` prints JSON lines; bench/bots.ts calls benchVideoBots().
 * Child stdio: stdin (fd 0) carries one JSON config line, then "mark" lines (answered with a
 * "mark" line) and finally "stop" or end of input; stdout (fd 1) is JSON lines; stderr (fd 2) the
 * child's errors, passed through.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";
import { BotFleet } from "../src/client/bots.js";
import { readProcSample, startRelayProcess } from "../src/client/loadtest.js";
import { Participant } from "../src/client/participant.js";
import { newInvite } from "../src/client/room.js";
import { resolveFfmpeg, VideoSource } from "../src/media/index.js";

interface ChildConfig {
  invites: string[];
  mode: "shared" | "per-bot";
  width: number;
  height: number;
  fps: number;
  bitrateKbps: number;
  ffmpeg: string;
}

interface MarkLine {
  type: "mark";
  /** process.cpuUsage() of the bot process, µs. */
  cpuUs: number;
  /** Frames produced so far by each encoder, with the number of bots sending each of its frames. */
  encoders: { pid: number; frames: number; bots: number }[];
}

const SCENARIO_LIMIT_MS = 60_000;

// ---- the child: K publishing bots -------------------------------------------------------------------

async function child(): Promise<void> {
  const rl = createInterface({ input: process.stdin });
  const lines = rl[Symbol.asyncIterator]();
  const first = await lines.next();
  if (first.done) return;
  const cfg = JSON.parse(first.value) as ChildConfig;
  const settings = { width: cfg.width, height: cfg.height, fps: cfg.fps, bitrateKbps: cfg.bitrateKbps };
  const shared = cfg.mode === "shared" ? await VideoSource.open({ kind: "testsrc" }, { ffmpeg: cfg.ffmpeg, ...settings }) : undefined;
  const fleets = cfg.invites.map(
    (invite) => new BotFleet({ invite, video: shared ?? { kind: "testsrc" }, videoSettings: settings, ffmpeg: cfg.ffmpeg, join: { reconnect: false } }),
  );
  const write = (o: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
  try {
    // One at a time: the measurement is about steady sending, not about joins.
    for (const f of fleets) {
      const bot = await f.add({ publish: true });
      if (bot.state !== "joined") throw new Error(`a publishing bot could not join: ${bot.failure?.code ?? bot.state}`);
    }
    const encoders = (): MarkLine["encoders"] => {
      if (shared) return [{ pid: shared.pid ?? 0, frames: shared.stats.frames, bots: fleets.length }];
      return fleets.map((f) => {
        const e = f.encoders().video!;
        return { pid: e.pid ?? 0, frames: e.frames, bots: 1 };
      });
    };
    write({ type: "ready", pid: process.pid, peerIds: fleets.map((f) => f.bots[0]!.peerId), encoders: encoders() });
    for (;;) {
      const next = await lines.next();
      if (next.done || next.value === "stop") break;
      if (next.value === "unpublish") {
        await Promise.all(fleets.map((f) => f.bots[0]!.participant!.unpublishVideo()));
        write({ type: "unpublished" });
      }
      if (next.value === "mark") {
        const u = process.cpuUsage();
        write({ type: "mark", cpuUs: u.user + u.system, encoders: encoders() } satisfies MarkLine);
      }
    }
  } finally {
    await Promise.all(fleets.map((f) => f.close()));
    await shared?.close();
    rl.close();
  }
}

// ---- the parent: relay, observers, measurement ------------------------------------------------------

function startChild(): { proc: ChildProcess; next(type: string, ms: number): Promise<Record<string, unknown>>; send(line: string): void; exited: Promise<void> } {
  // BENCH_CPU_PROF=DIR: a V8 CPU profile of the bot process, for finding where its share goes.
  const prof = process.env.BENCH_CPU_PROF ? ["--cpu-prof", "--cpu-prof-dir", process.env.BENCH_CPU_PROF] : [];
  const proc = spawn(process.execPath, [...prof, fileURLToPath(import.meta.url), "--child"], { stdio: ["pipe", "pipe", "inherit"] });
  const kill = (): void => void proc.kill("SIGKILL");
  process.on("exit", kill);
  const queue: Record<string, unknown>[] = [];
  let wake: (() => void) | undefined;
  createInterface({ input: proc.stdout! }).on("line", (line) => {
    try {
      queue.push(JSON.parse(line) as Record<string, unknown>);
      wake?.();
    } catch {
      // not ours
    }
  });
  const exited = new Promise<void>((resolve) =>
    proc.once("exit", () => {
      process.off("exit", kill);
      wake?.();
      resolve();
    }),
  );
  return {
    proc,
    send: (line) => void proc.stdin!.write(`${line}\n`),
    exited,
    async next(type, ms) {
      const deadline = Date.now() + ms;
      for (;;) {
        const i = queue.findIndex((l) => l.type === type);
        if (i >= 0) return queue.splice(i, 1)[0]!;
        if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`the bot process exited before its "${type}" line`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no "${type}" line from the bot process in ${ms} ms`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, Math.min(left, 200));
          wake = () => (clearTimeout(t), resolve());
        });
      }
    },
  };
}

async function until(predicate: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One scenario: K publishing bots in a child process, `mode` encoders, measured over `windowMs`. */
export async function benchVideoPublishers(opts: {
  bots: number;
  mode: "shared" | "per-bot";
  width?: number;
  height?: number;
  fps?: number;
  bitrateKbps?: number;
  windowMs?: number;
  idleMs?: number;
}): Promise<Record<string, unknown>> {
  const { bots: k, mode } = opts;
  const width = opts.width ?? 640;
  const height = opts.height ?? 360;
  const fps = opts.fps ?? 30;
  const bitrateKbps = opts.bitrateKbps ?? 800;
  const windowMs = opts.windowMs ?? 8000;
  const idleMs = opts.idleMs ?? 5000;
  const ffmpeg = resolveFfmpeg().path;
  const relay = await startRelayProcess();
  const observers: Participant[] = [];
  const c = startChild();
  const limit = setTimeout(() => c.proc.kill("SIGKILL"), SCENARIO_LIMIT_MS);
  try {
    const invites = Array.from({ length: k }, () => newInvite(relay.url));
    for (const invite of invites) observers.push(await Participant.join(invite, { name: "observer", statsIntervalMs: 0, reconnect: false }));
    c.send(JSON.stringify({ invites, mode, width, height, fps, bitrateKbps, ffmpeg } satisfies ChildConfig));
    const ready = (await c.next("ready", 40_000)) as unknown as { pid: number; peerIds: string[]; encoders: MarkLine["encoders"] };
    const pubs = ready.peerIds;
    const framesSeen = (): number[] => observers.map((o, i) => o.videoStatsOf(pubs[i]!)?.frames ?? 0);
    // Every observer has decrypted frames, then one more second for the joins' after-effects.
    await until(() => framesSeen().every((n) => n > 0), 10_000, "every observer to see video");
    await new Promise((r) => setTimeout(r, 1000));

    const failuresBefore = observers.reduce((n, o) => n + o.e2ee.stats.decryptFailures, 0);
    const window = async (ms: number): Promise<{ wallS: number; conclaveS: number; ffmpegS: number; encoded: number; sent: number; received: number }> => {
      c.send("mark");
      const m0 = (await c.next("mark", 5000)) as unknown as MarkLine;
      const ff0 = m0.encoders.map((e) => readProcSample(e.pid));
      const seen0 = framesSeen();
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, ms));
      c.send("mark");
      const m1 = (await c.next("mark", 5000)) as unknown as MarkLine;
      const ff1 = m1.encoders.map((e) => readProcSample(e.pid));
      const seen1 = framesSeen();
      return {
        wallS: (performance.now() - t0) / 1000,
        conclaveS: (m1.cpuUs - m0.cpuUs) / 1e6,
        ffmpegS: ff1.reduce((s, e, i) => s + (e && ff0[i] ? e.cpuSeconds - ff0[i]!.cpuSeconds : NaN), 0),
        encoded: m1.encoders.reduce((s, e, i) => s + (e.frames - m0.encoders[i]!.frames), 0),
        // Each encoded frame is sent by every bot that publishes that encoder.
        sent: m1.encoders.reduce((s, e, i) => s + (e.frames - m0.encoders[i]!.frames) * e.bots, 0),
        received: seen1.reduce((s, n, i) => s + n - seen0[i]!, 0),
      };
    };
    const { wallS, conclaveS, ffmpegS, encoded, sent, received } = await window(windowMs);
    c.send("unpublish");
    await c.next("unpublished", 5000);
    const idle = await window(idleMs);
    const sizes = new Set(observers.map((o, i) => {
      const v = o.videoStatsOf(pubs[i]!);
      return `${v?.width ?? 0}x${v?.height ?? 0}`;
    }));
    const conclavePerBot = conclaveS / wallS / k;
    const ffmpegPerBot = ffmpegS / wallS / k;
    return {
      type: "bench",
      name: "bots-video-publish",
      mode,
      bots: k,
      encoders: ready.encoders.length,
      video: `${width}x${height}@${fps} VP8 ${bitrateKbps} kbit/s`,
      windowS: round(wallS, 2),
      framesEncoded: encoded,
      /** Frames per second each encoder delivered (below the asked rate when ffmpeg cannot keep up). */
      encodedFps: round(encoded / wallS / ready.encoders.length, 1),
      framesSent: sent,
      framesReceived: received,
      receivedSizes: [...sizes],
      decryptFailures: observers.reduce((n, o) => n + o.e2ee.stats.decryptFailures, 0) - failuresBefore,
      /** Conclave's share: the bot process (SFrame, packetize, SRTP, send, fixed costs). */
      conclaveCores: round(conclaveS / wallS, 3),
      conclaveCoresPerBot: round(conclavePerBot, 4),
      conclaveUsPerFrame: round((conclaveS * 1e6) / Math.max(1, sent), 1),
      /** The bot process with every bot joined but not publishing (encoders still running). */
      idleConclaveCores: round(idle.conclaveS / idle.wallS, 3),
      /** What sending one frame adds: (publishing − idle) CPU per frame sent. */
      conclaveMarginalUsPerFrame: round(((conclaveS / wallS - idle.conclaveS / idle.wallS) * wallS * 1e6) / Math.max(1, sent), 1),
      /** The encoder's share: ffmpeg (decode of the test pattern, scale, libvpx encode, IVF out). */
      ffmpegCores: round(ffmpegS / wallS, 3),
      ffmpegCoresPerBot: round(ffmpegPerBot, 4),
      ffmpegUsPerEncodedFrame: round((ffmpegS * 1e6) / Math.max(1, encoded), 1),
      ffmpegUsPerSentFrame: round((ffmpegS * 1e6) / Math.max(1, sent), 1),
      /** Per bot: ffmpeg's share over Conclave's. */
      ffmpegToConclave: conclavePerBot > 0 ? round(ffmpegPerBot / conclavePerBot, 2) : null,
      coresPerBot: round(conclavePerBot + ffmpegPerBot, 4),
      pass: received >= sent * 0.99 && sizes.size === 1 && sizes.has(`${width}x${height}`),
    };
  } finally {
    clearTimeout(limit);
    c.send("stop");
    c.proc.stdin!.end();
    const killer = setTimeout(() => c.proc.kill("SIGKILL"), 10_000);
    await c.exited;
    clearTimeout(killer);
    await Promise.all(observers.map((o) => o.close()));
    await relay.close();
  }
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/** The shared encoder at 8 and 4 bots, and one encoder per bot at 4 (the baseline), 640x360@30. */
export async function benchVideoBots(): Promise<Array<Record<string, unknown>>> {
  const results: Array<Record<string, unknown>> = [];
  results.push(await benchVideoPublishers({ bots: 8, mode: "shared" }));
  results.push(await benchVideoPublishers({ bots: 4, mode: "shared" }));
  const perBot = await benchVideoPublishers({ bots: 4, mode: "per-bot" });
  const shared4 = results[1]!;
  results.push(perBot);
  results.push({
    type: "bench",
    name: "bots-video-shared-vs-per-bot",
    bots: 4,
    /** Cores per bot, everything counted: one encoder per bot over one shared encoder. */
    coresPerBotRatio: round((perBot.coresPerBot as number) / (shared4.coresPerBot as number), 2),
    ffmpegCoresPerBotRatio: round((perBot.ffmpegCoresPerBot as number) / (shared4.ffmpegCoresPerBot as number), 2),
  });
  return results;
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) {
  if (process.argv.includes("--child")) {
    await child();
    process.exit(0);
  }
  // `720p`: the shared encoder at 1280x720; `shared8`: one scenario only (for profiling).
  const only = process.argv[2];
  const results =
    only === "720p"
      ? [await benchVideoPublishers({ bots: 4, mode: "shared", width: 1280, height: 720, bitrateKbps: 2000 })]
      : only === "shared8"
        ? [await benchVideoPublishers({ bots: 8, mode: "shared" })]
        : await benchVideoBots();
  for (const r of results) process.stdout.write(`${JSON.stringify(r)}\n`);
  process.exit(0);
}
