/**
 * Bad networks: a listener behind a lossy, jittery path (5% loss; 15% loss with 100 ms jitter) keeps
 * hearing and recording a speaker. Reports what reached the listener.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Participant, Recorder, resolveFfmpeg, parseAudioSource } from "../../src/index.js";
import { sharedRelay } from "../helpers/relay-fixture.js";
import { decodeToPcm, dominantFrequency } from "../../src/media/index.js";
import { LossyPath } from "../helpers/lossy-path.js";
import { tempDir, waitFor } from "../helpers/util.js";
import { newInvite } from "../../src/index.js";

const ffmpeg = resolveFfmpeg().path;
const shared = sharedRelay();

for (const { loss, jitterMs } of [
  { loss: 0.05, jitterMs: 0 },
  { loss: 0.15, jitterMs: 100 },
]) {
  test(`audio keeps flowing over a path with ${loss * 100}% loss and ${jitterMs} ms jitter`, async () => {
    // The path is impaired once the call is up: werift's DTLS handshake does not survive reordering,
    // and a lost handshake flight costs a werift retransmit timeout, which makes the join time vary.
    const path = new LossyPath({ relay: shared.url, loss, jitterMs, seed: 7, impairHandshake: false });
    const pathUrl = await path.start();
    const dir = tempDir();
    const invite = newInvite(shared.url);
    const viaPath = invite.replace(shared.url, pathUrl);
    const speaker = await Participant.join(invite, { name: "speaker", ffmpeg, statsIntervalMs: 0 });
    const listener = await Participant.join(viaPath, { name: "listener", ffmpeg, statsIntervalMs: 0, timeoutMs: 15_000 });
    const recorder = await Recorder.start(viaPath, { outDir: dir.path, ffmpeg, statsIntervalMs: 0, timeoutMs: 15_000 });
    try {
      path.impair();
      await speaker.publish(parseAudioSource("tone:440"));
      await waitFor(() => listener.heard.length === 1, 10_000, "the listener hears the speaker");
      await waitFor(() => (listener.receiveStatsOf(speaker.peerId)?.packetsReceived ?? 0) >= 150, 15_000, "3 s of audio at the listener");
      const sent = speaker.statsEvent();
      const got = listener.receiveStatsOf(speaker.peerId)!;
      const files = await recorder.close();
      const pcm = await decodeToPcm(ffmpeg, files[0]!.path);
      const freq = dominantFrequency(pcm.subarray(4800), 48000);
      const report = {
        loss,
        jitterMs,
        proxyDropped: path.stats.dropped,
        listenerReceived: got.packetsReceived,
        listenerLossPct: Math.round(got.lossRate * 1000) / 10,
        jitterMeasuredMs: Math.round(got.jitterMs * 10) / 10,
        recordedSeconds: Math.round((pcm.length / 48000) * 10) / 10,
        recordedPitchHz: Math.round(freq),
        decryptFailures: listener.e2ee.stats.decryptFailures,
        sent: sent.type === "stats" ? sent.sent.packets : 0,
      };
      console.log(JSON.stringify(report));
      assert.ok(got.lossRate < loss * 3 + 0.05, `loss at the listener ${got.lossRate}`);
      assert.equal(listener.e2ee.stats.decryptFailures, 0, "loss is not a decryption failure");
      assert.ok(Math.abs(freq - 440) < 10, `recorded pitch ${freq}`);
      assert.ok(pcm.length / 48000 >= 2.5, "the recording covers the call");
    } finally {
      await recorder.close();
      await listener.close();
      await speaker.close();
      await path.close();
      dir.cleanup();
    }
  });
}

test("a speaker behind a lossy path learns its upload loss from the relay's receiver reports", async () => {
  // The relay takes the speaker's audio upload over from werift (its lean receive path); the RTCP
  // receiver reports werift still sends for that upload must keep counting what arrives.
  const path = new LossyPath({ relay: shared.url, loss: 0.1, jitterMs: 0, seed: 11, impairHandshake: false });
  const pathUrl = await path.start();
  const invite = newInvite(shared.url);
  const speaker = await Participant.join(invite.replace(shared.url, pathUrl), { name: "speaker", ffmpeg, statsIntervalMs: 0, timeoutMs: 15_000 });
  const listener = await Participant.join(invite, { name: "listener", ffmpeg, statsIntervalMs: 0 });
  try {
    await speaker.publish(parseAudioSource("tone:440"));
    await waitFor(() => listener.heard.length === 1, 10_000, "the listener hears the speaker");
    path.impair();
    const sender = (speaker as unknown as { upload: { sender: { remotePacketsLost?: number } } }).upload.sender;
    await waitFor(() => (sender.remotePacketsLost ?? 0) > 0, 10_000, "a receiver report from the relay that counts lost upload packets");
    assert.ok(path.stats.dropped > 0);
  } finally {
    await listener.close();
    await speaker.close();
    await path.close();
  }
});
