import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { MediaError } from "../../../src/errors.js";
import { IvfReader, encodeIvfFrame, encodeIvfHeader, parseIvfHeader, type IvfFrame } from "../../../src/media/video/ivf.js";
import { isVp8Keyframe, parseVp8Frame } from "../../../src/media/video/vp8.js";
import { tempDir } from "../helpers.js";
import { makeIvf } from "./helpers.js";

describe("IVF reader on real ffmpeg output", () => {
  test("header, frames, key frames every GOP, sizes from the key frame header", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = path.join(dir, "t.ivf");
      await makeIvf(file, { width: 320, height: 240, fps: 15, seconds: 2, gop: 15 });
      const bytes = fs.readFileSync(file);
      const header = parseIvfHeader(bytes);
      assert.equal(header.fourcc, "VP80");
      assert.equal(header.width, 320);
      assert.equal(header.height, 240);
      assert.equal(header.timebaseDen / header.timebaseNum, 15);

      // Feed in awkward chunk sizes (1 byte, then primes) to exercise the incremental parser.
      const reader = new IvfReader();
      const frames: IvfFrame[] = [];
      let off = 0;
      const sizes = [1, 7, 31, 12, 4096, 13, 65536];
      for (let i = 0; off < bytes.length; i++) {
        const n = sizes[i % sizes.length]!;
        frames.push(...reader.push(bytes.subarray(off, off + n)));
        off += n;
      }
      assert.equal(reader.bufferedBytes, 0);
      assert.equal(frames.length, 30);
      assert.deepEqual(frames.map((f) => f.pts), Array.from({ length: 30 }, (_, i) => i));
      assert.deepEqual(
        frames.flatMap((f, i) => (f.keyframe ? [i] : [])),
        [0, 15],
      );
      for (const f of frames) {
        assert.equal(f.width, 320);
        assert.equal(f.height, 240);
        assert.equal(f.keyframe, isVp8Keyframe(f.data));
      }
      const info = parseVp8Frame(frames[0]!.data);
      assert.ok(info);
      assert.equal(info.keyframe, true);
      assert.equal(info.showFrame, true);
      assert.deepEqual([info.width, info.height], [320, 240]);
      assert.equal(parseVp8Frame(frames[1]!.data)?.width, undefined);
    } finally {
      cleanup();
    }
  });

  test("encodeIvfHeader/encodeIvfFrame round-trip through the reader", () => {
    const key = Buffer.from([0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01, 0xaa]); // 640x360 key frame
    const delta = Buffer.from([0x31, 0x00, 0x00, 0x55]);
    const stream = Buffer.concat([
      encodeIvfHeader({ width: 1, height: 1, timebaseNum: 1, timebaseDen: 1000 }),
      encodeIvfFrame(key, 0),
      encodeIvfFrame(delta, 2 ** 40),
    ]);
    const r = new IvfReader();
    const frames = r.push(stream);
    assert.equal(r.header?.timebaseDen, 1000);
    assert.equal(frames.length, 2);
    assert.deepEqual(frames[0]!.data, key);
    assert.equal(frames[0]!.keyframe, true);
    assert.deepEqual([frames[0]!.width, frames[0]!.height], [640, 360]);
    assert.equal(frames[1]!.pts, 2 ** 40);
    assert.equal(frames[1]!.keyframe, false);
    assert.deepEqual([frames[1]!.width, frames[1]!.height], [640, 360]);
  });

  test("a stream that is not IVF fails with MediaError ivf-invalid, and stays failed", () => {
    const r = new IvfReader();
    const bad = Buffer.alloc(40, 0x41);
    assert.throws(() => r.push(bad), (e: unknown) => e instanceof MediaError && e.code === "ivf-invalid");
    assert.throws(() => r.push(Buffer.alloc(1)), (e: unknown) => e instanceof MediaError && e.code === "ivf-invalid");
  });

  test("RFC 6386 §9.1 frame tag: P bit, version, show_frame, first partition size", () => {
    // tag = P(0) | version 1 << 1 | show 1 << 4 | size 0x12345 << 5, little-endian
    const tag = 0 | (1 << 1) | (1 << 4) | (0x12345 << 5);
    const b = Buffer.from([tag & 0xff, (tag >> 8) & 0xff, (tag >> 16) & 0xff, 0x9d, 0x01, 0x2a, 0x40, 0xc1, 0xf0, 0x40]);
    const info = parseVp8Frame(b);
    assert.deepEqual(info, { keyframe: true, version: 1, showFrame: true, firstPartitionSize: 0x12345, width: 0x140, height: 0xf0 });
    // scale bits (top 2 of each 16-bit field) are not part of the size
    assert.equal(parseVp8Frame(Buffer.from([0, 0, 0, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00]))?.width, 0x140);
    assert.equal(parseVp8Frame(Buffer.from([0, 0, 0, 0x9d, 0x01, 0x2b, 0, 0, 0, 0])), null, "bad start code");
    assert.equal(parseVp8Frame(Buffer.from([1, 0])), null, "too short");
    assert.equal(isVp8Keyframe(Buffer.alloc(0)), false);
  });
});
