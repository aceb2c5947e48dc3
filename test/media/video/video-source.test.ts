import { test, describe } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { MediaError, UsageError } from "../../../src/errors.js";
import { liveFfmpegCount } from "../../../src/media/ffmpeg/process.js";
import {
  VideoSource,
  parseVideoSource,
  parseXdpyinfoDimensions,
  videoEncodeSettings,
  videoSourceArgs,
  type VideoFrame,
} from "../../../src/media/video/video-source.js";
import { ffmpegPath, isAlive, tempDir, waitUntil, withTimeout } from "../helpers.js";
import { runFfmpeg } from "./helpers.js";

describe("parseVideoSource", () => {
  test("accepted forms", () => {
    assert.deepEqual(parseVideoSource("testsrc"), { kind: "testsrc" });
    assert.deepEqual(parseVideoSource("testsrc:flash"), { kind: "testsrc", pattern: "flash" });
    assert.deepEqual(parseVideoSource("file:/tmp/a.mp4"), { kind: "file", path: "/tmp/a.mp4", loop: false });
    assert.deepEqual(parseVideoSource("clip.webm", { loop: true }), { kind: "file", path: "clip.webm", loop: true });
    assert.deepEqual(parseVideoSource("file:odd:name.mkv"), { kind: "file", path: "odd:name.mkv", loop: false });
    assert.deepEqual(parseVideoSource("https://host/v.mp4"), { kind: "file", path: "https://host/v.mp4", loop: false });
    assert.deepEqual(parseVideoSource("device:/dev/video0"), { kind: "device", path: "/dev/video0" });
    assert.deepEqual(parseVideoSource("/dev/video2"), { kind: "device", path: "/dev/video2" });
    assert.deepEqual(parseVideoSource("screen", { env: { DISPLAY: ":1" } }), { kind: "screen", display: ":1" });
    assert.deepEqual(parseVideoSource("screen::0.0"), { kind: "screen", display: ":0.0" });
    assert.deepEqual(parseVideoSource("screen::0.0+100,200"), { kind: "screen", display: ":0.0+100,200" });
    assert.deepEqual(parseVideoSource(" none "), { kind: "none" });
  });

  test("invalid forms are UsageErrors listing the accepted forms", () => {
    for (const bad of ["", "testsrc:plaid", "file:", "device:", "screen:nope", "camera:front"]) {
      assert.throws(
        () => parseVideoSource(bad),
        (e: unknown) => e instanceof UsageError && e.message.includes("testsrc") && e.message.includes("device:/dev/videoN"),
        bad,
      );
    }
    assert.throws(() => parseVideoSource("screen", { env: {} }), (e: unknown) => e instanceof UsageError && /DISPLAY/.test(e.message));
  });

  test("settings: defaults, GOP from the key frame interval, range checks", () => {
    assert.deepEqual(videoEncodeSettings({}), { width: 640, height: 360, fps: 15, bitrateKbps: 500, gop: 15 });
    assert.equal(videoEncodeSettings({ fps: 30, keyframeIntervalMs: 2000 }).gop, 60);
    assert.equal(videoEncodeSettings({ fps: 5, keyframeIntervalMs: 10 }).gop, 1);
    for (const bad of [{ width: 321 }, { height: 8 }, { fps: 0 }, { fps: 7.5 }, { bitrateKbps: 5 }, { keyframeIntervalMs: 0 }]) {
      assert.throws(() => videoEncodeSettings(bad), RangeError, JSON.stringify(bad));
    }
    const args = videoSourceArgs({ kind: "testsrc" }, videoEncodeSettings({ width: 320, height: 240, fps: 15 }));
    const s = args.join(" ");
    for (const flag of ["-deadline realtime", "-cpu-used 8", "-lag-in-frames 0", "-error-resilient 1", "-g 15", "-keyint_min 15", "-f ivf", "-flush_packets 1", "testsrc=size=320x240:rate=15"]) {
      assert.ok(s.includes(flag), flag);
    }
    assert.deepEqual(parseXdpyinfoDimensions("screen #0:\n  dimensions:    1921x1080 pixels (508x285 millimeters)\n"), { width: 1920, height: 1080 });
    assert.equal(parseXdpyinfoDimensions(""), null);
  });
});

describe("VideoSource", () => {
  test("testsrc 320x240 @ 15 fps: key frame first, right size, ~15 frames/s in real time", async () => {
    const t0 = performance.now();
    const src = await VideoSource.open({ kind: "testsrc" }, { ffmpeg: ffmpegPath(), width: 320, height: 240, fps: 15 });
    try {
      const frames: { f: VideoFrame; at: number }[] = [];
      src.on("frame", (f) => frames.push({ f, at: performance.now() }));
      await waitUntil(() => frames.length > 0, 5000, "first frame");
      const first = frames[0]!;
      assert.equal(first.f.keyframe, true);
      assert.equal(first.f.timestamp90k, 0);
      assert.deepEqual([first.f.width, first.f.height], [320, 240]);
      assert.ok(src.firstFrameLatencyMs !== null && src.firstFrameLatencyMs < 1000, `first frame after ${src.firstFrameLatencyMs} ms`);
      // A 2 s measurement window after the first frame (not synchronisation).
      await waitUntil(() => performance.now() - first.at >= 2000, 5000, "2 s of frames");
      const inWindow = frames.filter((x) => x.at - first.at < 2000);
      const rate = inWindow.length / 2;
      assert.ok(rate >= 12 && rate <= 18, `${rate} frames/s`);
      // 90 kHz timestamps advance by 6000 per frame at 15 fps; a key frame every 15 frames.
      frames.slice(1).forEach((x, i) => assert.equal(x.f.timestamp90k - frames[i]!.f.timestamp90k, 6000));
      assert.deepEqual(
        frames.flatMap((x, i) => (x.f.keyframe ? [i] : [])).slice(0, 2),
        [0, 15],
      );
      assert.ok(src.requestKeyframe() <= 1000);
      assert.equal(src.stats.keyframeRequests, 1);
      assert.ok(performance.now() - t0 < 5000);
    } finally {
      await src.close();
    }
    assert.equal(src.pid !== undefined && isAlive(src.pid), false);
  });

  test("frames are held until the first listener, from the latest key frame", async () => {
    const src = await VideoSource.open({ kind: "testsrc", pattern: "flash" }, { ffmpeg: ffmpegPath(), width: 160, height: 120, fps: 15 });
    try {
      // Subscribe late, as a caller awaiting another source would.
      await new Promise((r) => setTimeout(r, 300));
      const frames: VideoFrame[] = [];
      src.on("frame", (f) => frames.push(f));
      await waitUntil(() => frames.length >= 3, 5000, "frames");
      assert.equal(frames[0]!.keyframe, true);
    } finally {
      await src.close();
    }
  });

  test("a short file plays to its end and emits 'end' then 'close'", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = path.join(dir, "clip.webm");
      const made = await runFfmpeg(["-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=320x180:rate=25", "-t", "0.6", "-c:v", "libvpx", "-y", file]);
      assert.equal(made.code, 0, made.stderr);
      const src = await VideoSource.open({ kind: "file", path: file, loop: false }, { ffmpeg: ffmpegPath(), width: 160, height: 120, fps: 10 });
      const frames: VideoFrame[] = [];
      src.on("frame", (f) => frames.push(f));
      const ended = new Promise<void>((resolve) => src.once("end", resolve));
      const closed = new Promise<void>((resolve) => src.once("close", resolve));
      await withTimeout(Promise.all([ended, closed]), 5000, "end of file");
      assert.ok(frames.length >= 5 && frames.length <= 8, `${frames.length} frames`);
      assert.deepEqual([frames[0]!.width, frames[0]!.height], [160, 120]);
      await src.close();
    } finally {
      cleanup();
    }
  });

  test("errors: missing file, file without video, missing device, absent X display", async () => {
    await assert.rejects(
      VideoSource.open({ kind: "file", path: "/nonexistent/v.mp4", loop: false }, { ffmpeg: "/nonexistent/ffmpeg" }),
      (e: unknown) => e instanceof MediaError && e.code === "source-unreadable" && e.message.includes("/nonexistent/v.mp4"),
    );
    const { dir, cleanup } = tempDir();
    try {
      const wav = path.join(dir, "tone.wav");
      assert.equal((await runFfmpeg(["-loglevel", "error", "-f", "lavfi", "-i", "sine", "-t", "0.2", "-y", wav])).code, 0);
      await assert.rejects(
        VideoSource.open({ kind: "file", path: wav, loop: false }, { ffmpeg: ffmpegPath() }),
        (e: unknown) => e instanceof MediaError && e.code === "source-unreadable" && e.message.includes("no video stream"),
      );
    } finally {
      cleanup();
    }
    await assert.rejects(
      VideoSource.open({ kind: "device", path: "/dev/video97" }, { ffmpeg: ffmpegPath() }),
      (e: unknown) => e instanceof MediaError && e.code === "device-unavailable" && e.message.includes("/dev/video97"),
    );
    await assert.rejects(
      VideoSource.open({ kind: "screen", display: ":97" }, { ffmpeg: ffmpegPath() }),
      (e: unknown) => e instanceof MediaError && e.code === "device-unavailable" && e.message.includes(":97"),
    );
    await assert.rejects(VideoSource.open({ kind: "none" }, { ffmpeg: ffmpegPath() }), TypeError);
    await waitUntil(() => liveFfmpegCount() === 0, 3000, "no ffmpeg left");
  });
});
