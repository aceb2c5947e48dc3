/**
 * One participant as the relay sees it: a signalling socket, one werift PeerConnection, the upload
 * transceiver it receives the participant's media on, and one send-only transceiver per other
 * publisher in the room. The relay is always the offerer; offers are serialised per peer so there is
 * never glare, and a change that arrives while an offer is out is folded into the next one.
 */
import { randomBytes } from "node:crypto";
import { RTCPeerConnection, type RTCRtpTransceiver, type RtpPacket, type RTCRtpSender } from "werift";
import type { WebSocket } from "ws";
import { encodeMessage, type ServerMessage, type TrackMapping } from "../protocol/index.js";
import type { PeerConfig } from "../media/rtc-config.js";
import type { Logger } from "../log.js";

export type RtpListener = (peer: RelayPeer, rtp: RtpPacket) => void;

export class RelayPeer {
  readonly id: string;
  readonly pc: RTCPeerConnection;
  readonly upload: RTCRtpTransceiver;
  /** publisher peer id → the transceiver that carries its audio to this peer. */
  private readonly downlinks = new Map<string, RTCRtpTransceiver>();
  /** Hot-path lookup: publisher id → sender, only while the transport is connected. */
  readonly senders = new Map<string, RTCRtpSender>();
  private offerOutstanding = false;
  private renegotiate = false;
  private answerTimer: NodeJS.Timeout | undefined;
  private readonly seenTracks = new Set<string>();
  closed = false;
  connected = false;
  alive = true;

  constructor(
    readonly socket: WebSocket,
    readonly roomId: string,
    config: PeerConfig,
    private readonly log: Logger,
    private readonly answerTimeoutMs: number,
    onRtp: RtpListener,
    onFailed: (peer: RelayPeer, reason: string) => void,
  ) {
    this.id = randomBytes(9).toString("base64url");
    this.pc = new RTCPeerConnection(config);
    this.upload = this.pc.addTransceiver("audio", { direction: "recvonly" });
    // onTrack fires again on every renegotiation: subscribe to each remote track once.
    this.upload.onTrack.subscribe((track) => {
      const key = track.id ?? String(track.ssrc);
      if (this.seenTracks.has(key)) return;
      this.seenTracks.add(key);
      track.onReceiveRtp.subscribe((rtp) => onRtp(this, rtp));
    });
    this.pc.connectionStateChange.subscribe((state) => {
      if (state === "connected") {
        this.connected = true;
        this.refreshSenders();
      } else if (state === "failed" || state === "closed") {
        this.connected = false;
        this.senders.clear();
        if (state === "failed") onFailed(this, "ice-failed");
      }
    });
  }

  send(message: ServerMessage): void {
    if (this.socket.readyState !== this.socket.OPEN) return;
    this.socket.send(encodeMessage(message));
  }

  /** Start forwarding `publisherId`'s audio to this peer (takes effect after renegotiation). */
  addPublisher(publisherId: string): void {
    if (this.closed || this.downlinks.has(publisherId)) return;
    const transceiver = this.pc.addTransceiver("audio", { direction: "sendonly" });
    this.downlinks.set(publisherId, transceiver);
    void this.negotiate();
  }

  /** Stop forwarding `publisherId`'s audio; its m-line goes inactive. */
  removePublisher(publisherId: string): void {
    const transceiver = this.downlinks.get(publisherId);
    if (!transceiver) return;
    this.downlinks.delete(publisherId);
    this.senders.delete(publisherId);
    if (this.closed) return;
    transceiver.setDirection("inactive");
    void this.negotiate();
  }

  private refreshSenders(): void {
    this.senders.clear();
    if (!this.connected) return;
    for (const [publisherId, transceiver] of this.downlinks) {
      if (transceiver.mid !== null) this.senders.set(publisherId, transceiver.sender);
    }
  }

  async negotiate(): Promise<void> {
    if (this.closed) return;
    if (this.offerOutstanding) {
      this.renegotiate = true;
      return;
    }
    this.offerOutstanding = true;
    this.renegotiate = false;
    try {
      const offer = await this.pc.createOffer();
      await this.pc.setLocalDescription(offer);
      if (this.closed) return;
      const tracks: TrackMapping[] = [];
      for (const [peerId, transceiver] of this.downlinks) {
        if (transceiver.mid !== null) tracks.push({ mid: transceiver.mid, peerId, kind: "audio" });
      }
      this.send({ type: "offer", sdp: this.pc.localDescription!.sdp, tracks });
      this.answerTimer = setTimeout(() => {
        this.log.warn("peer did not answer the offer in time", { peer: this.id });
        this.socket.close(4008, "answer timeout");
      }, this.answerTimeoutMs);
    } catch (err) {
      this.offerOutstanding = false;
      this.log.warn("offer failed", { peer: this.id, error: (err as Error).message });
    }
  }

  async handleAnswer(sdp: string): Promise<void> {
    if (!this.offerOutstanding) throw new Error("no offer is outstanding");
    clearTimeout(this.answerTimer);
    try {
      await this.pc.setRemoteDescription({ type: "answer", sdp });
    } finally {
      this.offerOutstanding = false;
    }
    this.refreshSenders();
    if (this.renegotiate) await this.negotiate();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.answerTimer);
    this.senders.clear();
    this.downlinks.clear();
    try {
      await this.pc.close();
    } catch {
      // already closed
    }
  }
}
