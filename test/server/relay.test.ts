/**
 * The relay's forwarding over real loopback with real werift participants and real libsodium:
 * the lean path delivers every packet in order with the right payload (media engine in the main
 * thread, and split over two worker engines), werift receivers accept it and get RTCP sender
 * reports, renegotiation and late joins work, joins beyond the admitted capacity are refused with
 * `overloaded` while the calls already carried lose nothing, and a leaving publisher's stream stops.
 *
 * Publishers here send synthetic frames with Participant.sendFrame (no ffmpeg): the relay forwards
 * SFrame ciphertext and never decodes it, and numbered payloads make order and content checkable.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import WebSocket from "ws";
import type { RTCPeerConnection } from "werift";
import { Relay, Participant, newInvite, DeniedError, resolveFfmpeg, type RelayOptions, type ReceivedAudio } from "../../src/index.js";
import { parseVideoSource } from "../../src/media/index.js";
import { roomPacketRate, DEFAULT_VIDEO_PACKETS_PER_SECOND, VIDEO_PACKET_COST } from "../../src/server/index.js";
import { waitFor } from "../helpers/util.js";

const cleanups: (() => Promise<unknown> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function startRelay(options: Partial<RelayOptions> = {}): Promise<{ relay: Relay; invite: string }> {
  const relay = new Relay({ host: "127.0.0.1", port: 0, ...options });
  cleanups.push(() => relay.close());
  const url = await relay.start();
  return { relay, invite: newInvite(url) };
}

async function join(invite: string, name: string): Promise<Participant> {
  const p = await Participant.join(invite, { name, statsIntervalMs: 0 });
  cleanups.push(() => p.close());
  return p;
}

/** A frame whose first bytes say which publisher sent it and its index. */
function frame(tag: number, index: number): Buffer {
  const f = randomBytes(40 + (index % 60));
  f[0] = 0xc0 | tag;
  f.writeUInt16BE(index, 1);
  return f;
}

/** Every publisher sends one 20 ms frame every `ms`; returns the frames sent, by publisher. */
function talk(publishers: Participant[], ms = 20): { stop(): void; sent: Buffer[][] } {
  const sent = publishers.map(() => [] as Buffer[]);
  const timer = setInterval(() => {
    publishers.forEach((p, tag) => {
      const f = frame(tag, sent[tag]!.length);
      sent[tag]!.push(f);
      p.sendFrame(f, 960);
    });
  }, ms);
  return { stop: () => clearInterval(timer), sent };
}

/** Loss `receiver` saw on `publisher`'s stream (sequence-number based, RFC 3550 §A.1). */
function lossOf(receiver: Participant, publisher: Participant): { received: number; lost: number } {
  const s = receiver.receiveStatsOf(publisher.peerId);
  return { received: s?.packetsReceived ?? 0, lost: s?.packetsLost ?? 0 };
}

/** Every member's loss on every other's stream (as from `lossOf`), in a fixed order. */
function lossAll(members: Participant[]): { received: number; lost: number }[] {
  return members.flatMap((r) => members.filter((p) => p !== r).map((p) => lossOf(r, p)));
}

/** Packets received and lost on every stream among `members` since `before` (from lossAll). */
function lossSince(members: Participant[], before: { received: number; lost: number }[]): { got: number; lost: number } {
  let got = 0;
  let lost = 0;
  lossAll(members).forEach((x, i) => {
    got += x.received - before[i]!.received;
    lost += x.lost - before[i]!.lost;
  });
  return { got, lost };
}

async function checkOrderedDelivery(options: Partial<RelayOptions>): Promise<void> {
  const { relay, invite } = await startRelay(options);
  const a = await join(invite, "a");
  const b = await join(invite, "b");
  // Warm up until b decrypts a (the sender key has arrived), then send numbered frames.
  const warm = talk([a]);
  await waitFor(() => b.heard.includes(a.peerId), 10_000, "b to decrypt a");
  warm.stop();
  const got: ReceivedAudio[] = [];
  b.on("audio", (audio) => {
    if (audio.peerId === a.peerId && audio.payload[0] === 0xc1) got.push(audio);
  });
  const frames: Buffer[] = [];
  const before = lossOf(b, a);
  const timer = setInterval(() => {
    for (let k = 0; k < 4 && frames.length < 200; k++) {
      const f = frame(1, frames.length);
      frames.push(f);
      a.sendFrame(f, 960);
    }
  }, 5);
  await waitFor(() => frames.length === 200, 10_000, "200 frames sent");
  clearInterval(timer);
  await waitFor(() => got.length === 200, 5_000, `200 frames at b (got ${got.length})`);
  for (let i = 0; i < frames.length; i++) {
    assert.deepEqual(got[i]!.payload, frames[i], `frame ${i} arrives intact and in order`);
    if (i > 0) assert.equal(got[i]!.sequenceNumber, (got[i - 1]!.sequenceNumber + 1) & 0xffff, `sequence after frame ${i - 1}`);
  }
  const after = lossOf(b, a);
  assert.equal(after.lost - before.lost, 0, "no packet lost");
  assert.equal(b.e2ee.peerDecryptFailures(a.peerId), 0);
  const stats = await relay.collectStats();
  assert.ok(stats.forwardedPackets >= 200, `relay forwarded ${stats.forwardedPackets}`);
  const lean = stats.perEngine.reduce((n, e) => n + e.leanUploadPackets, 0);
  if (options.forwarding === "generic" || options.leanUploads === false) assert.equal(lean, 0, "uploads are left to werift");
  else assert.ok(lean >= 200, `uploads taken by the lean receive path: ${lean}`);
  assert.equal(stats.perEngine.reduce((n, e) => n + e.leanUploadDropped, 0), 0, "no upload dropped as replay or forgery");
  const nativeSent = stats.perEngine.reduce((n, e) => n + e.nativeSentPackets, 0);
  if (options.forwarding === "generic" || options.nativeSend === false) assert.equal(nativeSent, 0, "no packet through the native path");
  else assert.ok(nativeSent >= 200, `forwards sent by the native path: ${nativeSent}`);
  assert.equal(stats.perEngine.reduce((n, e) => n + e.nativeSendFallbacks, 0), 0, "no native send fell back");
  if (options.placement === "spread") {
    const linked = stats.perEngine.reduce((n, e) => n + e.linkedPackets, 0);
    assert.ok(linked >= 200, `packets that crossed engines: ${linked}`);
  }
  await a.close();
  await b.close();
}

test("lean path, media in the main thread: every packet arrives in order with its payload", async () => {
  await checkOrderedDelivery({ workers: 0 });
});

test("lean path across two worker engines: every packet arrives in order with its payload", async () => {
  await checkOrderedDelivery({ workers: 2, placement: "spread" });
});

test("lean forwarding with werift's upload receive path (leanUploads: false, for comparisons)", async () => {
  await checkOrderedDelivery({ workers: 0, leanUploads: false });
});

test("lean forwarding with the JavaScript protector and dgram (nativeSend: false, as without the native module)", async () => {
  await checkOrderedDelivery({ workers: 0, nativeSend: false });
});

test("generic werift path (kept for comparisons) still forwards correctly", async () => {
  await checkOrderedDelivery({ workers: 0, forwarding: "generic" });
});

test("subscribers get RTCP sender reports for forwarded streams", async () => {
  const { invite } = await startRelay({ workers: 0 });
  const a = await join(invite, "a");
  const b = await join(invite, "b");
  const t = talk([a]);
  try {
    const receivers = (): { senderReportsReceivedBySsrc: Record<number, number>; remotePacketCountBySsrc: Record<number, number> }[] =>
      (b as unknown as { pc: RTCPeerConnection }).pc.getTransceivers().map((x) => x.receiver as never);
    const reports = (): number => receivers().reduce((n, r) => n + Object.values(r.senderReportsReceivedBySsrc ?? {}).reduce((x, y) => x + y, 0), 0);
    await waitFor(() => reports() >= 1, 6_000, "a sender report at b");
    const counts = receivers().flatMap((r) => Object.values(r.remotePacketCountBySsrc ?? {}));
    assert.ok(counts.some((c) => c > 0), `sender report packet counts ${counts}`);
  } finally {
    t.stop();
  }
  await a.close();
  await b.close();
});

test("lone receiver reports from participants are dropped unread on lean upload sockets; audio is untouched", async () => {
  const { relay, invite } = await startRelay({ workers: 0 });
  const a = await join(invite, "a");
  const b = await join(invite, "b");
  const t = talk([a, b]);
  try {
    await waitFor(() => a.heard.includes(b.peerId) && b.heard.includes(a.peerId), 10_000, "a and b hear each other");
    // werift receivers report about once a second (0.5–1.5 s apart).
    const deadline = Date.now() + 8_000;
    let dropped = 0;
    while (dropped < 2 && Date.now() < deadline) {
      dropped = (await relay.collectStats()).perEngine.reduce((n, e) => n + e.rtcpReportsDropped, 0);
      if (dropped < 2) await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(dropped >= 2, `receiver reports dropped at the relay: ${dropped}`);
    const before = lossOf(b, a).received;
    await waitFor(() => lossOf(b, a).received >= before + 25, 5_000, "audio keeps flowing");
    assert.equal(lossOf(b, a).lost, 0);
  } finally {
    t.stop();
  }
  await a.close();
  await b.close();
});

test("a participant whose DTLS session ends while ICE stays up is dropped as failed, and the others are told", async () => {
  const { invite } = await startRelay({ workers: 0 });
  const a = await join(invite, "a");
  const b = await join(invite, "b");
  const t = talk([a, b]);
  try {
    await waitFor(() => a.heard.includes(b.peerId) && b.heard.includes(a.peerId), 10_000, "a and b hear each other");
    const left: { peerId: string; reason: string }[] = [];
    b.on("event", (e) => {
      if (e.type === "peer-left") left.push(e as unknown as { peerId: string; reason: string });
    });
    // a's end sends an authenticated close_notify (RFC 6347 over RFC 5246 §7.2.1, under a's DTLS
    // keys, as a DTLS stack ending its session does) and stays in the room: ICE stays up.
    const dtls = (a as unknown as { pc: RTCPeerConnection }).pc.dtlsTransports[0]!;
    const cipher = (dtls.dtls as unknown as { cipher: { encryptPacket(r: unknown): { fragment: Buffer } } }).cipher;
    const alert = Buffer.from([1, 0]); // warning, close_notify
    const sequenceNumber = 50_000;
    const sealed = cipher.encryptPacket({
      recordLayerHeader: { contentType: 21, protocolVersion: { major: 254, minor: 253 }, epoch: 1, sequenceNumber, contentLen: alert.length },
      fragment: alert,
    }).fragment;
    const header = Buffer.alloc(13);
    header[0] = 21;
    header[1] = 254;
    header[2] = 253;
    header.writeUInt16BE(1, 3);
    header.writeUIntBE(sequenceNumber, 5, 6);
    header.writeUInt16BE(sealed.length, 11);
    // (a may reconnect under a new peer id once the relay drops it: keep the old one.)
    const gone = a.peerId;
    await dtls.iceTransport.connection.send(Buffer.concat([header, sealed]));
    await waitFor(() => left.some((l) => l.peerId === gone), 8_000, "b to be told that a is gone");
    assert.equal(left.find((l) => l.peerId === gone)!.reason, "dtls-closed");
  } finally {
    t.stop();
  }
  await b.close();
});

test("renegotiation: a late joiner hears everyone and is heard, with no loss on existing streams", async () => {
  const { invite } = await startRelay({ workers: 2, placement: "spread" });
  const a = await join(invite, "a");
  const b = await join(invite, "b");
  const t1 = talk([a, b]);
  await waitFor(() => a.heard.length === 1 && b.heard.length === 1, 10_000, "a and b hear each other");
  const before = lossOf(b, a);
  const c = await join(invite, "c");
  const t2 = talk([c]);
  try {
    await waitFor(() => c.heard.length === 2 && a.heard.includes(c.peerId) && b.heard.includes(c.peerId), 10_000, "everyone hears the late joiner");
    const received = lossOf(b, a).received;
    await waitFor(() => lossOf(b, a).received >= received + 25, 5_000, "more audio after the join");
    const after = lossOf(b, a);
    assert.equal(after.lost - before.lost, 0, "b lost none of a's packets while c joined");
    assert.equal(lossOf(c, a).lost + lossOf(c, b).lost, 0, "the late joiner lost nothing");
  } finally {
    t1.stop();
    t2.stop();
  }
  for (const p of [a, b, c]) await p.close();
});

test("six participants joining at once all connect and hear each other", async () => {
  const { invite } = await startRelay({ workers: 2 });
  const people = await Promise.all(["a", "b", "c", "d", "e", "f"].map((name) => join(invite, name)));
  const t = talk(people);
  try {
    await waitFor(() => people.every((p) => p.heard.length === 5), 20_000, "everyone to hear the five others");
  } finally {
    t.stop();
  }
  for (const p of people) await p.close();
});

test("joins beyond the admitted packet rate are refused with overloaded while the calls carried lose nothing", async () => {
  const { relay, invite } = await startRelay({ limits: { maxForwardedPacketsPerSecond: roomPacketRate(3) } });
  const members = [await join(invite, "a"), await join(invite, "b"), await join(invite, "c")];
  const t = talk(members);
  try {
    await waitFor(() => members.every((m) => m.heard.length === 2), 10_000, "three participants hear each other");
    const before = lossAll(members);
    // A participant that asks to join is told why and let go.
    for (let i = 0; i < 3; i++) {
      await assert.rejects(Participant.join(invite, { name: `extra${i}`, statsIntervalMs: 0 }), (err: unknown) => {
        assert.ok(err instanceof DeniedError, String(err));
        assert.equal(err.code, "overloaded");
        return true;
      });
    }
    // On the wire: one fatal error frame, then the socket closes.
    const frames: string[] = [];
    const closed = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`${relay.url.replace(/^http/, "ws")}/ws`);
      ws.on("open", () => ws.send(JSON.stringify({ type: "join", v: 1, room: new URL(invite).pathname.split("/").pop() })));
      ws.on("message", (data) => frames.push(String(data)));
      ws.on("close", (code) => resolve(code));
      ws.on("error", reject);
    });
    assert.equal(closed, 4000);
    assert.equal(frames.length, 1);
    const error = JSON.parse(frames[0]!) as { type: string; code: string; fatal: boolean; message: string };
    assert.equal(error.type, "error");
    assert.equal(error.code, "overloaded");
    assert.equal(error.fatal, true);
    assert.match(error.message, /capacity/);
    const received = lossOf(members[0]!, members[1]!).received;
    await waitFor(() => lossOf(members[0]!, members[1]!).received >= received + 25, 5_000, "audio keeps flowing");
    const { got, lost } = lossSince(members, before);
    assert.ok(got > 100, `packets during the refused joins: ${got}`);
    assert.ok(lost / (got + lost) < 0.01, `loss during the refused joins ${lost}/${got + lost}`);
    assert.equal(relay.stats.participants, 3);
    assert.ok(relay.stats.refusedJoins >= 4);
  } finally {
    t.stop();
  }
  for (const m of members) await m.close();
});

test("a member that never publishes stops counting as a publisher, so listeners do not use up capacity", async () => {
  const { relay, invite } = await startRelay({ workers: 0, limits: { maxForwardedPacketsPerSecond: roomPacketRate(3) } });
  const a = await join(invite, "a");
  const t = talk([a]);
  try {
    await join(invite, "b");
    await join(invite, "c");
    // b and c have not published yet: they count as publishers for their first seconds.
    await assert.rejects(Participant.join(invite, { name: "d", statsIntervalMs: 0 }), (err: unknown) => err instanceof DeniedError && err.code === "overloaded");
    await waitFor(() => relay.stats.estimatedPacketsPerSecond === roomPacketRate(3, 1), 8_000, "b and c to count as listeners");
    const d = await join(invite, "d");
    await waitFor(() => d.heard.includes(a.peerId), 10_000, "d hears a");
  } finally {
    t.stop();
  }
});

/** Every `ms`, `publisher` sends one synthetic 1,500-byte video frame: two RTP packets (1,100-byte payloads at most). */
function film(publisher: Participant, ms: number): { stop(): void } {
  let n = 0;
  const timer = setInterval(() => publisher.sendVideoFrame({ data: randomBytes(1500), timestamp90k: n++ * ms * 90 }), ms);
  return { stop: () => clearInterval(timer) };
}

test("a video publisher is refused with overloaded where an audio-only join still fits, and the calls carried lose nothing", async () => {
  // Room for a fourth audio member (4×3×50 = 600), not for a fourth member with a camera.
  const { relay, invite } = await startRelay({ limits: { maxForwardedPacketsPerSecond: roomPacketRate(4) } });
  const members = [await join(invite, "a"), await join(invite, "b"), await join(invite, "c")];
  const t = talk(members);
  try {
    await waitFor(() => members.every((m) => m.heard.length === 2), 10_000, "three participants hear each other");
    const before = lossAll(members);
    await assert.rejects(Participant.join(invite, { name: "cam", video: true, statsIntervalMs: 0 }), (err: unknown) => {
      assert.ok(err instanceof DeniedError, String(err));
      assert.equal(err.code, "overloaded");
      assert.match(err.message, /capacity/);
      return true;
    });
    assert.equal(relay.stats.estimatedVideoPacketsPerSecond, 0, "the refused camera left nothing behind");
    const d = await join(invite, "d");
    cleanups.push(() => d.close());
    await waitFor(() => d.heard.length === 3, 10_000, "d hears the three");
    assert.equal(relay.stats.participants, 4);
    assert.ok(relay.stats.estimatedPacketsPerSecond <= roomPacketRate(4), `estimate ${relay.stats.estimatedPacketsPerSecond}`);
    await waitFor(() => lossOf(members[0]!, members[1]!).received >= before[0]!.received + 50, 5_000, "audio to keep flowing");
    const { got, lost } = lossSince(members, before);
    assert.ok(got > 250, `packets during the refused join: ${got}`);
    assert.ok(lost / (got + lost) < 0.01, `loss during the refused join ${lost}/${got + lost}`);
  } finally {
    t.stop();
  }
  for (const m of members) await m.close();
});

test("a video publisher counts the default estimate while new, then its measured rate from when it sends video", async () => {
  const { relay, invite } = await startRelay({ workers: 0 });
  const viewer = await join(invite, "viewer");
  const joining = Date.now();
  const cam = await Participant.join(invite, { name: "cam", video: true, statsIntervalMs: 0 });
  cleanups.push(() => cam.close());
  if (Date.now() - joining < 2_000) {
    // Both in their grace period: each counts 50 for audio, the camera its default video estimate.
    assert.equal(relay.stats.estimatedVideoPacketsPerSecond, DEFAULT_VIDEO_PACKETS_PER_SECOND);
    assert.equal(relay.stats.estimatedPacketsPerSecond, 2 * 50 + DEFAULT_VIDEO_PACKETS_PER_SECOND * VIDEO_PACKET_COST);
  }
  // No video by the end of its grace period: it counts none.
  await waitFor(() => relay.stats.estimatedVideoPacketsPerSecond === 0 && relay.stats.estimatedPacketsPerSecond === 0, 8_000, "the silent camera to count nothing");
  // Then it starts: 50 frames/s of two packets, 100 video packets/s, and its audio.
  const speak = talk([cam]);
  const shoot = film(cam, 20);
  try {
    const measured = (): boolean => {
      const v = relay.stats.estimatedVideoPacketsPerSecond;
      return v > 0 && v < DEFAULT_VIDEO_PACKETS_PER_SECOND;
    };
    await waitFor(measured, 10_000, "the camera's measured rate");
    const v = relay.stats.estimatedVideoPacketsPerSecond;
    assert.ok(v >= 70 && v <= 115, `measured video rate ${v} packets/s, sent ~100`);
    assert.equal(relay.stats.estimatedPacketsPerSecond, 50 + v * VIDEO_PACKET_COST, "one subscriber: audio plus video weighted");
    await waitFor(() => viewer.heard.includes(cam.peerId), 10_000, "the viewer to hear the camera");
  } finally {
    shoot.stop();
    speak.stop();
  }
  await cam.close();
  await viewer.close();
});

test("joins are refused with overloaded while a media engine is busier than maxEngineLoad", async () => {
  const { relay, invite } = await startRelay({ workers: 0, limits: { maxEngineLoad: 0.000001 } });
  const a = await join(invite, "a");
  const t = talk([a]);
  try {
    await waitFor(() => relay.stats.participants === 1, 2_000, "a admitted");
    const busy = async (): Promise<boolean> => (await relay.collectStats()).perEngine.some((e) => e.load > 0.000001);
    const deadline = Date.now() + 5_000;
    while (!(await busy())) {
      assert.ok(Date.now() < deadline, "the engine to report some load");
      await new Promise((r) => setTimeout(r, 200));
    }
    await assert.rejects(Participant.join(invite, { name: "b", statsIntervalMs: 0 }), (err: unknown) => err instanceof DeniedError && err.code === "overloaded");
  } finally {
    t.stop();
  }
  await a.close();
});

test("joins beyond maxParticipants are refused with overloaded", async () => {
  const { invite } = await startRelay({ workers: 0, limits: { maxParticipants: 1 } });
  const a = await join(invite, "a");
  await assert.rejects(Participant.join(invite, { name: "b", statsIntervalMs: 0 }), (err: unknown) => err instanceof DeniedError && err.code === "overloaded");
  await a.close();
});

test("a leaving publisher's stream stops cleanly and the others' streams are untouched", async () => {
  const { relay, invite } = await startRelay({ workers: 2, placement: "spread" });
  const a = await join(invite, "a");
  const b = await join(invite, "b");
  const c = await join(invite, "c");
  const ta = talk([a]);
  const tb = talk([b]);
  await waitFor(() => b.heard.includes(a.peerId) && c.heard.includes(a.peerId) && c.heard.includes(b.peerId), 10_000, "b and c hear a, c hears b");
  const before = lossOf(c, b);
  const left = new Promise<void>((resolve) => c.on("event", (e) => e.type === "peer-left" && e.peerId === a.peerId && resolve()));
  ta.stop();
  await a.close();
  await left;
  await waitFor(() => relay.stats.participants === 2, 5_000, "the relay to drop a");
  // Only b publishes now: c receives b's stream and nothing else; a's downlinks are gone.
  const s1 = await relay.collectStats();
  const r1 = lossOf(c, b).received;
  await waitFor(() => lossOf(c, b).received >= r1 + 25, 5_000, "b's audio keeps flowing to c");
  const s2 = await relay.collectStats();
  const forwarded = s2.forwardedPackets - s1.forwardedPackets;
  const received = s2.receivedPackets - s1.receivedPackets;
  // One subscriber per upload (engines are sampled a moment apart: allow a few packets in flight).
  assert.ok(received >= 20 && Math.abs(forwarded - received) <= 5, `forwarded ${forwarded} for ${received} uploads`);
  assert.equal(c.receiveStatsOf(a.peerId), undefined, "c dropped a's stream");
  assert.equal(lossOf(c, b).lost - before.lost, 0, "c lost none of b's packets when a left");
  tb.stop();
  await b.close();
  await c.close();
});

test("onForward sees every upload packet, also from worker engines", async () => {
  const seen = new Map<string, number>();
  const { invite } = await startRelay({ workers: 2, onForward: (peerId) => seen.set(peerId, (seen.get(peerId) ?? 0) + 1) });
  const a = await join(invite, "a");
  const b = await join(invite, "b");
  const t = talk([a]);
  try {
    await waitFor(() => b.heard.includes(a.peerId), 10_000, "b hears a");
    const sent = t.sent[0]!.length;
    await waitFor(() => (seen.get(a.peerId) ?? 0) >= sent, 5_000, `onForward to see ${sent} packets of a`);
  } finally {
    t.stop();
  }
  await a.close();
  await b.close();
});

test("video crosses engines, and a subscriber's keyframe request (PLI) reaches the publisher", async () => {
  const ffmpeg = resolveFfmpeg().path;
  const { invite } = await startRelay({ workers: 2, placement: "spread" });
  const cam = await Participant.join(invite, { name: "cam", ffmpeg, video: true, statsIntervalMs: 0 });
  cleanups.push(() => cam.close());
  // Keyframes far apart: a subscriber that joins mid-picture asks for one.
  await cam.publishVideo(parseVideoSource("testsrc"), { width: 160, height: 120, fps: 15, keyframeIntervalMs: 20_000 });
  // The viewer joins mid-picture: 20 frames (1.3 s) after the first keyframe went out.
  await waitFor(() => (cam as unknown as { sentVideoFrames: number }).sentVideoFrames >= 20, 10_000, "the camera to send 20 frames");
  const viewer = await join(invite, "viewer");
  let frames = 0;
  viewer.on("video", () => frames++);
  const publisherPli = (): number => {
    const upload = (cam as unknown as { uploadVideo?: { sender: { pliCount?: number } } }).uploadVideo;
    return upload?.sender.pliCount ?? 0;
  };
  await waitFor(() => publisherPli() > 0, 10_000, "a PLI from the viewer to reach the publisher through the relay");
  const stats = viewer.videoStatsOf(cam.peerId);
  assert.ok(stats === undefined || stats.width === 0 || stats.width === 160, `viewer video stats ${JSON.stringify(stats)}`);
  await viewer.close();
  await cam.close();
});
