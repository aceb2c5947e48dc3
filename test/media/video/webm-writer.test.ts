import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { AudioSource } from "../../../src/media/audio-source.js";
import { OggPacketReader } from "../../../src/media/ogg/reader.js";
import { EBML_UNKNOWN_SIZE, ebmlVoid, encodeVintSize } from "../../../src/media/video/ebml.js";
import { IvfReader } from "../../../src/media/video/ivf.js";
import { VideoSource } from "../../../src/media/video/video-source.js";
import { WebmWriter } from "../../../src/media/video/webm-writer.js";
import { ffmpegPath, isAlive, tempDir, waitUntil, withTimeout } from "../helpers.js";
import { decodeMedia, ebmlChildren, inspectMedia, makeIvf, parseWebm, runFfmpeg } from "./helpers.js";

describe("EBML (RFC 8794)", () => {
  test("§4 VINT sizes: shortest form, all-ones reserved for unknown", () => {
    assert.deepEqual([...encodeVintSize(0)], [0x80]);
    assert.deepEqual([...encodeVintSize(126)], [0xfe]);
    assert.deepEqual([...encodeVintSize(127)], [0x40, 0x7f]); // 0xff would mean "unknown"
    assert.deepEqual([...encodeVintSize(16382)], [0x7f, 0xfe]);
    assert.deepEqual([...encodeVintSize(16383)], [0x20, 0x3f, 0xff]);
    assert.deepEqual([...encodeVintSize(5, 8)], [0x01, 0, 0, 0, 0, 0, 0, 5]);
    assert.deepEqual([...EBML_UNKNOWN_SIZE], [0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    assert.throws(() => encodeVintSize(200, 1), RangeError);
  });

  test("Void elements of any size from 2 bytes", () => {
    for (const n of [2, 3, 11, 96, 128, 129, 130, 20000]) {
      const v = ebmlVoid(n);
      assert.equal(v.length, n);
      const [node] = ebmlChildren(v, 0, v.length);
      assert.equal(node!.id, 0xec);
      assert.equal(node!.dataStart + node!.size!, n);
    }
  });
});

/** Opus packets of a generated tone (not real time): the ogg muxer's output read back. */
async function opusPackets(dir: string, seconds: number): Promise<Buffer[]> {
  const file = path.join(dir, "tone.opus");
  const r = await runFfmpeg(["-loglevel", "error", "-f", "lavfi", "-i", `sine=frequency=440:sample_rate=48000:duration=${seconds}`, "-c:a", "libopus", "-ac", "1", "-f", "ogg", "-y", file]);
  assert.equal(r.code, 0, r.stderr);
  const packets: Buffer[] = [];
  const reader = new OggPacketReader((p) => packets.push(Buffer.from(p.data)));
  reader.push(fs.readFileSync(file));
  return packets.slice(2); // OpusHead, OpusTags
}

async function ivfFrames(dir: string, opts: Parameters<typeof makeIvf>[1]): Promise<ReturnType<IvfReader["push"]>> {
  const file = path.join(dir, "v.ivf");
  await makeIvf(file, opts);
  return new IvfReader().push(fs.readFileSync(file));
}

describe("WebmWriter", () => {
  test("3 s of live testsrc VP8 + tone Opus: decodes with ffmpeg; a mid-cluster cut still decodes", async () => {
    const { dir, cleanup } = tempDir();
    const file = path.join(dir, "rec.webm");
    // No size given: the writer takes it from the first key frame.
    const writer = WebmWriter.open(file, { video: {}, audio: { channels: 1 }, title: "test" });
    const [video, audio] = await Promise.all([
      VideoSource.open({ kind: "testsrc" }, { ffmpeg: ffmpegPath(), width: 320, height: 240, fps: 15 }),
      AudioSource.open({ kind: "tone", frequency: 440 }, { ffmpeg: ffmpegPath() }),
    ]);
    try {
      let samples = 0;
      video.on("frame", (f) => writer.writeVideo(f.data, f.timestamp90k / 90, f.keyframe));
      audio.on("frame", (f) => {
        writer.writeAudio(f.payload, samples / 48);
        samples += f.samples;
      });
      // What a reader sees while recording (and what a crash would leave): complete clusters only.
      await waitUntil(() => writer.stats.clusters >= 2, 6000, "two clusters on disk");
      const live = fs.readFileSync(file);
      await waitUntil(() => writer.stats.videoFrames >= 45, 6000, "3 s of video");
      await Promise.all([video.close(), audio.close()]);
      writer.close();
      assert.equal(writer.stats.droppedBeforeKeyframe, 0);

      const final = fs.readFileSync(file);
      const info = await inspectMedia(file);
      assert.equal(info.code, 0, info.stderr);
      assert.match(info.stderr, /Video: vp8/);
      assert.match(info.stderr, /320x240/);
      assert.match(info.stderr, /Audio: opus, 48000 Hz, mono/);
      const v = info.packets.filter((p) => p.stream === 0);
      const a = info.packets.filter((p) => p.stream === 1);
      assert.ok(v.length >= 45 && v.length <= 50, `${v.length} video packets`);
      assert.ok(v[0]!.keyframe);
      const fps = ((v.length - 1) * 1000) / (v[v.length - 1]!.pts - v[0]!.pts);
      assert.ok(Math.abs(fps - 15) < 1, `fps ${fps}`);
      assert.ok(a.length >= 140, `${a.length} audio packets`);
      const decoded = await decodeMedia(file);
      assert.equal(decoded.code, 0);
      assert.equal(decoded.videoFrames, v.length);

      // Structure: webm, known size after close, SeekHead + Cues, clusters that start at key frames.
      const parsed = parseWebm(final);
      assert.equal(parsed.docType, "webm");
      assert.ok(parsed.segmentSizeKnown && parsed.hasCues && parsed.hasSeekHead);
      for (const c of parsed.clusters) {
        const firstVideo = c.blocks.find((b) => b.track === 1);
        if (firstVideo) assert.ok(firstVideo.keyframe, `cluster at ${c.ts} starts a GOP`);
        const tss = c.blocks.map((b) => b.ts);
        assert.deepEqual(tss, [...tss].sort((x, y) => x - y), "blocks in timestamp order");
        assert.ok(tss[tss.length - 1]! - c.ts <= 1500);
      }

      // While recording: unknown segment size, no cues, still readable.
      const liveParsed = parseWebm(live);
      assert.equal(liveParsed.segmentSizeKnown, false);
      assert.equal(liveParsed.hasCues, false);
      const livePath = path.join(dir, "live.webm");
      fs.writeFileSync(livePath, live);
      const liveDecoded = await decodeMedia(livePath);
      assert.equal(liveDecoded.code, 0, liveDecoded.stderr);
      assert.ok(liveDecoded.videoFrames >= 15, `${liveDecoded.videoFrames} frames while recording`);

      // A crash mid-write: the live file plus the first half of the next cluster.
      const next = ebmlChildren(final, live.length, final.length)[0]!;
      assert.equal(next.id, 0x1f43b675, "a cluster follows");
      const cut = Buffer.concat([live, final.subarray(live.length, next.dataStart + Math.floor(next.size! / 2))]);
      const cutPath = path.join(dir, "cut.webm");
      fs.writeFileSync(cutPath, cut);
      const cutDecoded = await decodeMedia(cutPath);
      assert.equal(cutDecoded.code, 0, cutDecoded.stderr);
      assert.match(cutDecoded.stderr, /Video: vp8/);
      assert.ok(cutDecoded.videoFrames >= liveDecoded.videoFrames, `${cutDecoded.videoFrames} >= ${liveDecoded.videoFrames}`);
    } finally {
      await Promise.all([video.close(), audio.close()]);
      writer.close();
      cleanup();
    }
  });

  for (const codec of ["vp8", "h264"] as const) {
    test(`a SIGKILLed recorder leaves a ${codec === "vp8" ? "WebM (VP8)" : "Matroska (H.264)"} file that decodes up to its last cluster`, async () => {
      const { dir, cleanup } = tempDir();
      const file = path.join(dir, codec === "vp8" ? "killed.webm" : "killed.mkv");
      const script = path.join(path.dirname(fileURLToPath(import.meta.url)), "webm-child.js");
      const child = spawn(process.execPath, [script, file, ffmpegPath(), codec], { stdio: ["ignore", "pipe", "inherit"] });
      try {
        let last: { clusters: number; videoFrames: number; pids: number[] } | null = null;
        let buf = "";
        child.stdout.setEncoding("utf8");
        child.stdout.on("data", (t: string) => {
          buf += t;
          const lines = buf.split("\n");
          buf = lines.pop() ?? "";
          for (const l of lines) if (l) last = JSON.parse(l);
        });
        await waitUntil(() => (last?.clusters ?? 0) >= 2, 8000, "two clusters in the child");
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGKILL");
        await withTimeout(exited, 3000, "child exit");
        const report = last!;
        // The child's ffmpegs see a broken pipe and exit on their own.
        await waitUntil(() => report.pids.every((pid) => !isAlive(pid)), 5000, "orphaned ffmpegs to exit");
        const parsed = parseWebm(fs.readFileSync(file));
        assert.ok(parsed.clusters.length >= 2);
        const decoded = await decodeMedia(file);
        assert.equal(decoded.code, 0, decoded.stderr);
        assert.match(decoded.stderr, codec === "vp8" ? /Video: vp8/ : /Video: h264 \(Constrained Baseline\)/);
        assert.match(decoded.stderr, /Audio: opus/);
        const written = parsed.clusters.flatMap((c) => c.blocks).filter((b) => b.track === 1).length;
        assert.equal(decoded.videoFrames, written);
        // At most ~1.5 s of clusters plus the reorder window were in memory when it died.
        assert.ok(report.videoFrames - written <= 30, `${report.videoFrames} sent, ${written} on disk`);
      } finally {
        child.kill("SIGKILL");
        cleanup();
      }
    });
  }

  test("audio only and video only; size learned from the key frame; deltas before it dropped", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const packets = await opusPackets(dir, 2.5);
      const audioFile = path.join(dir, "a.webm");
      const aw = WebmWriter.open(audioFile, { audio: { channels: 1 } });
      packets.forEach((p, i) => aw.writeAudio(p, i * 20));
      aw.close();
      const ai = await inspectMedia(audioFile);
      assert.equal(ai.code, 0, ai.stderr);
      assert.match(ai.stderr, /Audio: opus/);
      assert.doesNotMatch(ai.stderr, /Video:/);
      assert.equal(ai.packets.length, packets.length);
      const ap = parseWebm(fs.readFileSync(audioFile));
      assert.ok(ap.clusters.length >= 2 && ap.clusters.every((c) => c.blocks.every((b) => b.keyframe && b.track === 1)));

      const frames = await ivfFrames(dir, { width: 256, height: 144, fps: 15, seconds: 2, gop: 10 });
      const videoFile = path.join(dir, "v.webm");
      const vw = WebmWriter.open(videoFile, { video: {} });
      // Start with two delta frames (a receiver that joined mid-GOP): dropped until the key frame.
      frames.slice(8).forEach((f, i) => vw.writeVideo(f.data, (i * 1000) / 15, f.keyframe));
      vw.close();
      assert.equal(vw.stats.droppedBeforeKeyframe, 2);
      const vi = await inspectMedia(videoFile);
      assert.equal(vi.code, 0, vi.stderr);
      assert.match(vi.stderr, /Video: vp8.*256x144/);
      assert.doesNotMatch(vi.stderr, /Audio:/);
      assert.equal(vi.packets.length, frames.length - 10);
      assert.ok(vi.packets[0]!.keyframe);
      const vp = parseWebm(fs.readFileSync(videoFile));
      assert.ok(vp.clusters.every((c) => c.blocks[0]!.keyframe), "every cluster starts at a key frame");
    } finally {
      cleanup();
    }
  });

  test("out-of-step audio and video are written in timestamp order; late blocks are clamped", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const packets = await opusPackets(dir, 2);
      const frames = await ivfFrames(dir, { width: 160, height: 120, fps: 10, seconds: 2, gop: 10 });
      const file = path.join(dir, "sync.webm");
      const w = WebmWriter.open(file, { video: { width: 160, height: 120 }, audio: {} });
      // Audio arrives 200 ms ahead of video (within the 300 ms reorder window).
      let vi = 0;
      for (let ai = 0; ai < packets.length; ai++) {
        const t = ai * 20;
        w.writeAudio(packets[ai]!, t);
        while (vi < frames.length && vi * 100 <= t - 200) {
          w.writeVideo(frames[vi]!.data, vi * 100, frames[vi]!.keyframe);
          vi++;
        }
      }
      // One video frame far too late (earlier than what is already written): clamped, not dropped.
      w.writeVideo(frames[vi]!.data, 0, false);
      w.close();
      assert.equal(w.stats.clamped, 1);
      const parsed = parseWebm(fs.readFileSync(file));
      const all = parsed.clusters.flatMap((c) => c.blocks.map((b) => b.ts));
      assert.deepEqual(all, [...all].sort((x, y) => x - y));
      const decoded = await decodeMedia(file);
      assert.equal(decoded.code, 0, decoded.stderr);
    } finally {
      cleanup();
    }
  });

  test("when input stops, what is held in memory reaches the file without close()", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const packets = await opusPackets(dir, 0.5);
      const file = path.join(dir, "idle.webm");
      const w = WebmWriter.open(file, { audio: {}, clusterMs: 200, reorderMs: 50 });
      try {
        packets.forEach((p, i) => w.writeAudio(p, i * 20));
        const before = parseWebm(fs.readFileSync(file)).clusters.flatMap((c) => c.blocks).length;
        assert.ok(before < packets.length);
        // The idle timer fires after clusterMs + reorderMs of silence.
        await waitUntil(() => parseWebm(fs.readFileSync(file)).clusters.flatMap((c) => c.blocks).length === packets.length, 3000, "idle flush");
        // Writing continues in a new cluster after the pause.
        w.writeAudio(packets[0]!, packets.length * 20 + 1000);
        w.flush();
        assert.equal(parseWebm(fs.readFileSync(file)).clusters.flatMap((c) => c.blocks).length, packets.length + 1);
      } finally {
        w.close();
      }
      const decoded = await inspectMedia(file);
      assert.equal(decoded.code, 0, decoded.stderr);
      assert.equal(decoded.packets.length, packets.length + 1);
    } finally {
      cleanup();
    }
  });

  test("argument checks", () => {
    const { dir, cleanup } = tempDir();
    try {
      assert.throws(() => WebmWriter.open(path.join(dir, "x.webm"), {}), TypeError);
      assert.throws(() => WebmWriter.open(path.join(dir, "x.webm"), { audio: { channels: 3 } }), RangeError);
      assert.throws(() => WebmWriter.open(path.join(dir, "nope", "x.webm"), { audio: {} }), /recording-unwritable|cannot create/);
      const w = WebmWriter.open(path.join(dir, "y.webm"), { audio: {} });
      assert.throws(() => w.writeVideo(Buffer.from([0]), 0, true), TypeError);
      w.close();
      w.close();
    } finally {
      cleanup();
    }
  });
});
