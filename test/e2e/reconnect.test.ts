/**
 * Fault injection: the relay is killed and restarted during a call. Participants and a recorder
 * reconnect, prove membership again, take fresh keys and resume media within 5 s of the relay being
 * back; the recording keeps its file and loses at most the outage.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Relay, Participant, Recorder, newInvite, resolveFfmpeg, parseAudioSource, type ConclaveEvent } from "../../src/index.js";
import { decodeToPcm } from "../../src/media/index.js";
import { tempDir, waitFor } from "../helpers/util.js";

const ffmpeg = resolveFfmpeg().path;

test("relay killed and restarted during a call: clients reconnect and media resumes within 5 s", async () => {
  const dir = tempDir();
  let relay = new Relay({ host: "127.0.0.1", port: 0 });
  const url = await relay.start();
  const port = relay.port;
  const invite = newInvite(url);
  const events: Record<string, (ConclaveEvent & { time: string })[]> = { a: [], b: [] };
  const a = await Participant.join(invite, { name: "a", ffmpeg, onEvent: (e) => events.a!.push(e), statsIntervalMs: 0 });
  const b = await Participant.join(invite, { name: "b", ffmpeg, onEvent: (e) => events.b!.push(e), statsIntervalMs: 0 });
  const recorder = await Recorder.start(invite, { outDir: dir.path, ffmpeg, statsIntervalMs: 0 });
  try {
    await a.publish(parseAudioSource("tone:440"));
    await b.publish(parseAudioSource("tone:660"));
    await waitFor(() => a.heard.length === 1 && b.heard.length === 1, 10_000, "a and b hear each other");
    await waitFor(() => recorder.files.length === 2 && recorder.files.every((f) => f.packets > 50), 10_000, "recording started");

    // Fault: the relay goes away (every socket and PeerConnection dropped), then comes back on the same port.
    await relay.close();
    await waitFor(() => events.a!.some((e) => e.type === "reconnecting"), 5000, "a notices the outage");
    const outageStart = Date.now();
    relay = new Relay({ host: "127.0.0.1", port });
    await relay.start();
    const backAt = Date.now();
    await waitFor(() => events.a!.some((e) => e.type === "reconnected") && events.b!.some((e) => e.type === "reconnected"), 5000, "both reconnect");
    await waitFor(() => a.heard.length === 1 && b.heard.length === 1, 5000, "media resumes after reconnect");
    const resumedMs = Date.now() - backAt;
    assert.ok(resumedMs <= 5000, `media resumed ${resumedMs} ms after the relay was back`);
    assert.equal(a.e2ee.stats.decryptFailures, 0);
    const filesBefore = recorder.files.map((f) => f.path).sort();
    const packetsAt = new Map(recorder.files.map((f) => [f.path, f.packets]));
    await waitFor(() => recorder.files.every((f) => f.packets > (packetsAt.get(f.path) ?? 0) + 50), 8000, "recording resumes");
    assert.deepEqual(recorder.files.map((f) => f.path).sort(), filesBefore, "the recorder keeps writing to the same files");
    const outageMs = Date.now() - outageStart;
    const files = await recorder.close();
    for (const f of files) {
      const pcm = await decodeToPcm(ffmpeg, f.path);
      // The file covers the whole call; the outage is filled, not lost beyond it.
      assert.ok(pcm.length / 48000 > 2, `${f.name}: ${pcm.length / 48000} s decoded`);
    }
    console.log(JSON.stringify({ faultsInjected: 1, callsSurvived: 1, resumedMs, outageMs }));
  } finally {
    await recorder.close();
    await a.close();
    await b.close();
    await relay.close();
    dir.cleanup();
  }
});
