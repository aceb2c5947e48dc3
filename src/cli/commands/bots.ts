/**
 * `conclave bots <invite> --count N`: N headless participants in this process (BotFleet), or
 * spread over K worker processes (`--workers K`) that run this same command with a share of the
 * bots and report back as JSON lines. Publishing bots share one encoder per process; receiving bots
 * authenticate and decrypt everything in-process and decode only with `--decode`.
 *
 * Worker processes get the invite (and a join token) on stdin, never on their command line, so no
 * secret shows in the process list.
 */
import { spawn } from "node:child_process";
import { InvalidArgumentError, Option, type Command } from "commander";
import { BotFleet, summarizeBots, type Bot, type BotSnapshot, type BotsSummary } from "../../client/bots.js";
import { conclaveBin, ProcessMeter, type ProcessMetrics } from "../../client/loadtest.js";
import { parseAudioSource, type AudioSourceSpec } from "../../media/index.js";
import { createOutput, type Output } from "../output.js";
import { ffmpegPath, makeLogger, parsePositiveInt, parseSeconds, parseSuite, readCa } from "../common.js";
import type { CliContext } from "../commands.js";
import { ConclaveError, ExitCode, UsageError } from "../../errors.js";
import type { Logger } from "../../log.js";

export interface BotsCliOptions {
  count: number;
  publishers?: number;
  audio?: string;
  loop?: boolean;
  video?: string;
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
    .option("--publishers <n>", "how many bots publish --audio (default: all of them when --audio is given)", parseWholeNumber("--publishers"))
    .option("--loop", "repeat a file source")
    .option("--video <source>", "what publishing bots send as video (not available yet)")
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
  publishers: number;
  ffmpeg: string | undefined;
}

async function plan(inviteArg: string, opts: BotsCliOptions): Promise<Plan> {
  if (opts.video !== undefined) throw new UsageError("video bots are not available yet; use --audio");
  let invite = inviteArg;
  let token = opts.token;
  if (inviteArg === "-" || token === "-") {
    const lines = await stdinLines();
    if (inviteArg === "-") invite = lines.shift() ?? "";
    if (token === "-") token = lines.shift() || undefined;
    if (!invite) throw new UsageError("expected the invite on stdin");
  }
  const audio = opts.audio !== undefined ? parseAudioSource(opts.audio, { loop: Boolean(opts.loop) }) : undefined;
  const sends = audio !== undefined && audio.kind !== "none";
  if (opts.publishers !== undefined && opts.publishers > 0 && !sends) throw new UsageError("--publishers needs --audio (what should they send?)");
  const publishers = sends ? (opts.publishers ?? opts.count) : 0;
  if (publishers > opts.count) throw new UsageError("--publishers cannot exceed --count");
  if (audio?.kind === "device" && opts.workers !== undefined && opts.workers > 1) {
    throw new UsageError("a capture device cannot be shared by several worker processes; use one process or a file/tone source");
  }
  return { invite, token, audio: sends ? audio : undefined, publishers, ffmpeg: publishers > 0 ? ffmpegPath(opts.ffmpeg) : undefined };
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

function describeSummary(s: BotsSummary, proc: ProcessMetrics | null): string[] {
  const d = (x: { p50: number | null; p95: number | null; max: number | null }): string => `${x.p50 ?? "-"}/${x.p95 ?? "-"}/${x.max ?? "-"}`;
  const lines = [
    `bots: ${s.joined}/${s.count} joined (${s.publishers} publishing), ${s.failed} failed, ${s.dropped} dropped`,
    `join ms p50/p95/max ${d(s.joinMs)}; first audio ms ${d(s.audioMs)}${s.missingAudio ? `; ${s.missingAudio} publisher(s) never heard` : ""}`,
    `received ${s.streams} streams, ${s.packetsReceived} packets, loss ${s.lossPct.toFixed(2)} % (worst stream ${s.worstLossPct.toFixed(2)} %), jitter p95 ${s.jitterMs.p95 ?? "-"} ms, ${s.bitrateKbps.p50 ?? "-"} kbit/s per stream, ${s.decryptFailures} decrypt failures`,
  ];
  if (proc) lines.push(`process: cpu ${proc.cpuPct.toFixed(1)} % of a core, rss ${proc.rssMb.toFixed(0)} MB`);
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
    line(bot, "bot-joined", { peerId: bot.peerId, joinMs: bot.joinMs, publisher: bot.publisher });
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
  try {
    await fleet.addMany(p.publishers, { publish: true, rampPerSecond: opts.ramp, signal: stop.signal });
    await fleet.addMany(opts.count - p.publishers, { publish: false, rampPerSecond: opts.ramp, signal: stop.signal });
    out.line(`${fleet.joined.length}/${opts.count} bots in the room${opts.duration !== undefined ? ` for ${opts.duration} s` : "; Ctrl-C to stop"}`);
    await waitAborted(stop.signal, opts.duration !== undefined ? opts.duration * 1000 : undefined);
  } finally {
    clearInterval(ticker);
    progress.done();
    stop.dispose();
    snapshots = fleet.snapshots();
    proc = meter.measure();
    await fleet.close(opts.duration !== undefined ? "duration" : "left");
  }
  if (out.json) for (const s of snapshots) out.event({ type: "bot-report", ...s });
  const summary = summarizeBots(snapshots);
  out.event({ type: "summary", ...summary, process: proc });
  for (const l of describeSummary(summary, proc)) out.line(l);
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
    if (p.audio && publishers > 0) args.push("--audio", opts.audio!, "--publishers", String(publishers));
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
  out.event({ type: "summary", ...summary, process: proc, workers: workerInfo });
  for (const l of describeSummary(summary, null)) out.line(l);
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
