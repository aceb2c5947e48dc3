import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import fc from "fast-check";
import {
  NAL_TYPE,
  encodeAvcConfig,
  isH264Keyframe,
  joinAnnexB,
  nalType,
  parseAvcConfig,
  parseH264AccessUnit,
  parseSps,
  splitAnnexB,
  splitLengthPrefixed,
  toLengthPrefixed,
} from "../../../src/media/video/h264.js";
import { FlvH264Reader, type H264AccessUnit } from "../../../src/media/video/flv.js";
import { VideoSource, videoEncodeSettings, videoSourceArgs, type VideoFrame } from "../../../src/media/video/video-source.js";
import { VideoPreview, type PreviewFrame } from "../../../src/media/video/preview.js";
import { VideoStreamStats } from "../../../src/media/video/stats.js";
import { MediaError } from "../../../src/errors.js";
import { ffmpegPath, tempDir, waitUntil } from "../helpers.js";
import { runFfmpeg } from "./helpers.js";

/** Encodes `seconds` of testsrc with libx264 into `file` (format by extension: .h264 Annex B, .flv). */
async function encode(file: string, opts: { width: number; height: number; profile?: string; seconds?: number; gop?: number }): Promise<void> {
  const r = await runFfmpeg([
    "-f", "lavfi", "-i", `testsrc=size=${opts.width}x${opts.height}:rate=15`, "-t", String(opts.seconds ?? 1),
    "-vf", "format=yuv420p", "-c:v", "libx264", "-profile:v", opts.profile ?? "baseline", "-preset", "veryfast", "-tune", "zerolatency",
    "-g", String(opts.gop ?? 5), "-keyint_min", String(opts.gop ?? 5), "-sc_threshold", "0", "-y", file,
  ]);
  assert.equal(r.code, 0, r.stderr);
}

describe("Annex B and length-prefixed framing (H.264 Annex B, ISO/IEC 14496-15 §5.3.3)", () => {
  test("splits on 3- and 4-byte start codes, drops trailing zeros and leading junk", () => {
    const au = Buffer.from([9, 9, 0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 0, 1, 0x65, 4, 5, 0, 0]);
    const nals = splitAnnexB(au).map((n) => [...n]);
    assert.deepEqual(nals, [[0x67, 1, 2], [0x68, 3], [0x65, 4, 5]]);
    assert.deepEqual(splitAnnexB(Buffer.alloc(0)), []);
    assert.deepEqual(splitAnnexB(Buffer.from([1, 2, 3])), []);
    const joined = joinAnnexB(splitAnnexB(au));
    assert.deepEqual([...joined.subarray(0, 7)], [0, 0, 0, 1, 0x67, 1, 2]);
    assert.deepEqual(splitAnnexB(joined).map((n) => [...n]), nals);
    assert.ok(isH264Keyframe(au));
    assert.ok(!isH264Keyframe(Buffer.from([0, 0, 1, 0x41, 1])));
  });

  test("length-prefixed round trip; a length past the end is refused", () => {
    const nals = [Buffer.from([0x67, 1]), Buffer.from([0x68]), Buffer.alloc(300, 7)];
    const lp = toLengthPrefixed(nals);
    assert.equal(lp.length, 4 * 3 + 2 + 1 + 300);
    assert.deepEqual(splitLengthPrefixed(lp, 4)!.map((n) => Buffer.from(n)), nals);
    assert.equal(splitLengthPrefixed(lp.subarray(0, lp.length - 1), 4), null);
    assert.deepEqual(splitLengthPrefixed(Buffer.from([0, 2, 0x41, 9]), 2)!.map((n) => [...n]), [[0x41, 9]]);
  });

  test("random bytes never throw from the parsers", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        splitAnnexB(bytes);
        parseH264AccessUnit(bytes);
        splitLengthPrefixed(bytes, 4);
        parseAvcConfig(bytes);
        const sps = Buffer.concat([Buffer.from([0x67]), bytes]);
        const info = parseSps(sps);
        if (info) assert.ok(info.width > 0 && info.height > 0);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("SPS (H.264 §7.3.2.1.1) and AVCDecoderConfigurationRecord", () => {
  test("picture size from real x264 SPSs, cropped sizes and High profile included; avcC round trip", async () => {
    const { dir, cleanup } = tempDir();
    try {
      for (const c of [
        { width: 320, height: 240, profile: "baseline", idc: 66 },
        { width: 202, height: 118, profile: "baseline", idc: 66 }, // not a multiple of 16: frame cropping
        { width: 176, height: 98, profile: "high", idc: 100 }, // chroma_format_idc and the fields after it
      ]) {
        const file = path.join(dir, `${c.width}.h264`);
        await encode(file, { ...c, seconds: 0.2 });
        const nals = splitAnnexB(fs.readFileSync(file));
        const sps = nals.find((n) => nalType(n) === NAL_TYPE.sps)!;
        const pps = nals.find((n) => nalType(n) === NAL_TYPE.pps)!;
        const info = parseSps(sps)!;
        assert.deepEqual([info.width, info.height, info.profileIdc], [c.width, c.height, c.idc], c.profile);
        assert.equal(parseSps(sps.subarray(0, 4)), null, "a truncated SPS");
        const avcc = encodeAvcConfig([sps], [pps]);
        assert.deepEqual([...avcc.subarray(0, 6)], [1, sps[1], sps[2], sps[3], 0xff, 0xe1]);
        const back = parseAvcConfig(avcc)!;
        assert.equal(back.lengthSize, 4);
        assert.deepEqual(Buffer.from(back.sps[0]!), Buffer.from(sps));
        assert.deepEqual(Buffer.from(back.pps[0]!), Buffer.from(pps));
      }
    } finally {
      cleanup();
    }
  });
});

describe("FlvH264Reader: access units from ffmpeg's FLV", () => {
  test("any chunking gives the same access units; every IDR carries SPS and PPS; times and sizes", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = path.join(dir, "a.flv");
      await encode(file, { width: 256, height: 144, seconds: 2, gop: 10 });
      const flv = fs.readFileSync(file);
      const whole = new FlvH264Reader().push(flv);
      assert.equal(whole.length, 30);
      whole.forEach((u, i) => {
        const types = splitAnnexB(u.data).map(nalType);
        assert.equal(u.keyframe, i % 10 === 0, `frame ${i}`);
        if (u.keyframe) assert.ok(types.includes(NAL_TYPE.sps) && types.includes(NAL_TYPE.pps), `IDR ${i}: ${types}`);
        assert.equal(Math.round((u.ptsMs * 15) / 1000), i);
        assert.deepEqual([u.width, u.height], [256, 144]);
      });
      // Byte by byte and in random chunks: identical output.
      const reader = new FlvH264Reader();
      const bytewise: H264AccessUnit[] = [];
      for (let i = 0; i < flv.length; i++) bytewise.push(...reader.push(flv.subarray(i, i + 1)));
      assert.deepEqual(bytewise.map((u) => u.data), whole.map((u) => u.data));
      assert.equal(reader.bufferedBytes, 0);
      const chunked = new FlvH264Reader();
      const out: H264AccessUnit[] = [];
      for (let off = 0; off < flv.length; ) {
        const n = 1 + Math.floor(Math.random() * 5000);
        out.push(...chunked.push(flv.subarray(off, off + n)));
        off += n;
      }
      assert.deepEqual(out.map((u) => u.ptsMs), whole.map((u) => u.ptsMs));
      // Not FLV: one MediaError, and the reader stays failed.
      const bad = new FlvH264Reader();
      assert.throws(() => bad.push(Buffer.from("DKIF0000000000000")), (e: unknown) => e instanceof MediaError && e.code === "flv-invalid");
      assert.throws(() => bad.push(flv), MediaError);
    } finally {
      cleanup();
    }
  });
});

describe("VideoSource with codec h264", () => {
  test("libx264 arguments: Constrained Baseline, fixed GOP, FLV on stdout", () => {
    const args = videoSourceArgs({ kind: "testsrc" }, videoEncodeSettings({ width: 320, height: 240, fps: 15, codec: "h264" }));
    const s = args.join(" ");
    assert.match(s, /-c:v libx264 -profile:v baseline -preset veryfast -tune zerolatency/);
    assert.match(s, /-g 15 -keyint_min 15 -sc_threshold 0/);
    assert.match(s, /-f flv -flush_packets 1 pipe:1$/);
    assert.throws(() => videoEncodeSettings({ codec: "av1" as never }), RangeError);
  });

  test("testsrc: frames on the 90 kHz grid, an IDR with SPS/PPS every GOP; stats and preview decode it", async () => {
    const source = await VideoSource.open({ kind: "testsrc" }, { ffmpeg: ffmpegPath(), width: 160, height: 96, fps: 15, keyframeIntervalMs: 400, codec: "h264" });
    const preview = VideoPreview.start({ ffmpeg: ffmpegPath(), width: 32, height: 20, fps: 10, codec: "h264" });
    const frames: VideoFrame[] = [];
    const pictures: PreviewFrame[] = [];
    const stats = new VideoStreamStats();
    preview.on("frame", (p) => pictures.push(p));
    try {
      assert.equal(source.codec, "h264");
      source.on("frame", (f) => {
        frames.push(f);
        stats.recordH264(f.data);
        preview.push(f.data);
      });
      await waitUntil(() => frames.length >= 20 && pictures.length >= 2, 10_000, "20 frames and 2 preview pictures");
      assert.ok(frames[0]!.keyframe);
      for (let i = 1; i < frames.length; i++) assert.equal(frames[i]!.timestamp90k - frames[i - 1]!.timestamp90k, 6000);
      const keys = frames.flatMap((f, i) => (f.keyframe ? [i] : []));
      assert.deepEqual(keys.slice(0, 4), [0, 6, 12, 18]); // 400 ms at 15 fps
      for (const f of frames) assert.equal(f.keyframe, isH264Keyframe(f.data));
      const snap = stats.snapshot();
      assert.deepEqual([snap.width, snap.height], [160, 96]);
      assert.equal(snap.keyframes, keys.length);
      assert.equal(pictures[0]!.rgb.length, 32 * 20 * 3);
      // testsrc is colourful: the picture is not all black.
      assert.ok(pictures.at(-1)!.rgb.some((b) => b > 64));
    } finally {
      await Promise.all([source.close(), preview.close()]);
    }
  });
});
