/**
 * Load tests: R rooms of N bots each (P of them publishing one shared encoder's audio), joined at a
 * given rate, held for a duration with optional churn (a receiving bot leaves and a fresh one
 * joins), then a report per room and overall with pass/fail thresholds.
 *
 * Timeline of a run:
 *
 *   | publishers join | receivers join (ramp) | steady: `durationS`, churn events | sample, leave |
 *
 * Publishers join first, so every receiver's join time can be measured the way a person meets it:
 * from Participant.join() to the first decrypted frame of every publisher already in the room.
 *
 * Relay cost: when the relay runs in a child process (startRelayProcess), its CPU time and RSS are
 * read from /proc/<pid>/stat and /proc/<pid>/status at the start and the end of the run; when it
 * runs in this process the figures are this process's, shared with the bots, and say so.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { BotFleet, delay, distribution, summarizeBots, type BotSnapshot, type BotsSummary, type Distribution } from "./bots.js";
import { newInvite, normaliseServer } from "./room.js";
import { AudioSource, VideoSource, type AudioSourceSpec, type VideoSourceOptions, type VideoSourceSpec } from "../media/index.js";
import { ConclaveError, ConnectionError, ExitCode, UsageError } from "../errors.js";
import { nullLogger, type Logger } from "../log.js";

// ---- options, progress, report -------------------------------------------------------------------

export interface LoadtestThresholds {
  /** Largest acceptable packet loss over all streams, percent (default 1). */
  maxLossPct?: number;
  /** Largest acceptable p95 join time to first decrypted audio, ms (no limit by default). */
  maxJoinMs?: number;
}

export interface LoadtestOptions {
  /** Base URL of the relay (http://HOST:PORT). */
  server: string;
  /** How to measure the relay's CPU and memory: a child process's pid, or this very process. */
  relay?: { pid: number } | { inProcess: true };
  rooms?: number;
  /** Participants per room (default 2). */
  participants?: number;
  /** Publishing participants per room (default min(2, participants)). */
  publishers?: number;
  /** Steady phase after everyone joined, seconds (default 10). */
  durationS?: number;
  /** Joins started per second, across all rooms (default 10). */
  rampPerSecond?: number;
  /** Churn events (one receiving bot leaves, a fresh one joins) per second in each room (default 0). */
  churnPerSecond?: number;
  /** What publishers send (default tone:440); one encoder for the whole run. */
  audio?: AudioSourceSpec;
  /**
   * Video publishers send besides their audio (`loadtest --video`): one shared encoder for the
   * whole run. Receivers count, verify and decrypt every frame without decoding it; the report adds
   * video figures and the `missing-video` threshold.
   */
  video?: VideoSourceSpec;
  /** Size, frame rate, bitrate and codec of that encoder. */
  videoSettings?: Omit<VideoSourceOptions, "ffmpeg" | "logger">;
  ffmpeg?: string;
  /** Decode received audio (by default bots decrypt but do not decode). */
  decode?: boolean;
  thresholds?: LoadtestThresholds;
  joinTimeoutMs?: number;
  logger?: Logger;
  /** Called about once a second while the test runs. */
  onProgress?: (progress: LoadtestProgress) => void;
  progressIntervalMs?: number;
  /** Notable moments as they happen (refused joins, churn), for JSON lines. */
  onEvent?: (event: LoadtestEvent) => void;
  /** Abort: stop joining, end the steady phase now, report what was measured (the run fails). */
  signal?: AbortSignal;
}

export type LoadtestPhase = "publishers" | "ramp" | "steady" | "closing";

export interface LoadtestProgress {
  phase: LoadtestPhase;
  elapsedS: number;
  /** Seconds left in the steady phase (null before it starts). */
  remainingS: number | null;
  joined: number;
  target: number;
  failed: number;
  lossPct: number;
  decryptFailures: number;
}

export type LoadtestEvent =
  | { type: "join-failed"; room: number; bot: string; code: string; message: string }
  | { type: "bot-dropped"; room: number; bot: string }
  | { type: "churn"; room: number; left: string; joined: string; joinedOk: boolean }
  | { type: "phase"; phase: LoadtestPhase };

export interface ProcessMetrics {
  /** "child": the relay's own process; "in-process": shared with the bots; "bots": this process. */
  where: "child" | "in-process" | "bots";
  pid: number;
  /** CPU time over the run as a share of one core, percent. */
  cpuPct: number;
  cpuSeconds: number;
  rssMb: number;
  /** Largest RSS the process reached (Linux VmHWM), MB; null when unknown. */
  peakRssMb: number | null;
}

export interface SectionReport extends BotsSummary {
  /** Key-rotation time reported by members (`key-rotated` tookMs): on joins and on leaves. */
  rotationMs: { join: Distribution; leave: Distribution };
  churn: { leaves: number; joins: number };
}

export interface RoomReport extends SectionReport {
  room: number;
  /** First characters of the room id (the relay sees the room id; the secret is never reported). */
  roomId: string;
}

export interface ThresholdResult {
  name: string;
  limit: number;
  value: number | null;
  ok: boolean;
}

export interface LoadtestReport {
  type: "report";
  server: string;
  config: {
    rooms: number;
    participants: number;
    publishers: number;
    durationS: number;
    rampPerSecond: number;
    churnPerSecond: number;
    /** Publishers also send video (`--video`). */
    video?: boolean;
  };
  elapsedS: number;
  interrupted: boolean;
  overall: SectionReport;
  rooms: RoomReport[];
  relay: ProcessMetrics | null;
  botsProcess: ProcessMetrics | null;
  /** Every join the relay refused or that failed, by name, with its code. */
  refused: { room: number; bot: string; code: string }[];
  thresholds: ThresholdResult[];
  pass: boolean;
}

export interface ReportInput {
  server: string;
  config: LoadtestReport["config"];
  rooms: { roomId: string; bots: BotSnapshot[]; churn: { leaves: number; joins: number } }[];
  elapsedS: number;
  interrupted: boolean;
  relay: ProcessMetrics | null;
  botsProcess: ProcessMetrics | null;
  thresholds?: LoadtestThresholds;
}

const DEFAULT_MAX_LOSS_PCT = 1;

function section(bots: BotSnapshot[], churn: { leaves: number; joins: number }): SectionReport {
  const rotations = bots.flatMap((b) => b.rotations);
  return {
    ...summarizeBots(bots),
    rotationMs: {
      join: distribution(rotations.filter((r) => r.reason === "join").map((r) => r.tookMs)),
      leave: distribution(rotations.filter((r) => r.reason === "leave").map((r) => r.tookMs)),
    },
    churn,
  };
}

/** The report, from plain per-bot data (pure: unit-tested without a network). */
export function buildReport(input: ReportInput): LoadtestReport {
  const rooms: RoomReport[] = input.rooms.map((r, i) => ({ room: i + 1, roomId: r.roomId.slice(0, 6), ...section(r.bots, r.churn) }));
  const all = input.rooms.flatMap((r) => r.bots);
  const overall = section(all, {
    leaves: input.rooms.reduce((n, r) => n + r.churn.leaves, 0),
    joins: input.rooms.reduce((n, r) => n + r.churn.joins, 0),
  });
  const refused = input.rooms.flatMap((r, i) =>
    r.bots.filter((b) => b.state === "failed" && b.failure).map((b) => ({ room: i + 1, bot: b.name, code: b.failure!.code })),
  );
  const maxLoss = input.thresholds?.maxLossPct ?? DEFAULT_MAX_LOSS_PCT;
  const thresholds: ThresholdResult[] = [
    { name: "completed", limit: 0, value: input.interrupted ? 1 : 0, ok: !input.interrupted },
    { name: "failed-joins", limit: 0, value: overall.failed + overall.dropped, ok: overall.failed + overall.dropped === 0 },
    { name: "missing-audio", limit: 0, value: overall.missingAudio, ok: overall.missingAudio === 0 },
    { name: "decrypt-failures", limit: 0, value: overall.decryptFailures, ok: overall.decryptFailures === 0 },
    { name: "max-loss", limit: maxLoss, value: overall.lossPct, ok: overall.lossPct <= maxLoss },
  ];
  if (input.config.video) {
    // Every receiver must see every video publisher (`video.missingVideo`), as it must hear every audio one.
    thresholds.push({ name: "missing-video", limit: 0, value: overall.video.missingVideo, ok: overall.video.missingVideo === 0 });
  }
  if (input.thresholds?.maxJoinMs !== undefined) {
    // Join time as a person meets it (to first decrypted audio) where there is audio to wait for.
    const value = overall.audioMs.p95 ?? overall.joinMs.p95;
    thresholds.push({ name: "max-join-ms", limit: input.thresholds.maxJoinMs, value, ok: value !== null && value <= input.thresholds.maxJoinMs });
  }
  return {
    type: "report",
    server: input.server,
    config: input.config,
    elapsedS: round(input.elapsedS, 1),
    interrupted: input.interrupted,
    overall,
    rooms,
    relay: input.relay,
    botsProcess: input.botsProcess,
    refused,
    thresholds,
    pass: thresholds.every((t) => t.ok),
  };
}

// ---- human-readable output -------------------------------------------------------------------------

const dash = "-";

function ms(d: Distribution): string {
  if (d.count === 0) return dash;
  return `${fmt(d.p50)}/${fmt(d.p95)}/${fmt(d.max)}`;
}

function fmt(v: number | null, digits = 0): string {
  return v === null ? dash : v.toFixed(digits);
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  ")).join("\n");
}

/** The report as a table for people (the JSON line carries the same figures). */
export function formatReport(report: LoadtestReport): string {
  const c = report.config;
  const lines: string[] = [];
  lines.push(
    `loadtest ${report.server}: ${c.rooms} room(s) × ${c.participants} participants (${c.publishers} publishing), ` +
      `${c.durationS} s steady, ramp ${c.rampPerSecond}/s, churn ${c.churnPerSecond}/s per room; ran ${report.elapsedS} s` +
      (report.interrupted ? " (interrupted)" : ""),
  );
  const header = ["room", "joined", "join ms p50/p95/max", "audio ms p50/p95/max", "loss %", "jitter p95 ms", "kbps/stream", "decrypt fail", "rotate leave ms p95"];
  const row = (label: string, s: SectionReport): string[] => [
    label,
    `${s.joined}/${s.count}`,
    ms(s.joinMs),
    ms(s.audioMs),
    s.lossPct.toFixed(2),
    fmt(s.jitterMs.p95, 1),
    fmt(s.bitrateKbps.p50, 1),
    String(s.decryptFailures),
    fmt(s.rotationMs.leave.p95),
  ];
  const rows = [header, ...report.rooms.map((r) => row(`${r.room} (${r.roomId})`, r))];
  if (report.rooms.length > 1) rows.push(row("all", report.overall));
  lines.push(table(rows));
  const proc = (label: string, m: ProcessMetrics | null): string | undefined =>
    m
      ? `${label} (pid ${m.pid}${m.where === "in-process" ? ", shared with the bots" : ""}): cpu ${m.cpuPct.toFixed(1)} % of a core, rss ${m.rssMb.toFixed(0)} MB` +
        (m.peakRssMb !== null ? ` (peak ${m.peakRssMb.toFixed(0)} MB)` : "")
      : undefined;
  if (c.video) {
    const v = report.overall.video;
    lines.push(
      `video: ${v.publishers} publisher(s), ${v.streams} received stream(s), ${v.frames} frames (${v.keyframes} key, ${v.framesDropped} dropped), ` +
        `fps p50 ${fmt(v.fps.p50, 1)}, first frame ms p50/p95/max ${ms(v.videoMs)}, sizes ${v.resolutions.join(" ") || dash}`,
    );
  }
  const relayLine = proc("relay", report.relay) ?? "relay: remote, not measured";
  lines.push(relayLine);
  const botsLine = proc("bots", report.botsProcess);
  if (botsLine) lines.push(botsLine);
  if (report.overall.churn.leaves + report.overall.churn.joins > 0) {
    lines.push(`churn: ${report.overall.churn.leaves} left, ${report.overall.churn.joins} joined; key rotation on leave p50/p95/max ${ms(report.overall.rotationMs.leave)} ms, on join ${ms(report.overall.rotationMs.join)} ms`);
  }
  for (const e of report.overall.errors) lines.push(`error ${e.code} ×${e.count}: ${e.bots.join(", ")}`);
  for (const t of report.thresholds) lines.push(`${t.ok ? "ok  " : "FAIL"} ${describeThreshold(t)}`);
  lines.push(report.pass ? "PASS" : "FAIL");
  return lines.join("\n");
}

function describeThreshold(t: ThresholdResult): string {
  const v = t.value === null ? dash : String(t.value);
  switch (t.name) {
    case "completed":
      return t.ok ? "ran to the end" : "interrupted";
    case "max-loss":
      return `loss ${v} % (max ${t.limit} %)`;
    case "max-join-ms":
      return `join to first audio p95 ${v} ms (max ${t.limit} ms)`;
    case "missing-video":
      return `video publishers a receiver never saw: ${v} (max ${t.limit})`;
    default:
      return `${t.name.replace(/-/g, " ")}: ${v} (max ${t.limit})`;
  }
}

export function formatProgress(p: LoadtestProgress): string {
  const left = p.remainingS !== null ? `, ${Math.ceil(p.remainingS)} s left` : "";
  return `loadtest ${p.phase} ${p.elapsedS.toFixed(0)} s: ${p.joined}/${p.target} joined, ${p.failed} failed, loss ${p.lossPct.toFixed(2)} %, decrypt failures ${p.decryptFailures}${left}`;
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

// ---- process metrics ------------------------------------------------------------------------------

/** Linux USER_HZ: /proc reports CPU time in these ticks (100 on every mainstream architecture). */
const CLOCK_TICKS_PER_SECOND = 100;

export interface ProcSample {
  at: number;
  cpuSeconds: number;
  rssBytes: number;
  peakRssBytes: number | null;
}

/** CPU time and memory of a process from /proc (Linux); null when it cannot be read. */
export function readProcSample(pid: number): ProcSample | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name, which is in parentheses and may contain spaces (proc(5)):
    // state(3) ppid(4) … utime(14) stime(15).
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]);
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (key: string): number | null => {
      const m = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status);
      return m ? Number(m[1]) * 1024 : null;
    };
    const rss = kb("VmRSS");
    if (!Number.isFinite(ticks) || rss === null) return null;
    return { at: Date.now(), cpuSeconds: ticks / CLOCK_TICKS_PER_SECOND, rssBytes: rss, peakRssBytes: kb("VmHWM") };
  } catch {
    return null;
  }
}

function selfSample(): ProcSample {
  const cpu = process.cpuUsage();
  const peak = readProcSample(process.pid)?.peakRssBytes ?? null;
  return { at: Date.now(), cpuSeconds: (cpu.user + cpu.system) / 1e6, rssBytes: process.memoryUsage().rss, peakRssBytes: peak };
}

/** Something whose CPU and memory can be sampled at the start and end of a measurement. */
export class ProcessMeter {
  private start: ProcSample | null;
  constructor(
    readonly pid: number,
    readonly where: ProcessMetrics["where"],
  ) {
    this.start = this.read();
  }

  private read(): ProcSample | null {
    return this.pid === process.pid ? selfSample() : readProcSample(this.pid);
  }

  /** Restart the measurement window now. */
  reset(): void {
    this.start = this.read();
  }

  /** Figures since construction (or the last reset); null when the process cannot be read. */
  measure(): ProcessMetrics | null {
    const end = this.read();
    if (!this.start || !end) return null;
    const wall = Math.max(1, end.at - this.start.at) / 1000;
    const cpu = Math.max(0, end.cpuSeconds - this.start.cpuSeconds);
    return {
      where: this.where,
      pid: this.pid,
      cpuPct: round((cpu / wall) * 100, 1),
      cpuSeconds: round(cpu, 2),
      rssMb: round(end.rssBytes / 1048576, 1),
      peakRssMb: end.peakRssBytes === null ? null : round(end.peakRssBytes / 1048576, 1),
    };
  }
}

// ---- a relay in a child process ---------------------------------------------------------------------

export interface RelayProcessOptions {
  maxParticipants?: number;
  maxRooms?: number;
  maxRoomSize?: number;
  logger?: Logger;
  /** Time the relay has to print its `listening` line (default 10 s). */
  timeoutMs?: number;
}

export interface RelayProcess {
  url: string;
  pid: number;
  /** SIGTERM, then SIGKILL after 5 s; resolves once it exited. Idempotent. */
  close(): Promise<void>;
}

/** The `conclave` launcher of this installation (dist/src/client → bin/conclave). */
export function conclaveBin(): string {
  const bin = fileURLToPath(new URL("../../../bin/conclave", import.meta.url));
  if (!existsSync(bin)) throw new ConclaveError("bin-missing", `cannot find the conclave launcher at ${bin}`);
  return bin;
}

/**
 * The node flags bin/conclave starts with (what follows `node` on its `#!/usr/bin/env -S node …`
 * line), for a child started as `node bin/conclave …`, where the line itself is not read.
 */
export function conclaveNodeFlags(bin = conclaveBin()): string[] {
  const first = readFileSync(bin, "utf8").split("\n", 1)[0]!.trim().split(/\s+/);
  const at = first.indexOf("node");
  return first[0]!.startsWith("#!") && at >= 0 ? first.slice(at + 1) : [];
}

/**
 * Start `conclave serve --host 127.0.0.1 --port 0 --json` as a child process and wait for its
 * `listening` line, so the relay's CPU and memory can be measured apart from the bots'.
 *
 * Child stdio: stdin ignored; stdout (fd 1) is the relay's JSON lines (read for `listening`, then
 * drained); stderr (fd 2) is its log, forwarded line by line to the logger at debug level.
 */
export async function startRelayProcess(opts: RelayProcessOptions = {}): Promise<RelayProcess> {
  const log = opts.logger ?? nullLogger;
  const args = [conclaveBin(), "serve", "--host", "127.0.0.1", "--port", "0", "--json"];
  if (opts.maxParticipants) args.push("--max-participants", String(opts.maxParticipants));
  if (opts.maxRooms) args.push("--max-rooms", String(opts.maxRooms));
  if (opts.maxRoomSize) args.push("--max-room-size", String(opts.maxRoomSize));
  // With bin/conclave's node flags, so the relay runs as `conclave serve` does.
  const child: ChildProcess = spawn(process.execPath, [...conclaveNodeFlags(args[0]), ...args], { stdio: ["ignore", "pipe", "pipe"] });
  const killOnExit = (): void => void child.kill("SIGKILL");
  process.on("exit", killOnExit);
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once("exit", (code, signal) => {
      exited = true;
      process.off("exit", killOnExit);
      log.debug("relay process exited", { code, signal });
      resolve();
    });
  });
  let stderrTail = "";
  lines(child.stderr!, (line) => {
    stderrTail = line;
    log.debug(line);
  });
  let stopped: () => void = () => {};
  const stoppedLine = new Promise<void>((resolve) => (stopped = resolve));
  const close = async (): Promise<void> => {
    if (!exited) child.kill("SIGTERM");
    // `serve` prints `stopped` once the relay has closed; a process still alive after that holds
    // only leftover handles, so it gets a short grace before SIGKILL. 5 s bounds the whole wait.
    const hard = setTimeout(() => child.kill("SIGKILL"), 5000);
    let grace: NodeJS.Timeout | undefined;
    void stoppedLine.then(() => (grace = setTimeout(() => child.kill("SIGKILL"), 300)));
    await exit;
    clearTimeout(hard);
    clearTimeout(grace);
  };
  const timeoutMs = opts.timeoutMs ?? 10_000;
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new ConnectionError(`the relay process did not start within ${timeoutMs} ms`, "relay-start-failed")), timeoutMs);
      child.once("error", (err) => {
        clearTimeout(timer);
        reject(new ConnectionError(`cannot start the relay process: ${err.message}`, "relay-start-failed"));
      });
      void exit.then(() => {
        clearTimeout(timer);
        reject(new ConnectionError(`the relay process exited before listening${stderrTail ? `: ${stderrTail}` : ""}`, "relay-start-failed"));
      });
      lines(child.stdout!, (line) => {
        if (!line.startsWith("{")) return;
        try {
          const msg = JSON.parse(line) as { type?: string; url?: string };
          if (msg.type === "listening" && typeof msg.url === "string") {
            clearTimeout(timer);
            resolve(msg.url);
          }
          if (msg.type === "stopped") stopped();
        } catch {
          // not JSON: ignore
        }
      });
    });
    return { url, pid: child.pid!, close };
  } catch (err) {
    await close();
    throw err;
  }
}

function lines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let buffer = "";
  stream.on("data", (chunk: Buffer) => {
    buffer += chunk.toString();
    let nl: number;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      onLine(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
    }
    if (buffer.length > 65536) buffer = "";
  });
}

// ---- the run ----------------------------------------------------------------------------------------

/** Check the options and fill in defaults; throws UsageError (done by runLoadtest too). */
export function loadtestConfig(o: LoadtestOptions): LoadtestReport["config"] {
  const rooms = o.rooms ?? 1;
  const participants = o.participants ?? 2;
  const publishers = o.publishers ?? Math.min(2, participants);
  const durationS = o.durationS ?? 10;
  const rampPerSecond = o.rampPerSecond ?? 10;
  const churnPerSecond = o.churnPerSecond ?? 0;
  const whole = (v: number, min: number, what: string): void => {
    if (!Number.isInteger(v) || v < min) throw new UsageError(`${what} must be a whole number of at least ${min}`);
  };
  whole(rooms, 1, "--rooms");
  whole(participants, 1, "--participants");
  whole(publishers, 0, "--publishers");
  if (publishers > participants) throw new UsageError("--publishers cannot exceed --participants");
  if (!(durationS > 0)) throw new UsageError("--duration must be above 0 seconds");
  if (!(rampPerSecond > 0)) throw new UsageError("--ramp must be above 0 joins per second");
  if (!(churnPerSecond >= 0)) throw new UsageError("--churn must be 0 or more events per second");
  if (churnPerSecond > 0 && publishers === participants) throw new UsageError("--churn needs receiving participants (fewer --publishers than --participants)");
  if (publishers > 0 && !o.ffmpeg) throw new ConclaveError("ffmpeg-missing", "publishing participants need ffmpeg", ExitCode.media);
  const video = o.video !== undefined && o.video.kind !== "none";
  if (video && publishers === 0) throw new UsageError("--video needs publishers (--publishers of at least 1)");
  return { rooms, participants, publishers, durationS, rampPerSecond, churnPerSecond, ...(video ? { video } : {}) };
}


/** Run a load test against `options.server` and return its report (it never throws for a failed join). */
export async function runLoadtest(options: LoadtestOptions): Promise<LoadtestReport> {
  const cfg = loadtestConfig(options);
  const server = normaliseServer(options.server);
  const log = options.logger ?? nullLogger;
  const signal = options.signal;
  const t0 = Date.now();
  const relayMeter =
    options.relay === undefined ? undefined : "pid" in options.relay ? new ProcessMeter(options.relay.pid, "child") : new ProcessMeter(process.pid, "in-process");
  const botsMeter = new ProcessMeter(process.pid, "bots");
  const source = cfg.publishers > 0 ? await AudioSource.open(options.audio ?? { kind: "tone", frequency: 440 }, { ffmpeg: options.ffmpeg!, logger: log.child("source") }) : undefined;
  let videoSource: VideoSource | undefined;
  if (cfg.publishers > 0 && cfg.video) {
    try {
      videoSource = await VideoSource.open(options.video!, { ...options.videoSettings, ffmpeg: options.ffmpeg!, logger: log.child("video-source") });
    } catch (err) {
      await source?.close();
      throw err;
    }
    videoSource.on("error", (err) => log.warn("the shared video source failed", { code: err.code, error: err.message }));
  }
  const makeRooms = (): { fleet: BotFleet; churn: { leaves: number; joins: number } }[] =>
    Array.from({ length: cfg.rooms }, (_, i) => {
      const fleet = new BotFleet({
        invite: newInvite(server),
        namePrefix: cfg.rooms > 1 ? `r${i + 1}-bot` : "bot",
        ...(source ? { audio: source } : {}),
        ...(videoSource ? { video: videoSource } : {}),
        ...(options.ffmpeg ? { ffmpeg: options.ffmpeg } : {}),
        decode: options.decode ?? false,
        timeoutMs: options.joinTimeoutMs ?? 10_000,
        logger: log.child(`room${i + 1}`),
      });
      fleet.on("bot-failed", (bot) =>
        options.onEvent?.({ type: "join-failed", room: i + 1, bot: bot.name, code: bot.failure?.code ?? "unknown", message: bot.failure?.message ?? "" }),
      );
      fleet.on("bot-dropped", (bot) => options.onEvent?.({ type: "bot-dropped", room: i + 1, bot: bot.name }));
      return { fleet, churn: { leaves: 0, joins: 0 } };
    });
  let rooms: ReturnType<typeof makeRooms>;
  try {
    rooms = makeRooms();
  } catch (err) {
    await source?.close();
    await videoSource?.close();
    throw err;
  }
  const target = cfg.rooms * cfg.participants;
  let phase: LoadtestPhase = "publishers";
  let steadyEndsAt: number | null = null;
  const setPhase = (p: LoadtestPhase): void => {
    phase = p;
    options.onEvent?.({ type: "phase", phase: p });
  };
  const progress = (): LoadtestProgress => {
    const bots = rooms.flatMap((r) => r.fleet.snapshots());
    const s = summarizeBots(bots);
    return {
      phase,
      elapsedS: (Date.now() - t0) / 1000,
      remainingS: steadyEndsAt === null ? null : Math.max(0, (steadyEndsAt - Date.now()) / 1000),
      joined: rooms.reduce((n, r) => n + r.fleet.joined.length, 0),
      target,
      failed: s.failed + s.dropped,
      lossPct: s.lossPct,
      decryptFailures: s.decryptFailures,
    };
  };
  const ticker = options.onProgress
    ? setInterval(() => {
        try {
          options.onProgress!(progress());
        } catch (err) {
          log.warn("progress listener threw", { error: (err as Error).message });
        }
      }, options.progressIntervalMs ?? 1000)
    : undefined;
  ticker?.unref();

  /** Join `perRoom` bots in every room, interleaved across rooms, at the ramp rate overall. */
  const rampUp = async (perRoom: number, publish: boolean): Promise<void> => {
    const interval = 1000 / cfg.rampPerSecond;
    const joins: Promise<unknown>[] = [];
    const start = Date.now();
    let n = 0;
    for (let k = 0; k < perRoom; k++) {
      for (const room of rooms) {
        if (signal?.aborted) break;
        await delay(start + n * interval - Date.now(), signal);
        if (signal?.aborted) break;
        n++;
        joins.push(room.fleet.add({ publish }));
      }
    }
    await Promise.all(joins);
  };

  const churnLoop = async (room: (typeof rooms)[number], index: number, steadyStart: number, durationMs: number): Promise<void> => {
    if (cfg.churnPerSecond <= 0) return;
    const interval = 1000 / cfg.churnPerSecond;
    // Leave the newcomer time to hear everyone before the end.
    const lastStart = steadyStart + durationMs - Math.min(2000, durationMs / 4);
    for (let at = steadyStart + interval / 2; at <= lastStart; at += interval) {
      await delay(at - Date.now(), signal);
      if (signal?.aborted) return;
      const victim = room.fleet.joined.find((b) => !b.publisher);
      if (!victim) continue;
      await room.fleet.remove(victim, "churn");
      room.churn.leaves++;
      const newcomer = await room.fleet.add({ publish: false });
      room.churn.joins++;
      options.onEvent?.({ type: "churn", room: index + 1, left: victim.name, joined: newcomer.name, joinedOk: newcomer.state === "joined" });
    }
  };

  let relay: ProcessMetrics | null = null;
  let botsProcess: ProcessMetrics | null = null;
  let snapshots: BotSnapshot[][] = [];
  try {
    setPhase("publishers");
    await rampUp(cfg.publishers, true);
    setPhase("ramp");
    await rampUp(cfg.participants - cfg.publishers, false);
    setPhase("steady");
    const steadyStart = Date.now();
    const durationMs = cfg.durationS * 1000;
    steadyEndsAt = steadyStart + durationMs;
    const churn = rooms.map((r, i) => churnLoop(r, i, steadyStart, durationMs));
    await delay(durationMs, signal);
    await Promise.all(churn);
    setPhase("closing");
  } finally {
    clearInterval(ticker);
    for (const r of rooms) r.fleet.sample();
    relay = relayMeter?.measure() ?? null;
    botsProcess = botsMeter.measure();
    snapshots = rooms.map((r) => r.fleet.snapshots());
    await Promise.all(rooms.map((r) => r.fleet.close("loadtest-finished")));
    await source?.close();
    await videoSource?.close();
  }
  return buildReport({
    server,
    config: cfg,
    rooms: rooms.map((r, i) => ({ roomId: r.fleet.invite.room, bots: snapshots[i]!, churn: r.churn })),
    elapsedS: (Date.now() - t0) / 1000,
    interrupted: signal?.aborted ?? false,
    relay,
    botsProcess,
    ...(options.thresholds ? { thresholds: options.thresholds } : {}),
  });
}
