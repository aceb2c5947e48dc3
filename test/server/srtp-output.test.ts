/**
 * SrtpOutput.sendRtcp on a real werift pair over 127.0.0.1: the relay's own SRTCP protection
 * (RFC 7714 §9) shares werift's SRTCP index for the SSRC, so the reports it sends and werift's own
 * RTCP under the same SSRC never repeat an index under the session key (a repeat would reuse a GCM
 * nonce), and the participant's werift decrypts every one.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { RtcpSenderInfo, RtcpSrPacket } from "werift";
import { SrtpOutput } from "../../src/server/srtp-output.js";
import { ntpTimestamp } from "../../src/server/downlink.js";
import { answerAndConnect, offeredPair } from "../helpers/werift.js";
import { waitFor } from "../helpers/util.js";

test("sendRtcp and werift's own sendRtcp draw SRTCP indexes from one counter; the participant decrypts them all", async () => {
  const { relay, client } = await offeredPair(["sendonly"]);
  try {
    assert.deepEqual(await answerAndConnect(relay, client), ["connected", "connected"]);
    const relayDtls = relay.dtlsTransports[0]!;
    const clientDtls = client.dtlsTransports[0]!;
    const output = SrtpOutput.of(relayDtls);
    assert.ok(output, "DTLS-SRTP is up");
    // Every SRTCP datagram as it reaches the participant (RFC 5761 §4: payload types 192..223), and
    // every RTCP packet werift authenticated and decrypted from them.
    const indexes: number[] = [];
    clientDtls.iceTransport.connection.onData.subscribe((data: Buffer) => {
      if (data.length > 12 && data[0]! >> 6 === 2 && data[1]! >= 192 && data[1]! <= 223) indexes.push(data.readUInt32BE(data.length - 4) & 0x7fffffff);
    });
    let decrypted = 0;
    clientDtls.onRtcp.subscribe(() => decrypted++);
    const ssrc = relay.getTransceivers()[0]!.sender.ssrc;
    const sr = (packets: number): RtcpSrPacket =>
      new RtcpSrPacket({ ssrc, senderInfo: new RtcpSenderInfo({ ntpTimestamp: ntpTimestamp(Date.now()), rtpTimestamp: packets * 960, packetCount: packets, octetCount: packets * 80 }) });
    assert.equal(output.sendRtcp([sr(1)]), true);
    assert.equal(output.sendRtcp([sr(2)]), true);
    await relayDtls.sendRtcp([sr(3)]);
    assert.equal(output.sendRtcp([sr(4)]), true);
    await waitFor(() => indexes.length >= 4 && decrypted >= 4, 5000, "four SRTCP packets at the participant, decrypted");
    // werift's sender may add reports of its own under the same SSRC: from the same counter too.
    assert.deepEqual(indexes, [...new Set(indexes)].sort((a, b) => a - b), `indexes ${indexes}: each used once, counting up`);
    assert.equal(decrypted, indexes.length, "every SRTCP packet authenticated at the participant");
  } finally {
    await relay.close();
    await client.close();
  }
});
