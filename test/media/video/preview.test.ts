import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { IvfReader } from "../../../src/media/video/ivf.js";
import { VideoPreview, fitHalfBlocks, renderHalfBlocks, type PreviewFrame } from "../../../src/media/video/preview.js";
import { VideoStreamStats } from "../../../src/media/video/stats.js";
import { ffmpegPath, isAlive, tempDir, waitUntil } from "../helpers.js";
import { makeIvf } from "./helpers.js";

const ANSI = /\x1b\[[0-9;]*m/g;

describe("renderHalfBlocks", () => {
  test("truecolor: ceil(h/2) lines of w cells, upper pixel fg, lower pixel bg", () => {
    // 3 x 3: row 0 red, row 1 blue, row 2 white
    const rgb = Buffer.from([255, 0, 0, 255, 0, 0, 255, 0, 0, 0, 0, 255, 0, 0, 255, 0, 0, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255]);
    const lines = renderHalfBlocks(rgb, 3, 3);
    assert.equal(lines.length, 2);
    for (const l of lines) assert.equal(l.replace(ANSI, ""), "▀▀▀");
    assert.ok(lines[0]!.startsWith("\x1b[38;2;255;0;0m\x1b[48;2;0;0;255m▀▀▀"), JSON.stringify(lines[0]));
    assert.ok(lines[0]!.endsWith("\x1b[0m"));
    // odd height: the last line has only upper pixels over black
    assert.ok(lines[1]!.startsWith("\x1b[38;2;255;255;255m\x1b[48;2;0;0;0m"));
  });

  test("ascii mode: luminance ramp, ASCII only, no escape codes", () => {
    const w = 10;
    const h = 4;
    const rgb = Buffer.alloc(w * h * 3);
    for (let x = 0; x < w; x++) for (let y = 0; y < h; y++) rgb.fill(Math.round((x / (w - 1)) * 255), (y * w + x) * 3, (y * w + x) * 3 + 3);
    const lines = renderHalfBlocks(rgb, w, h, { ascii: true });
    assert.equal(lines.length, 2);
    for (const l of lines) {
      assert.equal(l.length, w);
      assert.match(l, /^[\x20-\x7e]*$/);
    }
    assert.equal(lines[0]![0], " ");
    assert.equal(lines[0]![w - 1], "@");
    assert.throws(() => renderHalfBlocks(Buffer.alloc(5), 2, 2), RangeError);
  });

  test("fitHalfBlocks keeps the aspect ratio inside the cell budget", () => {
    assert.deepEqual(fitHalfBlocks(80, 24, 640, 360), { width: 80, height: 44 }); // 80 cols x 22 rows
    assert.deepEqual(fitHalfBlocks(200, 10, 640, 360), { width: 36, height: 20 }); // height-limited
    const s = fitHalfBlocks(33, 7, 320, 240);
    assert.ok(s.width % 2 === 0 && s.height % 2 === 0 && s.width <= 33 && s.height <= 14);
  });
});

describe("VideoPreview", () => {
  test("decodes pushed VP8 frames into RGB pictures of the requested size, a few per second", async () => {
    const { dir, cleanup } = tempDir();
    const preview = VideoPreview.start({ ffmpeg: ffmpegPath(), width: 40, height: 30, fps: 4 });
    try {
      const file = path.join(dir, "p.ivf");
      await makeIvf(file, { width: 320, height: 240, fps: 15, seconds: 3, gop: 15 });
      const frames = new IvfReader().push(fs.readFileSync(file));
      const pictures: PreviewFrame[] = [];
      preview.on("frame", (p) => pictures.push(p));
      // Two delta frames first (joined mid-GOP): skipped until the key frame.
      preview.push(frames[1]!.data);
      preview.push(frames[2]!.data);
      const t0 = performance.now();
      let next = 0;
      // Feed in real time (15 fps) from the first key frame, until three pictures arrived.
      const timer = setInterval(() => {
        if (next < frames.length) preview.push(frames[next++]!.data);
      }, 1000 / 15);
      try {
        await waitUntil(() => pictures.length >= 3, 5000, "three pictures");
      } finally {
        clearInterval(timer);
      }
      const elapsed = performance.now() - t0;
      for (const p of pictures) {
        assert.equal(p.rgb.length, 40 * 30 * 3);
        assert.deepEqual([p.width, p.height], [40, 30]);
      }
      // fps=4: three pictures need at least ~0.5 s of input; and not a long start-up delay.
      assert.ok(elapsed >= 400 && elapsed < 3000, `${elapsed} ms for 3 pictures`);
      assert.equal(preview.stats.framesSkipped, 2);
      // testsrc is colourful: the picture is not blank.
      const distinct = new Set<number>();
      const p0 = pictures[0]!.rgb;
      for (let i = 0; i < p0.length; i += 3) distinct.add((p0[i]! << 16) | (p0[i + 1]! << 8) | p0[i + 2]!);
      assert.ok(distinct.size > 10, `${distinct.size} colours`);
      assert.equal(renderHalfBlocks(p0, 40, 30).length, 15);
    } finally {
      await preview.close();
      cleanup();
    }
    assert.equal(preview.pid !== undefined && isAlive(preview.pid), false);
  });
});

describe("VideoStreamStats", () => {
  test("fps over the window, resolution from key frames, key frame count", () => {
    const s = new VideoStreamStats(2000);
    const key = Buffer.from([0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01]);
    const delta = Buffer.from([0x31, 0x00, 0x00, 0x55]);
    for (let i = 0; i < 31; i++) s.recordVp8(i % 15 === 0 ? key : delta, 1000 + (i * 1000) / 15);
    const snap = s.snapshot(3000);
    assert.ok(Math.abs(snap.fps - 15) < 0.01, String(snap.fps));
    assert.deepEqual([snap.width, snap.height, snap.keyframes, snap.frames], [640, 360, 3, 31]);
    assert.equal(s.snapshot(10_000).fps, 0);
  });
});
