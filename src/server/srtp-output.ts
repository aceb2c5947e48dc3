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
import { native, socketFd, NATIVE_MAX_SEAL_PAYLOAD, type NativeGcmContext, type NativeSendPath, type NativeTarget } from "../media/native.js";
import { RolloverCounter, SrtpGcmProtector, RTP_HEADER_BYTES, GCM_TAG_BYTES, protectSrtcp, type KeystreamAhead } from "./srtp-protect.js";
import { SRTP_AEAD_AES_128_GCM, udpTransportOf, type WeriftUdpTransport } from "../media/werift-udp.js";

// Moved to src/media (the client's lean receive path uses them too); re-exported for the relay.
export { SRTP_AEAD_AES_128_GCM, udpTransportOf, type WeriftUdpTransport } from "../media/werift-udp.js";

type IceConnection = RTCDtlsTransport["iceTransport"]["connection"];

/** The parts of werift's local SRTCP context the output shares (not in werift's typings). */
interface WeriftSrtcpContext {
  profile: number;
  cipher: { srtcpSessionKey: Buffer; srtcpSessionSalt: Buffer };
  getSrtcpSsrcState(ssrc: number): { srtcpIndex: number };
}

/** What sendRtcp takes: werift's RTCP packet classes, or anything that serialises the same way. */
export interface RtcpSerializable {
  serialize(): Buffer;
}
type CandidatePair = NonNullable<IceConnection["nominated"]>;

export interface SrtpOutputOptions {
  /** Use the native send path when it is built (src/media/native.ts). Default true. */
  native?: boolean;
  /**
   * With the native path, connect(2) the selected pair's socket to the participant's address, so
   * each datagram reuses the kernel's cached route (default true). The socket then takes datagrams
   * from that address only: once ICE has selected the pair, nothing else is owed to it.
   */
  connect?: boolean;
}

export class SrtpOutput {
  private readonly connection: IceConnection;
  private readonly gcm: SrtpGcmProtector | undefined;
  /** The native path and this session's context in it, when both are available (GCM only). */
  private readonly native: NativeSendPath | undefined;
  private readonly nativeContext: NativeGcmContext | undefined;
  private pair: CandidatePair | undefined;
  private transport: WeriftUdpTransport | undefined;
  private socket: Socket | undefined;
  private remotePort = 0;
  private remoteHost = "";
  /** The socket's descriptor and the pair's remote address, for the native path (−1 / null: not usable). */
  private fd = -1;
  private target: NativeTarget | null = null;
  /** Datagrams handed to the kernel (or to werift when no UDP socket is reachable). */
  packetsSent = 0;
  bytesSent = 0;
  /** Of those, sent by the native path; and native sends that fell back (socket buffer full, errors). */
  nativeSent = 0;
  nativeFallbacks = 0;

  private readonly connect: boolean;

  private constructor(
    readonly dtls: RTCDtlsTransport,
    options: SrtpOutputOptions,
  ) {
    this.connect = options.connect !== false;
    this.connection = dtls.iceTransport.connection;
    const local = dtls.srtp.localContext;
    const gcm = local.profile === SRTP_AEAD_AES_128_GCM;
    this.gcm = gcm ? new SrtpGcmProtector(local.cipher.srtpSessionKey, local.cipher.srtpSessionSalt) : undefined;
    this.native = gcm && options.native !== false ? native() : undefined;
    this.nativeContext = this.native?.gcmContext(local.cipher.srtpSessionKey, local.cipher.srtpSessionSalt);
  }

  /** The output of a connected DTLS transport; undefined until DTLS-SRTP is up. */
  static of(dtls: RTCDtlsTransport | undefined, options: SrtpOutputOptions = {}): SrtpOutput | undefined {
    if (!dtls || dtls.state !== "connected" || !dtls.srtpStarted || !dtls.srtp) return undefined;
    return new SrtpOutput(dtls, options);
  }

  /** Whether packets go out through the native path (when a UDP pair is selected). */
  get usesNative(): boolean {
    return this.nativeContext !== undefined;
  }

  /** Whether `dtls` is still the transport this output was built for. */
  isFor(dtls: RTCDtlsTransport | undefined): boolean {
    return dtls === this.dtls && dtls.state === "connected";
  }

  private retarget(pair: CandidatePair | undefined): void {
    this.pair = pair;
    this.socket = undefined;
    this.transport = undefined;
    this.fd = -1;
    this.target = null;
    if (!pair) return;
    const transport = udpTransportOf(pair);
    if (transport?.socket) {
      const [host, port] = pair.remoteAddr;
      this.transport = transport;
      this.socket = transport.socket;
      this.remoteHost = host;
      this.remotePort = port;
      if (this.native) {
        this.fd = socketFd(transport.socket);
        this.target = this.fd >= 0 ? this.native.target(host, port) : null;
        // A refusal leaves the socket as it was: sealSend then names the address each time.
        if (this.target && this.connect) this.native.connectTarget(this.fd, this.target);
      }
    }
  }

  /**
   * Protects and sends one compound RTCP packet (RFC 3550 §6.1: the packets in order). With
   * AEAD_AES_128_GCM the relay protects it itself (RFC 7714 §9, one cipher per compound) and sends
   * it on the selected pair's socket; the SRTCP index comes from werift's counter for the first
   * packet's sender SSRC, so werift's own RTCP under that SSRC (feedback from its senders) never
   * reuses one. Any other profile goes through werift's sendRtcp. False when nothing was sent.
   */
  sendRtcp(packets: readonly RtcpSerializable[]): boolean {
    if (packets.length === 0) return false;
    const state = this.connection.state;
    if (state === "failed" || state === "closed") return false;
    const srtcp = (this.dtls as unknown as { srtcp?: { localContext?: WeriftSrtcpContext } }).srtcp?.localContext;
    const compound = packets.length === 1 ? packets[0]!.serialize() : Buffer.concat(packets.map((p) => p.serialize()));
    if (!this.gcm || srtcp?.profile !== SRTP_AEAD_AES_128_GCM || typeof srtcp.getSrtcpSsrcState !== "function" || compound.length < 8) {
      this.dtls.sendRtcp(packets as Parameters<RTCDtlsTransport["sendRtcp"]>[0]).catch(() => {});
      return true;
    }
    // werift's rule (its SrtcpContext.encryptRTCP): count up, back to 0 past 31 bits.
    const s = srtcp.getSrtcpSsrcState(compound.readUInt32BE(4));
    s.srtcpIndex++;
    if (s.srtcpIndex > 0x7fffffff) s.srtcpIndex = 0;
    this.transmit(protectSrtcp(srtcp.cipher.srtcpSessionKey, srtcp.cipher.srtcpSessionSalt, compound, s.srtcpIndex));
    return true;
  }

  /**
   * A protected datagram out through dgram on the selected pair's socket (queued by Node when the
   * socket buffer is full), or through werift's ICE connection when no open UDP socket is reachable.
   */
  private transmit(packet: Buffer): void {
    const pair = this.connection.nominated;
    if (pair !== this.pair) this.retarget(pair);
    if (this.socket && this.transport && !this.transport.closed) this.socket.send(packet, this.remotePort, this.remoteHost);
    else void this.connection.send(packet).catch(() => {});
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
    if (this.nativeContext && payload.length <= NATIVE_MAX_SEAL_PAYLOAD) {
      const index = roc.next(seq);
      const byte1 = (marker ? 0x80 : 0) | (payloadType & 0x7f);
      // The descriptor is only used while werift's transport is open: a closed socket's number
      // may already belong to another socket.
      if (this.target && this.transport && !this.transport.closed) {
        const sent = this.native!.sealSend(this.nativeContext, byte1, seq, timestamp, ssrc, index, payload, this.fd, this.target);
        if (sent >= 0) {
          this.packetsSent++;
          this.nativeSent++;
          this.bytesSent += sent;
          return true;
        }
        // A full socket buffer (−EAGAIN: dgram queues it until the socket is writable) or another
        // error: the JavaScript send below.
        this.nativeFallbacks++;
      }
      packet = Buffer.allocUnsafe(RTP_HEADER_BYTES + payload.length + GCM_TAG_BYTES);
      this.native!.seal(this.nativeContext, byte1, seq, timestamp, ssrc, index, payload, packet);
    } else if (this.gcm) {
      // Also a payload too long for the native module's buffer (a publisher may send datagrams far
      // beyond an MTU): without the keystream prepared ahead, which is sized for ordinary packets.
      packet = this.gcm.protect(marker, payloadType, seq, timestamp, ssrc, roc.next(seq), payload, this.nativeContext ? undefined : ahead);
    } else {
      // Any other profile: werift's SRTP context (it keeps its own rollover state per SSRC).
      const header = new RtpHeader({ marker, payloadType, sequenceNumber: seq, timestamp, ssrc });
      packet = this.dtls.srtp.encrypt(payload, header);
    }
    this.packetsSent++;
    this.bytesSent += packet.length;
    this.transmit(packet);
    return true;
  }
}
