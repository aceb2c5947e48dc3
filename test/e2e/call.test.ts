/**
 * End to end over 127.0.0.1 with real werift peers, real ffmpeg and real libsodium: tones go through
 * the relay encrypted, get recorded and decoded, and the recording's pitch is checked.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { Participant, Recorder, newInvite, resolveFfmpeg, parseAudioSource, type ConclaveEvent } from "../../src/index.js";
import { sharedRelay } from "../helpers/relay-fixture.js";
import { decodeToPcm, dominantFrequency } from "../../src/media/index.js";
import { tempDir, waitFor, waitForEvent, runCli, stopCli } from "../helpers/util.js";

const ffmpeg = resolveFfmpeg().path;
const shared = sharedRelay();

async function joinRoom(invite: string, name: string, tone?: number): Promise<Participant> {
  const p = await Participant.join(invite, { name, ffmpeg, statsIntervalMs: 500 });
  shared.defer(() => p.close());
  if (tone) await p.publish(parseAudioSource(`tone:${tone}`));
  return p;
}

function events(p: Participant): (ConclaveEvent & { time: string })[] {
  const list: (ConclaveEvent & { time: string })[] = [];
  p.on("event", (e) => list.push(e));
  return list;
}

test("a tone sent by one participant is recorded by another with the right pitch", async () => {
  const dir = tempDir();
  shared.defer(() => dir.cleanup());
  const invite = newInvite(shared.url);
  const alice = await joinRoom(invite, "alice", 440);
  const recorder = await Recorder.start(invite, { outDir: dir.path, ffmpeg });
  shared.defer(async () => void (await recorder.close()));
  await waitFor(() => recorder.files.some((f) => f.packets >= 150), 15_000, "3 s of recorded audio");
  const files = await recorder.close();
  assert.equal(files.length, 1);
  assert.equal(files[0]!.name, "alice");
  const pcm = await decodeToPcm(ffmpeg, files[0]!.path);
  assert.ok(pcm.length > 48000 * 2, `decoded ${pcm.length} samples`);
  const freq = dominantFrequency(pcm.subarray(4800), 48000);
  assert.ok(Math.abs(freq - 440) < 5, `dominant frequency ${freq} Hz`);
  await alice.close();
});

test("three participants each hear the other two, and a late joiner is heard and recorded", async () => {
  const dir = tempDir();
  shared.defer(() => dir.cleanup());
  const invite = newInvite(shared.url);
  const a = await joinRoom(invite, "a", 300);
  const b = await joinRoom(invite, "b", 500);
  const c = await joinRoom(invite, "c", 700);
  for (const p of [a, b, c]) {
    await waitFor(() => p.heard.length === 2, 10_000, `${p.e2ee.memberInfo(p.peerId)?.name ?? "participant"} hears two others`);
  }
  const recorder = await Recorder.start(invite, { outDir: dir.path, ffmpeg });
  shared.defer(async () => void (await recorder.close()));
  const late = await joinRoom(invite, "late", 900);
  for (const p of [a, b, c]) await waitFor(() => p.heard.includes(late.peerId), 10_000, "everyone hears the late joiner");
  await waitFor(() => recorder.files.length === 4 && recorder.files.every((f) => f.packets >= 100), 15_000, "four files of 2 s");
  const files = await recorder.close();
  const byName = new Map(files.map((f) => [f.name, f.path]));
  for (const [name, freq] of [["a", 300], ["b", 500], ["c", 700], ["late", 900]] as const) {
    const pcm = await decodeToPcm(ffmpeg, byName.get(name)!);
    const got = dominantFrequency(pcm.subarray(4800), 48000);
    assert.ok(Math.abs(got - freq) < 8, `${name}: expected ${freq} Hz, got ${got}`);
  }
  for (const p of [a, b, c, late]) {
    assert.equal(p.e2ee.stats.decryptFailures, 0);
    await p.close();
  }
});

test("a killed participant is removed and the others get peer-left within 5 s", async () => {
  const invite = newInvite(shared.url);
  const a = await joinRoom(invite, "stayer");
  const log = events(a);
  const cli = runCli(["join", invite, "--json", "--name", "doomed", "--audio", "tone:440", "--headless"], {
    XDG_CONFIG_HOME: tempDir().path,
  });
  shared.defer(() => void stopCli(cli));
  await waitFor(() => log.some((e) => e.type === "peer-joined" && e.name === "doomed"), 15_000, "the CLI participant to join");
  const killedAt = Date.now();
  cli.kill("SIGKILL");
  await waitForEvent(a, "event", (e: ConclaveEvent) => e.type === "peer-left" && e.name === "doomed", 5000);
  assert.ok(Date.now() - killedAt < 5000);
  await a.close();
});

test("a SIGKILLed recorder leaves files that still decode", async () => {
  const dir = tempDir();
  shared.defer(() => dir.cleanup());
  const invite = newInvite(shared.url);
  await joinRoom(invite, "speaker", 523);
  const rec = runCli(["record", invite, "--out", dir.path, "--json"], { XDG_CONFIG_HOME: tempDir().path });
  shared.defer(() => void stopCli(rec));
  await rec.waitForLine((l) => l.type === "recording" && Array.isArray(l.files) && (l.files as unknown[]).length > 0, 15_000, "the recorder to open a file");
  const file = () => join(dir.path, readdirSync(dir.path).find((f) => f.endsWith(".ogg"))!);
  await waitFor(() => statSync(file()).size > 20_000, 15_000, "the file to grow past 20 kB (~3 s)");
  rec.kill("SIGKILL");
  await rec.exited;
  const pcm = await decodeToPcm(ffmpeg, file());
  assert.ok(pcm.length > 48000 * 2, `decoded ${pcm.length / 48000} s after SIGKILL`);
  const got = dominantFrequency(pcm.subarray(4800), 48000);
  assert.ok(Math.abs(got - 523) < 8, `pitch ${got}`);
});
