/**
 * The relay's report filter (src/server/rtcp-filter.ts) on real SRTCP from werift's session: a lone
 * RR or SR is recognised from its clear header; a compound that carries anything else (SDES, NACK,
 * PLI) is not, so feedback always reaches werift.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import {
  SrtcpSession,
  RtcpRrPacket,
  RtcpSrPacket,
  RtcpReceiverInfo,
  RtcpSenderInfo,
  RtcpSourceDescriptionPacket,
  SourceDescriptionChunk,
  SourceDescriptionItem,
  RtcpTransportLayerFeedback,
  GenericNack,
  RtcpPayloadSpecificFeedback,
  PictureLossIndication,
  type RtcpPacket,
} from "werift";
import { isLoneReport } from "../../src/server/rtcp-filter.js";

const GCM_TAG = 16;

function session(): SrtcpSession {
  return new SrtcpSession({
    keys: { localMasterKey: randomBytes(16), localMasterSalt: randomBytes(12), remoteMasterKey: randomBytes(16), remoteMasterSalt: randomBytes(12) },
    profile: 7,
  });
}

function protect(s: SrtcpSession, packets: RtcpPacket[]): Buffer {
  return s.encrypt(Buffer.concat(packets.map((p) => p.serialize())));
}

const rr = (reports: number): RtcpRrPacket =>
  new RtcpRrPacket({
    ssrc: 1,
    reports: Array.from({ length: reports }, (_, i) => new RtcpReceiverInfo({ ssrc: 100 + i, fractionLost: 0, packetsLost: 0, highestSequence: 5, jitter: 1, lsr: 0, dlsr: 0 })),
  });
const sr = (): RtcpSrPacket =>
  new RtcpSrPacket({ ssrc: 2, senderInfo: new RtcpSenderInfo({ ntpTimestamp: 1n, rtpTimestamp: 2, packetCount: 3, octetCount: 4 }) });

test("a lone RR (0, 1 or 9 report blocks) or SR under SRTCP-GCM is a lone report", () => {
  const s = session();
  for (const n of [0, 1, 9]) assert.equal(isLoneReport(protect(s, [rr(n)]), GCM_TAG), true, `RR with ${n} blocks`);
  assert.equal(isLoneReport(protect(s, [sr()]), GCM_TAG), true, "SR");
});

test("compounds with SDES, NACK or PLI, feedback alone, RTP and junk are not", () => {
  const s = session();
  const sdes = new RtcpSourceDescriptionPacket({ chunks: [new SourceDescriptionChunk({ source: 2, items: [new SourceDescriptionItem({ type: 1, text: "cname" })] })] });
  const nack = new RtcpTransportLayerFeedback({ feedback: new GenericNack({ senderSsrc: 1, mediaSourceSsrc: 100, lost: [3, 4] }) });
  const pli = new RtcpPayloadSpecificFeedback({ feedback: new PictureLossIndication({ senderSsrc: 1, mediaSsrc: 100 }) });
  assert.equal(isLoneReport(protect(s, [sr(), sdes]), GCM_TAG), false, "SR + SDES");
  assert.equal(isLoneReport(protect(s, [rr(1), nack]), GCM_TAG), false, "RR + NACK");
  assert.equal(isLoneReport(protect(s, [rr(0), pli]), GCM_TAG), false, "RR + PLI");
  assert.equal(isLoneReport(protect(s, [nack]), GCM_TAG), false, "NACK alone");
  assert.equal(isLoneReport(protect(s, [pli]), GCM_TAG), false, "PLI alone");
  // An SRTP packet whose second byte happens to be 200 or 201 (marker bit + payload type 72/73).
  const rtp = Buffer.alloc(60);
  rtp[0] = 0x80;
  rtp[1] = 201;
  assert.equal(isLoneReport(rtp, GCM_TAG), false, "RTP-sized datagram");
  assert.equal(isLoneReport(Buffer.alloc(0), GCM_TAG), false, "empty");
  assert.equal(isLoneReport(Buffer.from([0x80, 201, 0, 1]), GCM_TAG), false, "truncated");
});
