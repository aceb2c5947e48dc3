/**
 * Bots end to end over 127.0.0.1: a fleet in this process shares one encoder and every bot hears,
 * authenticates and decrypts every publisher; `conclave bots --workers` spreads bots over worker
 * processes and sums them up; `--video` publishers share one VP8 encoder per process and every bot
 * receives, authenticates and decrypts every video publisher's frames without decoding them.
 */
import { readdirSync, readFileSync } from "node:fs";
import { test } from "node:test";
import assert from "node:assert/strict";
import { Participant, newInvite, resolveFfmpeg, type BotVideoSnapshot, type ConclaveEvent } from "../../src/index.js";
import { sharedRelay } from "../helpers/relay-fixture.js";
import { BotFleet } from "../../src/client/bots.js";
import { liveFfmpegCount } from "../../src/media/index.js";
import { runCli, stopCli, waitFor, type CliRun } from "../helpers/util.js";

const ffmpeg = resolveFfmpeg().path;
const shared = sharedRelay();

/** The ffmpeg children of `pid` (Linux /proc) with their command lines. */
function ffmpegChildren(pid: number): { pid: number; cmdline: string }[] {
  const found: { pid: number; cmdline: string }[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // "pid (comm) state ppid …": comm may contain spaces, so split after its closing parenthesis.
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid !== pid) continue;
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").join(" ");
      if (/ffmpeg/.test(cmdline)) found.push({ pid: Number(entry), cmdline });
    } catch {
      // the process exited while we looked
    }
  }
  return found;
}

async function finish(run: CliRun, ms: number): Promise<number | null> {
  const timer = setTimeout(() => run.kill("SIGKILL"), ms);
  const { code } = await run.exited;
  clearTimeout(timer);
  return code;
}

test("a fleet's publishers share one encoder and every bot decrypts every publisher", async () => {
  const ffmpegBefore = liveFfmpegCount();
  const fleet = new BotFleet({ invite: newInvite(shared.url), audio: { kind: "tone", frequency: 440 }, ffmpeg, sampleIntervalMs: 200 });
  shared.defer(() => fleet.close());
  // Joins 330 ms apart: this test is about sharing and decrypting, not about overlapping joins.
  const publishers = await fleet.addMany(2, { publish: true, rampPerSecond: 3 });
  const receivers = await fleet.addMany(3, { rampPerSecond: 3 });
  assert.equal(liveFfmpegCount() - ffmpegBefore, 1, "one ffmpeg for both publishers");
  assert.ok(fleet.bots.every((b) => b.state === "joined"), fleet.bots.map((b) => `${b.name}:${b.state}:${b.failure?.code ?? ""}`).join(" "));
  const fingerprints = new Set(fleet.bots.map((b) => b.participant!.e2ee.fingerprint));
  assert.equal(fingerprints.size, 5, "every bot has its own identity");
  const pubIds = publishers.map((b) => b.peerId);
  for (const r of receivers) assert.deepEqual(new Set(r.expected.map((b) => b.peerId)), new Set(pubIds));
  const unheard = (): string[] =>
    fleet.bots.flatMap((b) => pubIds.filter((id) => id !== b.peerId && !b.firstAudio.has(id)).map((id) => `${b.name} does not hear ${id}`));
  await waitFor(() => unheard().length === 0, 10_000, "every bot to hear both publishers").catch((err: Error) => {
    throw new Error(`${err.message}: ${unheard().join("; ")}`);
  });
  await waitFor(() => fleet.snapshots().every((s) => s.streams.filter((st) => pubIds.includes(st.peerId)).every((st) => st.packetsReceived >= 50)), 10_000, "a second of audio everywhere");

  // A receiver leaves: everyone else rotates their sender key and says how long it took.
  await fleet.remove(receivers[0]!, "test");
  await waitFor(() => fleet.joined.every((b) => b.rotations.some((r) => r.reason === "leave")), 5000, "leave rotations");

  const snapshots = fleet.snapshots();
  for (const s of snapshots) {
    assert.ok(s.joinMs! > 0, `${s.name} join time`);
    assert.equal(s.decryptFailures, 0);
    assert.deepEqual(s.missingAudio, []);
    if (!s.publisher || s.peerId === pubIds[1]) assert.ok(s.audioMs! > 0, `${s.name} time to audio`);
    for (const st of s.streams) assert.equal(st.packetsLost, 0, `${s.name} loss from ${st.peerId}`);
  }
  assert.equal(snapshots.find((s) => s.name === receivers[0]!.name)!.state, "left");
  await fleet.close();
  assert.equal(liveFfmpegCount(), ffmpegBefore, "the shared encoder stopped with the fleet");
  assert.ok(fleet.bots.every((b) => b.state === "left"));
});

test("conclave bots --workers 2 runs the bots in two processes and summarises them all", async () => {
  const invite = newInvite(shared.url);
  const observer = await Participant.join(invite, { name: "observer", statsIntervalMs: 0 });
  shared.defer(() => observer.close());
  const seen: (ConclaveEvent & { time: string })[] = [];
  observer.on("event", (e) => seen.push(e));
  const run = runCli([
    "bots", invite, "--count", "4", "--workers", "2", "--audio", "tone:523", "--publishers", "2",
    "--video", "testsrc", "--video-size", "160x120", "--fps", "10", "--video-bitrate", "100",
    "--duration", "2", "--ramp", "5", "--json",
  ]);
  shared.defer(() => stopCli(run));
  const code = await finish(run, 30_000);
  assert.equal(code, 0, run.stderr.slice(-1500));
  const joined = run.lines.filter((l) => l.type === "bot-joined");
  assert.deepEqual(joined.map((l) => l.bot).sort(), ["bot-1", "bot-2", "bot-3", "bot-4"]);
  assert.deepEqual(new Set(joined.map((l) => l.worker)), new Set([1, 2]));
  const summary = run.lines.at(-1)!;
  assert.equal(summary.type, "summary");
  assert.equal(summary.count, 4);
  assert.equal(summary.joined, 4);
  assert.equal(summary.publishers, 2);
  assert.equal(summary.decryptFailures, 0);
  assert.equal(summary.packetsLost, 0);
  assert.ok((summary.packetsReceived as number) > 0);
  assert.equal((summary.workers as unknown[]).length, 2);
  // Each worker ran one audio and one video encoder for its publisher, with the parent's settings.
  const encoders = summary.encoders as { kind: string; worker: number; frames: number }[];
  assert.deepEqual(encoders.filter((e) => e.kind === "video").map((e) => e.worker).sort(), [1, 2]);
  assert.deepEqual(encoders.filter((e) => e.kind === "audio").map((e) => e.worker).sort(), [1, 2]);
  const video = summary.video as { publishers: number; missingVideo: number; resolutions: string[]; frames: number };
  assert.equal(video.publishers, 2);
  assert.equal(video.missingVideo, 0);
  assert.deepEqual(video.resolutions, ["160x120"]);
  assert.ok(video.frames > 0);
  assert.equal(run.lines.filter((l) => l.type === "bot-report").length, 4);
  assert.ok(!run.stdout.includes(invite.split("#")[1]!), "the invite secret is never printed");
  // The observer met four authenticated members with the bot role, and heard the two publishers.
  const bots = seen.filter((e): e is Extract<ConclaveEvent, { type: "peer-joined" }> & { time: string } => e.type === "peer-joined" && e.role === "bot");
  assert.equal(new Set(bots.map((b) => b.name)).size, 4);
  const heard = new Set(seen.flatMap((e) => (e.type === "first-audio" ? [e.peerId] : [])));
  assert.equal(heard.size, 2, "the observer decrypted audio from both publishers");
  await observer.close();
});

/** What a bot report says about one video stream (the library's snapshot, as JSON). */
type VideoStream = BotVideoSnapshot;

test("conclave bots --video: publishers share one VP8 encoder, every bot decrypts every video publisher at the sent size", async () => {
  const run = runCli([
    "bots", newInvite(shared.url), "--count", "3", "--publishers", "2", "--audio", "tone:440",
    "--video", "testsrc", "--video-size", "160x120", "--fps", "10", "--video-bitrate", "100",
    "--duration", "3", "--ramp", "4", "--json",
  ]);
  shared.defer(() => stopCli(run));
  // Every bot is in: the publishers' encoders are running for the next 3 s.
  await waitFor(() => run.lines.filter((l) => l.type === "bot-joined").length === 3, 20_000, "three bots in the room").catch((err: Error) => {
    throw new Error(`${err.message}: ${run.stderr.slice(-1500)}`);
  });
  const children = ffmpegChildren(run.child.pid!);
  assert.equal(children.filter((c) => c.cmdline.includes("libvpx")).length, 1, `one VP8 encoder for both publishers: ${children.map((c) => c.cmdline).join(" | ")}`);
  assert.equal(children.length, 2, "and one audio encoder");
  const code = await finish(run, 30_000);
  assert.equal(code, 0, run.stderr.slice(-1500));

  const reports = run.lines.filter((l) => l.type === "bot-report") as unknown as {
    name: string;
    peerId: string;
    publishesVideo: boolean;
    videoMs: number | null;
    missingVideo: string[];
    decryptFailures: number;
    video: VideoStream[];
  }[];
  assert.equal(reports.length, 3);
  const pubIds = reports.filter((r) => r.publishesVideo).map((r) => r.peerId);
  assert.equal(pubIds.length, 2);
  for (const r of reports) {
    assert.equal(r.decryptFailures, 0, `${r.name} decrypt failures`);
    assert.deepEqual(r.missingVideo, [], `${r.name} saw every video publisher`);
    assert.ok(r.videoMs !== null && r.videoMs > 0, `${r.name} time to first video`);
    const expected = pubIds.filter((id) => id !== r.peerId);
    assert.deepEqual(r.video.map((v) => v.peerId).sort(), [...expected].sort(), `${r.name} receives video from exactly the other publishers`);
    for (const v of r.video) {
      const what = `${r.name} from ${v.peerId}`;
      // ~3 s at 10 fps, a key frame every second; nothing lost or incomplete on loopback.
      assert.ok(v.frames >= 15, `${what}: ${v.frames} frames`);
      assert.ok(v.keyframes >= 2, `${what}: ${v.keyframes} key frames`);
      assert.equal(v.width, 160, `${what} width`);
      assert.equal(v.height, 120, `${what} height`);
      assert.ok(v.fps >= 5 && v.fps <= 15, `${what}: ${v.fps} fps`);
      assert.ok(v.firstFrameMs !== null && v.firstFrameMs > 0, `${what} first frame time`);
      assert.equal(v.framesDropped, 0, `${what} incomplete frames`);
      assert.equal(v.packetsLost, 0, `${what} packets lost`);
      assert.ok(v.framesAssembled >= v.frames, `${what} assembled ≥ delivered`);
    }
  }
  const summary = run.lines.at(-1)!;
  assert.equal(summary.type, "summary");
  const encoders = summary.encoders as { kind: string; frames: number; cpuPct: number | null }[];
  assert.deepEqual(encoders.map((e) => e.kind), ["audio", "video"]);
  assert.ok(encoders[1]!.frames >= 25, `the video encoder made ${encoders[1]!.frames} frames`);
  const video = summary.video as { publishers: number; streams: number; missingVideo: number; resolutions: string[]; framesDropped: number };
  assert.equal(video.publishers, 2);
  // Each publisher sees the other, the receiver sees both.
  assert.equal(video.streams, 4);
  assert.equal(video.missingVideo, 0);
  assert.deepEqual(video.resolutions, ["160x120"]);
  assert.equal(summary.decryptFailures, 0);
});

test("conclave bots refuses a bad video source or settings with a usage error", async () => {
  for (const [args, why] of [
    [["--video", "testsrc:nope"], /invalid video source "testsrc:nope"/],
    [["--video", "device:/dev/video0", "--workers", "2", "--count", "2"], /cannot be shared by several worker processes/],
    [["--video", "testsrc", "--video-bitrate", "10"], /video bitrate must be/],
  ] as const) {
    const run = runCli(["bots", newInvite(shared.url), "--count", "1", ...args]);
    const code = await finish(run, 10_000);
    assert.equal(code, 2, `${args.join(" ")}: ${run.stderr}`);
    assert.match(run.stderr, why);
    assert.ok(!/\n\s+at /.test(run.stderr), `one line, no stack trace: ${run.stderr}`);
  }
});
