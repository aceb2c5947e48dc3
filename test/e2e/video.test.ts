/**
 * Video end to end: a testsrc publisher (VP8 frames encrypted whole with SFrame, then packetized),
 * a recorder that writes WebM, a late subscriber that must see a picture within 1 s, and audio/video
 * sync in the recording checked with a pattern that flashes and beeps together.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { Participant, Recorder, newInvite, resolveFfmpeg, parseAudioSource } from "../../src/index.js";
import { sharedRelay } from "../helpers/relay-fixture.js";
import { parseVideoSource, decodeToPcm } from "../../src/media/index.js";
import { tempDir, waitFor } from "../helpers/util.js";

const ffmpeg = resolveFfmpeg().path;
const shared = sharedRelay();

function ffmpegInfo(file: string): Promise<string> {
  return new Promise((resolve) => {
    execFile(ffmpeg, ["-hide_banner", "-i", file, "-f", "null", "-"], { maxBuffer: 8 << 20 }, (_err, _out, stderr) => resolve(stderr));
  });
}

/** Decode the video to tiny grey frames and return each frame's mean brightness (0..255) at `fps`. */
function brightness(file: string, fps: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    execFile(
      ffmpeg,
      ["-hide_banner", "-loglevel", "error", "-i", file, "-an", "-vf", `fps=${fps},scale=8:8`, "-f", "rawvideo", "-pix_fmt", "gray", "-"],
      { encoding: "buffer", maxBuffer: 64 << 20 },
      (err, out) => {
        if (err) return reject(err);
        const values: number[] = [];
        for (let i = 0; i + 64 <= out.length; i += 64) values.push(out.subarray(i, i + 64).reduce((a, b) => a + b, 0) / 64);
        resolve(values);
      },
    );
  });
}

test("a testsrc publisher is recorded to WebM with its resolution and frame rate; a late subscriber sees a picture within 1 s", async () => {
  const dir = tempDir();
  const invite = newInvite(shared.url);
  const publisher = await Participant.join(invite, { name: "cam", ffmpeg, video: true, statsIntervalMs: 0 });
  const recorder = await Recorder.start(invite, { outDir: dir.path, ffmpeg, statsIntervalMs: 0 });
  let late: Participant | undefined;
  try {
    await publisher.publish(parseAudioSource("tone:440"));
    await publisher.publishVideo(parseVideoSource("testsrc"), { width: 320, height: 240, fps: 15, keyframeIntervalMs: 750 });
    await waitFor(() => (recorder.files[0]?.videoFrames ?? 0) >= 45, 15_000, "3 s of recorded video");
    const joinStart = Date.now();
    let firstFrameAt = 0;
    late = await Participant.join(invite, { name: "late", statsIntervalMs: 0 });
    late.on("video", () => {
      if (firstFrameAt === 0) firstFrameAt = Date.now();
    });
    await waitFor(() => firstFrameAt > 0, 5000, "the late subscriber's first decrypted frame");
    const firstFrameMs = firstFrameAt - joinStart;
    const stats = late.videoStatsOf(publisher.peerId);
    const files = await recorder.close();
    const file = files.find((f) => f.name === "cam")!;
    assert.match(file.path, /\.webm$/);
    const info = await ffmpegInfo(file.path);
    assert.match(info, /Video: vp8/);
    assert.match(info, /320x240/);
    assert.match(info, /Audio: opus/);
    const frames = Number(/frame=\s*(\d+)/.exec(info)?.[1] ?? 0);
    const seconds = file.videoFrames / 15;
    assert.ok(frames >= file.videoFrames * 0.9, `decoded ${frames} of ${file.videoFrames} frames`);
    console.log(JSON.stringify({ firstFrameMs, recordedFrames: file.videoFrames, decodedFrames: frames, seconds, lateStats: stats }));
    assert.ok(firstFrameMs <= 1000, `first frame ${firstFrameMs} ms after joining`);
    assert.equal(stats?.width, 320);
    assert.equal(publisher.e2ee.stats.decryptFailures + late.e2ee.stats.decryptFailures, 0);
  } finally {
    await recorder.close();
    await late?.close();
    await publisher.close();
    dir.cleanup();
  }
});

test("audio and video of one sender stay in sync within 100 ms in the recording (flash and beep)", async () => {
  const dir = tempDir();
  const invite = newInvite(shared.url);
  const publisher = await Participant.join(invite, { name: "sync", ffmpeg, video: true, statsIntervalMs: 0 });
  const recorder = await Recorder.start(invite, { outDir: dir.path, ffmpeg, statsIntervalMs: 0 });
  try {
    await Promise.all([
      publisher.publish(parseAudioSource("beep")),
      publisher.publishVideo(parseVideoSource("testsrc:flash"), { width: 160, height: 120, fps: 25, keyframeIntervalMs: 1000 }),
    ]);
    await waitFor(() => (recorder.files[0]?.videoFrames ?? 0) >= 25 * 5, 20_000, "5 s of recording");
    const files = await recorder.close();
    const path = files[0]!.path;
    const fps = 100;
    const light = await brightness(path, fps);
    const pcm = await decodeToPcm(ffmpeg, path);
    // Onsets: video frames that turn bright, audio windows that turn loud.
    const flashes: number[] = [];
    for (let i = 1; i < light.length; i++) if (light[i]! > 200 && light[i - 1]! <= 200) flashes.push(i / fps);
    const beeps: number[] = [];
    const win = 480;
    let loud = false;
    for (let i = 0; i + win <= pcm.length; i += win) {
      let e = 0;
      for (let j = i; j < i + win; j++) e += pcm[j]! * pcm[j]!;
      const now = Math.sqrt(e / win) > 0.1;
      if (now && !loud) beeps.push(i / 48000);
      loud = now;
    }
    assert.ok(flashes.length >= 3 && beeps.length >= 3, `flashes ${flashes.length}, beeps ${beeps.length}`);
    const offsets = flashes.map((f) => {
      const nearest = beeps.reduce((best, b) => (Math.abs(b - f) < Math.abs(best - f) ? b : best), beeps[0]!);
      return Math.round((nearest - f) * 1000);
    });
    console.log(JSON.stringify({ flashes: flashes.length, beeps: beeps.length, offsetsMs: offsets }));
    const median = [...offsets].sort((a, b) => a - b)[Math.floor(offsets.length / 2)]!;
    assert.ok(Math.abs(median) <= 100, `audio is ${median} ms from video`);
  } finally {
    await recorder.close();
    await publisher.close();
    dir.cleanup();
  }
});
