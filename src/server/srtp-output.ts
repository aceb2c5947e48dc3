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
import { SRTP_AEAD_AES_128_GCM, udpTransportOf } from "../media/werift-udp.js";

// Moved to src/media (the client's lean receive path uses them too); re-exported for the relay.
export { SRTP_AEAD_AES_128_GCM, udpTransportOf, type WeriftUdpTransport } from "../media/werift-udp.js";

type IceConnection = RTCDtlsTransport["iceTransport"]["connection"];
type CandidatePair = NonNullable<IceConnection["nominated"]>;

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
