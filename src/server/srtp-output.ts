/**
 * The send half of one subscriber's DTLS-SRTP session, as the lean forwarder uses it: protect a
 * packet with the session's local SRTP keys and hand the datagram straight to the UDP socket of the
 * ICE pair werift selected, skipping werift's generic sender (header-extension rebuild, statistics,
 * bandwidth estimation, RTCP scheduling and an async chain per packet).
 *
 * Keys and the socket are werift's: this object reads them from the RTCDtlsTransport once DTLS is
 * connected, and follows the selected ICE pair if it changes. It never touches the receive side.
 */
import type { Socket } from "node:dgram";
import { RtpHeader, type RTCDtlsTransport } from "werift";
import { RolloverCounter, SrtpGcmProtector, type KeystreamAhead } from "./srtp-protect.js";

/** RFC 7714 §14.2: the DTLS-SRTP protection profile value of AEAD_AES_128_GCM. */
export const SRTP_AEAD_AES_128_GCM = 0x0007;

type IceConnection = RTCDtlsTransport["iceTransport"]["connection"];
type CandidatePair = NonNullable<IceConnection["nominated"]>;

/** werift's UdpTransport under a candidate pair's StunProtocol (not in werift's typings). */
export interface WeriftUdpTransport {
  type?: string;
  socket?: Socket;
  closed?: boolean;
  /** Where werift's ICE layer takes each datagram (the lean upload path hooks it: ./srtp-input.ts). */
  onData: (data: Buffer, addr: [string, number]) => void;
}

/** The open UDP transport under `pair`, if it is one. */
export function udpTransportOf(pair: CandidatePair | undefined): WeriftUdpTransport | undefined {
  const transport = (pair?.protocol as unknown as { transport?: WeriftUdpTransport } | undefined)?.transport;
  return transport?.type === "udp" && !transport.closed ? transport : undefined;
}

export class SrtpOutput {
  private readonly connection: IceConnection;
  private readonly gcm: SrtpGcmProtector | undefined;
  private pair: CandidatePair | undefined;
  private socket: Socket | undefined;
  private remotePort = 0;
  private remoteHost = "";
  /** Datagrams handed to the kernel (or to werift when no UDP socket is reachable). */
  packetsSent = 0;
  bytesSent = 0;

  private constructor(readonly dtls: RTCDtlsTransport) {
    this.connection = dtls.iceTransport.connection;
    const local = dtls.srtp.localContext;
    this.gcm =
      local.profile === SRTP_AEAD_AES_128_GCM
        ? new SrtpGcmProtector(local.cipher.srtpSessionKey, local.cipher.srtpSessionSalt)
        : undefined;
  }

  /** The output of a connected DTLS transport; undefined until DTLS-SRTP is up. */
  static of(dtls: RTCDtlsTransport | undefined): SrtpOutput | undefined {
    if (!dtls || dtls.state !== "connected" || !dtls.srtpStarted || !dtls.srtp) return undefined;
    return new SrtpOutput(dtls);
  }

  /** Whether `dtls` is still the transport this output was built for. */
  isFor(dtls: RTCDtlsTransport | undefined): boolean {
    return dtls === this.dtls && dtls.state === "connected";
  }

  private retarget(pair: CandidatePair | undefined): void {
    this.pair = pair;
    this.socket = undefined;
    if (!pair) return;
    const transport = udpTransportOf(pair);
    if (transport?.socket) {
      const [host, port] = pair.remoteAddr;
      this.socket = transport.socket;
      this.remoteHost = host;
      this.remotePort = port;
    }
  }

  /**
   * Protects and sends one RTP packet with a fixed 12-byte header on SSRC `ssrc`.
   * Returns false when nothing could be sent (no selected pair, ICE failed or closed).
   */
  send(
    marker: boolean,
    payloadType: number,
    seq: number,
    timestamp: number,
    ssrc: number,
    roc: RolloverCounter,
    payload: Buffer,
    ahead?: KeystreamAhead,
  ): boolean {
    const connection = this.connection;
    const state = connection.state;
    if (state === "failed" || state === "closed") return false;
    const pair = connection.nominated;
    if (pair !== this.pair) this.retarget(pair);
    if (!pair) return false;
    let packet: Buffer;
    if (this.gcm) {
      packet = this.gcm.protect(marker, payloadType, seq, timestamp, ssrc, roc.next(seq), payload, ahead);
    } else {
      // Any other profile: werift's SRTP context (it keeps its own rollover state per SSRC).
      const header = new RtpHeader({ marker, payloadType, sequenceNumber: seq, timestamp, ssrc });
      packet = this.dtls.srtp.encrypt(payload, header);
    }
    this.packetsSent++;
    this.bytesSent += packet.length;
    if (this.socket) this.socket.send(packet, this.remotePort, this.remoteHost);
    else void connection.send(packet).catch(() => {});
    return true;
  }
}
