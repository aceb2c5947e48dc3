/**
 * `conclave loadtest` end to end over 127.0.0.1: a small run with churn against a relay the CLI
 * starts in a child process, and a run against a relay capped below the requested size.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Relay } from "../../src/index.js";
import type { LoadtestReport } from "../../src/client/loadtest.js";
import { runCli, stopCli, tempDir, type CliRun } from "../helpers/util.js";

const cleanups: (() => Promise<unknown> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** Wait for the CLI to exit, killing it if it overruns `ms`. */
async function finish(run: CliRun, ms: number): Promise<number | null> {
  const timer = setTimeout(() => run.kill("SIGKILL"), ms);
  const { code } = await run.exited;
  clearTimeout(timer);
  return code;
}

function lastReport(run: CliRun): LoadtestReport {
  const last = run.lines.at(-1);
  assert.ok(last, `no JSON lines; stderr: ${run.stderr.slice(-2000)}`);
  assert.equal(last.type, "report", "the last line is the report");
  return last as unknown as LoadtestReport;
}

test("a 6-participant loadtest with one leave and one join passes, and its report makes sense", async () => {
  const dir = tempDir();
  cleanups.push(() => dir.cleanup());
  const file = join(dir.path, "report.json");
  // Churn 0.125/s over an 8 s steady phase: one event, 4 s in (a receiver leaves, a fresh one joins).
  const run = runCli([
    "loadtest", "--participants", "6", "--publishers", "2", "--duration", "8", "--churn", "0.125",
    "--ramp", "5", "--max-join-ms", "5000", "--json", "--report", file,
  ]);
  cleanups.push(() => stopCli(run));
  const code = await finish(run, 40_000);
  const report = lastReport(run);
  assert.equal(code, 0, `exit code; thresholds: ${JSON.stringify(report.thresholds)}; errors: ${JSON.stringify(report.overall.errors)}; stderr: ${run.stderr.slice(-1500)}`);
  assert.equal(report.pass, true);
  const fromFile = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  assert.deepEqual({ ...fromFile, time: (report as unknown as { time: string }).time }, report, "--report writes the same report");
  assert.ok(!run.stdout.includes("#"), "no invite secret on stdout");
  assert.ok(run.lines.every((l) => typeof l.type === "string"), "stdout is only JSON lines");

  const o = report.overall;
  assert.equal(report.rooms.length, 1);
  assert.equal(o.count, 7, "six participants plus the churn newcomer");
  assert.equal(o.joined, 7);
  assert.equal(o.failed + o.dropped, 0);
  assert.deepEqual(o.churn, { leaves: 1, joins: 1 });
  assert.ok(run.lines.some((l) => l.type === "churn" && l.joinedOk === true), "a churn line");
  // Join times: every bot's connect time, and every receiver's time to hear both publishers.
  assert.equal(o.joinMs.count, 7);
  assert.ok(o.joinMs.p50! > 0 && o.joinMs.p95! >= o.joinMs.p50! && o.joinMs.max! >= o.joinMs.p95!);
  assert.ok(o.audioMs.count >= 6, `audio join samples: ${o.audioMs.count}`);
  assert.ok(o.audioMs.p50! > 0 && o.audioMs.p50! >= o.joinMs.p50! * 0.5);
  assert.equal(o.missingAudio, 0);
  // Loopback, two publishers: every participant receives every other publisher, without loss.
  assert.ok(o.streams >= 10, `streams: ${o.streams}`);
  assert.ok(o.packetsReceived > 2000, `packets: ${o.packetsReceived}`);
  assert.equal(o.packetsLost, 0, "no loss on loopback");
  assert.equal(o.lossPct, 0);
  assert.equal(o.decryptFailures, 0);
  assert.ok(o.jitterMs.max! >= 0 && o.jitterMs.max! < 100, `jitter ${o.jitterMs.max} ms`);
  // 32 kbit/s Opus plus SFrame header and tag: tens of kbit/s per stream.
  assert.ok(o.bitrateKbps.p50! > 20 && o.bitrateKbps.p50! < 120, `bitrate ${o.bitrateKbps.p50} kbit/s`);
  // The leave made everyone left draw and hand out a fresh key; the join ratcheted.
  assert.ok(o.rotationMs.leave.count >= 5, `leave rotations: ${o.rotationMs.leave.count}`);
  assert.ok(o.rotationMs.leave.max! >= 0 && o.rotationMs.leave.max! <= 2000);
  assert.ok(o.rotationMs.join.count > 0);
  // The relay ran in a child process and was measured there.
  assert.ok(report.relay, "relay metrics");
  assert.equal(report.relay.where, "child");
  assert.ok(report.relay.cpuSeconds > 0 && report.relay.rssMb > 10);
  assert.ok(report.botsProcess && report.botsProcess.rssMb > 10);
  assert.deepEqual(report.refused, []);
  assert.ok(report.thresholds.every((t) => t.ok));
});

test("a relay capped below the requested size fails the loadtest with exit 8 and names the refused joins", async () => {
  const relay = new Relay({ host: "127.0.0.1", port: 0, limits: { maxParticipants: 3 } });
  const url = await relay.start();
  cleanups.push(() => relay.close());
  const run = runCli(["loadtest", "--server", url, "--participants", "6", "--publishers", "1", "--duration", "1", "--ramp", "20", "--json"]);
  cleanups.push(() => stopCli(run));
  const code = await finish(run, 30_000);
  const report = lastReport(run);
  assert.equal(code, 8, `exit code 8 (thresholds); stderr: ${run.stderr.slice(-1500)}`);
  assert.equal(report.pass, false);
  assert.equal(report.overall.joined, 3);
  assert.equal(report.refused.length, 3);
  for (const r of report.refused) {
    assert.equal(r.code, "overloaded");
    assert.match(r.bot, /^bot-\d+$/);
    assert.equal(r.room, 1);
  }
  assert.deepEqual(report.overall.errors, [{ code: "overloaded", count: 3, bots: report.refused.map((r) => r.bot) }]);
  const failed = report.thresholds.find((t) => t.name === "failed-joins")!;
  assert.deepEqual([failed.ok, failed.value], [false, 3]);
  assert.equal(report.relay, null, "a remote relay is not measured");
  assert.equal(run.lines.filter((l) => l.type === "join-failed").length, 3, "each refusal is reported as it happens");
});

test("loadtest --video: publishers send video from one shared encoder; every receiver sees it, and the report counts frames", async () => {
  const run = runCli([
    "loadtest", "--participants", "3", "--publishers", "1", "--duration", "3", "--ramp", "10",
    "--video", "testsrc", "--video-size", "320x240", "--fps", "15", "--json", "--relay-in-process",
  ]);
  cleanups.push(() => stopCli(run));
  const code = await finish(run, 40_000);
  const report = lastReport(run);
  assert.equal(code, 0, `exit code; thresholds: ${JSON.stringify(report.thresholds)}; errors: ${JSON.stringify(report.overall.errors)}; stderr: ${run.stderr.slice(-1500)}`);
  assert.equal(report.config.video, true);
  const v = report.overall.video;
  assert.equal(v.publishers, 1);
  assert.equal(v.streams, 2, "both receivers get the publisher's video");
  assert.equal(v.missingVideo, 0);
  // 3 s steady at 15 fps, plus the ramp: dozens of frames per receiver, starting from a key frame.
  assert.ok(v.frames >= 2 * 30, `frames: ${v.frames}`);
  assert.ok(v.keyframes >= 2, `key frames: ${v.keyframes}`);
  assert.deepEqual(v.resolutions, ["320x240"]);
  assert.ok(v.fps.p50! > 10 && v.fps.p50! < 20, `fps ${v.fps.p50}`);
  assert.ok(v.videoMs.count === 2 && v.videoMs.max! > 0);
  assert.equal(report.overall.decryptFailures, 0);
  const missing = report.thresholds.find((t) => t.name === "missing-video");
  assert.deepEqual([missing?.ok, missing?.value], [true, 0]);
  // Audio goes on beside it.
  assert.equal(report.overall.missingAudio, 0);
  assert.equal(report.overall.lossPct, 0);
});

test("loadtest --video without publishers is a usage error (exit 2), before any relay starts", async () => {
  const run = runCli(["loadtest", "--participants", "2", "--publishers", "0", "--video", "testsrc", "--json"]);
  cleanups.push(() => stopCli(run));
  const code = await finish(run, 15_000);
  assert.equal(code, 2, `stderr: ${run.stderr}`);
  assert.match(run.stderr, /--video needs publishers/);
  assert.equal(run.stderr.trim().split("\n").length, 1, "one clear line");
});
