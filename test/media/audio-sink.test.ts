import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { MediaError } from "../../src/errors.js";
import { AudioPlayer } from "../../src/media/audio-sink.js";
import { liveFfmpegCount } from "../../src/media/ffmpeg/process.js";
import { AudioSource } from "../../src/media/audio-source.js";
import { ffmpegPath, waitUntil, withTimeout } from "./helpers.js";

describe("AudioPlayer", () => {
  test("plays Opus packets through ffmpeg (null output) and closes cleanly", async () => {
    const src = await AudioSource.open({ kind: "tone", frequency: 440 }, { ffmpeg: ffmpegPath() });
    const player = AudioPlayer.open({ ffmpeg: ffmpegPath(), output: { backend: "null" } });
    const errors: MediaError[] = [];
    player.on("error", (e) => errors.push(e));
    try {
      let ts = 777;
      src.on("frame", (f) => {
        player.writePacket(f.payload, ts);
        ts += f.samples;
        if (player.stats.packets % 10 === 0) ts += 960; // a lost packet now and then
      });
      await waitUntil(() => player.stats.packets >= 25, 5000, "25 packets");
    } finally {
      await src.close();
      await withTimeout(player.close(), 5000, "player close");
    }
    assert.deepEqual(errors, []);
    assert.ok(player.stats.plcPackets >= 1);
    assert.equal(liveFfmpegCount(), 0);
  });

  test("a missing output device is an 'error' event with device-unavailable, not a crash", async () => {
    const player = AudioPlayer.open({ ffmpeg: ffmpegPath(), output: { backend: "alsa", device: "nonexistent" } });
    const failed = new Promise<MediaError>((r) => player.once("error", r));
    const src = await AudioSource.open({ kind: "tone", frequency: 440 }, { ffmpeg: ffmpegPath() });
    try {
      let ts = 0;
      src.on("frame", (f) => {
        player.writePacket(f.payload, ts); // keeps writing after the failure: must be ignored
        ts += f.samples;
      });
      const err = await withTimeout(failed, 10_000, "device error");
      assert.equal(err.code, "device-unavailable");
      assert.match(err.message, /nonexistent/);
      await waitUntil(() => src.frames > player.stats.packets + 3, 5000, "frames after failure");
      assert.equal(player.finished, true);
    } finally {
      await src.close();
      await player.close();
    }
    assert.equal(liveFfmpegCount(), 0);
  });

  test("an ffmpeg that cannot run is an 'error' event too", async () => {
    const player = AudioPlayer.open({ ffmpeg: "/nonexistent/ffmpeg" });
    const err = await withTimeout(new Promise<MediaError>((r) => player.once("error", r)), 5000, "error");
    assert.equal(err.code, "ffmpeg-start-failed");
    player.writePacket(Buffer.from([9 << 3, 1, 2]), 0);
    await player.close();
  });
});
