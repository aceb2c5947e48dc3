/**
 * The load-test report's arithmetic, without a network: percentiles, loss, per-bot join timing,
 * grouping of refused joins, thresholds and the table.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Bot, distribution, lossPercent, percentile, summarizeBots, type BotSnapshot } from "../../src/client/bots.js";
import { buildReport, formatProgress, formatReport, ProcessMeter, readProcSample, type ReportInput } from "../../src/client/loadtest.js";

function bot(over: Partial<BotSnapshot> & { index: number }): BotSnapshot {
  return {
    name: `bot-${over.index}`,
    publisher: false,
    publishesAudio: false,
    publishesVideo: false,
    state: "joined",
    peerId: `peer${over.index}`,
    joinMs: 100,
    audioMs: 150,
    missingAudio: [],
    videoMs: null,
    missingVideo: [],
    video: [],
    failure: null,
    rotations: [],
    streams: [{ peerId: "pub", packetsReceived: 500, packetsLost: 0, jitterMs: 2, bitrateKbps: 40 }],
    decryptFailures: 0,
    undecryptable: 0,
    reconnects: 0,
    ...over,
  };
}

function input(rooms: BotSnapshot[][], over: Partial<ReportInput> = {}): ReportInput {
  return {
    server: "http://127.0.0.1:9999",
    config: { rooms: rooms.length, participants: rooms[0]!.length, publishers: 1, durationS: 10, rampPerSecond: 5, churnPerSecond: 0 },
    rooms: rooms.map((bots, i) => ({ roomId: `ROOMID${i}xxxxxxxxxxxxxxx`, bots, churn: { leaves: 0, joins: 0 } })),
    elapsedS: 12.34,
    interrupted: false,
    relay: null,
    botsProcess: null,
    ...over,
  };
}

test("nearest-rank percentiles pick observed values", () => {
  const values = Array.from({ length: 20 }, (_, i) => 20 - i); // 20..1, unsorted on purpose
  assert.equal(percentile(values, 50), 10);
  assert.equal(percentile(values, 95), 19);
  assert.equal(percentile(values, 100), 20);
  assert.equal(percentile(values, 0), 1);
  assert.equal(percentile([7], 95), 7);
  assert.equal(percentile([], 50), null);
  assert.equal(percentile([1, NaN, 3], 100), 3, "non-finite values are ignored");
  assert.equal(percentile([10, 20, 30, 40], 50), 20, "p50 of an even count is the lower middle value");
  assert.throws(() => percentile([1], 101), RangeError);
});

test("distribution summarises count, p50, p95, max and mean", () => {
  assert.deepEqual(distribution([100, 300, 200, 400]), { count: 4, p50: 200, p95: 400, max: 400, mean: 250 });
  assert.deepEqual(distribution([]), { count: 0, p50: null, p95: null, max: null, mean: null });
  assert.deepEqual(distribution([1.234, 1.244], 2), { count: 2, p50: 1.23, p95: 1.24, max: 1.24, mean: 1.24 });
});

test("loss is lost over expected across all streams, not a mean of per-stream rates", () => {
  assert.equal(lossPercent([]), 0);
  assert.equal(lossPercent([{ packetsReceived: 0, packetsLost: 0 }]), 0);
  // 1 lost of 100 expected, and 0 of 900: 0.1 % overall (a mean of rates would say 0.5 %).
  assert.equal(lossPercent([{ packetsReceived: 99, packetsLost: 1 }, { packetsReceived: 900, packetsLost: 0 }]), 0.1);
});

test("a bot's join time is the slowest of the publishers it expected; missing ones are named", () => {
  const pubA = new Bot(1, "a", true, []);
  const pubB = new Bot(2, "b", true, []);
  pubA.peerId = "A";
  pubB.peerId = "B";
  pubA.state = pubB.state = "joined";
  const listener = new Bot(3, "c", false, [pubA, pubB]);
  listener.peerId = "C";
  listener.onEvent({ type: "first-audio", peerId: "A", name: "a", afterJoinMs: 120 });
  assert.deepEqual(listener.audioTiming(), { audioMs: null, missingAudio: ["B"] });
  listener.onEvent({ type: "first-audio", peerId: "B", name: "b", afterJoinMs: 340 });
  listener.onEvent({ type: "first-audio", peerId: "B", name: "b", afterJoinMs: 999 }); // only the first counts
  assert.deepEqual(listener.audioTiming(), { audioMs: 340, missingAudio: [] });
  // A publisher that left on its own before being heard is not expected any more.
  const late = new Bot(4, "d", false, [pubA, pubB]);
  late.onEvent({ type: "first-audio", peerId: "A", name: "a", afterJoinMs: 200 });
  pubB.departed = true;
  assert.deepEqual(late.audioTiming(), { audioMs: 200, missingAudio: [] });
  // Nobody expected (the first publisher, or an outside speaker): first audio from anyone.
  const alone = new Bot(5, "e", false, []);
  assert.deepEqual(alone.audioTiming(), { audioMs: null, missingAudio: [] });
  alone.onEvent({ type: "first-audio", peerId: "X", name: null, afterJoinMs: 80 });
  alone.onEvent({ type: "first-audio", peerId: "Y", name: null, afterJoinMs: 60 });
  assert.equal(alone.audioTiming().audioMs, 60);
  // Rotation times are kept per reason; the session start is not a rotation.
  alone.onEvent({ type: "key-rotated", reason: "start", generation: 0, tookMs: 0, at: "" });
  alone.onEvent({ type: "key-rotated", reason: "leave", generation: 1, tookMs: 42, at: "" });
  assert.deepEqual(alone.rotations, [{ reason: "leave", tookMs: 42 }]);
});

test("summarizeBots groups failures by code and names the bots", () => {
  const denied = { code: "overloaded", message: "the relay is at capacity", exitCode: 6 };
  const s = summarizeBots([
    bot({ index: 1, publisher: true, audioMs: null, streams: [] }),
    bot({ index: 2, audioMs: 200, streams: [{ peerId: "p", packetsReceived: 98, packetsLost: 2, jitterMs: 3, bitrateKbps: 41 }] }),
    bot({ index: 3, state: "failed", joinMs: null, audioMs: null, streams: [], failure: denied }),
    bot({ index: 4, state: "failed", joinMs: null, audioMs: null, streams: [], failure: denied }),
    bot({ index: 5, state: "dropped", failure: { code: "dropped", message: "x", exitCode: 4 }, decryptFailures: 3 }),
    bot({ index: 6, audioMs: null, missingAudio: ["peer1"], streams: [] }),
  ]);
  assert.equal(s.count, 6);
  assert.equal(s.joined, 4);
  assert.equal(s.missingAudio, 1);
  assert.equal(s.failed, 2);
  assert.equal(s.dropped, 1);
  assert.equal(s.publishers, 1);
  assert.equal(s.streams, 2);
  assert.equal(s.packetsLost, 2);
  assert.equal(s.lossPct, 0.333);
  assert.equal(s.worstLossPct, 2);
  assert.equal(s.decryptFailures, 3);
  assert.deepEqual(s.audioMs, { count: 2, p50: 150, p95: 200, max: 200, mean: 175 });
  assert.deepEqual(s.errors, [
    { code: "overloaded", count: 2, bots: ["bot-3", "bot-4"] },
    { code: "dropped", count: 1, bots: ["bot-5"] },
    { code: "missing-audio", count: 1, bots: ["bot-6"] },
  ]);
});

test("a clean run passes; every threshold is listed", () => {
  const report = buildReport(input([[bot({ index: 1, publisher: true, audioMs: null }), bot({ index: 2 }), bot({ index: 3, audioMs: 300 })]], { thresholds: { maxJoinMs: 400 } }));
  assert.equal(report.type, "report");
  assert.equal(report.pass, true);
  assert.deepEqual(report.thresholds.map((t) => t.name), ["completed", "failed-joins", "missing-audio", "decrypt-failures", "max-loss", "max-join-ms"]);
  const join = report.thresholds.find((t) => t.name === "max-join-ms")!;
  assert.equal(join.value, 300, "the join threshold applies to p95 time to first decrypted audio");
  assert.equal(report.rooms[0]!.roomId, "ROOMID", "only the start of the room id is reported");
  assert.equal(report.elapsedS, 12.3);
  assert.deepEqual(report.refused, []);
});

test("refused joins fail the run and are named with their room and code", () => {
  const denied = { code: "room-full", message: "the room is full", exitCode: 6 };
  const report = buildReport(
    input([
      [bot({ index: 1 }), bot({ index: 2 })],
      [bot({ index: 3 }), bot({ index: 4, state: "failed", joinMs: null, audioMs: null, streams: [], failure: denied })],
    ]),
  );
  assert.equal(report.pass, false);
  assert.deepEqual(report.refused, [{ room: 2, bot: "bot-4", code: "room-full" }]);
  assert.equal(report.thresholds.find((t) => t.name === "failed-joins")!.ok, false);
  assert.equal(report.rooms[0]!.failed, 0);
  assert.equal(report.rooms[1]!.failed, 1);
  assert.equal(report.overall.count, 4);
  assert.match(formatReport(report), /error room-full ×1: bot-4/);
  assert.match(formatReport(report), /FAIL$/);
});

test("loss, join time, decrypt failures, missing audio and interruption each fail the run", () => {
  const lossy = bot({ index: 2, streams: [{ peerId: "p", packetsReceived: 95, packetsLost: 5, jitterMs: 1, bitrateKbps: 40 }] });
  const publisher = bot({ index: 1, publisher: true, audioMs: null, streams: [] });
  assert.equal(buildReport(input([[publisher, lossy]])).pass, false, "5 % loss > 1 % default");
  assert.equal(buildReport(input([[publisher, lossy]], { thresholds: { maxLossPct: 5 } })).pass, true);
  assert.equal(buildReport(input([[bot({ index: 1, audioMs: 900 })]], { thresholds: { maxJoinMs: 400 } })).pass, false);
  assert.equal(buildReport(input([[bot({ index: 1, decryptFailures: 1 })]])).pass, false);
  assert.equal(buildReport(input([[bot({ index: 1, audioMs: null, missingAudio: ["peerX"] })]])).pass, false);
  assert.equal(buildReport(input([[bot({ index: 1 })]], { interrupted: true })).pass, false);
  // No audio samples at all: the join threshold falls back to the connect time.
  const quiet = buildReport(input([[bot({ index: 1, audioMs: null, joinMs: 250 })]], { thresholds: { maxJoinMs: 200 } }));
  assert.equal(quiet.thresholds.find((t) => t.name === "max-join-ms")!.value, 250);
  assert.equal(quiet.pass, false);
});

test("rotation times are split by reason and churn is summed over rooms", () => {
  const rooms = [
    [bot({ index: 1, rotations: [{ reason: "join", tookMs: 1 }, { reason: "leave", tookMs: 40 }] }), bot({ index: 2, rotations: [{ reason: "leave", tookMs: 60 }] })],
    [bot({ index: 3, rotations: [{ reason: "leave", tookMs: 800 }] })],
  ];
  const data = input(rooms);
  data.rooms[0]!.churn = { leaves: 1, joins: 1 };
  data.rooms[1]!.churn = { leaves: 2, joins: 2 };
  const report = buildReport(data);
  assert.deepEqual(report.overall.rotationMs.leave, { count: 3, p50: 60, p95: 800, max: 800, mean: 300 });
  assert.equal(report.overall.rotationMs.join.count, 1);
  assert.deepEqual(report.overall.churn, { leaves: 3, joins: 3 });
  assert.equal(report.rooms[1]!.rotationMs.leave.max, 800);
  const text = formatReport(report);
  assert.match(text, /churn: 3 left, 3 joined/);
  assert.match(text, /^all /m, "several rooms get an overall row");
  assert.match(text, /PASS$/);
  assert.match(formatProgress({ phase: "steady", elapsedS: 3.2, remainingS: 6.5, joined: 5, target: 6, failed: 0, lossPct: 0, decryptFailures: 0 }), /5\/6 joined.*7 s left/);
});

test("process metrics come from /proc (Linux) and from this process", () => {
  const sample = readProcSample(process.pid);
  assert.ok(sample, "/proc/self is readable");
  assert.ok(sample.rssBytes > 1_000_000 && sample.cpuSeconds >= 0);
  assert.equal(readProcSample(0x7ffffff0), null, "a process that does not exist");
  const meter = new ProcessMeter(process.pid, "bots");
  let x = 0;
  for (let i = 0; i < 2e6; i++) x += Math.sqrt(i);
  const m = meter.measure();
  assert.ok(m && x > 0);
  assert.equal(m.where, "bots");
  assert.ok(m.rssMb > 1 && m.cpuPct >= 0 && m.cpuSeconds >= 0);
});

test("summarizeBots sums received video and names bots that never saw a video publisher", () => {
  const stream = (peerId: string, over: Partial<BotSnapshot["video"][number]> = {}): BotSnapshot["video"][number] => ({
    peerId,
    frames: 90,
    keyframes: 3,
    fps: 30,
    width: 640,
    height: 360,
    firstFrameMs: 300,
    packetsReceived: 300,
    packetsLost: 0,
    framesAssembled: 92,
    framesDropped: 0,
    bitrateKbps: 800,
    ...over,
  });
  const s = summarizeBots([
    bot({ index: 1, publisher: true, publishesVideo: true, peerId: "v1", video: [stream("v2", { fps: 29.5 })], videoMs: 250 }),
    bot({ index: 2, publisher: true, publishesVideo: true, peerId: "v2", video: [stream("v1", { framesDropped: 1, packetsLost: 2 })], videoMs: 400 }),
    bot({ index: 3, video: [stream("v1"), stream("v2", { width: 320, height: 180 })], videoMs: 500 }),
    bot({ index: 4, video: [stream("v1")], videoMs: null, missingVideo: ["v2"] }),
    bot({ index: 5, state: "failed", failure: { code: "overloaded", message: "x", exitCode: 6 }, video: [], videoMs: null, missingVideo: [] }),
  ]);
  assert.equal(s.video.publishers, 2);
  assert.equal(s.video.streams, 5);
  assert.equal(s.video.frames, 450);
  assert.equal(s.video.keyframes, 15);
  assert.equal(s.video.framesDropped, 1);
  assert.equal(s.video.packetsLost, 2);
  assert.equal(s.video.fps.p50, 30);
  assert.equal(s.video.fps.max, 30);
  assert.deepEqual([s.video.videoMs.count, s.video.videoMs.p50, s.video.videoMs.max], [3, 400, 500]);
  assert.equal(s.video.missingVideo, 1);
  assert.deepEqual(s.video.resolutions, ["320x180", "640x360"]);
  assert.deepEqual(s.errors.find((e) => e.code === "missing-video"), { code: "missing-video", count: 1, bots: ["bot-4"] });
  assert.deepEqual(s.errors.find((e) => e.code === "overloaded")?.bots, ["bot-5"]);
});
