/**
 * RTCP receiver reports (RFC 3550 §6.4.2) on the lean paths, over 127.0.0.1 with the real relay and
 * real werift participants (synthetic frames, no ffmpeg):
 * - the relay reports on a publisher's audio upload itself, in an RR packet alone when the
 *   publisher has no downlink, and after the sender reports of the compound it sends anyway when it
 *   has; werift's own report loop for that upload is stopped;
 * - a participant sends one compound RR with a block for every stream on its lean receive path
 *   instead of werift's one RR datagram per stream.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { RTCPeerConnection, RtcpPacket, RtcpReceiverInfo, RTCRtpTransceiver } from "werift";
import { Participant, newInvite } from "../../src/index.js";
import { sharedRelay } from "../helpers/relay-fixture.js";
import { waitFor } from "../helpers/util.js";

const shared = sharedRelay();

/** RFC 3550 §12.1: SR and RR packet types. */
const SR = 200;
const RR = 201;

async function join(invite: string, name: string): Promise<Participant> {
  const p = await Participant.join(invite, { name, statsIntervalMs: 0 });
  shared.defer(() => p.close());
  return p;
}

/** Every publisher sends one 20 ms frame every 20 ms until stopped. */
function talk(publishers: Participant[]): () => void {
  const timer = setInterval(() => {
    for (const p of publishers) p.sendFrame(randomBytes(60), 960);
  }, 20);
  return () => clearInterval(timer);
}

function pcOf(p: Participant): RTCPeerConnection {
  return (p as unknown as { pc: RTCPeerConnection }).pc;
}

function uploadOf(p: Participant): RTCRtpTransceiver {
  return (p as unknown as { upload: RTCRtpTransceiver }).upload;
}

/**
 * The RTCP compound packets `p` receives, one array per SRTCP datagram: werift hands a datagram's
 * packets to onRtcp one after another in one synchronous loop, so a microtask ends each group.
 */
function receivedCompounds(p: Participant): { compounds: { at: number; packets: RtcpPacket[] }[]; stop(): void } {
  const compounds: { at: number; packets: RtcpPacket[] }[] = [];
  let open: RtcpPacket[] | undefined;
  const subs = pcOf(p).dtlsTransports.map((dtls) =>
    dtls.onRtcp.subscribe((rtcp) => {
      if (!open) {
        const group: RtcpPacket[] = [];
        open = group;
        compounds.push({ at: Date.now(), packets: group });
        queueMicrotask(() => void (open = undefined));
      }
      open.push(rtcp);
    }),
  );
  return { compounds, stop: () => subs.forEach((s) => s.unSubscribe()) };
}

/** The RTCP compound packets `p` sends (each sendRtcp call is one SRTCP datagram). */
function sentCompounds(p: Participant): { compounds: RtcpPacket[][]; stop(): void } {
  const compounds: RtcpPacket[][] = [];
  const restore: (() => void)[] = [];
  for (const dtls of pcOf(p).dtlsTransports) {
    const original = dtls.sendRtcp;
    dtls.sendRtcp = (packets: RtcpPacket[]) => {
      compounds.push(packets);
      return original.call(dtls, packets);
    };
    restore.push(() => void (dtls.sendRtcp = original));
  }
  return { compounds, stop: () => restore.forEach((r) => r()) };
}

function blocksAbout(packets: RtcpPacket[], ssrc: number): RtcpReceiverInfo[] {
  return packets.flatMap((x) => (x.type === RR || x.type === SR ? (x as { reports: RtcpReceiverInfo[] }).reports : [])).filter((r) => r.ssrc === ssrc);
}

test("the relay reports on a publisher's audio upload in its own RTCP compound; werift's report loop for it is stopped", async () => {
  const invite = newInvite(shared.url);
  const a = await join(invite, "a");
  const rx = receivedCompounds(a);
  shared.defer(rx.stop);
  const stopA = talk([a]);
  shared.defer(stopA);
  const ssrc = uploadOf(a).sender.ssrc;
  const withBlock = (): { at: number; packets: RtcpPacket[] }[] => rx.compounds.filter((c) => blocksAbout(c.packets, ssrc).length > 0);

  // Alone in the room: no downlink, so no sender report; the receiver report goes alone.
  await waitFor(() => withBlock().length >= 1, 8_000, "a receiver report on a's upload");
  const lone = withBlock()[0]!.packets;
  assert.deepEqual(
    lone.map((x) => x.type),
    [RR],
    "alone: one RR packet",
  );

  // With b publishing, a has a downlink: the block follows its sender report in the same datagram.
  const b = await join(invite, "b");
  const stopB = talk([b]);
  shared.defer(stopB);
  const from = withBlock().length;
  await waitFor(() => withBlock().slice(from).some((c) => c.packets.some((x) => x.type === SR)), 10_000, "a compound with a sender report and the upload's report");
  const compound = withBlock().slice(from).find((c) => c.packets.some((x) => x.type === SR))!.packets;
  assert.equal(compound[0]!.type, SR, "the compound starts with the sender report");
  assert.equal(compound[compound.length - 1]!.type, RR, "the upload's RR follows");
  await waitFor(() => withBlock().length >= from + 2, 8_000, "another report on a's upload");

  const reports = withBlock();
  const blocks = reports.flatMap((c) => blocksAbout(c.packets, ssrc));
  // One block per datagram: nothing else (werift's loop) reports on the upload.
  assert.equal(blocks.length, reports.length);
  for (let i = 1; i < reports.length; i++) {
    // The relay reports every 2–3 s per peer; werift's loop (0.5–1.5 s) would come in between.
    assert.ok(reports[i]!.at - reports[i - 1]!.at >= 1_500, `reports ${reports[i]!.at - reports[i - 1]!.at} ms apart`);
    assert.ok(blocks[i]!.highestSequence > blocks[i - 1]!.highestSequence, "the extended highest sequence number advances");
  }
  for (const block of blocks) {
    assert.equal(block.packetsLost, 0, "no loss on loopback");
    assert.equal(block.fractionLost, 0);
    // Jitter in timestamp units (48 kHz): frames sent on a 20 ms timer, well under 100 ms.
    assert.ok(Number.isInteger(block.jitter) && block.jitter < 4_800, `jitter ${block.jitter}`);
  }
  // The publisher's werift reads the blocks as a sender does (RFC 3550 §6.4.1 LSR/DLSR included:
  // werift's SR for the upload reaches the relay, so once one has, the round trip is measured).
  const sender = uploadOf(a).sender as unknown as { remotePacketsLost?: number; rtt?: number };
  assert.equal(sender.remotePacketsLost, 0);
  const last = blocks[blocks.length - 1]!;
  assert.ok(last.lsr > 0 && last.dlsr > 0, `LSR ${last.lsr}, DLSR ${last.dlsr}`);
  assert.ok(sender.rtt !== undefined && sender.rtt >= 0 && sender.rtt < 1, `round trip ${sender.rtt} s`);
});

test("a participant sends one compound receiver report for all its lean audio streams instead of one per stream", async () => {
  const invite = newInvite(shared.url);
  const a = await join(invite, "a");
  const b = await join(invite, "b");
  const c = await join(invite, "c");
  const stop = talk([a, b, c]);
  shared.defer(stop);
  await waitFor(() => c.heard.includes(a.peerId) && c.heard.includes(b.peerId), 10_000, "c to hear a and b");
  await waitFor(() => c.leanReceiveStats.packets > 20, 5_000, "audio on c's lean path");
  // The SSRCs c receives a's and b's audio on (its lean streams).
  const streams = pcOf(c)
    .getTransceivers()
    .filter((t) => t.kind === "audio" && t !== uploadOf(c))
    .flatMap((t) => t.receiver.tracks.map((track) => ({ receiver: t.receiver, ssrc: track.ssrc })))
    .filter((s): s is { receiver: RTCRtpTransceiver["receiver"]; ssrc: number } => s.ssrc !== undefined);
  assert.equal(streams.length, 2);

  const tx = sentCompounds(c);
  shared.defer(tx.stop);
  const withRr = (): RtcpPacket[][] => tx.compounds.filter((x) => x.some((p) => p.type === RR));
  const started = Date.now();
  await waitFor(() => withRr().length >= 3, 10_000, "three receiver reports from c");
  const elapsed = Date.now() - started;
  const count = withRr().length;
  // LSR/DLSR: once the relay's sender reports on both downlinks have reached c's werift receivers.
  const lastBlocks = (): RtcpReceiverInfo[] => withRr().at(-1)!.flatMap((p) => (p.type === RR ? (p as unknown as { reports: RtcpReceiverInfo[] }).reports : []));
  await waitFor(() => lastBlocks().every((b) => b.lsr > 0), 8_000, "a receiver report from c with LSR for both streams");
  tx.stop();
  // The relay sends a sender report every 2–3 s, so the last one is at most that old.
  for (const b of lastBlocks()) assert.ok(b.dlsr > 0 && b.dlsr < 3.5 * 65536, `DLSR ${b.dlsr / 65536} s`);

  const reports = withRr();
  // werift's loops would send one RR per stream every 0.5–1.5 s: at least 2 per 1.5 s.
  assert.ok(count <= Math.ceil(elapsed / 700) + 1, `${count} RR datagrams in ${elapsed} ms`);
  const highest = new Map<number, number>();
  for (const compound of reports) {
    const rrs = compound.filter((p) => p.type === RR);
    assert.equal(rrs.length, 1, "one RR packet (fewer than 32 blocks)");
    const blocks = (rrs[0] as unknown as { reports: RtcpReceiverInfo[] }).reports;
    assert.deepEqual(blocks.map((x) => x.ssrc).sort(), streams.map((s) => s.ssrc).sort(), "a block for each lean stream");
    for (const block of blocks) {
      assert.equal(block.packetsLost, 0, "no loss on loopback");
      assert.equal(block.fractionLost, 0);
      const before = highest.get(block.ssrc);
      if (before !== undefined) assert.ok(block.highestSequence > before, "the extended highest sequence number advances");
      highest.set(block.ssrc, block.highestSequence);
    }
  }
  // werift's report loops of the lean streams are paused.
  for (const s of streams) assert.equal(s.receiver.rtcpRunning, false, "werift's loop of a lean stream");
});
