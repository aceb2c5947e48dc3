/**
 * End-to-end encryption, proved over 127.0.0.1 with the real relay, real werift peers, real ffmpeg
 * and real libsodium (issue 3; docs/security.md names the property each test shows). The relay's
 * `onForward` hook captures every SFrame payload it forwards — what an operator could record — and
 * a PcapWriter writes the same packets to a pcap file, as `conclave serve --pcap` does.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  Relay,
  Participant,
  Recorder,
  newInvite,
  parseInvite,
  formatInvite,
  resolveFfmpeg,
  parseAudioSource,
  AudioSource,
  type ConclaveEvent,
  type JoinOptions,
} from "../../src/index.js";
import { OggPacketReader, PcapWriter, readPcapRtp } from "../../src/media/index.js";
import { encodeRoomSecret, newRoomSecret, kidFor, splitKid } from "../../src/crypto/index.js";
import { decodeHeader } from "../../src/crypto/sframe/index.js";
import { tempDir, waitFor } from "../helpers/util.js";
import { keyRingFrom, ringDecrypts } from "../helpers/leaked-keys.js";
import { releaseLeakedUdpSockets } from "../helpers/werift-leaks.js";

type Stamped = ConclaveEvent & { time: string };

interface Forwarded {
  peerId: string;
  payload: Buffer;
  at: number;
}

const ffmpeg = resolveFfmpeg().path;
let relay: Relay;
let url: string;
const forwarded: Forwarded[] = [];
const pcapDir = tempDir("conclave-pcap-");
const pcapPath = join(pcapDir.path, "relay.pcap");
let pcap: PcapWriter;
const cleanups: (() => Promise<void> | void)[] = [];

before(async () => {
  pcap = PcapWriter.open(pcapPath);
  relay = new Relay({
    host: "127.0.0.1",
    port: 0,
    onForward: (peerId, rtp) => {
      forwarded.push({ peerId, payload: Buffer.from(rtp.payload), at: Date.now() });
      pcap.write(rtp.serialize());
    },
  });
  url = await relay.start();
});

after(async () => {
  for (const c of cleanups.reverse()) await c();
  await relay.close();
  pcap.close();
  pcapDir.cleanup();
  releaseLeakedUdpSockets();
});

async function joinRoom(invite: string, name: string, tone?: number, options: JoinOptions = {}): Promise<{ p: Participant; events: Stamped[] }> {
  const events: Stamped[] = [];
  const p = await Participant.join(invite, { name, ffmpeg, statsIntervalMs: 500, onEvent: (e) => events.push(e), ...options });
  cleanups.push(() => p.close());
  if (tone) await p.publish(parseAudioSource(`tone:${tone}`));
  return { p, events };
}

function leaveRotations(events: Stamped[]): (Stamped & { type: "key-rotated" })[] {
  return events.filter((e): e is Stamped & { type: "key-rotated" } => e.type === "key-rotated" && e.reason === "leave");
}

function generationOf(payload: Uint8Array): number {
  return splitKid(decodeHeader(payload).kid).generation;
}

function sentPackets(p: Participant): number {
  const e = p.statsEvent();
  return e.type === "stats" ? e.sent.packets : 0;
}

/** Frames of `p` the relay forwarded after `since` (ms since the epoch). */
function forwardedOf(p: Participant, since = 0): number {
  return forwarded.filter((f) => f.peerId === p.peerId && f.at > since).length;
}

/** Wait until the relay has forwarded `count` more frames of each of `members` from now on. */
async function framesFlow(members: Participant[], count: number, what: string): Promise<void> {
  const since = Date.now();
  await waitFor(() => members.every((p) => forwardedOf(p, since) >= count), 15_000, what);
}

test("P5: after a leave the remaining members switch keys within 1 s, and nothing they send after opens with the leaver's keys", async () => {
  const invite = newInvite(url);
  const a = await joinRoom(invite, "a", 300);
  const b = await joinRoom(invite, "b", 500);
  const c = await joinRoom(invite, "c", 700);
  for (const x of [a, b, c]) await waitFor(() => x.p.heard.length === 2, 15_000, "everyone hears the other two");
  const keyedAt = Date.now();
  // Let about a second of traffic flow under the keys the leaver holds.
  const before = new Map([a, b].map((x) => [x, sentPackets(x.p)]));
  await waitFor(() => [a, b].every((x) => sentPackets(x.p) >= before.get(x)! + 50), 10_000, "a second of audio from a and b");
  // Everything the leaver could still use: every receive key it holds when it leaves.
  const leakedAt = Date.now();
  const leaked = c.p.e2ee.exportReceiveKeysForTest();
  assert.ok(leaked.some((k) => k.peerId === a.p.peerId) && leaked.some((k) => k.peerId === b.p.peerId));
  const ring = keyRingFrom(leaked, 4);
  await c.p.close();
  for (const x of [a, b]) await waitFor(() => leaveRotations(x.events).length >= 1, 5000, "a key-rotated leave event");
  // Then more than a second of traffic after the switch.
  const after = new Map([a, b].map((x) => [x, sentPackets(x.p)]));
  await waitFor(() => [a, b].every((x) => sentPackets(x.p) >= after.get(x)! + 75), 10_000, "1.5 s of audio after the switch");

  for (const x of [a, b]) {
    const rotation = leaveRotations(x.events)[0]!;
    assert.ok(rotation.tookMs <= 1000, `the switch took ${rotation.tookMs} ms`);
    const switchedAt = Date.parse(rotation.at);
    const mine = forwarded.filter((f) => f.peerId === x.p.peerId);
    const before = mine.filter((f) => f.at > keyedAt + 100 && f.at <= leakedAt);
    // Frames under the key the member switched to (the KID says which key a frame is under) ...
    const after = mine.filter((f) => f.at > leakedAt && generationOf(f.payload) >= rotation.generation);
    assert.ok(before.length >= 30, `${before.length} frames before the leave`);
    assert.ok(after.length >= 50, `${after.length} frames after the switch`);
    // ... which is every frame the relay forwarded once the switch had taken effect.
    for (const f of mine.filter((f) => f.at > switchedAt + 500)) assert.ok(generationOf(f.payload) >= rotation.generation, "sent under the new key");
    // The leaver could read this member while it was in the room ...
    for (const f of before) assert.ok(ringDecrypts(ring, 4, f.payload), "a frame sent while the leaver was a member opens with its keys");
    // ... and nothing after the switch, with any key it held or any ratchet of one.
    for (const f of after) assert.equal(ringDecrypts(ring, 4, f.payload, true), false, "a frame sent after the leave opened with the leaver's keys");
  }
  assert.ok(a.p.heard.includes(b.p.peerId) && b.p.heard.includes(a.p.peerId));
  for (const x of [a, b]) assert.equal(x.p.e2ee.stats.decryptFailures, 0);
  await Promise.all([a.p.close(), b.p.close()]);
});

test("P6: a newcomer cannot decrypt frames sent before it joined", async () => {
  const invite = newInvite(url);
  const a = await joinRoom(invite, "a", 330);
  const b = await joinRoom(invite, "b", 550);
  for (const x of [a, b]) await waitFor(() => x.p.heard.length === 1, 15_000, "a and b hear each other");
  await waitFor(() => forwardedOf(a.p) >= 40 && forwardedOf(b.p) >= 40, 15_000, "40 frames of each before the join");
  const joinedAt = Date.now();
  const n = await joinRoom(invite, "newcomer", 770);
  await waitFor(() => n.p.heard.length === 2, 15_000, "the newcomer hears both");
  const recent = Date.now();
  await framesFlow([a.p, b.p], 6, "frames of both after the newcomer hears them");
  const ring = keyRingFrom(n.p.e2ee.exportReceiveKeysForTest(), 4);
  for (const x of [a, b]) {
    const mine = forwarded.filter((f) => f.peerId === x.p.peerId);
    const early = mine.filter((f) => f.at <= joinedAt); // forwarded before (or in the millisecond of) the join call
    const late = mine.filter((f) => f.at > recent);
    assert.ok(early.length >= 40, `${early.length} frames before the join`);
    for (const f of early) assert.equal(ringDecrypts(ring, 4, f.payload, true), false, "a frame from before the join opened with the newcomer's keys");
    assert.ok(late.length > 5);
    for (const f of late) assert.ok(ringDecrypts(ring, 4, f.payload), "the newcomer's keys open current frames");
  }
  // Every earlier member ratcheted for the newcomer.
  for (const x of [a, b]) assert.ok(x.events.some((e) => e.type === "key-rotated" && e.reason === "join"));
  for (const x of [a, b, n]) assert.equal(x.p.e2ee.stats.decryptFailures, 0);
  await Promise.all([a.p.close(), b.p.close(), n.p.close()]);
});

test("P3: a participant with the room id but not the secret gets no keys, hears nothing, and every member reports it", async () => {
  const invite = newInvite(url);
  const a = await joinRoom(invite, "a", 350);
  const b = await joinRoom(invite, "b", 450);
  for (const x of [a, b]) await waitFor(() => x.p.heard.length === 1, 15_000, "a and b hear each other");
  const parsed = parseInvite(invite);
  const forged = formatInvite(parsed.server, parsed.room, encodeRoomSecret(newRoomSecret()));
  const x = await joinRoom(forged, "intruder", 650);
  for (const m of [a, b]) {
    await waitFor(() => m.events.some((e) => e.type === "intruder" && e.peerId === x.p.peerId), 8000, "every member reports the intruder");
  }
  // The members talk on while the intruder is in the room: it gets their ciphertext and opens none of it.
  await waitFor(() => (x.p.receiveStatsOf(a.p.peerId)?.packetsReceived ?? 0) > 50, 15_000, "the intruder to receive 50 packets of a");
  assert.deepEqual(x.p.heard, [], "the intruder decrypted nothing");
  assert.equal(x.p.e2ee.members.size, 0);
  assert.deepEqual(x.p.e2ee.exportReceiveKeysForTest(), []);
  for (const m of [a, b]) {
    assert.ok(!m.p.e2ee.members.has(x.p.peerId), "not a member");
    assert.ok(!m.p.heard.includes(x.p.peerId));
    assert.ok(!m.events.some((e) => e.type === "peer-joined" && e.peerId === x.p.peerId));
    assert.equal(m.events.filter((e) => e.type === "intruder" && e.peerId === x.p.peerId).length, 1, "reported once");
    assert.ok(m.p.e2ee.stats.rejected >= 1);
    assert.equal(m.p.e2ee.stats.decryptFailures, 0);
  }
  // The relay forwarded the members' audio to the intruder; none of it opened.
  assert.ok((x.p.receiveStatsOf(a.p.peerId)?.packetsReceived ?? 0) > 50, "the intruder received ciphertext");
  await Promise.all([a.p.close(), b.p.close(), x.p.close()]);
});

test("recording consent: a member with noRecord is absent from the recording, and everyone sees who declined", async () => {
  const dir = tempDir();
  cleanups.push(() => dir.cleanup());
  const invite = newInvite(url);
  const a = await joinRoom(invite, "alice", 400);
  const shy = await joinRoom(invite, "shy", 600, { noRecord: true });
  const recEvents: Stamped[] = [];
  const recorder = await Recorder.start(invite, { outDir: dir.path, ffmpeg, name: "rec", onEvent: (e) => recEvents.push(e) });
  cleanups.push(async () => void (await recorder.close()));
  await waitFor(() => recorder.files.some((f) => f.name === "alice" && f.packets >= 150), 15_000, "3 s of alice recorded");
  await waitFor(() => a.p.heard.includes(shy.p.peerId), 5000, "alice hears shy (shy is talking)");
  const declinedNames = (e: Stamped | undefined): string[] => (e && e.type === "recording" ? (e.declined ?? []).map((d) => d.name) : []);
  const lastConsent = (events: Stamped[]): Stamped | undefined => events.filter((e) => e.type === "recording" && e.declined !== undefined).at(-1);
  assert.deepEqual(declinedNames(lastConsent(recEvents)), ["shy"], "the recorder lists shy as declined");
  for (const m of [a, shy]) {
    const last = lastConsent(m.events);
    assert.ok(last && last.type === "recording");
    assert.deepEqual(last.by.map((r) => r.name), ["rec"], "every member is told who records");
    assert.deepEqual(declinedNames(last), ["shy"], "every member sees who declined");
  }
  // shy never sent the recorder a key: the recorder's frames from shy all had unknown KIDs.
  assert.ok(recorder.participant.e2ee.stats.unknownKey > 50);
  const files = await recorder.close();
  assert.deepEqual(files.map((f) => f.name), ["alice"], "no file for the member who declined");
  assert.ok(!recorder.participant.heard.includes(shy.p.peerId));
  // When the recorder has left, every member is told that no one records any more.
  for (const m of [a, shy]) {
    await waitFor(
      () => {
        const last = m.events.filter((e) => e.type === "recording").at(-1);
        return last?.type === "recording" && last.by.length === 0;
      },
      5000,
      "a recording event with no recorder",
    );
  }
  await Promise.all([a.p.close(), shy.p.close()]);
});

test("the recorder writes the sender's Opus packets bit for bit while E2EE is on; the relay capture holds none of them", async () => {
  const dir = tempDir();
  cleanups.push(() => dir.cleanup());
  const invite = newInvite(url);
  const source = await AudioSource.open(parseAudioSource("tone:523"), { ffmpeg });
  cleanups.push(() => source.close());
  const sent: Buffer[] = [];
  source.on("frame", (frame) => sent.push(Buffer.from(frame.payload)));
  const a = await joinRoom(invite, "speaker");
  await a.p.publish(source);
  const recorder = await Recorder.start(invite, { outDir: dir.path, ffmpeg });
  cleanups.push(async () => void (await recorder.close()));
  await waitFor(() => recorder.files.some((f) => f.packets >= 150), 15_000, "3 s recorded");
  const files = await recorder.close();
  assert.equal(files.length, 1);

  const packets: Buffer[] = [];
  const reader = new OggPacketReader((p) => packets.push(Buffer.from(p.data)));
  reader.push(readFileSync(files[0]!.path));
  assert.equal(packets[0]!.subarray(0, 8).toString("latin1"), "OpusHead");
  assert.equal(packets[1]!.subarray(0, 8).toString("latin1"), "OpusTags");
  const recorded = packets.slice(2);
  assert.ok(recorded.length >= 150);
  const start = sent.findIndex((s) => s.equals(recorded[0]!));
  assert.ok(start >= 0, "the first recorded packet is one the sender encoded");
  for (let i = 0; i < recorded.length; i++) {
    assert.ok(sent[start + i]?.equals(recorded[i]!), `recorded packet ${i} equals sent packet ${start + i}`);
  }

  // The same audio as the relay saw it (pcap, as `conclave serve --pcap` writes it): SFrame only.
  const rtp = readPcapRtp(readFileSync(pcapPath));
  const keyspace = a.p.e2ee.keyspaceId;
  // Every forwarded payload parses as an SFrame header (RFC 9605 §4.3).
  const ours = rtp.filter((r) => splitKid(decodeHeader(r.payload).kid).keyspace === keyspace);
  assert.ok(ours.length >= recorded.length, `${ours.length} of the speaker's frames in the capture`);
  for (const r of rtp) {
    assert.ok(decodeHeader(r.payload).kid >= kidFor(1, 0), "KIDs carry a sender key id space");
    for (const opus of recorded) {
      assert.equal(r.payload.indexOf(opus), -1, "a recorded Opus packet appears in the relay's capture");
    }
  }
  await a.p.close();
});

test("tampered, replayed and unknown-KID frames from the wire are dropped and counted, never thrown", async () => {
  const invite = newInvite(url);
  const a = await joinRoom(invite, "talker", 480);
  const b = await joinRoom(invite, "listener");
  await waitFor(() => b.p.heard.includes(a.p.peerId), 15_000, "b hears a");
  await framesFlow([a.p], 10, "10 more frames of a, delivered to b");
  const frames = forwarded.filter((f) => f.peerId === a.p.peerId);
  const frame = frames.at(-10)!.payload; // already delivered to b
  const e2ee = b.p.e2ee;
  const s0 = { ...e2ee.stats };

  const flipped = Buffer.from(frame);
  flipped[flipped.length - 5]! ^= 0x10;
  assert.equal(e2ee.decrypt(a.p.peerId, flipped), null);
  assert.equal(e2ee.stats.decryptFailures, s0.decryptFailures + 1, "a flipped bit fails authentication");

  assert.equal(e2ee.decrypt(a.p.peerId, frame), null);
  assert.equal(e2ee.stats.decryptFailures, s0.decryptFailures + 2, "a replayed counter is rejected");

  const { length, kid } = decodeHeader(frame);
  const header = Buffer.alloc(9);
  header[0] = 0x80 | (7 << 4); // RFC 9605 §4.3: X=1, K=7 (8 KID bytes), CTR 0 in the config byte
  header.writeBigUInt64BE(kidFor(splitKid(kid).keyspace, 0xfffffff0), 1);
  assert.equal(e2ee.decrypt(a.p.peerId, Buffer.concat([header, frame.subarray(length)])), null);
  assert.equal(e2ee.stats.unknownKey, s0.unknownKey + 1, "an unknown KID is counted");

  assert.equal(e2ee.decrypt(a.p.peerId, Buffer.from([0xff])), null);
  assert.equal(e2ee.stats.decryptFailures, s0.decryptFailures + 3, "a malformed frame is counted");

  // The counters reach the stats event, and the call goes on.
  const count = b.p.receiveStatsOf(a.p.peerId)!.packetsReceived;
  await waitFor(() => b.p.receiveStatsOf(a.p.peerId)!.packetsReceived > count + 10, 5000, "the call goes on");
  const stats = b.p.statsEvent();
  assert.ok(stats.type === "stats" && stats.decryptFailures === s0.decryptFailures + 3);
  assert.equal(e2ee.stats.decryptFailures, s0.decryptFailures + 3, "no failures from the genuine stream");
  await Promise.all([a.p.close(), b.p.close()]);
});

test("churn: three join, then leave one by one; every leave switch takes ≤ 1 s and decryptFailures stay 0", async () => {
  const invite = newInvite(url);
  const a = await joinRoom(invite, "a", 310);
  const b = await joinRoom(invite, "b", 520);
  await waitFor(() => a.p.heard.length === 1 && b.p.heard.length === 1, 15_000, "a and b hear each other");
  const churners: { p: Participant; events: Stamped[] }[] = [];
  for (let i = 0; i < 3; i++) churners.push(await joinRoom(invite, `c${i}`, 600 + i * 100));
  for (const x of [a, b, ...churners]) await waitFor(() => x.p.heard.length === 4, 15_000, "everyone hears the other four");
  // Two leave close together (one switch may cover both), then the last one.
  await Promise.all([churners[0]!.p.close(), churners[1]!.p.close()]);
  // The last leave must come after that switch, or it joins the same one: wait for it (it waits for
  // every remaining member's acknowledgement, a round trip through the relay and its queue).
  for (const x of [a, b]) {
    await waitFor(() => x.p.e2ee.members.size === 2 && leaveRotations(x.events).length >= 1, 5000, "the first two leaves are seen and switched");
  }
  await churners[2]!.p.close();
  for (const x of [a, b]) await waitFor(() => leaveRotations(x.events).length >= 2 && x.p.e2ee.members.size === 1, 5000, "leave rotations");
  // a keeps decrypting b across the switches.
  let decoded = 0;
  const onAudio = (audio: { peerId: string }): void => {
    if (audio.peerId === b.p.peerId) decoded++;
  };
  a.p.on("audio", onAudio);
  await waitFor(() => decoded >= 50, 5000, `a still decrypts b after the churn (${decoded} frames)`);
  a.p.off("audio", onAudio);
  for (const x of [a, b]) {
    for (const r of leaveRotations(x.events)) assert.ok(r.tookMs <= 1000, `leave switch took ${r.tookMs} ms`);
    assert.ok(x.events.filter((e) => e.type === "key-rotated" && e.reason === "join").length >= 3);
  }
  for (const x of [a, b, ...churners]) assert.equal(x.p.e2ee.stats.decryptFailures, 0, "no decrypt failures");
  await Promise.all([a.p.close(), b.p.close()]);
});
