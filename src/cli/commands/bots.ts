/**
 * `conclave bots <invite> --count N`: N headless participants in this process (BotFleet), or
 * spread over K worker processes (`--workers K`) that run this same command with a share of the
 * bots and report back as JSON lines. Publishing bots share one encoder per medium per process
 * (one ffmpeg for --audio, one for --video); receiving bots authenticate and decrypt everything
 * in-process, decode audio only with `--decode`, and never decode video (they count frames, key
 * frames and read the picture size from the VP8 header).
 *
 * Worker processes get the invite (and a join token) on stdin, never on their command line, so no
 * secret shows in the process list.
 */
import { spawn } from "node:child_process";
import { InvalidArgumentError, Option, type Command } from "commander";
import { BotFleet, summarizeBots, type Bot, type BotSnapshot, type BotsSummary } from "../../client/bots.js";
import { conclaveBin, ProcessMeter, type ProcessMetrics } from "../../client/loadtest.js";
import { parseAudioSource, parseVideoSource, videoEncodeSettings, type AudioSourceSpec, type VideoSourceSpec } from "../../media/index.js";
import { createOutput, type Output } from "../output.js";
import { ffmpegPath, makeLogger, parsePositiveInt, parseSeconds, parseSuite, parseVideoSize, readCa } from "../common.js";
import type { CliContext } from "../commands.js";
import { ConclaveError, ExitCode, UsageError } from "../../errors.js";
import type { Logger } from "../../log.js";

export interface BotsCliOptions {
  count: number;
  publishers?: number;
  audio?: string;
  loop?: boolean;
  video?: string;
  videoSize?: [number, number];
  fps?: number;
  videoBitrate?: number;
  duration?: number;
  ramp: number;
  workers?: number;
  decode?: boolean;
  name: string;
  json?: boolean;
  ffmpeg?: string;
  suite?: 4 | 5;
  token?: string;
  ca?: string;
  reconnect?: boolean;
  /** Hidden: number of the first bot (set by the parent for its workers). */
  firstIndex?: number;
  /** Hidden: this process is a worker (no progress line). */
  worker?: boolean;
}

export function parsePositiveNumber(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a number above 0`);
    return n;
  };
}

export function registerBots(program: Command, ctx: CliContext): void {
  program
    .command("bots")
    .description("run N headless bot participants in one room (load generation, soak tests)")
    .argument("<invite>", "the invite link, or - to read it from stdin (keeps it out of the process list)")
    .requiredOption("--count <n>", "number of bots", parsePositiveInt("--count", 10_000))
    .option("--audio <source>", "what publishing bots send: tone:FREQ | file:PATH | silence (one shared encoder)")
    .option("--publishers <n>", "how many bots publish --audio and --video (default: all of them when either is given)", parseWholeNumber("--publishers"))
    .option("--loop", "repeat a file source")
    .option("--video <source>", "what publishing bots send as video: testsrc | file:PATH | device:/dev/videoN | screen (one shared encoder)")
    .option("--video-size <WxH>", "video size", parseVideoSize, [640, 360] as [number, number])
    .option("--fps <n>", "video frames per second", parsePositiveInt("--fps", 60), 15)
    .option("--video-bitrate <kbps>", "video bitrate in kbit/s", parsePositiveInt("--video-bitrate", 20000), 500)
    .option("--duration <seconds>", "leave this many seconds after every bot joined", parseSeconds)
    .option("--ramp <per-second>", "joins started per second", parsePositiveNumber("--ramp"), 5)
    .option("--workers <k>", "spread the bots over K worker processes", parsePositiveInt("--workers", 64))
    .option("--decode", "decode received audio too (bots always decrypt and verify it)")
    .option("--name <prefix>", "bot names are PREFIX-1, PREFIX-2, …", "bot")
    .option("--ffmpeg <path>", "ffmpeg binary to use")
    .option("--suite <suite>", "SFrame cipher suite: 4 (AES-128-GCM, default) or 5 (AES-256-GCM)", parseSuite)
    .option("--token <token>", "join token, when the relay requires one (- reads it from stdin after the invite)")
    .option("--ca <file>", "trust this CA certificate (PEM) for a relay with a private certificate")
    .option("--no-reconnect", "let a bot go when it loses the relay instead of rejoining")
    .addOption(new Option("--first-index <n>").argParser(parsePositiveInt("--first-index")).hideHelp())
    .addOption(new Option("--worker").hideHelp())
    .addOption(new Option("--json", "write JSON lines"))
    .action(async (invite: string, opts: BotsCliOptions) => {
      const out = createOutput(Boolean(opts.json));
      ctx.setOutput(out);
      process.exitCode = await runBots(invite, opts, out, ctx.debug);
    });
}

function parseWholeNumber(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a whole number`);
    return n;
  };
}

/** Read stdin to its end (bounded), as lines. */
async function stdinLines(): Promise<string[]> {
  let text = "";
  for await (const chunk of process.stdin) {
    text += (chunk as Buffer).toString();
    if (text.length > 16384) throw new UsageError("stdin is too long for an invite");
  }
  return text.split(/\r?\n/).map((l) => l.trim());
}

interface Plan {
  invite: string;
  token: string | undefined;
  audio: AudioSourceSpec | undefined;
  video: VideoSourceSpec | undefined;
  videoSettings: { width: number; height: number; fps: number; bitrateKbps: number };
  publishers: number;
  ffmpeg: string | undefined;
}

async function plan(inviteArg: string, opts: BotsCliOptions): Promise<Plan> {
  let invite = inviteArg;
  let token = opts.token;
  if (inviteArg === "-" || token === "-") {
    const lines = await stdinLines();
    if (inviteArg === "-") invite = lines.shift() ?? "";
    if (token === "-") token = lines.shift() || undefined;
    if (!invite) throw new UsageError("expected the invite on stdin");
  }
  const audio = opts.audio !== undefined ? parseAudioSource(opts.audio, { loop: Boolean(opts.loop) }) : undefined;
  const video = opts.video !== undefined ? parseVideoSource(opts.video, { loop: Boolean(opts.loop) }) : undefined;
  const sendsAudio = audio !== undefined && audio.kind !== "none";
  const sendsVideo = video !== undefined && video.kind !== "none";
  const sends = sendsAudio || sendsVideo;
  if (opts.publishers !== undefined && opts.publishers > 0 && !sends) throw new UsageError("--publishers needs --audio or --video (what should they send?)");
  const publishers = sends ? (opts.publishers ?? opts.count) : 0;
  if (publishers > opts.count) throw new UsageError("--publishers cannot exceed --count");
  const workers = opts.workers !== undefined && opts.workers > 1;
  if (workers && (audio?.kind === "device" || video?.kind === "device")) {
    throw new UsageError("a capture device cannot be shared by several worker processes; use one process or a file/tone/testsrc source");
  }
  const [width, height] = opts.videoSize ?? [640, 360];
  const videoSettings = { width, height, fps: opts.fps ?? 15, bitrateKbps: opts.videoBitrate ?? 500 };
  try {
    videoEncodeSettings(videoSettings);
  } catch (err) {
    if (err instanceof RangeError) throw new UsageError(err.message);
    throw err;
  }
  return {
    invite,
    token,
    audio: sendsAudio ? audio : undefined,
    video: sendsVideo ? video : undefined,
    videoSettings,
    publishers,
    ffmpeg: publishers > 0 ? ffmpegPath(opts.ffmpeg) : undefined,
  };
}

export async function runBots(inviteArg: string, opts: BotsCliOptions, out: Output, debug: boolean): Promise<number> {
  const log = makeLogger(debug);
  const p = await plan(inviteArg, opts);
  const workers = Math.min(opts.workers ?? 1, opts.count);
  if (workers > 1) return runWorkers(p, opts, workers, out, log);
  return runFleet(p, opts, out, log);
}

/** A progress line on stderr: redrawn in place on a terminal, one line per update otherwise. */
export function progressWriter(enabled: boolean): { update(text: string): void; done(): void } {
  const tty = process.stderr.isTTY === true;
  let last = 0;
  let shown = false;
  return {
    update(text) {
      if (!enabled) return;
      if (tty) {
        process.stderr.write(`\r\x1b[2K${text}`);
        shown = true;
      } else if (Date.now() - last >= 2000) {
        last = Date.now();
        process.stderr.write(text + "\n");
      }
    },
    done() {
      if (shown) process.stderr.write("\r\x1b[2K");
      shown = false;
    },
  };
}

function stopSignal(): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController();
  const onSignal = (): void => ac.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  return {
    signal: ac.signal,
    dispose: () => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
  };
}

function waitAborted(signal: AbortSignal, ms: number | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = ms !== undefined ? setTimeout(done, ms) : undefined;
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

function exitCodeFor(bots: readonly BotSnapshot[]): number {
  const failed = bots.find((b) => b.failure !== null);
  return failed ? (failed.failure!.exitCode as number) || ExitCode.connection : ExitCode.ok;
}

/** One shared encoder (an ffmpeg child) and what it cost; in a worker's summary and the parent's. */
export interface EncoderReport {
  kind: "audio" | "video";
  pid: number | null;
  /** Frames it produced (each sent once per publishing bot). */
  frames: number;
  /** Its CPU from its first publishing bot on (Linux /proc), null when it cannot be read. */
  cpuPct: number | null;
  cpuSeconds: number | null;
  /** Set in the parent of --workers: which worker ran it. */
  worker?: number;
}

function describeSummary(s: BotsSummary, proc: ProcessMetrics | null, encoders: readonly EncoderReport[]): string[] {
  const d = (x: { p50: number | null; p95: number | null; max: number | null }): string => `${x.p50 ?? "-"}/${x.p95 ?? "-"}/${x.max ?? "-"}`;
  const v = s.video;
  // A video-only run has no audio to describe.
  const audio = s.streams > 0 || s.missingAudio > 0 || (v.publishers === 0 && v.streams === 0);
  const lines = [
    `bots: ${s.joined}/${s.count} joined (${s.publishers} publishing), ${s.failed} failed, ${s.dropped} dropped`,
    `join ms p50/p95/max ${d(s.joinMs)}` + (audio ? `; first audio ms ${d(s.audioMs)}${s.missingAudio ? `; ${s.missingAudio} publisher(s) never heard` : ""}` : ""),
    audio
      ? `received ${s.streams} streams, ${s.packetsReceived} packets, loss ${s.lossPct.toFixed(2)} % (worst stream ${s.worstLossPct.toFixed(2)} %), jitter p95 ${s.jitterMs.p95 ?? "-"} ms, ${s.bitrateKbps.p50 ?? "-"} kbit/s per stream, ${s.decryptFailures} decrypt failures`
      : `${s.decryptFailures} decrypt failures`,
  ];
  if (v.publishers > 0 || v.streams > 0) {
    lines.push(
      `video: ${v.publishers} publishing, received ${v.streams} streams, ${v.frames} frames (${v.keyframes} key), fps p50 ${v.fps.p50 ?? "-"}, ` +
        `size ${v.resolutions.join(", ") || "-"}, first frame ms ${d(v.videoMs)}, ${v.framesDropped} incomplete, ${v.packetsLost} packets lost` +
        `${v.missingVideo ? `; ${v.missingVideo} video publisher(s) never seen` : ""}`,
    );
  }
  if (proc) lines.push(`process: cpu ${proc.cpuPct.toFixed(1)} % of a core, rss ${proc.rssMb.toFixed(0)} MB`);
  for (const e of encoders) {
    lines.push(`${e.kind} encoder${e.worker ? ` of worker ${e.worker}` : ""} (ffmpeg pid ${e.pid ?? "-"}): ${e.frames} frames, cpu ${e.cpuPct === null ? "-" : `${e.cpuPct.toFixed(1)} %`} of a core`);
  }
  for (const e of s.errors) lines.push(`error ${e.code} ×${e.count}: ${e.bots.join(", ")}`);
  return lines;
}

async function runFleet(p: Plan, opts: BotsCliOptions, out: Output, log: Logger): Promise<number> {
  const meter = new ProcessMeter(process.pid, "bots");
  const fleet = new BotFleet({
    invite: p.invite,
    namePrefix: opts.name,
    firstIndex: opts.firstIndex ?? 1,
    ...(p.audio ? { audio: p.audio } : {}),
    ...(p.video ? { video: p.video, videoSettings: p.videoSettings } : {}),
    ...(p.ffmpeg ? { ffmpeg: p.ffmpeg } : {}),
    decode: Boolean(opts.decode),
    suite: opts.suite ?? 4,
    logger: log.child("bots"),
    join: {
      reconnect: opts.reconnect !== false,
      ...(p.token ? { token: p.token } : {}),
      ...(opts.ca ? { ca: readCa(opts.ca) } : {}),
    },
  });
  const stop = stopSignal();
  const progress = progressWriter(!opts.worker && (Boolean(opts.json) || process.stdout.isTTY === true));
  const line = (bot: Bot, type: string, extra: Record<string, unknown> = {}): void => {
    out.event({ type, bot: bot.name, index: bot.index, ...extra });
  };
  fleet.on("bot-joined", (bot) => {
    line(bot, "bot-joined", { peerId: bot.peerId, joinMs: bot.joinMs, publisher: bot.publisher, publishesAudio: bot.publishesAudio, publishesVideo: bot.publishesVideo });
  });
  fleet.on("bot-failed", (bot) => {
    line(bot, "bot-failed", { code: bot.failure?.code, message: bot.failure?.message });
    out.line(`${bot.name} could not join: ${bot.failure?.message ?? "unknown"}`);
  });
  fleet.on("bot-dropped", (bot) => {
    line(bot, "bot-dropped", {});
    out.line(`${bot.name} lost the relay`);
  });
  const ticker = setInterval(() => {
    const joined = fleet.joined.length;
    const failed = fleet.bots.filter((b) => b.state === "failed" || b.state === "dropped").length;
    progress.update(`bots: ${joined}/${opts.count} in the room, ${failed} failed`);
  }, 500);
  ticker.unref();
  let snapshots: BotSnapshot[] = [];
  let proc: ProcessMetrics | null = null;
  let encoders: EncoderReport[] = [];
  // The encoders start with the first publishing bot: their CPU is measured from then on.
  let encoderMeters: { kind: "audio" | "video"; meter: ProcessMeter | null }[] = [];
  try {
    await fleet.addMany(p.publishers, { publish: true, rampPerSecond: opts.ramp, signal: stop.signal });
    const opened = fleet.encoders();
    encoderMeters = (["audio", "video"] as const).flatMap((kind) => {
      const e = opened[kind];
      return e ? [{ kind, meter: e.pid !== null ? new ProcessMeter(e.pid, "child") : null }] : [];
    });
    await fleet.addMany(opts.count - p.publishers, { publish: false, rampPerSecond: opts.ramp, signal: stop.signal });
    out.line(`${fleet.joined.length}/${opts.count} bots in the room${opts.duration !== undefined ? ` for ${opts.duration} s` : "; Ctrl-C to stop"}`);
    await waitAborted(stop.signal, opts.duration !== undefined ? opts.duration * 1000 : undefined);
  } finally {
    clearInterval(ticker);
    progress.done();
    stop.dispose();
    snapshots = fleet.snapshots();
    proc = meter.measure();
    const now = fleet.encoders();
    encoders = encoderMeters.map(({ kind, meter: m }) => {
      const e = now[kind]!;
      const cost = m?.measure() ?? null;
      return { kind, pid: e.pid, frames: e.frames, cpuPct: cost?.cpuPct ?? null, cpuSeconds: cost?.cpuSeconds ?? null };
    });
    await fleet.close(opts.duration !== undefined ? "duration" : "left");
  }
  if (out.json) for (const s of snapshots) out.event({ type: "bot-report", ...s });
  const summary = summarizeBots(snapshots);
  out.event({ type: "summary", ...summary, process: proc, encoders });
  for (const l of describeSummary(summary, proc, encoders)) out.line(l);
  return exitCodeFor(snapshots);
}

/**
 * The parent of `--workers K`: start K copies of this command with a share of the bots each (and
 * of the publishers and the join rate), pass their per-bot lines through, and summarise them all.
 *
 * Worker stdio: stdin (fd 0) carries the invite and the token, then closes; stdout (fd 1) is the
 * worker's JSON lines; stderr (fd 2) its log, passed through prefixed with the worker number.
 */
async function runWorkers(p: Plan, opts: BotsCliOptions, k: number, out: Output, log: Logger): Promise<number> {
  const meter = new ProcessMeter(process.pid, "bots");
  const bin = conclaveBin();
  const stop = stopSignal();
  const progress = progressWriter(Boolean(opts.json) || process.stdout.isTTY === true);
  const reports: BotSnapshot[] = [];
  const workerInfo: { worker: number; pid: number; exitCode: number | null; process: ProcessMetrics | null }[] = [];
  const encoders: EncoderReport[] = [];
  let joined = 0;
  let failed = 0;
  const share = (total: number, i: number): number => Math.floor(total / k) + (i < total % k ? 1 : 0);
  let firstIndex = opts.firstIndex ?? 1;
  const children = Array.from({ length: k }, (_, i) => {
    const count = share(opts.count, i);
    const args = [bin, "bots", "-", "--worker", "--json", "--count", String(count), "--first-index", String(firstIndex)];
    firstIndex += count;
    args.push("--ramp", String(opts.ramp / k), "--name", opts.name);
    const publishers = share(p.publishers, i);
    if (p.audio && publishers > 0) args.push("--audio", opts.audio!);
    if (p.video && publishers > 0) {
      const v = p.videoSettings;
      args.push("--video", opts.video!, "--video-size", `${v.width}x${v.height}`, "--fps", String(v.fps), "--video-bitrate", String(v.bitrateKbps));
    }
    if ((p.audio || p.video) && publishers > 0) args.push("--publishers", String(publishers));
    if (opts.loop) args.push("--loop");
    if (opts.duration !== undefined) args.push("--duration", String(opts.duration));
    if (opts.decode) args.push("--decode");
    if (p.ffmpeg) args.push("--ffmpeg", p.ffmpeg);
    if (opts.suite) args.push("--suite", String(opts.suite));
    if (opts.ca) args.push("--ca", opts.ca);
    if (opts.reconnect === false) args.push("--no-reconnect");
    if (p.token) args.push("--token", "-");
    const child = spawn(process.execPath, args, { stdio: ["pipe", "pipe", "pipe"] });
    child.stdin!.end(`${p.invite}\n${p.token ?? ""}\n`);
    const info = { worker: i + 1, pid: child.pid ?? 0, exitCode: null as number | null, process: null as ProcessMetrics | null };
    workerInfo.push(info);
    readLines(child.stdout!, (text) => {
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(text) as Record<string, unknown>;
      } catch {
        return;
      }
      switch (msg.type) {
        case "summary":
          info.process = (msg.process as ProcessMetrics | null) ?? null;
          for (const e of (msg.encoders as EncoderReport[] | undefined) ?? []) encoders.push({ ...e, worker: i + 1 });
          return;
        case "bot-report":
          reports.push(msg as unknown as BotSnapshot);
          break;
        case "bot-joined":
          joined++;
          break;
        case "bot-failed":
          failed++;
          out.line(`${String(msg.bot)} could not join: ${String(msg.message ?? msg.code)}`);
          break;
        default:
          break;
      }
      if (out.json) out.event({ ...(msg as { type: string }), worker: i + 1 });
    });
    readLines(child.stderr!, (text) => process.stderr.write(`[worker ${i + 1}] ${text}\n`));
    const exited = new Promise<void>((resolve) => {
      child.once("exit", (code, signal) => {
        info.exitCode = code ?? (signal ? ExitCode.internal : null);
        resolve();
      });
      child.once("error", (err) => {
        log.error("cannot start a worker", { error: err.message });
        info.exitCode = ExitCode.internal;
        resolve();
      });
    });
    return { child, exited };
  });
  const ticker = setInterval(() => progress.update(`bots: ${joined}/${opts.count} joined over ${k} workers, ${failed} failed`), 500);
  ticker.unref();
  const onStop = (): void => {
    for (const c of children) if (c.child.exitCode === null) c.child.kill("SIGTERM");
    // Workers leave and report within a few seconds; after 15 s they are killed.
    setTimeout(() => children.forEach((c) => c.child.exitCode === null && c.child.kill("SIGKILL")), 15_000).unref();
  };
  stop.signal.addEventListener("abort", onStop, { once: true });
  try {
    await Promise.all(children.map((c) => c.exited));
  } finally {
    clearInterval(ticker);
    progress.done();
    stop.dispose();
  }
  reports.sort((a, b) => a.index - b.index);
  const summary = summarizeBots(reports);
  const proc = meter.measure();
  encoders.sort((a, b) => (a.worker ?? 0) - (b.worker ?? 0));
  out.event({ type: "summary", ...summary, process: proc, workers: workerInfo, encoders });
  for (const l of describeSummary(summary, null, encoders)) out.line(l);
  for (const w of workerInfo) {
    if (w.process) out.line(`worker ${w.worker} (pid ${w.pid}): cpu ${w.process.cpuPct.toFixed(1)} % of a core, rss ${w.process.rssMb.toFixed(0)} MB`);
  }
  const code = exitCodeFor(reports);
  if (code !== ExitCode.ok) return code;
  const broken = workerInfo.find((w) => w.exitCode !== 0);
  if (broken) {
    if (reports.length < opts.count) throw new ConclaveError("worker-failed", `worker ${broken.worker} exited with code ${broken.exitCode} before reporting all its bots`);
    return broken.exitCode ?? ExitCode.internal;
  }
  return ExitCode.ok;
}

function readLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let buffer = "";
  stream.on("data", (chunk: Buffer) => {
    buffer += chunk.toString();
    let nl: number;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const text = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (text.length > 0) onLine(text);
    }
  });
  stream.on("end", () => {
    if (buffer.length > 0) onLine(buffer);
    buffer = "";
  });
}
