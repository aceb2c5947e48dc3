/**
 * A werift peer that speaks Conclave signalling but none of its rules: no E2EE, and direct access to
 * its SRTP/SRTCP sessions and ICE socket, so a test can put any RTP header, any payload, any RTCP
 * (valid SRTP around garbage) or raw unencrypted bytes on a real, connected transport to the relay.
 */
import { RTCPeerConnection, RtpHeader, type RTCDtlsTransport, type RTCRtpTransceiver, type RtpPacket } from "werift";
import { buildPeerConfig } from "../../src/media/rtc-config.js";
import { waitFor } from "../helpers/util.js";
import { RawSignalling, type Frame } from "./raw-signalling.js";

export interface RawPeerOptions {
  /** Rewrites our answer SDP before it is sent (e.g. to claim another SSRC). */
  mangleAnswer?: (sdp: string) => string;
  /** Keep RTP received per publisher peer id (headers only). */
  recordRtp?: boolean;
}

export interface RtpFields {
  payloadType?: number;
  sequenceNumber: number;
  timestamp: number;
  ssrc?: number;
  marker?: boolean;
  csrc?: number[];
  extensions?: { id: number; payload: Buffer }[];
}

export class RawWeriftPeer {
  readonly pc = new RTCPeerConnection(buildPeerConfig({ bindAddress: "127.0.0.1" }));
  peerId = "";
  upload: RTCRtpTransceiver | undefined;
  readonly midToPeer = new Map<string, string>();
  readonly received = new Map<string, RtpPacket[]>();
  offers = 0;
  private readonly subscribed = new WeakSet<object>();

  private constructor(
    readonly signalling: RawSignalling,
    private readonly options: RawPeerOptions,
  ) {
    this.pc.onTrack.subscribe((track) => {
      if (this.subscribed.has(track)) return;
      this.subscribed.add(track);
      const transceiver = this.pc.getTransceivers().find((t) => t.receiver.track === track);
      track.onReceiveRtp.subscribe((rtp) => {
        if (!this.options.recordRtp || !transceiver?.mid) return;
        const from = this.midToPeer.get(transceiver.mid) ?? `mid:${transceiver.mid}`;
        const list = this.received.get(from) ?? [];
        if (list.length < 5000) list.push(rtp);
        this.received.set(from, list);
      });
    });
  }

  /** Connects, joins `room` and answers every offer (the relay is always the offerer). */
  static async join(signallingUrl: string, room: string, options: RawPeerOptions = {}): Promise<RawWeriftPeer> {
    const signalling = await RawSignalling.open(signallingUrl);
    const peer = new RawWeriftPeer(signalling, options);
    signalling.socket.on("message", (raw) => {
      let frame: Frame;
      try {
        frame = JSON.parse(raw.toString()) as Frame;
      } catch {
        return;
      }
      if (frame.type === "offer") void peer.answer(frame).catch(() => {});
    });
    peer.peerId = (await signalling.join(room)).peerId;
    return peer;
  }

  private async answer(offer: Frame): Promise<void> {
    this.offers++;
    for (const t of offer.tracks as { mid: string; peerId: string }[]) this.midToPeer.set(t.mid, t.peerId);
    await this.pc.setRemoteDescription({ type: "offer", sdp: String(offer.sdp) });
    for (const transceiver of this.pc.getTransceivers()) {
      if (!this.upload && transceiver.mid !== null && !this.midToPeer.has(transceiver.mid)) {
        this.upload = transceiver;
        transceiver.setDirection("sendonly");
      }
    }
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    const sdp = this.pc.localDescription!.sdp;
    this.signalling.send({ type: "answer", sdp: this.options.mangleAnswer ? this.options.mangleAnswer(sdp) : sdp });
  }

  async connected(timeoutMs = 10_000): Promise<void> {
    await waitFor(() => this.pc.connectionState === "connected" && this.upload !== undefined, timeoutMs, "the raw werift peer to connect");
  }

  get dtls(): RTCDtlsTransport {
    const dtls = this.upload?.sender.dtlsTransport;
    if (!dtls || dtls.state !== "connected") throw new Error("the raw peer's transport is not connected");
    return dtls;
  }

  /** The SSRC our SDP declares for the upload m-line. */
  get ssrc(): number {
    return this.upload!.sender.ssrc;
  }

  /** One RTP packet with exactly these header fields, SRTP-protected with the real session keys. */
  async sendRtp(fields: RtpFields, payload: Buffer): Promise<void> {
    const header = new RtpHeader({
      payloadType: fields.payloadType ?? 111,
      sequenceNumber: fields.sequenceNumber & 0xffff,
      timestamp: fields.timestamp >>> 0,
      ssrc: (fields.ssrc ?? this.ssrc) >>> 0,
      marker: fields.marker ?? false,
      csrc: fields.csrc ?? [],
      csrcLength: fields.csrc?.length ?? 0,
      extension: (fields.extensions?.length ?? 0) > 0,
      extensions: fields.extensions ?? [],
    });
    await this.dtls.sendRtp(payload, header);
  }

  /** Bytes as given, SRTCP-protected (the relay authenticates them, then has to parse them). */
  async sendSrtcp(rtcp: Buffer): Promise<void> {
    const dtls = this.dtls;
    await dtls.iceTransport.connection.send(dtls.srtcp.encrypt(rtcp));
  }

  /** Bytes as given, unprotected, on the connected ICE pair. */
  async sendRaw(data: Buffer): Promise<void> {
    await this.dtls.iceTransport.connection.send(data);
  }

  /** SSRCs the relay declared for its downlinks in its last offer (what it sends us on). */
  relaySsrcs(): number[] {
    const sdp = this.pc.remoteDescription?.sdp ?? "";
    return [...new Set([...sdp.matchAll(/^a=ssrc:(\d+) /gm)].map((m) => Number(m[1])))];
  }

  async close(): Promise<void> {
    this.signalling.terminate();
    await this.pc.close().catch(() => {});
  }
}
