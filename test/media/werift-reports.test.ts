/**
 * Receiver reports written for werift (src/media/werift-reports.ts): report blocks from reception
 * statistics with LSR/DLSR from werift's receiver (RFC 3550 §6.4.1), RR packets of at most 31 blocks
 * that werift's own RTCP parser reads back (§6.4.2), and pausing a real werift receiver's report
 * loop so that werift can start it again.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { RTCPeerConnection, RtcpPacketConverter, RtcpRrPacket } from "werift";
import { ReceptionStats } from "../../src/media/reception-stats.js";
import { MAX_REPORT_BLOCKS, pauseWeriftReports, pauseWeriftReportsAfterPacket, receiverReports, reportBlock } from "../../src/media/werift-reports.js";
import { buildPeerConfig } from "../../src/media/rtc-config.js";

test("RFC 3550 §6.4.1: a report block carries the statistics, LSR and DLSR from werift's last sender report", () => {
  const stats = new ReceptionStats(48000);
  for (const seq of [1, 2, 4, 5]) stats.add(seq, seq * 960, seq * 20);
  // What werift's receiver records of a sender report: the compact NTP time and when it arrived (s).
  const receiver = { lastSRtimestamp: { 77: 0x12345678 }, receiveLastSRTimestamp: { 77: 1_000 } };
  const block = reportBlock(77, stats, receiver, 1_000_500);
  assert.equal(block.ssrc, 77);
  assert.equal(block.fractionLost, Math.floor(256 / 5));
  assert.equal(block.packetsLost, 1);
  assert.equal(block.highestSequence, 5);
  assert.equal(block.lsr, 0x12345678);
  assert.equal(block.dlsr, 0.5 * 65536, "DLSR in 1/65536 s");
  // No sender report from that source yet: LSR and DLSR are 0.
  const none = reportBlock(78, stats, receiver, 1_000_500);
  assert.deepEqual([none.lsr, none.dlsr], [0, 0]);
  assert.equal(none.fractionLost, 0, "the interval restarted at the previous block");
});

test("RFC 3550 §6.4.2: 70 blocks make RR packets of 31, 31 and 8 that werift parses back; negative loss is 24-bit two's complement", () => {
  const blocks = [];
  for (let i = 0; i < 70; i++) {
    const stats = new ReceptionStats(48000);
    stats.add(100, 0, 0);
    stats.add(101, 960, 20);
    if (i === 0) stats.add(101, 960, 21); // a duplicate: packetsLost −1
    blocks.push(reportBlock(1000 + i, stats, undefined, 0));
  }
  const packets = receiverReports(0xdeadbeef, blocks);
  assert.deepEqual(
    packets.map((p) => p.reports.length),
    [MAX_REPORT_BLOCKS, MAX_REPORT_BLOCKS, 8],
  );
  const parsed = RtcpPacketConverter.deSerialize(Buffer.concat(packets.map((p) => p.serialize())));
  assert.equal(parsed.length, 3);
  const rrs = parsed.map((p) => {
    assert.ok(p instanceof RtcpRrPacket);
    return p;
  });
  assert.ok(rrs.every((p) => p.ssrc === 0xdeadbeef));
  const all = rrs.flatMap((p) => p.reports);
  assert.deepEqual(
    all.map((r) => r.ssrc),
    blocks.map((b) => b.ssrc),
  );
  assert.equal(all[0]!.packetsLost, 0xffffff, "−1 as a signed 24-bit field");
  assert.equal(all[1]!.highestSequence, 101);
  assert.deepEqual(receiverReports(1, []), []);
});

test("pausing werift's report loop ends it, and werift can start it again", async () => {
  const pc = new RTCPeerConnection(buildPeerConfig());
  try {
    const receiver = pc.addTransceiver("audio", { direction: "recvonly" }).receiver;
    assert.equal(pauseWeriftReports(receiver), false, "no loop yet");
    // werift starts the loop on each RTP packet it handles.
    const loop = receiver.runRtcp();
    assert.equal(receiver.rtcpRunning, true);
    assert.equal(pauseWeriftReports(receiver), true);
    assert.equal(receiver.rtcpRunning, false);
    await loop; // the pending wait was aborted: the loop has returned
    const again = receiver.runRtcp();
    assert.equal(receiver.rtcpRunning, true, "werift starts it again");
    const cancel = (receiver as unknown as { rtcpCancel: AbortController }).rtcpCancel;
    assert.equal(cancel.signal.aborted, false, "with a live signal, so it waits for its next report");
    // After the packet werift is handling: the pause runs once the current job is done.
    pauseWeriftReportsAfterPacket(receiver);
    assert.equal(receiver.rtcpRunning, true);
    await again;
    assert.equal(receiver.rtcpRunning, false);
  } finally {
    await pc.close();
  }
});
