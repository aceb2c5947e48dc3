/**
 * Video repair over a lossy path: one testsrc feeds two publishers on two relays, one with video
 * repair (the relay answers NACKs from its retransmission cache) and one without. Each has a
 * subscriber behind the same kind of lossy path (5% loss each way, same seed). With repair the
 * subscriber gets nearly every frame; without it every loss costs the frames up to the next
 * keyframe. Also: NACKs naming random sequence numbers, and a NACK flood, neither crash the relay
 * nor make it send more than its bound.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { GenericNack, RtcpTransportLayerFeedback, type RTCPeerConnection } from "werift";
import { Relay, Participant, newInvite, resolveFfmpeg } from "../../src/index.js";
import { VideoSource, parseVideoSource } from "../../src/media/index.js";
import { RetransmitLimiter } from "../../src/server/retransmit-cache.js";
import { LossyPath } from "../helpers/lossy-path.js";
import { waitFor } from "../helpers/util.js";

const ffmpeg = resolveFfmpeg().path;
const FPS = 15;
/** Frames counted after the path turns lossy. */
const WINDOW_FRAMES = 90;

interface Side {
  relay: Relay;
  path: LossyPath;
  publisher: Participant;
  subscriber: Participant;
  frames: number;
}

async function side(source: VideoSource, videoRepair: boolean): Promise<Side> {
  const relay = new Relay({ host: "127.0.0.1", port: 0, videoRepair });
  const url = await relay.start();
  // Impaired once the call is up (werift's DTLS handshake does not survive loss well).
  const path = new LossyPath({ relay: url, loss: 0.05, jitterMs: 0, seed: 11, impairHandshake: false });
  const pathUrl = await path.start();
  const invite = newInvite(url);
  const publisher = await Participant.join(invite, { name: "cam", video: true, statsIntervalMs: 0 });
  const subscriber = await Participant.join(invite.replace(url, pathUrl), { name: "viewer", statsIntervalMs: 0, timeoutMs: 15_000 });
  const s: Side = { relay, path, publisher, subscriber, frames: 0 };
  subscriber.on("video", () => s.frames++);
  await publisher.publishVideo(source);
  return s;
}

async function closeSide(s: Side | undefined): Promise<void> {
  if (!s) return;
  await s.subscriber.close();
  await s.publisher.close();
  await s.path.close();
  await s.relay.close();
}

test("with video repair a subscriber behind 5% loss gets nearly every frame; without it, far fewer", async () => {
  // Long GOP: without repair a loss costs the frames up to the next keyframe (or a PLI answer).
  const source = await VideoSource.open(parseVideoSource("testsrc"), { ffmpeg, width: 320, height: 240, fps: FPS, bitrateKbps: 400, keyframeIntervalMs: 3000 });
  let repaired: Side | undefined;
  let plain: Side | undefined;
  try {
    [repaired, plain] = await Promise.all([side(source, true), side(source, false)]);
    const [r, p] = [repaired, plain];
    await waitFor(() => r.frames > 0 && p.frames > 0, 10_000, "both subscribers' first frame");
    r.path.impair();
    p.path.impair();
    const start = { r: r.frames, p: p.frames };
    let sent = 0;
    const count = (): void => void sent++;
    source.on("frame", count);
    await waitFor(() => sent >= WINDOW_FRAMES, 15_000, `${WINDOW_FRAMES} frames sent over the lossy paths`);
    source.off("frame", count);
    const got = { r: r.frames - start.r, p: p.frames - start.p };
    const [rs, ps] = await Promise.all([r.relay.collectStats(), p.relay.collectStats()]);
    const report = {
      sent,
      repaired: { frames: got.r, ratio: got.r / sent, retransmitted: rs.retransmittedPackets, nacks: rs.nacksReceived, refused: rs.retransmitsRefused, keyframeRequests: rs.keyframeRequests, dropped: r.path.stats.dropped },
      unrepaired: { frames: got.p, ratio: got.p / sent, retransmitted: ps.retransmittedPackets, nacks: ps.nacksReceived, keyframeRequests: ps.keyframeRequests, dropped: p.path.stats.dropped },
    };
    console.log(JSON.stringify(report));
    assert.ok(r.path.stats.dropped > 0 && p.path.stats.dropped > 0, "the paths dropped packets");
    assert.ok(rs.nacksReceived > 0, "the subscriber sent NACKs");
    assert.ok(rs.retransmittedPackets > 0, "the relay with repair resent packets");
    assert.equal(ps.retransmittedPackets, 0, "the relay without repair resent nothing");
    assert.ok(got.r >= sent * 0.85, `with repair ${got.r} of ${sent} frames arrived`);
    assert.ok(got.r >= got.p + sent * 0.1, `repair delivers more frames (${got.r} vs ${got.p})`);
    assert.ok(rs.keyframeRequests < ps.keyframeRequests, `fewer keyframe requests with repair (${rs.keyframeRequests} vs ${ps.keyframeRequests})`);
    assert.equal(r.subscriber.e2ee.stats.decryptFailures + p.subscriber.e2ee.stats.decryptFailures, 0, "a repaired frame decrypts");
  } finally {
    await Promise.all([closeSide(repaired), closeSide(plain)]);
    await source.close();
  }
});

test("a publisher behind 5% loss: the relay NACKs its upload and forwards the late repair under its own number", async () => {
  const relay = new Relay({ host: "127.0.0.1", port: 0 });
  const url = await relay.start();
  const path = new LossyPath({ relay: url, loss: 0.05, jitterMs: 0, seed: 5, impairHandshake: false });
  const pathUrl = await path.start();
  const invite = newInvite(url);
  const source = await VideoSource.open(parseVideoSource("testsrc"), { ffmpeg, width: 320, height: 240, fps: FPS, bitrateKbps: 400, keyframeIntervalMs: 3000 });
  const publisher = await Participant.join(invite.replace(url, pathUrl), { name: "cam", video: true, statsIntervalMs: 0, timeoutMs: 15_000 });
  const subscriber = await Participant.join(invite, { name: "viewer", statsIntervalMs: 0 });
  let frames = 0;
  subscriber.on("video", () => frames++);
  try {
    await publisher.publishVideo(source);
    await waitFor(() => frames > 0, 10_000, "the subscriber's first frame");
    path.impair();
    const start = frames;
    let sent = 0;
    const count = (): void => void sent++;
    source.on("frame", count);
    await waitFor(() => sent >= WINDOW_FRAMES, 15_000, `${WINDOW_FRAMES} frames sent over the lossy upload`);
    source.off("frame", count);
    const got = frames - start;
    const stats = await relay.collectStats();
    console.log(JSON.stringify({ sent, frames: got, uploadRepaired: stats.uploadRepaired, uploadLost: stats.uploadLost, dropped: path.stats.dropped }));
    assert.ok(path.stats.dropped > 0, "the path dropped packets");
    assert.ok(stats.uploadRepaired > 0, "late repaired uploads were forwarded");
    assert.ok(got >= sent * 0.85, `${got} of ${sent} frames arrived`);
    assert.equal(subscriber.e2ee.stats.decryptFailures, 0);
  } finally {
    await subscriber.close();
    await publisher.close();
    await source.close();
    await path.close();
    await relay.close();
  }
});

/** The subscriber's PeerConnection (private in Participant; the test sends RTCP on it directly). */
function pcOf(p: Participant): RTCPeerConnection {
  return (p as unknown as { pc: RTCPeerConnection }).pc;
}

test("NACKs naming random sequence numbers, and a NACK flood, are bounded and do not crash the relay", async () => {
  const relay = new Relay({ host: "127.0.0.1", port: 0 });
  const url = await relay.start();
  const invite = newInvite(url);
  const source = await VideoSource.open(parseVideoSource("testsrc"), { ffmpeg, width: 320, height: 240, fps: FPS, bitrateKbps: 800, keyframeIntervalMs: 1000 });
  const publisher = await Participant.join(invite, { name: "cam", video: true, statsIntervalMs: 0 });
  const subscriber = await Participant.join(invite, { name: "hostile", statsIntervalMs: 0 });
  let frames = 0;
  subscriber.on("video", () => frames++);
  try {
    await publisher.publishVideo(source);
    await waitFor(() => frames > 5, 10_000, "the subscriber's first frames");
    const pc = pcOf(subscriber);
    const video = pc.getTransceivers().find((t) => t.kind === "video" && t.receiver.tracks.length > 0);
    const ssrc = video?.receiver.tracks[0]?.ssrc;
    assert.ok(ssrc !== undefined, "the subscriber's video downlink SSRC");
    let lastSeq = -1;
    video!.receiver.tracks[0]!.onReceiveRtp.subscribe((rtp) => void (lastSeq = rtp.header.sequenceNumber));
    await waitFor(() => lastSeq >= 0, 5000, "a video packet at the subscriber");
    const dtls = pc.dtlsTransports[0]!;
    const before = await relay.collectStats();
    // 200 NACKs, each naming 300 sequence numbers: random ones, or every packet of the last 300
    // (all in the relay's cache), far more than the bound allows, sent back to back.
    const messages = 200;
    for (let i = 0; i < messages; i++) {
      const lost = Array.from({ length: 300 }, (_, k) => (i % 2 === 0 ? Math.floor(Math.random() * 0x10000) : (lastSeq - 299 + k) & 0xffff));
      lost.sort((a, b) => a - b);
      const nack = new GenericNack({ senderSsrc: 1234, mediaSourceSsrc: ssrc, lost });
      await dtls.sendRtcp([new RtcpTransportLayerFeedback({ feedback: nack })]);
    }
    // And a NACK for an SSRC the relay never sent.
    await dtls.sendRtcp([new RtcpTransportLayerFeedback({ feedback: new GenericNack({ senderSsrc: 1, mediaSourceSsrc: 0xdeadbeef, lost: [1, 2, 3] }) })]);
    // Poll the relay's counters until it has read the NACKs (each poll is a round trip to its engines).
    let after = await relay.collectStats();
    for (let i = 0; i < 100 && after.nacksReceived - before.nacksReceived < messages; i++) after = await relay.collectStats();
    // Some NACKs may be lost in the socket buffers at this rate: the relay must have read most.
    const retransmitted = after.retransmittedPackets - before.retransmittedPackets;
    const forwarded = after.forwardedPackets - before.forwardedPackets;
    console.log(JSON.stringify({ nacks: after.nacksReceived - before.nacksReceived, retransmitted, refused: after.retransmitsRefused - before.retransmitsRefused, forwarded }));
    assert.ok(after.nacksReceived - before.nacksReceived >= messages / 2, "the relay read the NACKs");
    assert.ok(retransmitted > 0, "the relay resent cached packets");
    // The bound: one burst plus a quarter of what was forwarded meanwhile.
    assert.ok(retransmitted <= RetransmitLimiter.BURST + Math.ceil(forwarded * RetransmitLimiter.SHARE) + 1, `resent ${retransmitted} for ${forwarded} forwarded`);
    assert.ok(after.retransmitsRefused - before.retransmitsRefused > 0, "the flood was refused beyond the bound");
    // The relay still forwards: more frames arrive.
    const seen = frames;
    await waitFor(() => frames > seen + 10, 10_000, "frames after the flood");
    assert.equal(subscriber.e2ee.stats.decryptFailures, 0);
  } finally {
    await subscriber.close();
    await publisher.close();
    await source.close();
    await relay.close();
  }
});
