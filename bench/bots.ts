/**
 * Bot benchmarks, with the relay in a child process (`conclave serve`) so that its CPU and memory
 * are measured apart from the bots':
 *
 * - bots-join: join time at 2 and at 20 participants per room, from Participant.join() to media
 *   connected (`joinMs`) and to the first decrypted frame of every publisher already in the room
 *   (`audioMs`, the figure a person waits for). Target: audioMs p95 ≤ 400 ms at 20 on loopback.
 * - bots-density: 2 publishers and 40 receiving bots in this one process. After every bot hears
 *   both publishers, CPU and RSS are measured over a steady window and divided by the receivers;
 *   loss is counted over every stream, in the window and over the whole run (joins included).
 *   Target: ≥ 40 receiving bots per process with < 1 % loss in the window. The ramp holds a join
 *   back while the process is more than DENSITY_MAX_LAG_MS behind on signalling work (a busy
 *   machine); `eventLoopMaxMs` is the longest the event loop was held up during the run. Runs twice,
 *   the bots on werift's audio receive path and then on the lean one (`leanReceive`), with the CPU
 *   per received packet of each and their ratio (bots-density-receive-path; `node dist/bench/bots.js
 *   density` runs only that).
 * - bots-video-publish: CPU per publishing video bot, the shared ffmpeg encoder apart from
 *   Conclave's own share (bench/bots-video.ts).
 *
 * Every scenario is bounded (≤ 30 s, aborted beyond). `node dist/bench/bots.js` prints JSON lines;
 * bench/run.ts calls benchBots().
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import { spawn } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { BotFleet, distribution, summarizeBots } from "../src/client/bots.js";
import { ProcessMeter, runLoadtest, startRelayProcess, type RelayProcess } from "../src/client/loadtest.js";
import { newInvite } from "../src/client/room.js";
import { resolveFfmpeg } from "../src/media/index.js";
import { benchVideoBots } from "./bots-video.js";

const RAMP_PER_SECOND = 5;
/** Every join costs each bot already in the process key exchanges and a renegotiation: go slower. */
const DENSITY_RAMP_PER_SECOND = 4;
/** BotFleet.addMany maxLagMs for the density ramp. */
const DENSITY_MAX_LAG_MS = 500;
const SCENARIO_LIMIT_MS = 30_000;

async function withRelay<T>(fn: (relay: RelayProcess) => Promise<T>): Promise<T> {
  const relay = await startRelayProcess();
  try {
    return await fn(relay);
  } finally {
    await relay.close();
  }
}

/** Join time with `participants` per room; `rooms` rooms at once to get enough samples. */
export async function benchJoin(participants: number, rooms: number, publishers: number): Promise<Record<string, unknown>> {
  const ffmpeg = resolveFfmpeg().path;
  return withRelay(async (relay) => {
    const report = await runLoadtest({
      server: relay.url,
      relay: { pid: relay.pid },
      rooms,
      participants,
      publishers,
      durationS: 2,
      rampPerSecond: RAMP_PER_SECOND,
      ffmpeg,
      signal: AbortSignal.timeout(SCENARIO_LIMIT_MS),
    });
    const o = report.overall;
    return {
      type: "bench",
      name: "bots-join",
      participants,
      rooms,
      publishers,
      rampPerSecond: RAMP_PER_SECOND,
      joined: o.joined,
      failed: o.failed + o.dropped,
      errors: o.errors.map((e) => ({ code: e.code, count: e.count })),
      joinMs: o.joinMs,
      audioMs: o.audioMs,
      audioP95TargetMs: participants >= 20 ? 400 : undefined,
      lossPct: o.lossPct,
      decryptFailures: o.decryptFailures,
      relayCpuPct: report.relay?.cpuPct ?? null,
      pass: report.pass,
    };
  });
}

/**
 * `receivers` receiving bots and `publishers` publishers in this process; every bot on the lean
 * audio receive path (the default) or, with `leanReceive` false, on werift's.
 */
export async function benchDensity(receivers = 40, publishers = 2, steadyMs = 8_000, leanReceive = true): Promise<Record<string, unknown>> {
  const ffmpeg = resolveFfmpeg().path;
  const deadline = AbortSignal.timeout(SCENARIO_LIMIT_MS);
  return withRelay(async (relay) => {
    const fleet = new BotFleet({
      invite: newInvite(relay.url),
      audio: { kind: "tone", frequency: 440 },
      ffmpeg,
      ...(leanReceive ? {} : { join: { leanReceive: false } }),
    });
    const loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();
    try {
      const ramp = { rampPerSecond: DENSITY_RAMP_PER_SECOND, maxLagMs: DENSITY_MAX_LAG_MS, signal: deadline };
      const pubs = await fleet.addMany(publishers, { publish: true, ...ramp });
      const rssBefore = process.memoryUsage().rss;
      const recv = await fleet.addMany(receivers, ramp);
      const ids = pubs.map((p) => p.peerId);
      // Everyone hears both publishers before the window opens (bounded by the deadline).
      while (!deadline.aborted && !recv.every((b) => b.state !== "joined" || ids.every((id) => b.firstAudio.has(id)))) {
        await new Promise((r) => setTimeout(r, 50));
      }
      const bots = new ProcessMeter(process.pid, "bots");
      const relayMeter = new ProcessMeter(relay.pid, "child");
      const cpuBefore = process.cpuUsage();
      const windowStart = performance.now();
      const before = summarizeBots(fleet.snapshots());
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, steadyMs);
        deadline.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
      });
      const m = bots.measure();
      const cpu = process.cpuUsage(cpuBefore);
      const windowS = (performance.now() - windowStart) / 1000;
      const r = relayMeter.measure();
      const snaps = fleet.snapshots();
      const all = summarizeBots(snaps);
      const recvSnaps = snaps.filter((s) => !s.publisher);
      const receiving = recvSnaps.filter((s) => s.state === "joined").length;
      const rssAfter = process.memoryUsage().rss;
      const windowReceived = all.packetsReceived - before.packetsReceived;
      const windowLost = Math.max(0, all.packetsLost - before.packetsLost);
      return {
        type: "bench",
        name: "bots-density",
        receivePath: leanReceive ? "lean" : "werift",
        receivers,
        publishers,
        rampPerSecond: DENSITY_RAMP_PER_SECOND,
        maxLagMs: DENSITY_MAX_LAG_MS,
        receiving,
        steadyS: steadyMs / 1000,
        rssPerBotMb: round((rssAfter - rssBefore) / 1048576 / Math.max(1, receiving), 2),
        cpuPctPerBot: m ? round(m.cpuPct / Math.max(1, receiving), 2) : null,
        processCpuPct: m?.cpuPct ?? null,
        processRssMb: m?.rssMb ?? null,
        relayCpuPct: r?.cpuPct ?? null,
        relayRssMb: r?.rssMb ?? null,
        streams: all.streams,
        packetsInWindow: windowReceived,
        /** This process's CPU time (user + system) over the window per packet received (publishing included). */
        cpuUsPerPacket: round((cpu.user + cpu.system) / Math.max(1, windowReceived), 2),
        /** The same CPU time per receiving bot, as a share of one core. */
        cpuCorePctPerBot: round(((cpu.user + cpu.system) / 1e4 / windowS) / Math.max(1, receiving), 3),
        /** Loss over the steady window only (the joins are over): what receiving costs. */
        windowLossPct: round(windowReceived + windowLost > 0 ? (windowLost / (windowReceived + windowLost)) * 100 : 0, 3),
        /** Loss over the whole run, joins included. */
        lossPct: all.lossPct,
        worstStreamLossPct: all.worstLossPct,
        decryptFailures: all.decryptFailures,
        joinMs: distribution(recvSnaps.flatMap((s) => (s.joinMs !== null ? [s.joinMs] : []))),
        failed: all.failed + all.dropped,
        errors: all.errors.map((e) => ({ code: e.code, count: e.count })),
        /** Longest hold-up of this process's event loop over the whole run, ms. */
        eventLoopMaxMs: Math.round(loopDelay.max / 1e6),
        pass: receiving === receivers && windowLost * 100 < (windowReceived + windowLost) && all.decryptFailures === 0,
      };
    } finally {
      loopDelay.disable();
      await fleet.close();
    }
  });
}

/**
 * Density on werift's receive path, then on the lean one, same run: both rows and their ratio. Each
 * runs in a fresh child process (this file, `density-one`), so neither inherits the other's heap
 * (RSS per bot) or warmed-up code (CPU).
 */
export async function densityByReceivePath(receivers = 40, publishers = 2): Promise<Array<Record<string, unknown>>> {
  const werift = await densityInChild(receivers, publishers, false);
  const lean = await densityInChild(receivers, publishers, true);
  const us = (r: Record<string, unknown>): number => r.cpuUsPerPacket as number;
  return [
    werift,
    lean,
    {
      type: "bench",
      name: "bots-density-receive-path",
      receivers,
      weriftCpuUsPerPacket: us(werift),
      leanCpuUsPerPacket: us(lean),
      cpuRatio: round(us(werift) / Math.max(0.01, us(lean)), 2),
      weriftCpuCorePctPerBot: werift.cpuCorePctPerBot,
      leanCpuCorePctPerBot: lean.cpuCorePctPerBot,
      weriftWindowLossPct: werift.windowLossPct,
      leanWindowLossPct: lean.windowLossPct,
      pass: werift.pass === true && lean.pass === true,
    },
  ];
}

function densityInChild(receivers: number, publishers: number, leanReceive: boolean): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), "density-one", String(receivers), String(publishers), leanReceive ? "lean" : "werift"], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), SCENARIO_LIMIT_MS * 3);
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.on("error", reject);
    child.on("exit", (code) => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(out.trim().split("\n").pop() ?? "") as Record<string, unknown>);
      } catch {
        reject(new Error(`the density child exited with ${code} and no result`));
      }
    });
  });
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

export async function benchBots(): Promise<Array<Record<string, unknown>>> {
  const results: Array<Record<string, unknown>> = [];
  results.push(await benchJoin(2, 8, 1));
  results.push(await benchJoin(20, 1, 2));
  results.push(...(await densityByReceivePath(40, 2)));
  results.push(...(await benchVideoBots()));
  return results;
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) {
  // `density`: only the receive-path comparison of bots-density.
  const mode = process.argv[2];
  const results =
    mode === "density-one"
      ? [await benchDensity(Number(process.argv[3]), Number(process.argv[4]), 8_000, process.argv[5] !== "werift")]
      : mode === "density"
        ? await densityByReceivePath(40, 2)
        : await benchBots();
  for (const r of results) process.stdout.write(`${JSON.stringify(r)}\n`);
}
