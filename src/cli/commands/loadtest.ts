/**
 * `conclave loadtest`: rooms of bots against a relay (by default one started here, in a child
 * process so its CPU and memory can be told apart from the bots'), then a report per room and
 * overall. Exit code 0 when every threshold holds, 8 (ExitCode.thresholds) otherwise.
 *
 * Output: with --json, JSON lines on stdout whose last line is `{"type":"report",...,"pass":…}`;
 * progress goes to stderr. Without --json, a progress line while it runs and a table at the end.
 */
import { writeFile } from "node:fs/promises";
import { InvalidArgumentError, Option, type Command } from "commander";
import { Relay } from "../../server/index.js";
import { formatProgress, formatReport, loadtestConfig, runLoadtest, startRelayProcess, type LoadtestOptions, type LoadtestReport, type RelayProcess } from "../../client/loadtest.js";
import { parseAudioSource, parseVideoSource } from "../../media/index.js";
import { checkRelay } from "../../client/room.js";
import { createOutput, type Output } from "../output.js";
import { ffmpegPath, makeLogger, parsePositiveInt, parseSeconds, parseVideoSize } from "../common.js";
import type { CliContext } from "../commands.js";
import { ExitCode } from "../../errors.js";
import { parsePositiveNumber, progressWriter } from "./bots.js";

export interface LoadtestCliOptions {
  server?: string;
  rooms: number;
  participants: number;
  publishers?: number;
  duration: number;
  ramp: number;
  churn: number;
  audio: string;
  video?: string;
  videoSize?: [number, number];
  fps?: number;
  videoBitrate?: number;
  json?: boolean;
  report?: string;
  maxLoss: number;
  maxJoinMs?: number;
  ffmpeg?: string;
  decode?: boolean;
  relayInProcess?: boolean;
}

function parsePercent(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 100) throw new InvalidArgumentError("must be a percentage from 0 to 100");
  return n;
}

function parseRate(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError("must be a number of events per second, 0 or more");
  return n;
}

export function registerLoadtest(program: Command, ctx: CliContext): void {
  program
    .command("loadtest")
    .description("measure a relay: rooms of bots, join times, loss, jitter, key rotation, relay CPU and memory")
    .option("--server <url>", "relay to test (default: start one on 127.0.0.1 in a child process)")
    .option("--rooms <n>", "rooms", parsePositiveInt("--rooms", 1000), 1)
    .option("--participants <n>", "participants per room", parsePositiveInt("--participants", 1000), 6)
    .option("--publishers <n>", "publishing participants per room (default: min(2, participants))", parseWholeNumber)
    .option("--duration <seconds>", "steady phase once everyone joined", parseSeconds, 10)
    .option("--ramp <per-second>", "joins started per second, across all rooms", parsePositiveNumber("--ramp"), 5)
    .option("--churn <per-second>", "per room: a receiving participant leaves and a fresh one joins, this often", parseRate, 0)
    .option("--audio <source>", "what publishers send (one shared encoder)", "tone:440")
    .option("--video <source>", "publishers also send video: testsrc | file:PATH | device:/dev/videoN | screen (one shared encoder)")
    .option("--video-size <WxH>", "video size", parseVideoSize, [640, 360] as [number, number])
    .option("--fps <n>", "video frames per second", parsePositiveInt("--fps", 60), 15)
    .option("--video-bitrate <kbps>", "video bitrate in kbit/s", parsePositiveInt("--video-bitrate", 20000), 500)
    .option("--max-loss <pct>", "fail above this packet loss, percent", parsePercent, 1)
    .option("--max-join-ms <ms>", "fail when p95 join time to first decrypted audio exceeds this", parsePositiveNumber("--max-join-ms"))
    .option("--report <file>", "also write the report as JSON to FILE")
    .option("--decode", "decode received audio too (bots always decrypt and verify it)")
    .option("--ffmpeg <path>", "ffmpeg binary to use")
    .option("--relay-in-process", "run the embedded relay in this process (its CPU and memory are then shared with the bots)")
    .addOption(new Option("--json", "write JSON lines; the last one is the report"))
    .action(async (opts: LoadtestCliOptions) => {
      const out = createOutput(Boolean(opts.json));
      ctx.setOutput(out);
      process.exitCode = await runLoadtestCli(opts, out, ctx.debug);
    });
}

function parseWholeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError("must be a whole number");
  return n;
}

export async function runLoadtestCli(opts: LoadtestCliOptions, out: Output, debug: boolean): Promise<number> {
  const log = makeLogger(debug);
  const audio = parseAudioSource(opts.audio, { loop: true });
  const video = opts.video !== undefined ? parseVideoSource(opts.video, { loop: true }) : undefined;
  const [width, height] = opts.videoSize ?? [640, 360];
  const publishers = opts.publishers ?? Math.min(2, opts.participants);
  const ffmpeg = publishers > 0 ? ffmpegPath(opts.ffmpeg) : undefined;
  const settings = {
    rooms: opts.rooms,
    participants: opts.participants,
    publishers,
    durationS: opts.duration,
    rampPerSecond: opts.ramp,
    churnPerSecond: opts.churn,
    audio,
    ...(video ? { video, videoSettings: { width, height, fps: opts.fps ?? 15, bitrateKbps: opts.videoBitrate ?? 500 } } : {}),
    ...(ffmpeg ? { ffmpeg } : {}),
  };
  // Bad combinations fail before a relay is started.
  loadtestConfig({ server: opts.server ?? "http://127.0.0.1", ...settings });
  let relayProcess: RelayProcess | undefined;
  let relay: Relay | undefined;
  let server = opts.server;
  let measure: LoadtestOptions["relay"];
  // A relay that is not there is a connection error (exit 4), not a failed load test.
  if (server) await checkRelay(server);
  if (!server) {
    if (opts.relayInProcess) {
      relay = new Relay({ host: "127.0.0.1", port: 0, logger: log.child("relay") });
      server = await relay.start();
      measure = { inProcess: true };
    } else {
      relayProcess = await startRelayProcess({ logger: log.child("relay") });
      server = relayProcess.url;
      measure = { pid: relayProcess.pid };
    }
  }
  const ac = new AbortController();
  const onSignal = (): void => ac.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const progress = progressWriter(Boolean(opts.json) || process.stdout.isTTY === true);
  let report: LoadtestReport;
  try {
    out.event({
      type: "loadtest-started",
      server,
      relay: relayProcess ? "child" : relay ? "in-process" : "remote",
      rooms: opts.rooms,
      participants: opts.participants,
      publishers,
      durationS: opts.duration,
      video: video !== undefined && video.kind !== "none",
    });
    report = await runLoadtest({
      server,
      ...(measure ? { relay: measure } : {}),
      ...settings,
      decode: Boolean(opts.decode),
      thresholds: { maxLossPct: opts.maxLoss, ...(opts.maxJoinMs !== undefined ? { maxJoinMs: opts.maxJoinMs } : {}) },
      logger: log.child("loadtest"),
      signal: ac.signal,
      onProgress: (p) => progress.update(formatProgress(p)),
      onEvent: (e) => {
        if (e.type === "phase") return;
        out.event(e);
        if (e.type === "join-failed") out.line(`room ${e.room}: ${e.bot} could not join (${e.code})`);
      },
    });
  } finally {
    progress.done();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await relayProcess?.close();
    await relay?.close();
  }
  if (opts.report) await writeFile(opts.report, JSON.stringify(report, null, 2) + "\n");
  if (opts.json) {
    if (process.stderr.isTTY) process.stderr.write(formatReport(report) + "\n");
    out.event(report as unknown as { type: string });
  } else {
    process.stdout.write(formatReport(report) + "\n");
  }
  return report.pass ? ExitCode.ok : ExitCode.thresholds;
}
