import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { oggCrc32, oggPageCrc } from "../../src/media/ogg/crc.js";
import { encodeOggPage, OggFlag } from "../../src/media/ogg/page.js";
import { OggPacketReader, type OggPacket } from "../../src/media/ogg/reader.js";
import { OggOpusWriter } from "../../src/media/ogg/writer.js";
import { opusPacketSamples } from "../../src/media/opus.js";
import { AudioSource, type AudioFrame } from "../../src/media/audio-source.js";
import { decodeToPcm, dominantFrequency } from "../../src/media/analysis.js";
import { FfmpegProcess } from "../../src/media/ffmpeg/process.js";
import { fakeOpus, ffmpegPath, tempDir, waitUntil, withTimeout } from "./helpers.js";

/** Bit-at-a-time CRC (no table), written straight from RFC 3533 §6: poly 0x04c11db7, init 0. */
function bitwiseCrc(data: Uint8Array): number {
  let crc = 0;
  for (const byte of data) {
    crc ^= byte << 24;
    for (let i = 0; i < 8; i++) crc = crc & 0x80000000 ? (crc << 1) ^ 0x04c11db7 : crc << 1;
    crc >>>= 0;
  }
  return crc >>> 0;
}

function readAll(bytes: Buffer, chunk = 0): { packets: OggPacket[]; reader: OggPacketReader } {
  const packets: OggPacket[] = [];
  const reader = new OggPacketReader((p) => packets.push(p));
  if (chunk <= 0) reader.push(bytes);
  else for (let i = 0; i < bytes.length; i += chunk) reader.push(bytes.subarray(i, i + chunk));
  return { packets, reader };
}

function collectWriter(opts: ConstructorParameters<typeof OggOpusWriter>[1] = {}): { w: OggOpusWriter; pages: Buffer[] } {
  const pages: Buffer[] = [];
  const w = OggOpusWriter.toSink((p) => pages.push(p), { flushIntervalMs: 60_000, ...opts });
  return { w, pages };
}

/** Pages parsed back with their header fields. */
function pageInfo(page: Buffer): { flags: number; granule: bigint; sequence: number; segments: number } {
  return { flags: page[5]!, granule: page.readBigInt64LE(6), sequence: page.readUInt32LE(18), segments: page[26]! };
}

describe("RFC 3533 §6 page checksum", () => {
  test("matches the catalogued check value for '123456789'", () => {
    // CRC-32/POSIX (same polynomial, init 0, no reflection) has check 0x765e7680 after a final
    // XOR with 0xffffffff; Ogg applies no final XOR.
    assert.equal(oggCrc32(Buffer.from("123456789")), (0x765e7680 ^ 0xffffffff) >>> 0);
  });

  test("table-driven CRC equals a bitwise implementation", () => {
    assert.equal(oggCrc32(Buffer.from("OggS")), bitwiseCrc(Buffer.from("OggS")));
    for (let i = 0; i < 20; i++) {
      const data = randomBytes(1 + i * 37);
      assert.equal(oggCrc32(data), bitwiseCrc(data));
    }
  });

  test("a constructed page carries the CRC of itself with the field zeroed", () => {
    const page = encodeOggPage({ flags: OggFlag.bos, granule: 0n, serial: 0x1234, sequence: 0, segments: [3], body: [Buffer.from("abc")] });
    const zeroed = Buffer.from(page);
    zeroed.writeUInt32LE(0, 22);
    assert.equal(page.readUInt32LE(22), bitwiseCrc(zeroed));
    assert.equal(oggPageCrc(page), page.readUInt32LE(22));
  });

  test("pages produced by ffmpeg pass our CRC check", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = path.join(dir, "ff.opus");
      const proc = FfmpegProcess.start(
        ["-hide_banner", "-nostdin", "-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "libopus", "-f", "ogg", file],
        { ffmpeg: ffmpegPath(), stdout: "ignore" },
      );
      const exit = await withTimeout(proc.exited, 20_000, "ffmpeg encode");
      assert.equal(exit.code, 0);
      const { packets, reader } = readAll(fs.readFileSync(file), 100);
      assert.equal(reader.stats.badPages, 0);
      assert.ok(reader.stats.pages >= 3);
      assert.equal(packets[0]!.data.toString("latin1", 0, 8), "OpusHead");
      assert.equal(packets[1]!.data.toString("latin1", 0, 8), "OpusTags");
    } finally {
      cleanup();
    }
  });
});

describe("OggOpusWriter (RFC 7845)", () => {
  test("§3 header pages: OpusHead alone on a BOS page, OpusTags on its own page, granule 0", () => {
    const { w, pages } = collectWriter({ tags: { TITLE: "standup", PARTICIPANT: "alice" }, preSkip: 312 });
    w.close();
    assert.equal(pages.length, 3);
    assert.equal(pageInfo(pages[0]!).flags, OggFlag.bos);
    assert.equal(pageInfo(pages[0]!).granule, 0n);
    assert.equal(pageInfo(pages[1]!).granule, 0n);
    assert.equal(pageInfo(pages[2]!).flags & OggFlag.eos, OggFlag.eos);
    const { packets } = readAll(Buffer.concat(pages));
    const head = packets[0]!.data;
    assert.equal(head.toString("latin1", 0, 8), "OpusHead");
    assert.equal(head[8], 1);
    assert.equal(head[9], 1);
    assert.equal(head.readUInt16LE(10), 312);
    assert.equal(head.readUInt32LE(12), 48000);
    assert.equal(head[18], 0);
    const tags = packets[1]!.data.toString("utf8");
    assert.match(tags, /^OpusTags/);
    assert.ok(tags.includes("conclave"));
    assert.ok(tags.includes("PARTICIPANT=alice"));
  });

  test("§4 granule of each page is the sample count through the last packet completed on it", () => {
    const { w, pages } = collectWriter();
    let ts = 1000;
    for (let i = 0; i < 10; i++) {
      w.writePacket(fakeOpus(), ts);
      ts += 960;
      if (i === 2 || i === 6) w.flush();
    }
    w.close();
    const audio = pages.slice(2).map(pageInfo);
    assert.deepEqual(audio.map((p) => p.granule), [3n * 960n, 7n * 960n, 10n * 960n]);
    assert.deepEqual(audio.map((p) => p.segments), [3, 4, 3]);
    assert.equal(audio[2]!.flags & OggFlag.eos, OggFlag.eos);
    assert.deepEqual(audio.map((p) => p.sequence), [2, 3, 4]);
    assert.equal(w.stats.durationSamples, 9600);
  });

  test("a flush happens before a page would exceed 255 segments", () => {
    const { w, pages } = collectWriter();
    for (let i = 0; i < 300; i++) w.writePacket(fakeOpus(), i * 960);
    w.close();
    const audio = pages.slice(2).map(pageInfo);
    assert.deepEqual(audio.map((p) => p.segments), [255, 45]);
    assert.equal(audio[0]!.granule, 255n * 960n);
    assert.equal(audio[1]!.granule, 300n * 960n);
  });

  test("flushIntervalMs bounds how long packets wait in memory", async () => {
    const pages: Buffer[] = [];
    const w = OggOpusWriter.toSink((p) => pages.push(p), { flushIntervalMs: 30 });
    w.writePacket(fakeOpus(), 0);
    assert.equal(pages.length, 2);
    await waitUntil(() => pages.length === 3, 2000, "timed flush");
    w.close();
  });

  test("gaps in RTP timestamps are filled with PLC packets", () => {
    const { w, pages } = collectWriter();
    w.writePacket(fakeOpus(), 0);
    w.writePacket(fakeOpus(), 960);
    w.writePacket(fakeOpus(), 4 * 960); // packets at 1920 and 2880 lost
    w.writePacket(fakeOpus(), 5 * 960 + 480); // 10 ms gap: one 10 ms PLC packet
    w.close();
    assert.equal(w.stats.plcPackets, 3);
    assert.equal(w.stats.packets, 4);
    const { packets } = readAll(Buffer.concat(pages));
    const audio = packets.slice(2);
    assert.deepEqual(audio.map((p) => p.data.length === 1), [false, false, true, true, false, true, false]);
    assert.deepEqual(audio.map((p) => opusPacketSamples(p.data)), [960, 960, 960, 960, 960, 480, 960]);
    assert.equal(audio.at(-1)!.granule, BigInt(6 * 960 + 480));
    // PLC packets keep the previous packet's config and stereo bits (code 0, no frame data).
    assert.equal(audio[2]!.data[0], 9 << 3);
  });

  test("late and duplicate packets are dropped; a jump over 30 s is a discontinuity, not filled", () => {
    const { w } = collectWriter();
    w.writePacket(fakeOpus(), 0);
    w.writePacket(fakeOpus(), 960);
    w.writePacket(fakeOpus(), 960); // duplicate
    w.writePacket(fakeOpus(), 0); // late
    assert.equal(w.stats.dropped, 2);
    w.writePacket(fakeOpus(), 960 + 960 + 48000 * 31); // sender restarted
    assert.equal(w.stats.discontinuities, 1);
    assert.equal(w.stats.plcPackets, 0);
    w.writePacket(fakeOpus(), 960 + 960 + 48000 * 31 + 960);
    assert.equal(w.stats.durationSamples, 4 * 960);
    w.writePacket(Buffer.alloc(0), 0);
    assert.equal(w.stats.invalid, 1);
    w.close();
    w.close(); // idempotent
  });

  test("RTP timestamps wrap around 2^32", () => {
    const { w, pages } = collectWriter();
    let ts = 0x1_0000_0000 - 2 * 960;
    w.writePacket(fakeOpus(), ts);
    ts = (ts + 960) >>> 0;
    w.writePacket(fakeOpus(), ts);
    ts = (ts + 2 * 960) >>> 0; // wraps past 0 and skips one packet
    assert.ok(ts < 960 * 2);
    w.writePacket(fakeOpus(), ts);
    w.writePacket(fakeOpus(), (ts - 960) >>> 0); // late, from before the wrap
    w.close();
    assert.equal(w.stats.plcPackets, 1);
    assert.equal(w.stats.dropped, 1);
    assert.equal(w.stats.durationSamples, 4 * 960);
    assert.equal(pageInfo(pages.at(-1)!).granule, 4n * 960n);
  });

  test("reader round-trips writer output, including a packet longer than 255*255 bytes", () => {
    const { w, pages } = collectWriter();
    const sent: Buffer[] = [];
    for (let i = 0; i < 40; i++) {
      const len = i === 20 ? 70_000 : 1 + ((i * 97) % 600);
      const p = randomBytes(len);
      p[0] = 9 << 3;
      sent.push(p);
      w.writePacket(p, i * 960);
      if (i % 7 === 0) w.flush();
    }
    w.close();
    const bytes = Buffer.concat(pages);
    for (const chunk of [0, 1, 13, 4096]) {
      const { packets, reader } = readAll(bytes, chunk);
      assert.equal(reader.stats.badPages, 0);
      const audio = packets.slice(2);
      assert.equal(audio.length, sent.length, `chunk ${chunk}`);
      for (let i = 0; i < sent.length; i++) assert.ok(audio[i]!.data.equals(sent[i]!), `packet ${i}`);
      // The big packet spans pages: the page it completes on has granule 21*960.
      assert.equal(audio[20]!.granule >= 21n * 960n, true);
    }
    // Page that starts mid-packet has the continued flag.
    assert.ok(pages.some((p) => (p[5]! & OggFlag.continued) !== 0));
  });

  test("reader resynchronises after garbage and drops pages with a bad CRC", () => {
    const { w, pages } = collectWriter();
    for (let i = 0; i < 5; i++) {
      w.writePacket(fakeOpus(20, i), i * 960);
      w.flush();
    }
    w.close();
    const corrupt = Buffer.from(pages[3]!);
    corrupt[corrupt.length - 1] ^= 0x01; // one flipped bit in packet 1's payload
    const bytes = Buffer.concat([
      Buffer.from("garbage OggS not a page"),
      pages[0]!,
      pages[1]!,
      pages[2]!,
      Buffer.from([0x4f, 0x67, 0x67]),
      corrupt,
      randomBytes(100),
      ...pages.slice(4),
    ]);
    const { packets, reader } = readAll(bytes, 7);
    assert.equal(reader.stats.badPages, 1);
    assert.ok(reader.stats.skippedBytes > 0);
    const audio = packets.slice(2).map((p) => p.data[1]);
    assert.deepEqual(audio, [0, 2, 3, 4]);
  });
});

describe("Ogg Opus files that ffmpeg reads", () => {
  let frames: AudioFrame[] = [];
  let dir = "";
  let cleanup = (): void => {};

  before(async () => {
    ({ dir, cleanup } = tempDir());
    const src = await AudioSource.open({ kind: "tone", frequency: 440 }, { ffmpeg: ffmpegPath() });
    try {
      src.on("frame", (f) => frames.push(f));
      await waitUntil(() => frames.length >= 100, 10_000, "100 tone frames");
    } finally {
      await src.close();
    }
    frames = frames.slice(0, 100); // exactly 2 s
  });
  after(() => cleanup());

  test("2 s of tone:440 recorded from a real AudioSource decodes to 2 s at 440 Hz", async () => {
    const file = path.join(dir, "tone.opus");
    const w = OggOpusWriter.open(file, { tags: { TITLE: "tone" } });
    let ts = 0xfffff000; // wraps during the recording
    for (const f of frames) {
      w.writePacket(f.payload, ts);
      ts = (ts + f.samples) >>> 0;
    }
    w.close();
    assert.equal(w.stats.durationSamples, 100 * 960);
    const pcm = await decodeToPcm(ffmpegPath(), file);
    assert.ok(Math.abs(pcm.length - (96000 - 312)) <= 960, `decoded ${pcm.length} samples`);
    const f = dominantFrequency(pcm, 48000);
    assert.ok(Math.abs(f - 440) < 3, `dominant ${f} Hz`);
    // ffmpeg's own view of the duration (`time=` on its progress line).
    const proc = FfmpegProcess.start(["-hide_banner", "-nostdin", "-i", file, "-f", "null", "-"], { ffmpeg: ffmpegPath(), stdout: "ignore" });
    await withTimeout(proc.exited, 20_000, "ffmpeg null decode");
    const time = /time=(\d+):(\d+):(\d+\.\d+)/.exec(proc.stderrTail.join("\n"));
    assert.ok(time, "ffmpeg printed time=");
    const seconds = Number(time[1]) * 3600 + Number(time[2]) * 60 + Number(time[3]);
    assert.ok(Math.abs(seconds - 2) < 0.05, `ffmpeg says ${seconds} s`);
  });

  test("lost packets filled with PLC keep the file's duration", async () => {
    const file = path.join(dir, "gaps.opus");
    const w = OggOpusWriter.open(file);
    let ts = 5000;
    frames.forEach((f, i) => {
      if (i % 10 !== 5) w.writePacket(f.payload, ts); // drop every 10th packet
      ts += f.samples;
    });
    w.close();
    assert.equal(w.stats.plcPackets, 10);
    const pcm = await decodeToPcm(ffmpegPath(), file);
    assert.ok(Math.abs(pcm.length - (96000 - 312)) <= 960, `decoded ${pcm.length} samples`);
    assert.ok(Math.abs(dominantFrequency(pcm, 48000) - 440) < 3);
  });

  test("a file cut mid-page (as after SIGKILL) still decodes up to the cut", async () => {
    const full = path.join(dir, "full.opus");
    const w = OggOpusWriter.open(full);
    frames.forEach((f, i) => {
      w.writePacket(f.payload, i * 960);
      if (i % 10 === 9) w.flush(); // pages of 200 ms
    });
    const bytes = fs.readFileSync(full); // no close(): no EOS page, like a killed process
    w.close();
    // Find the start of the 8th audio page and cut in the middle of it.
    const starts: number[] = [];
    for (let i = bytes.indexOf("OggS"); i >= 0; i = bytes.indexOf("OggS", i + 1)) starts.push(i);
    const cutPage = 2 + 7;
    const cut = starts[cutPage]! + Math.floor((starts[cutPage + 1]! - starts[cutPage]!) / 2);
    const truncated = path.join(dir, "truncated.opus");
    fs.writeFileSync(truncated, bytes.subarray(0, cut));
    const { reader } = readAll(bytes.subarray(0, cut));
    assert.equal(reader.stats.badPages, 0);
    const pcm = await decodeToPcm(ffmpegPath(), truncated);
    const expected = 7 * 10 * 960 - 312; // the 7 complete audio pages
    assert.ok(pcm.length >= expected - 960 && pcm.length <= expected + 10 * 960, `decoded ${pcm.length}, expected ~${expected}`);
    assert.ok(Math.abs(dominantFrequency(pcm, 48000) - 440) < 3);
  });
});
