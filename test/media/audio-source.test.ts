import { test, describe } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { MediaError, UsageError } from "../../src/errors.js";
import { AudioSource, parseAudioSource } from "../../src/media/audio-source.js";
import { FfmpegProcess, liveFfmpegCount } from "../../src/media/ffmpeg/process.js";
import { ffmpegPath, isAlive, tempDir, waitUntil, withTimeout } from "./helpers.js";

describe("parseAudioSource", () => {
  test("accepted forms", () => {
    assert.deepEqual(parseAudioSource("tone:440"), { kind: "tone", frequency: 440 });
    assert.deepEqual(parseAudioSource("tone:1000.5"), { kind: "tone", frequency: 1000.5 });
    assert.deepEqual(parseAudioSource("file:/tmp/a.wav"), { kind: "file", path: "/tmp/a.wav", loop: false });
    assert.deepEqual(parseAudioSource("./music.ogg", { loop: true }), { kind: "file", path: "./music.ogg", loop: true });
    assert.deepEqual(parseAudioSource("file:odd:name.wav"), { kind: "file", path: "odd:name.wav", loop: false });
    assert.deepEqual(parseAudioSource("http://host/stream.mp3"), { kind: "file", path: "http://host/stream.mp3", loop: false });
    assert.deepEqual(parseAudioSource("device:default"), { kind: "device", name: "default", backend: "alsa" });
    assert.deepEqual(parseAudioSource("device:hw:1,0"), { kind: "device", name: "hw:1,0", backend: "alsa" });
    assert.deepEqual(parseAudioSource("device:pulse:alsa_input.usb"), { kind: "device", name: "alsa_input.usb", backend: "pulse" });
    assert.deepEqual(parseAudioSource("pulse:default"), { kind: "device", name: "default", backend: "pulse" });
    assert.deepEqual(parseAudioSource("silence"), { kind: "silence" });
    assert.deepEqual(parseAudioSource(" none "), { kind: "none" });
  });

  test("invalid forms are UsageErrors listing the accepted forms", () => {
    for (const bad of ["", "tone:", "tone:0", "tone:20001", "tone:abc", "tone:-5", "device:", "pulse:", "file:", "mic:front"]) {
      assert.throws(
        () => parseAudioSource(bad),
        (e: unknown) => e instanceof UsageError && e.message.includes("tone:FREQ") && e.message.includes("device:NAME"),
        bad,
      );
    }
  });
});

describe("AudioSource", () => {
  test("tone emits Opus frames paced in real time (~50/s)", async () => {
    const t0 = performance.now();
    const src = await AudioSource.open({ kind: "tone", frequency: 440 }, { ffmpeg: ffmpegPath() });
    try {
      const frames: number[] = [];
      src.on("frame", (f) => {
        assert.equal(f.samples, 960);
        assert.ok(f.payload.length > 1);
        frames.push(performance.now());
      });
      await waitUntil(() => frames.length > 0, 5000, "first frame");
      const first = frames[0]! - t0;
      // The rate: how long the next 50 frames take (20 ms each in real time: 1 s).
      await waitUntil(() => frames.length > 50, 5000, "50 more frames");
      const rate = (50 * 1000) / (frames[50]! - frames[0]!);
      assert.ok(rate >= 35 && rate <= 65, `${rate.toFixed(1)} frames per second`);
      assert.ok(first < 1000, `first frame after ${first} ms`);
      assert.ok(src.firstFrameLatencyMs !== null);
    } finally {
      await src.close();
    }
  });

  test("several listeners share one source", async () => {
    const src = await AudioSource.open({ kind: "silence" }, { ffmpeg: ffmpegPath() });
    try {
      let a = 0;
      let b = 0;
      src.on("frame", () => a++);
      src.on("frame", () => b++);
      await waitUntil(() => a >= 5, 5000, "frames");
      assert.equal(a, b);
    } finally {
      await src.close();
    }
  });

  test("an unreadable file is rejected before ffmpeg is spawned", async () => {
    // A bogus ffmpeg path proves no spawn happens: spawning would fail with another code.
    await assert.rejects(
      AudioSource.open({ kind: "file", path: "/nonexistent/voice.wav", loop: false }, { ffmpeg: "/nonexistent/ffmpeg" }),
      (e: unknown) => e instanceof MediaError && e.code === "source-unreadable" && e.message.includes("/nonexistent/voice.wav"),
    );
    const { dir, cleanup } = tempDir();
    try {
      await assert.rejects(
        AudioSource.open({ kind: "file", path: dir, loop: false }, { ffmpeg: "/nonexistent/ffmpeg" }),
        (e: unknown) => e instanceof MediaError && e.code === "source-unreadable" && /directory/.test(e.message),
      );
    } finally {
      cleanup();
    }
  });

  test("a file that is not audio is source-unreadable with ffmpeg's reason", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = path.join(dir, "notes.txt");
      (await import("node:fs")).writeFileSync(file, "hello, not audio\n");
      await assert.rejects(
        AudioSource.open({ kind: "file", path: file, loop: false }, { ffmpeg: ffmpegPath() }),
        (e: unknown) => e instanceof MediaError && e.code === "source-unreadable" && /Invalid data|no audio stream/.test(e.message),
      );
      assert.equal(liveFfmpegCount(), 0);
    } finally {
      cleanup();
    }
  });

  test("device:nonexistent rejects with device-unavailable and leaves no process", async () => {
    await assert.rejects(
      AudioSource.open(parseAudioSource("device:nonexistent"), { ffmpeg: ffmpegPath() }),
      (e: unknown) => e instanceof MediaError && e.code === "device-unavailable" && e.message.includes('"nonexistent"'),
    );
    await assert.rejects(
      AudioSource.open(parseAudioSource("pulse:nonexistent"), { ffmpeg: ffmpegPath() }),
      (e: unknown) => e instanceof MediaError && e.code === "device-unavailable",
    );
    assert.equal(liveFfmpegCount(), 0);
  });

  test("kind none is a TypeError", async () => {
    await assert.rejects(AudioSource.open({ kind: "none" }, { ffmpeg: ffmpegPath() }), TypeError);
  });

  test("a file plays to its end and emits 'end' then 'close'; looping keeps going", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = path.join(dir, "short.wav");
      const enc = FfmpegProcess.start(
        ["-hide_banner", "-nostdin", "-f", "lavfi", "-i", "sine=frequency=300:duration=0.3", "-ac", "1", file],
        { ffmpeg: ffmpegPath(), stdout: "ignore" },
      );
      assert.equal((await withTimeout(enc.exited, 10_000, "make wav")).code, 0);

      const once = await AudioSource.open(parseAudioSource(file), { ffmpeg: ffmpegPath() });
      const events: string[] = [];
      once.on("end", () => events.push("end"));
      once.on("error", (e) => events.push(`error ${e.message}`));
      const closed = new Promise<void>((r) => once.on("close", () => r()));
      await withTimeout(closed, 5000, "end of file");
      assert.deepEqual(events, ["end"]);
      assert.ok(once.frames >= 14 && once.frames <= 17, `${once.frames} frames for 0.3 s`);
      await once.close();

      const looped = await AudioSource.open(parseAudioSource(file, { loop: true }), { ffmpeg: ffmpegPath() });
      try {
        let ended = false;
        looped.on("end", () => (ended = true));
        await waitUntil(() => looped.frames >= 30, 5000, "looped frames past the file's length");
        assert.equal(ended, false);
      } finally {
        await looped.close();
      }
    } finally {
      cleanup();
    }
  });

  test("close() is idempotent and leaves no child running", async () => {
    const src = await AudioSource.open({ kind: "tone", frequency: 1000 }, { ffmpeg: ffmpegPath() });
    const pid = src.pid!;
    assert.ok(isAlive(pid));
    let closes = 0;
    src.on("close", () => closes++);
    await Promise.all([src.close(), src.close()]);
    await src.close();
    assert.equal(isAlive(pid), false);
    assert.equal(closes, 1);
    assert.equal(liveFfmpegCount(), 0);
  });
});
