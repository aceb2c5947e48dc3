/**
 * Receiver and sender reports the relay has no use for, recognised without decrypting them.
 *
 * Every participant sends receiver reports about what it receives: one compound report every
 * 0.75–2.25 s from its lean audio path (src/client/lean-receive.ts), and werift's one per stream
 * about once a second for anything else (video, `leanReceive: false`: then a room of N sends the
 * relay about N×(N−1) a second). The relay does not use them: link quality comes from the
 * participants' own receive statistics and the signalling round trip, and the relay writes its own
 * sender and receiver reports (./peer.ts). Decrypting and parsing werift's per-stream reports
 * through its SRTCP path cost about a sixth of the relay's CPU in a room of 10.
 *
 * SRTCP leaves the first 8 bytes of the compound packet in the clear (RFC 3711 §3.4; RFC 7714 §9):
 * the first packet's type and length. A datagram whose first packet is an SR (200) or RR (201) and
 * whose length accounts for the whole datagram (that packet, the 4-byte E flag and SRTCP index, the
 * authentication tag) holds nothing else: no NACK, PLI, FIR or REMB can hide in it. Only those are
 * dropped; everything else still goes to werift, which authenticates it. Dropping an unauthenticated
 * datagram changes no state, so a forged one achieves nothing that dropping it would not.
 */

/** RFC 3550 §12.1: SR and RR packet types. */
const RTCP_SR = 200;
const RTCP_RR = 201;
/** RFC 3711 §3.4: the E flag and 31-bit SRTCP index after the encrypted portion. */
const SRTCP_INDEX_BYTES = 4;

/** Whether `data` is one SRTCP packet holding a lone SR or RR, with a `tagBytes` authentication tag. */
export function isLoneReport(data: Uint8Array, tagBytes: number): boolean {
  if (data.length < 8 + SRTCP_INDEX_BYTES + tagBytes || data[0]! >> 6 !== 2) return false;
  const type = data[1]!;
  if (type !== RTCP_SR && type !== RTCP_RR) return false;
  const words = (data[2]! << 8) | data[3]!;
  return (words + 1) * 4 + SRTCP_INDEX_BYTES + tagBytes === data.length;
}
