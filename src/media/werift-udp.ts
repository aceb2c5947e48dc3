/**
 * What the lean SRTP paths (src/server/srtp-input.ts, srtp-output.ts, src/media/srtp-receive.ts)
 * need to reach under werift: the UDP transport of an ICE candidate pair, and the DTLS-SRTP profile
 * they handle themselves. werift's typings do not expose the transport.
 */
import type { Socket } from "node:dgram";
import type { RTCDtlsTransport } from "werift";

/** RFC 7714 §14.2: the DTLS-SRTP protection profile value of AEAD_AES_128_GCM. */
export const SRTP_AEAD_AES_128_GCM = 0x0007;

type IceConnection = RTCDtlsTransport["iceTransport"]["connection"];
export type CandidatePair = NonNullable<IceConnection["nominated"]>;

/** werift's UdpTransport under a candidate pair's StunProtocol (not in werift's typings). */
export interface WeriftUdpTransport {
  type?: string;
  socket?: Socket;
  closed?: boolean;
  /** Where werift's ICE layer takes each datagram (the lean receive paths hook it). */
  onData: (data: Buffer, addr: [string, number]) => void;
}

/** The open UDP transport under `pair`, if it is one. */
export function udpTransportOf(pair: CandidatePair | undefined): WeriftUdpTransport | undefined {
  const transport = (pair?.protocol as unknown as { transport?: WeriftUdpTransport } | undefined)?.transport;
  return transport?.type === "udp" && !transport.closed ? transport : undefined;
}
