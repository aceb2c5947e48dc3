/**
 * H.264 end to end: a testsrc publisher with --video-codec h264 (access units encrypted whole with
 * SFrame, then packetized as opaque RFC 6184 packets), a recorder that writes Matroska, a subscriber
 * that gets decrypted access units; the relay's view of the video holds nothing but the constant
 * header byte and ciphertext. And the codec rule: no one joins whose video a member cannot receive.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import WebSocket from "ws";
import type { RtpPacket } from "werift";
import { Relay, Participant, Recorder, newInvite, resolveFfmpeg, parseAudioSource, DeniedError } from "../../src/index.js";
import { parseVideoSource, splitAnnexB, nalType, NAL_TYPE, H264_PAYLOAD_TYPE, parseH264PayloadHeader } from "../../src/media/index.js";
import { parseInvite } from "../../src/protocol/index.js";
import { tempDir, waitFor, runCli, stopCli } from "../helpers/util.js";

const ffmpeg = resolveFfmpeg().path;
let relay: Relay;
let url: string;
/** Video packets as the relay received them from publishers. */
const relayed: Buffer[] = [];

before(async () => {
  relay = new Relay({
    host: "127.0.0.1",
    port: 0,
    onForward: (_peerId: string, rtp: RtpPacket) => {
      if (rtp.header.payloadType === H264_PAYLOAD_TYPE && relayed.length < 5000) relayed.push(Buffer.from(rtp.payload));
    },
  });
  url = await relay.start();
});
after(async () => {
  await relay.close();
});

function ffmpegInfo(file: string): Promise<string> {
  return new Promise((resolve) => {
    execFile(ffmpeg, ["-hide_banner", "-i", file, "-f", "null", "-"], { maxBuffer: 8 << 20 }, (_err, _out, stderr) => resolve(stderr));
  });
}

test("an H.264 publisher is recorded to Matroska with its size and frame rate; a subscriber decrypts its access units; the relay sees only ciphertext", async () => {
  const dir = tempDir();
  const invite = newInvite(url);
  const publisher = await Participant.join(invite, { name: "cam", ffmpeg, video: true, videoCodec: "h264", statsIntervalMs: 0 });
  const recorder = await Recorder.start(invite, { outDir: dir.path, ffmpeg, statsIntervalMs: 0 });
  const viewer = await Participant.join(invite, { name: "viewer", statsIntervalMs: 0 });
  const received: { codec: string; keyframe: boolean; frame: Buffer }[] = [];
  viewer.on("video", (v) => received.push({ codec: v.codec, keyframe: v.keyframe, frame: v.frame }));
  try {
    await publisher.publish(parseAudioSource("tone:440"));
    await publisher.publishVideo(parseVideoSource("testsrc"), { width: 320, height: 240, fps: 15, keyframeIntervalMs: 1000 });
    await waitFor(() => (recorder.files.find((f) => f.name === "cam")?.videoFrames ?? 0) >= 60 && received.length >= 45, 20_000, "4 s of recorded and received video");

    // The subscriber: decrypted Annex B access units, starting at an IDR that carries SPS and PPS.
    assert.ok(received.every((r) => r.codec === "h264"));
    const first = received[0]!;
    assert.ok(first.keyframe, "the first frame delivered is a key frame");
    const firstTypes = splitAnnexB(first.frame).map(nalType);
    assert.ok(firstTypes.includes(NAL_TYPE.sps) && firstTypes.includes(NAL_TYPE.pps) && firstTypes.includes(NAL_TYPE.idr), `NAL types ${firstTypes}`);
    const stats = viewer.videoStatsOf(publisher.peerId);
    assert.equal(stats?.width, 320);
    assert.equal(stats?.height, 240);
    assert.ok((stats?.keyframes ?? 0) >= 2);
    assert.equal(viewer.e2ee.stats.decryptFailures, 0);

    // The relay's view: every video packet is the opaque form (constant header, FU-A of type 23),
    // and none carries a byte string of the plaintext: not the SPS, not a slice's first 16 bytes.
    assert.ok(relayed.length > 60, `${relayed.length} video packets seen by the relay`);
    assert.ok(relayed.every((p) => parseH264PayloadHeader(p) !== null), "every packet is a single opaque NAL unit or an FU-A of one");
    const sps = splitAnnexB(first.frame).find((n) => nalType(n) === NAL_TYPE.sps)!;
    const slice = splitAnnexB(received[1]!.frame).find((n) => nalType(n) === NAL_TYPE.slice)!.subarray(0, 16);
    const leaks = relayed.filter((p) => p.includes(Buffer.from(sps)) || p.includes(Buffer.from(slice)) || p.includes(Buffer.from([0, 0, 0, 1, 0x67])));
    assert.equal(leaks.length, 0, "plaintext H.264 crossed the relay");

    const files = await recorder.close();
    const file = files.find((f) => f.name === "cam")!;
    assert.match(file.path, /\.mkv$/);
    const info = await ffmpegInfo(file.path);
    assert.match(info, /Input #0, matroska/);
    assert.match(info, /Video: h264 \(Constrained Baseline\)/);
    assert.match(info, /320x240/);
    assert.match(info, /Audio: opus/);
    const frames = Number(/frame=\s*(\d+)/.exec(info)?.[1] ?? 0);
    const duration = /Duration: (\d+):(\d+):([\d.]+)/.exec(info);
    const seconds = duration ? Number(duration[1]) * 3600 + Number(duration[2]) * 60 + Number(duration[3]) : 0;
    const fps = frames / seconds;
    console.log(JSON.stringify({ recordedFrames: file.videoFrames, decodedFrames: frames, seconds, fps, relayedPackets: relayed.length, viewerStats: stats }));
    assert.ok(frames >= file.videoFrames * 0.9, `decoded ${frames} of ${file.videoFrames} frames`);
    assert.ok(fps > 12 && fps < 17, `recorded frame rate ${fps.toFixed(1)} (sent 15)`);
  } finally {
    await recorder.close();
    await viewer.close();
    await publisher.close();
    dir.cleanup();
  }
});

/** A client from before H.264: its join names no codecs it can receive (so VP8 only). */
function oldClientJoin(invite: string): Promise<{ type: string; code?: string; message?: string }> {
  const parsed = parseInvite(invite);
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(parsed.signalling);
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error("no answer to the join"));
    }, 5000);
    ws.on("open", () => ws.send(JSON.stringify({ type: "join", v: 1, room: parsed.room })));
    ws.on("message", (raw) => {
      clearTimeout(timer);
      const m = JSON.parse(raw.toString()) as { type: string; code?: string; message?: string };
      ws.close();
      resolve(m);
    });
    ws.on("error", reject);
  });
}

test("where a member cannot receive H.264, the relay refuses an H.264 publisher, and the other way round", async () => {
  // A VP8-only member first: an H.264 publisher is refused with a line that says what to do.
  const inviteA = newInvite(url);
  const parsedA = parseInvite(inviteA);
  const old = new WebSocket(parsedA.signalling);
  await new Promise<void>((resolve, reject) => {
    old.on("open", () => old.send(JSON.stringify({ type: "join", v: 1, room: parsedA.room })));
    old.on("message", (raw) => {
      if ((JSON.parse(raw.toString()) as { type: string }).type === "welcome") resolve();
    });
    old.on("error", reject);
  });
  try {
    await assert.rejects(
      Participant.join(inviteA, { name: "h264", ffmpeg, video: true, videoCodec: "h264", statsIntervalMs: 0, reconnect: false }),
      (err: unknown) => err instanceof DeniedError && err.code === "codec-unsupported" && /cannot receive H\.264.*--video-codec vp8/.test(err.message),
    );
    // A VP8 publisher is welcome there.
    const vp8 = await Participant.join(inviteA, { name: "vp8", video: true, statsIntervalMs: 0, reconnect: false });
    await vp8.close();
  } finally {
    old.close();
  }

  // An H.264 publisher first: a client that can receive only VP8 is refused; ours are admitted.
  const inviteB = newInvite(url);
  const publisher = await Participant.join(inviteB, { name: "h264", video: true, videoCodec: "h264", statsIntervalMs: 0 });
  try {
    const answer = await oldClientJoin(inviteB);
    assert.equal(answer.type, "error");
    assert.equal(answer.code, "codec-unsupported");
    assert.match(answer.message ?? "", /H\.264 video, which this client cannot receive/);
    const viewer = await Participant.join(inviteB, { name: "viewer", statsIntervalMs: 0 });
    await viewer.close();
  } finally {
    await publisher.close();
  }
});

test("CLI: join --video testsrc --video-codec h264 publishes H.264 a library member decrypts", async () => {
  const invite = newInvite(url);
  const viewer = await Participant.join(invite, { name: "viewer", statsIntervalMs: 0 });
  const frames: { codec: string; keyframe: boolean }[] = [];
  viewer.on("video", (v) => frames.push({ codec: v.codec, keyframe: v.keyframe }));
  const cli = runCli(["join", invite, "--json", "--name", "cli-cam", "--video", "testsrc", "--video-codec", "h264", "--video-size", "160x96", "--fps", "10"]);
  try {
    await waitFor(() => frames.length >= 10, 15_000, "10 H.264 frames from the CLI publisher");
    assert.ok(frames.every((f) => f.codec === "h264"));
    assert.ok(frames[0]!.keyframe);
    const [peerId] = [...viewer.e2ee.members.keys()];
    assert.deepEqual([viewer.videoStatsOf(peerId!)?.width, viewer.videoStatsOf(peerId!)?.height], [160, 96]);
  } finally {
    await stopCli(cli);
    await viewer.close();
  }
});
