import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { MediaError } from "../../src/errors.js";
import { AudioSource, type AudioSourceSpec } from "../../src/media/audio-source.js";
import { decodeToPcm, dominantFrequency, OpusLevelMeter, rmsDbfs, SILENCE_DBFS } from "../../src/media/analysis.js";
import { opusPlcPacket } from "../../src/media/opus.js";
import { ffmpegPath, waitUntil } from "./helpers.js";

function sine(freq: number, rate: number, seconds: number, amp = 0.5): Float32Array {
  const out = new Float32Array(Math.round(rate * seconds));
  for (let i = 0; i < out.length; i++) out[i] = amp * Math.sin((2 * Math.PI * freq * i) / rate);
  return out;
}

async function framesOf(spec: AudioSourceSpec, count: number): Promise<Buffer[]> {
  const src = await AudioSource.open(spec, { ffmpeg: ffmpegPath() });
  const frames: Buffer[] = [];
  try {
    src.on("frame", (f) => frames.push(f.payload));
    await waitUntil(() => frames.length >= count, 10_000, `${count} frames`);
  } finally {
    await src.close();
  }
  return frames.slice(0, count);
}

describe("analysis", () => {
  test("dominantFrequency finds a pure tone within 1 Hz", () => {
    for (const [f, rate, secs] of [[440, 48000, 1], [1000.5, 48000, 0.5], [3150, 48000, 2], [440, 16000, 0.25], [97, 8000, 1]] as const) {
      const got = dominantFrequency(sine(f, rate, secs), rate);
      assert.ok(Math.abs(got - f) < 1, `${f} Hz at ${rate}: got ${got}`);
    }
    assert.equal(dominantFrequency(new Float32Array(4800), 48000), 0);
  });

  test("rmsDbfs", () => {
    assert.ok(Math.abs(rmsDbfs(sine(440, 48000, 1, 1)) - -3.0103) < 0.01);
    assert.ok(Math.abs(rmsDbfs(sine(440, 48000, 1, 0.1)) - -23.0103) < 0.01);
    assert.equal(rmsDbfs(new Float32Array(100)), SILENCE_DBFS);
    assert.equal(rmsDbfs([]), SILENCE_DBFS);
  });

  test("decodeToPcm of a missing file is a MediaError", async () => {
    await assert.rejects(decodeToPcm(ffmpegPath(), "/nonexistent/x.opus"), (e: unknown) => e instanceof MediaError && e.code === "decode-failed");
  });

  test("OpusLevelMeter rises on tone frames and falls on silence, with hysteresis", async () => {
    const [tone, silence] = [await framesOf({ kind: "tone", frequency: 440 }, 25), await framesOf({ kind: "silence" }, 40)];
    const meter = await OpusLevelMeter.create();
    try {
      assert.equal(meter.speaking, false);
      for (const p of tone) meter.push(p);
      const loud = meter.level;
      assert.ok(loud > -30, `tone level ${loud}`);
      assert.equal(meter.speaking, true);
      meter.push(silence[0]!);
      assert.equal(meter.speaking, true, "one quiet frame does not end speech");
      for (const p of silence.slice(1)) meter.push(p);
      assert.ok(meter.level < -60, `silence level ${meter.level}`);
      assert.equal(meter.speaking, false);
      meter.push(opusPlcPacket(tone[0])); // a concealed frame must not throw
    } finally {
      meter.free();
      meter.free();
    }
  });
});
