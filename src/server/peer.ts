/**
 * One participant as a media engine sees it: a werift PeerConnection, the upload transceivers it
 * receives the participant's audio (and, if it joined with video, video) on, and one send-only
 * transceiver (a downlink) per other publisher and kind in the room. The relay is always the
 * offerer; offers are serialised per peer so there is never glare, and changes that arrive while an
 * offer is out, or shortly before one goes, are folded into one offer.
 *
 * The peer does not own the signalling socket: it hands messages for the participant to `signal`
 * and the media engine (./media-engine.ts) routes them, in this thread or through the main thread.
 *
 * RTCP (lean mode): every 2–3 s one compound packet to the participant with a sender report per
 * lean downlink and, once the lean path has the audio upload, the relay's own receiver report on it
 * (sendReports), fed by both receive paths; werift's receiver-report loop for that upload is paused.
 * werift keeps its loops wherever the lean path is not in use (video uploads, generic mode).
 */
import { randomInt } from "node:crypto";
import {
  GenericNack,
  PictureLossIndication,
  RTCPeerConnection,
  RtcpPayloadSpecificFeedback,
  RtcpTransportLayerFeedback,
  type RTCDtlsTransport,
  type RTCRtpTransceiver,
  type RtcpPacket,
  type RtcpRrPacket,
  type RtpPacket,
} from "werift";
import type { MediaKind } from "./downlink.js";
import type { ServerMessage, TrackMapping } from "../protocol/index.js";
import { enlargeReceiveBuffers, restrictVideoCodec, type PeerConfig } from "../media/rtc-config.js";
import type { VideoCodecName } from "../media/index.js";
import type { Logger } from "../log.js";
import { GenericDownlink, LeanDownlink, type Downlink } from "./downlink.js";
import { SrtpOutput } from "./srtp-output.js";
import { SrtpInput } from "./srtp-input.js";
import { ReceptionStats } from "../media/reception-stats.js";
import { pauseWeriftReportsAfterPacket, receiverReports, reportBlock } from "../media/werift-reports.js";
import { StreamSequencer } from "./srtp-protect.js";
import { OfferQueue } from "./offer-queue.js";
import { UploadCounter } from "./upload-counter.js";
import { holdEarlyDtls } from "./dtls-hold.js";
import { prepareDtlsCertificate } from "../media/dtls-certificate.js";
import { guardDtlsRecords } from "../media/dtls-guard.js";

export type ForwardingMode = "lean" | "generic";

export interface PeerHooks {
  /** A message for the participant's signalling socket. */
  signal(peer: RelayPeer, message: ServerMessage): void;
  /** An RTP packet from the participant's upload (after SRTP). */
  rtp(peer: RelayPeer, rtp: RtpPacket, kind: MediaKind): void;
  /** The same, from the lean receive path (./srtp-input.ts): the fields the forwarder uses. */
  upload(peer: RelayPeer, kind: MediaKind, marker: boolean, sequenceNumber: number, timestamp: number, payload: Buffer): void;
  /** A subscriber lost a picture: `publisherId` should send a keyframe (RTCP PLI, RFC 4585 §6.3.1). */
  keyframeWanted(publisherId: string): void;
  /** A subscriber sent a generic NACK (RFC 4585 §6.2.1) for a lean video downlink. */
  nack(downlink: LeanDownlink, lost: readonly number[]): void;
  /** The set of downlinks that can carry media changed. */
  downlinksChanged(peer: RelayPeer): void;
  /** The peer cannot continue (`ice-failed`, `answer-timeout`). */
  failed(peer: RelayPeer, reason: string): void;
}

interface DownlinkSlot {
  publisherId: string;
  kind: MediaKind;
  transceiver: RTCRtpTransceiver;
  /** The participant has answered an offer that carries this m-line. */
  negotiated: boolean;
}

/** RFC 5104 §4.3.1: FIR is payload-specific feedback (PT 206) with FMT 4. */
const FIR_FMT = 4;
/** FCI entries of one FIR message looked at (each names one media sender). */
const MAX_FIR_ENTRIES = 8;

/** Keyframe requests to one publisher: at most one per this interval (several subscribers may ask). */
const KEYFRAME_REQUEST_INTERVAL_MS = 500;
/** A participant that sends nothing is taken to be connected this long after the relay is. */
const READY_FALLBACK_MS = 1500;
/**
 * How long a renegotiation waits for more changes to fold into the same offer: 25 ms plus 5 ms per
 * other member, at most 250 ms (a 40-person room: 220 ms). The newcomer's own offer never waits.
 */
const RENEGOTIATION_DELAY_MS = 25;
const RENEGOTIATION_DELAY_PER_PEER_MS = 5;
const RENEGOTIATION_DELAY_MAX_MS = 250;
/** Sender reports go out every 2–3 s per subscriber (RFC 3550 §6.2 allows far more). */
const SR_INTERVAL_MS = 2000;
/** How long a peer whose DTLS session ended may take to say it is leaving before it counts as failed. */
const DTLS_END_GRACE_MS = 1000;
/** Sender reports per compound SRTCP packet: 16 × 28 bytes (and one 32-byte RR) stay well inside one MTU. */
const SR_PER_PACKET = 16;

export interface RelayPeerOptions {
  id: string;
  roomId: string;
  config: PeerConfig;
  mode: ForwardingMode;
  /** The participant publishes video: offer it a video upload m-line. */
  video: boolean;
  /** The codec of that upload (default vp8): the only one its m-line offers. */
  videoCodec?: VideoCodecName;
  log: Logger;
  answerTimeoutMs: number;
  hooks: PeerHooks;
  /** Applied to every offer before it leaves (drops candidates the operator did not name). */
  filterSdp?: (sdp: string) => string;
  /** Offers are made one at a time per engine (see OfferQueue). */
  offers?: OfferQueue;
  /**
   * Lean mode: take the audio upload's receive path over from werift once its first packet is in
   * (./srtp-input.ts). Off when every upload packet must reach `hooks.rtp` (packet capture).
   */
  leanUploads?: boolean;
  /** Lean mode: send through the native module when it is built (SrtpOutput). Default true. */
  nativeSend?: boolean;
}

/** Slot key: one m-line per publisher and kind. */
const slotKey = (publisherId: string, kind: MediaKind): string => (kind === "video" ? `v:${publisherId}` : publisherId);

export class RelayPeer {
  readonly id: string;
  readonly roomId: string;
  readonly video: boolean;
  readonly pc: RTCPeerConnection;
  readonly upload: RTCRtpTransceiver;
  readonly uploadVideo: RTCRtpTransceiver | undefined;
  /** SSRC of the participant's video upload, for keyframe requests. */
  private uploadVideoSsrc: number | undefined;
  private lastKeyframeRequest = 0;
  /**
   * Sender SSRC of our keyframe requests: one the participant has never seen. werift routes RTCP
   * feedback by its sender SSRC first, so a PLI that named an SSRC from our offer would land on the
   * participant's receiver for that m-line instead of its video sender.
   */
  private readonly feedbackSsrc = randomInt(1, 0xffffffff);
  readonly uploadCounter = new UploadCounter();
  /** Outgoing sequence numbers of this participant's audio and video, for every subscriber. */
  readonly audioSequence = new StreamSequencer();
  /** Video fills late packets: the upload's NACK repair (werift's receiver NACKs the publisher). */
  readonly videoSequence = new StreamSequencer({ fillLate: true });
  /** uploadCounter.received at the engine's last load report. */
  reportedUploads = 0;
  /** slotKey(publisher, kind) → the m-line that carries that publisher's media of that kind here. */
  private readonly slots = new Map<string, DownlinkSlot>();
  /** Downlinks that can carry media now (negotiated, transport connected). */
  active: Downlink[] = [];
  private output: SrtpOutput | undefined;
  private offerOutstanding = false;
  private renegotiate = false;
  private negotiationScheduled = false;
  private offered: DownlinkSlot[] = [];
  /** The participant has answered an offer (its transport may still be connecting). */
  private answered = false;
  /** A renegotiation waits until the participant's end of the transport is up (see negotiate). */
  private waitingForConnection = false;
  /** The participant's end of DTLS-SRTP is up: it has sent us SRTP or SRTCP, or time has passed. */
  private peerReady = false;
  private readyTimer: NodeJS.Timeout | undefined;
  private readyWatch: (() => void)[] = [];
  private answerTimer: NodeJS.Timeout | undefined;
  /** Releases the engine's offer queue held for this newcomer's connection (OfferQueue.holdWhileConnecting). */
  private releaseConnectHold: (() => void) | undefined;
  private reportTimer: NodeJS.Timeout | undefined;
  private readonly seenTracks = new WeakSet<object>();
  /** The lean receive path of the audio upload, once it has taken over (lean mode). */
  private uploadInput: SrtpInput | undefined;
  /**
   * Reception statistics of the audio upload once the lean path has it (fed by both paths): the
   * relay's receiver reports about it go in its RTCP compound (sendReports) instead of werift's.
   */
  private uploadStats: ReceptionStats | undefined;
  private uploadSsrc = 0;
  private uploadInputTried = false;
  private readonly leanUploads: boolean;
  private readonly nativeSend: boolean;
  private dtlsEndTimer: NodeJS.Timeout | undefined;
  /** Native send counts of outputs this peer had before its current one. */
  private readonly nativeBefore = { sent: 0, fallbacks: 0 };
  /** DTLS transports we watch: their incoming RTCP (NACK, FIR) and their end; see watchTransports. */
  private readonly watchedTransports = new WeakSet<RTCDtlsTransport>();
  /** Last FIR sequence number per downlink SSRC: a repeated FIR is not a new request (RFC 5104 §4.3.1.2). */
  private readonly firSeq = new Map<number, number>();
  closed = false;
  connected = false;

  private readonly mode: ForwardingMode;
  private readonly log: Logger;
  private readonly answerTimeoutMs: number;
  private readonly hooks: PeerHooks;
  private readonly filterSdp: (sdp: string) => string;
  private readonly offers: OfferQueue;

  constructor(options: RelayPeerOptions) {
    this.id = options.id;
    this.roomId = options.roomId;
    this.video = options.video;
    this.mode = options.mode;
    this.log = options.log;
    this.answerTimeoutMs = options.answerTimeoutMs;
    this.hooks = options.hooks;
    this.filterSdp = options.filterSdp ?? ((sdp) => sdp);
    this.offers = options.offers ?? new OfferQueue();
    this.leanUploads = options.mode === "lean" && options.leanUploads !== false;
    this.nativeSend = options.nativeSend !== false;
    // max-bundle: every m-line rides one transport from the start. Without it werift gives an m-line
    // added before the first answer (a publisher joining while this peer connects) its own ICE and
    // DTLS transport, which the participant never connects, and the whole connection fails.
    this.pc = new RTCPeerConnection({ ...options.config, bundlePolicy: "max-bundle" });
    this.upload = this.pc.addTransceiver("audio", { direction: "recvonly" });
    this.uploadVideo = options.video ? this.pc.addTransceiver("video", { direction: "recvonly" }) : undefined;
    if (this.uploadVideo) restrictVideoCodec(this.uploadVideo, options.videoCodec ?? "vp8");
    // onTrack fires again on every renegotiation: subscribe to each remote track once.
    this.upload.onTrack.subscribe((track) => {
      if (this.seenTracks.has(track)) return;
      this.seenTracks.add(track);
      track.onReceiveRtp.subscribe((rtp) => {
        this.hooks.rtp(this, rtp, "audio");
        if (this.leanUploads && !this.uploadInputTried) this.takeOverUpload(rtp.header.ssrc);
        // The lean path's stream, through werift: its first packet, one werift had in hand at the
        // take-over, or all of them once the selected pair moved to another socket. Still ours to
        // report; werift restarts its report loop after such a packet, so pause it again.
        const stats = this.uploadStats;
        if (stats && rtp.header.ssrc === this.uploadSsrc) {
          stats.add(rtp.header.sequenceNumber, rtp.header.timestamp, performance.now());
          pauseWeriftReportsAfterPacket(this.upload.receiver);
        }
      });
    });
    this.uploadVideo?.onTrack.subscribe((track) => {
      if (this.seenTracks.has(track)) return;
      this.seenTracks.add(track);
      this.uploadVideoSsrc = track.ssrc;
      track.onReceiveRtp.subscribe((rtp) => {
        this.uploadVideoSsrc = rtp.header.ssrc;
        this.hooks.rtp(this, rtp, "video");
      });
    });
    this.pc.connectionStateChange.subscribe((state) => {
      if (state === "connected" || state === "failed" || state === "closed") this.releaseConnectHold?.();
      if (state === "connected") {
        this.connected = true;
        this.watchTransports();
        this.refreshDownlinks();
        this.watchPeerReady();
      } else if (state === "failed" || state === "closed") {
        this.connected = false;
        this.setActive([]);
        if (state === "failed" && !this.closed) {
          this.log.info("media connection failed", {
            peer: this.id,
            ice: this.pc.iceConnectionState,
            dtls: this.pc.dtlsTransports.map((t) => t.state).join(","),
          });
          this.hooks.failed(this, "ice-failed");
        }
      }
    });
    if (this.mode === "lean") {
      this.reportTimer = setInterval(() => this.sendReports(), SR_INTERVAL_MS + Math.floor(Math.random() * 1000));
      this.reportTimer.unref();
    }
  }

  /**
   * Start forwarding `publisherId`'s audio, and its video if it publishes video, to this peer
   * (media flows once the peer answers).
   */
  addPublisher(publisherId: string, video = false, videoCodec: VideoCodecName = "vp8"): void {
    if (this.closed) return;
    let added = false;
    for (const kind of video ? (["audio", "video"] as const) : (["audio"] as const)) {
      const key = slotKey(publisherId, kind);
      if (this.slots.has(key)) continue;
      const transceiver = this.pc.addTransceiver(kind, { direction: "sendonly" });
      if (kind === "video") {
        // Offer the publisher's codec only: the relay forwards its packets as they are.
        restrictVideoCodec(transceiver, videoCodec);
        // A subscriber that lost a picture asks us (the sender it sees) for a keyframe.
        transceiver.sender.onPictureLossIndication.subscribe(() => this.hooks.keyframeWanted(publisherId));
      }
      this.slots.set(key, { publisherId, kind, transceiver, negotiated: false });
      added = true;
    }
    if (added) this.scheduleNegotiation(this.answered ? this.renegotiationDelay() : 0);
  }

  /** Stop forwarding `publisherId`'s media at once; its m-lines go inactive in the next offer. */
  removePublisher(publisherId: string): void {
    const gone = [slotKey(publisherId, "audio"), slotKey(publisherId, "video")].flatMap((key) => {
      const slot = this.slots.get(key);
      if (!slot) return [];
      this.slots.delete(key);
      return [slot];
    });
    if (gone.length === 0) return;
    if (this.active.some((d) => d.publisherId === publisherId)) {
      this.setActive(this.active.filter((d) => d.publisherId !== publisherId));
    }
    if (this.closed) return;
    for (const slot of gone) slot.transceiver.setDirection("inactive");
    this.scheduleNegotiation(this.renegotiationDelay());
  }

  /**
   * From now on the audio upload's SRTP goes from the socket straight to the forwarder
   * (./srtp-input.ts); werift keeps STUN, DTLS, SRTCP and everything else. Tried once per peer: when
   * the session does not allow it (another SRTP profile, no UDP pair), werift keeps the stream.
   */
  private takeOverUpload(ssrc: number): void {
    this.uploadInputTried = true;
    const receiver = this.upload.receiver;
    const stats = new ReceptionStats(this.upload.codecs[0]?.clockRate ?? 48000);
    this.uploadInput = SrtpInput.attach(receiver.dtlsTransport ?? this.pc.dtlsTransports[0], ssrc, (marker, seq, timestamp, payload) => {
      stats.add(seq, timestamp, performance.now());
      this.hooks.upload(this, "audio", marker, seq, timestamp, payload);
    });
    if (this.uploadInput) {
      // From now on the relay reports on this upload itself (RFC 3550 §6.4.2: loss and jitter tell the
      // publisher about its uplink), in the compound it sends anyway; werift's per-receiver report
      // loop, which would report from statistics it no longer gets, stops after this packet.
      this.uploadStats = stats;
      this.uploadSsrc = ssrc;
      pauseWeriftReportsAfterPacket(receiver);
    }
    this.log.debug("audio upload receive path", { peer: this.id, path: this.uploadInput ? "lean" : "werift" });
  }

  /** Upload packets the lean receive path has delivered, and dropped (replays, forgeries). */
  get leanUploadStats(): { packets: number; dropped: number; reportsDropped: number } {
    const input = this.uploadInput;
    return { packets: input?.packets ?? 0, dropped: input?.dropped ?? 0, reportsDropped: input?.reportsDropped ?? 0 };
  }

  /** Packets the native send path put on the wire for this subscriber, and its fallbacks to dgram. */
  get nativeSendStats(): { sent: number; fallbacks: number } {
    return {
      sent: this.nativeBefore.sent + (this.output?.nativeSent ?? 0),
      fallbacks: this.nativeBefore.fallbacks + (this.output?.nativeFallbacks ?? 0),
    };
  }

  /** Ask the participant for a video keyframe (RTCP PLI on its video upload), at most twice a second. */
  requestKeyframe(): void {
    const ssrc = this.uploadVideoSsrc;
    const now = Date.now();
    if (!this.uploadVideo || ssrc === undefined || this.closed || now - this.lastKeyframeRequest < KEYFRAME_REQUEST_INTERVAL_MS) return;
    this.lastKeyframeRequest = now;
    // RFC 4585 §6.3.1: PLI, media source = the participant's video SSRC.
    const pli = new RtcpPayloadSpecificFeedback({ feedback: new PictureLossIndication({ senderSsrc: this.feedbackSsrc, mediaSsrc: ssrc }) });
    this.uploadVideo.sender.dtlsTransport?.sendRtcp([pli]).catch(() => {});
  }

  /** Bigger rooms wait longer, so a burst of joins folds into fewer, bigger offers. */
  private renegotiationDelay(): number {
    return Math.min(RENEGOTIATION_DELAY_MAX_MS, RENEGOTIATION_DELAY_MS + RENEGOTIATION_DELAY_PER_PEER_MS * this.slots.size);
  }

  /**
   * Fold every change made before the offer goes out into one offer: the first offer goes after
   * this turn of the event loop, a renegotiation `delayMs` later, so a burst of joins costs each
   * member one renegotiation (werift needs ~10–30 ms of CPU per side for a 40-m-line offer).
   */
  scheduleNegotiation(delayMs = 0): void {
    if (this.negotiationScheduled || this.closed) return;
    this.negotiationScheduled = true;
    const run = (): void => {
      this.negotiationScheduled = false;
      void this.negotiate();
    };
    if (delayMs > 0) setTimeout(run, delayMs);
    else setImmediate(run);
  }

  private async negotiate(): Promise<void> {
    if (this.closed) return;
    if (this.offerOutstanding) {
      this.renegotiate = true;
      return;
    }
    // werift (as the answering participant) corrupts its m-line ids when a renegotiation lands
    // before its own end of the transport has connected, and the relay's end connects first (it
    // is the DTLS server). Once the first offer is answered, renegotiate only when both are up.
    if (this.answered && !this.peerReady) {
      this.waitingForConnection = true;
      return;
    }
    this.offerOutstanding = true;
    this.renegotiate = false;
    try {
      // One offer at a time per engine, yielding to I/O in between: a burst of joins must not
      // hold up forwarding (or ICE consent answers) for the whole room's renegotiations.
      await this.offers.run(async () => {
        if (this.closed) return;
        await prepareDtlsCertificate();
        const offer = await this.pc.createOffer();
        await this.pc.setLocalDescription(offer);
        for (const transport of this.pc.dtlsTransports) {
          holdEarlyDtls(transport);
          // Forged DTLS records would end the session unnoticed (src/media/dtls-guard.ts).
          guardDtlsRecords(transport);
        }
        enlargeReceiveBuffers(this.pc);
      }, !this.answered);
      if (this.closed) return;
      const tracks: TrackMapping[] = [];
      const offered: DownlinkSlot[] = [];
      for (const slot of this.slots.values()) {
        const mid = slot.transceiver.mid;
        if (mid !== null) {
          tracks.push({ mid, peerId: slot.publisherId, kind: slot.kind });
          offered.push(slot);
        }
      }
      this.offered = offered;
      this.hooks.signal(this, { type: "offer", sdp: this.filterSdp(this.pc.localDescription!.sdp), tracks });
      if (!this.answered && !this.connected) this.releaseConnectHold ??= this.offers.holdWhileConnecting();
      this.answerTimer = setTimeout(() => {
        this.log.warn("peer did not answer the offer in time", { peer: this.id });
        this.hooks.failed(this, "answer-timeout");
      }, this.answerTimeoutMs);
      this.answerTimer.unref();
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
      this.answered = true;
      for (const slot of this.offered) slot.negotiated = true;
    } finally {
      this.offerOutstanding = false;
    }
    this.refreshDownlinks();
    if (this.renegotiate) this.scheduleNegotiation();
  }

  /** Rebuild the downlinks that can carry media: negotiated m-lines on a connected transport. */
  refreshDownlinks(): void {
    if (this.closed || !this.connected) {
      this.setActive([]);
      return;
    }
    if (this.mode === "lean") {
      // BUNDLE: every m-line rides the same DTLS transport.
      const dtls = this.upload.sender.dtlsTransport;
      if (!this.output?.isFor(dtls)) {
        if (this.output) {
          this.nativeBefore.sent += this.output.nativeSent;
          this.nativeBefore.fallbacks += this.output.nativeFallbacks;
        }
        this.output = SrtpOutput.of(dtls, { native: this.nativeSend });
      }
      if (!this.output) {
        this.setActive([]);
        return;
      }
    }
    const next: Downlink[] = [];
    for (const slot of this.slots.values()) {
      const { transceiver, publisherId, kind } = slot;
      const sender = transceiver.sender;
      const codec = sender.codec;
      if (!slot.negotiated || transceiver.mid === null || !codec || this.slots.get(slotKey(publisherId, kind)) !== slot) continue;
      const existing = this.active.find((d) => d.publisherId === publisherId && d.kind === kind);
      if (this.mode === "generic") {
        next.push(existing ?? new GenericDownlink(publisherId, kind, sender));
        continue;
      }
      const output = this.output!;
      if (existing instanceof LeanDownlink && existing.output === output && existing.ssrc === sender.ssrc) {
        next.push(existing);
        continue;
      }
      next.push(new LeanDownlink(publisherId, kind, sender.ssrc, codec.payloadType, codec.clockRate, output));
    }
    this.setActive(next);
  }

  private setActive(next: Downlink[]): void {
    const same = next.length === this.active.length && next.every((d, i) => d === this.active[i]);
    if (same) return;
    this.active = next;
    this.hooks.downlinksChanged(this);
  }

  /**
   * Every 2–3 s: an RTCP sender report (RFC 3550 §6.4.1) for each lean downlink that sent since the
   * last, and a receiver report (§6.4.2) on the audio upload when the lean path has it, all in one
   * compound SRTCP packet (more only past SR_PER_PACKET downlinks). The report block about the upload
   * rides in an RR packet after the SRs (§6.1 lets further report packets follow the first) rather
   * than in the first SR: werift hands an SR's report blocks to no one (it routes an SR to the
   * receiver of its sender SSRC only), while an RR's reach the sender each block names, where the
   * publisher reads its upload loss (`remotePacketsLost`, `remoteFractionLost`).
   */
  private sendReports(): void {
    if (this.closed || !this.connected) return;
    const now = Date.now();
    const reports: RtcpPacket[] = [];
    for (const d of this.active) {
      if (!(d instanceof LeanDownlink)) continue;
      const sr = d.senderReport(now);
      if (sr) reports.push(sr);
    }
    const rr = this.uploadReceiverReport(now);
    const output = this.output;
    if (!output) {
      if (rr) this.upload.receiver.dtlsTransport?.sendRtcp([rr]).catch(() => {});
      return;
    }
    // The first compound carries the RR (alone when no downlink sent since the last report).
    for (let i = 0; i === 0 || i < reports.length; i += SR_PER_PACKET) {
      const compound = reports.slice(i, i + SR_PER_PACKET);
      if (i === 0 && rr) compound.push(rr);
      if (compound.length > 0) output.sendRtcp(compound);
    }
  }

  /**
   * The relay's receiver report on the participant's audio upload, when the lean path has it and
   * packets arrived since the last one (§6.4: blocks are for sources heard since the last report).
   * Sender SSRC: the one werift's receiver of the upload reported from.
   */
  private uploadReceiverReport(nowMs: number): RtcpRrPacket | undefined {
    const stats = this.uploadStats;
    if (!stats?.heardSinceReport) return undefined;
    const receiver = this.upload.receiver;
    return receiverReports(receiver.rtcpSsrc, [reportBlock(this.uploadSsrc, stats, receiver, nowMs)])[0];
  }

  /**
   * Read the participant's RTCP feedback on our downlinks. PLI reaches us through werift's sender
   * (addPublisher); FIR and NACK are read here, on the transport: werift routes a FIR by its
   * sender SSRC, which is not ours, and on the lean path werift's sender has no packets to resend.
   * Also notice when a transport's DTLS session ends (dtlsEnded).
   */
  private watchTransports(): void {
    for (const dtls of this.pc.dtlsTransports) {
      if (this.watchedTransports.has(dtls)) continue;
      this.watchedTransports.add(dtls);
      dtls.onRtcp.subscribe((rtcp) => this.handleFeedback(rtcp));
      dtls.onStateChange.subscribe((state) => {
        if (state === "closed" || state === "failed") this.dtlsEnded(state);
      });
    }
  }

  /**
   * The DTLS session ended while ICE is still up (an authenticated close_notify: the DTLS guard
   * keeps forged ones out, src/media/dtls-guard.ts). werift reports no connection failure then, and
   * media would silently stop both ways. A participant that is leaving says so on the WebSocket
   * first, which closes this peer; one that has not within DTLS_END_GRACE_MS is dropped as failed,
   * so the others are told and the participant reconnects.
   */
  private dtlsEnded(state: string): void {
    if (this.closed || this.dtlsEndTimer) return;
    this.dtlsEndTimer = setTimeout(() => {
      if (this.closed) return;
      this.log.info("media connection failed", { peer: this.id, dtls: state, ice: this.pc.iceConnectionState });
      this.connected = false;
      this.setActive([]);
      this.hooks.failed(this, "dtls-closed");
    }, DTLS_END_GRACE_MS);
    this.dtlsEndTimer.unref();
  }

  /** One incoming RTCP packet (already SRTCP-authenticated by werift). Malformed ones are ignored. */
  private handleFeedback(rtcp: RtcpPacket): void {
    if (this.closed) return;
    if (rtcp instanceof RtcpTransportLayerFeedback) {
      const nack = rtcp.feedback;
      if (!(nack instanceof GenericNack) || !Array.isArray(nack.lost)) return;
      const ssrc = nack.mediaSourceSsrc;
      for (const d of this.active) {
        if (d instanceof LeanDownlink && d.kind === "video" && d.ssrc === ssrc) {
          this.hooks.nack(d, nack.lost);
          return;
        }
      }
      return;
    }
    if (rtcp instanceof RtcpPayloadSpecificFeedback) {
      const feedback = rtcp.feedback as { count?: number; fir?: unknown } | undefined;
      if (feedback?.count !== FIR_FMT || !Array.isArray(feedback.fir)) return;
      // RFC 5104 §4.3.1.2: FCI entries of SSRC (4 bytes), Seq nr. (1 byte), reserved (3 bytes).
      for (const entry of (feedback.fir as { ssrc?: unknown; sequenceNumber?: unknown }[]).slice(0, MAX_FIR_ENTRIES)) {
        const ssrc = entry.ssrc;
        const seq = entry.sequenceNumber;
        if (typeof ssrc !== "number" || typeof seq !== "number") continue;
        for (const slot of this.slots.values()) {
          if (slot.kind !== "video" || slot.transceiver.sender.ssrc !== ssrc) continue;
          if (this.firSeq.get(ssrc) !== seq) {
            this.firSeq.set(ssrc, seq);
            this.hooks.keyframeWanted(slot.publisherId);
          }
          break;
        }
      }
    }
  }

  /**
   * The relay's end connects first; the participant's end is up once it sends SRTP or SRTCP (a
   * publisher's audio, a receiver report), or, for a silent participant, after READY_FALLBACK_MS.
   */
  private watchPeerReady(): void {
    if (this.peerReady || this.readyTimer) return;
    const ready = (): void => {
      if (this.peerReady) return;
      this.peerReady = true;
      clearTimeout(this.readyTimer);
      for (const stop of this.readyWatch) stop();
      this.readyWatch = [];
      if (this.waitingForConnection) {
        this.waitingForConnection = false;
        this.scheduleNegotiation();
      }
    };
    for (const dtls of this.pc.dtlsTransports) {
      this.readyWatch.push(dtls.onRtp.subscribe(ready).unSubscribe, dtls.onRtcp.subscribe(ready).unSubscribe);
    }
    this.readyTimer = setTimeout(ready, READY_FALLBACK_MS);
    this.readyTimer.unref();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.uploadInput?.detach();
    this.releaseConnectHold?.();
    clearTimeout(this.answerTimer);
    clearTimeout(this.readyTimer);
    for (const stop of this.readyWatch) stop();
    this.readyWatch = [];
    clearInterval(this.reportTimer);
    clearTimeout(this.dtlsEndTimer);
    this.slots.clear();
    this.firSeq.clear();
    this.setActive([]);
    try {
      await this.pc.close();
    } catch {
      // already closed
    }
  }
}
