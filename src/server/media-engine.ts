/**
 * A media engine: the werift PeerConnections of the participants placed on it and the forwarding
 * between them. The relay runs one engine per core, each in its own worker thread
 * (./media-worker.ts), or one engine in the main thread (`workers: 0`).
 *
 * A room may span engines. Each engine forwards its publishers' packets to its own subscribers and
 * hands them, batched (./packet-batch.ts), to the other engines hosting members of the room, which
 * forward them to theirs. So the per-subscriber work (header rewrite, SRTP, send), which is what
 * grows as N×(N−1), is split between the cores, and each upload is SRTP-decrypted once.
 */
import { performance, type EventLoopUtilization } from "node:perf_hooks";
import type { RtpPacket } from "werift";
import { buildPeerConfig, keepCandidates, type PeerConfig } from "../media/rtc-config.js";
import type { VideoCodecName } from "../media/index.js";
import type { Logger } from "../log.js";
import type { EngineCommand, EngineEvent, EngineOptions, EngineStats } from "./engine-protocol.js";
import type { Downlink, LeanDownlink, MediaKind } from "./downlink.js";
import { RetransmitCache } from "./retransmit-cache.js";
import { PacketBatcher, readPacketBatch } from "./packet-batch.js";
import { RelayPeer, type PeerHooks } from "./peer.js";
import { OfferQueue } from "./offer-queue.js";

export interface EngineHost {
  /** Events for the main thread. */
  emit(event: EngineEvent): void;
  /** Every upload packet, when `options.tap` is set. */
  tap?(peerId: string, rtp: RtpPacket): void;
  log: Logger;
}

/** How often an engine reports its load to the main thread. */
export const LOAD_INTERVAL_MS = 1000;
/** Weight of the latest second in the reported load (an exponential moving average, ~3 s). */
const LOAD_SMOOTHING = 0.3;

export class MediaEngine {
  private readonly peerConfig: PeerConfig;
  private readonly peers = new Map<string, RelayPeer>();
  /** publisher id → this engine's downlinks that carry its audio, and its video. */
  private fanout = new Map<string, Downlink[]>();
  private fanoutVideo = new Map<string, Downlink[]>();
  private fanoutDirty = false;
  /** publisher id → the last packets of its video, for NACKs (lean forwarding with videoRepair). */
  private readonly videoCaches = new Map<string, RetransmitCache>();
  private nacks = 0;
  private retransmitted = 0;
  private retransmitsRefused = 0;
  private keyframeRequests = 0;
  /** room id → batchers to the other engines hosting members of the room. */
  private readonly roomLinks = new Map<string, PacketBatcher[]>();
  private readonly links = new Map<number, PacketBatcher>();
  private forwarded = 0;
  private received = 0;
  private linked = 0;
  /** Upload accounting of peers that have left. */
  private goneLost = 0;
  private goneExpected = 0;
  private goneLean = { packets: 0, dropped: 0, reportsDropped: 0 };
  private goneNative = { sent: 0, fallbacks: 0 };
  private goneRepaired = 0;
  /** Video upload packets forwarded per publisher (peer id) since the last load report. */
  private videoUploads = new Map<string, number>();
  private lastLoadReport = performance.now();
  private eluMark: EventLoopUtilization = performance.eventLoopUtilization();
  private load = 0;
  private readonly loadTimer: NodeJS.Timeout;
  private closed = false;
  private readonly hooks: PeerHooks;
  private readonly offers = new OfferQueue();
  /** Video repair is on: lean forwarding with `videoRepair` (werift's generic senders keep their own cache). */
  private readonly repair: boolean;

  constructor(
    private readonly options: EngineOptions,
    private readonly host: EngineHost,
  ) {
    this.peerConfig = buildPeerConfig(options.network);
    this.repair = options.videoRepair && options.forwarding === "lean";
    this.hooks = {
      signal: (peer, message) => this.host.emit({ ev: "signal", peerId: peer.id, message }),
      rtp: (peer, rtp, kind) => {
        this.host.tap?.(peer.id, rtp);
        this.ingress(peer, kind, rtp.header.marker, rtp.header.sequenceNumber, rtp.header.timestamp, rtp.payload);
      },
      upload: (peer, kind, marker, seq, timestamp, payload) => this.ingress(peer, kind, marker, seq, timestamp, payload),
      keyframeWanted: (publisherId) => this.keyframeWanted(publisherId),
      nack: (downlink, lost) => this.nack(downlink, lost),
      downlinksChanged: () => this.markFanoutDirty(),
      failed: (peer, reason) => this.host.emit({ ev: "peer-failed", peerId: peer.id, reason }),
    };
    this.loadTimer = setInterval(() => {
      const elu = performance.eventLoopUtilization(this.eluMark);
      this.eluMark = performance.eventLoopUtilization();
      // Smoothed over a few seconds: one busy second (a burst of joins) is not overload.
      this.load = Math.round((this.load + LOAD_SMOOTHING * (elu.utilization - this.load)) * 1000) / 1000;
      const publishing: string[] = [];
      for (const peer of this.peers.values()) {
        if (peer.uploadCounter.received !== peer.reportedUploads) {
          peer.reportedUploads = peer.uploadCounter.received;
          publishing.push(peer.id);
        }
      }
      // Video packet rate of every peer that joined with video (0 when it sent none): admission.
      const now = performance.now();
      const seconds = Math.max(0.001, (now - this.lastLoadReport) / 1000);
      this.lastLoadReport = now;
      const video: { peerId: string; packetsPerSecond: number }[] = [];
      for (const peer of this.peers.values()) {
        if (peer.video) video.push({ peerId: peer.id, packetsPerSecond: Math.round((this.videoUploads.get(peer.id) ?? 0) / seconds) });
      }
      this.videoUploads.clear();
      this.host.emit({ ev: "load", stats: this.stats(), publishing, video });
    }, LOAD_INTERVAL_MS);
    this.loadTimer.unref();
  }

  get index(): number {
    return this.options.index;
  }

  handle(command: EngineCommand): void {
    switch (command.op) {
      case "add-peer":
        this.addPeer(command.peerId, command.roomId, command.video, command.publishers, command.videoCodec);
        return;
      case "add-publisher":
        this.peers.get(command.peerId)?.addPublisher(command.publisherId, command.video, command.videoCodec);
        return;
      case "keyframe":
        this.peers.get(command.peerId)?.requestKeyframe();
        return;
      case "remove-publisher":
        this.peers.get(command.peerId)?.removePublisher(command.publisherId);
        return;
      case "answer":
        void this.answer(command.peerId, command.sdp);
        return;
      case "remove-peer":
        void this.removePeer(command.peerId);
        return;
      case "room-links":
        this.setRoomLinks(command.roomId, command.engines);
        return;
      case "link":
        // Worker engines only; ./media-worker.ts wires the port and calls addLink.
        return;
      case "stats":
        this.host.emit({ ev: "stats", requestId: command.requestId, stats: this.stats() });
        return;
      case "close":
        void this.close().then(() => this.host.emit({ ev: "closed", requestId: command.requestId }));
        return;
    }
  }

  /** Register the way to another engine: `send` carries one packet batch to it. */
  addLink(engine: number, send: (batch: Uint8Array) => void): void {
    this.links.set(engine, new PacketBatcher(send));
  }

  /** A packet batch from another engine: forward it to this engine's subscribers. */
  receiveBatch(batch: Uint8Array): void {
    if (this.fanoutDirty) this.rebuildFanout();
    this.linked += readPacketBatch(batch, (publisherId, kind, marker, seq, timestamp, payload) =>
      this.forwardLocal(publisherId, kind, marker, seq, timestamp, payload),
    );
  }

  private addPeer(
    peerId: string,
    roomId: string,
    video: boolean,
    publishers: { id: string; video: boolean; videoCodec?: VideoCodecName }[],
    videoCodec: VideoCodecName = "vp8",
  ): void {
    if (this.closed || this.peers.has(peerId)) return;
    const peer = new RelayPeer({
      id: peerId,
      roomId,
      config: this.peerConfig,
      mode: this.options.forwarding,
      video,
      videoCodec,
      log: this.host.log.child("peer"),
      answerTimeoutMs: this.options.answerTimeoutMs,
      hooks: this.hooks,
      filterSdp: (sdp) => keepCandidates(sdp, this.options.network.bindAddress, this.options.network.announceAddress),
      offers: this.offers,
      // A packet capture must see every upload packet as werift parsed it.
      leanUploads: this.options.leanUploads && this.host.tap === undefined,
      nativeSend: this.options.nativeSend,
    });
    this.peers.set(peerId, peer);
    for (const publisher of publishers) peer.addPublisher(publisher.id, publisher.video, publisher.videoCodec);
    // With no one else in the room the first offer still has to go out (upload only).
    peer.scheduleNegotiation();
  }

  /** A subscriber here lost a picture of `publisherId`: ask the publisher, here or on its engine. */
  private keyframeWanted(publisherId: string): void {
    this.keyframeRequests++;
    const publisher = this.peers.get(publisherId);
    if (publisher) publisher.requestKeyframe();
    else this.host.emit({ ev: "keyframe", publisherId });
  }

  /** A subscriber here missed packets of a video stream: resend what the cache still holds. */
  private nack(downlink: LeanDownlink, lost: readonly number[]): void {
    this.nacks++;
    const cache = this.videoCaches.get(downlink.publisherId);
    if (!cache) return;
    const refusedBefore = downlink.retransmitsRefused;
    this.retransmitted += downlink.retransmit(cache, lost, Date.now());
    this.retransmitsRefused += downlink.retransmitsRefused - refusedBefore;
  }

  private async answer(peerId: string, sdp: string): Promise<void> {
    const peer = this.peers.get(peerId);
    if (!peer) return;
    try {
      await peer.handleAnswer(sdp);
    } catch (err) {
      this.host.emit({
        ev: "signal",
        peerId,
        message: { type: "error", code: "bad-answer", message: `answer rejected: ${(err as Error).message}`.slice(0, 500), fatal: false },
      });
    }
  }

  private async removePeer(peerId: string): Promise<void> {
    const peer = this.peers.get(peerId);
    if (!peer) return;
    this.peers.delete(peerId);
    this.goneLost += peer.uploadCounter.lost;
    this.goneExpected += peer.uploadCounter.expected;
    this.goneLean.packets += peer.leanUploadStats.packets;
    this.goneLean.dropped += peer.leanUploadStats.dropped;
    this.goneLean.reportsDropped += peer.leanUploadStats.reportsDropped;
    this.goneNative.sent += peer.nativeSendStats.sent;
    this.goneNative.fallbacks += peer.nativeSendStats.fallbacks;
    this.goneRepaired += peer.videoSequence.filled;
    this.markFanoutDirty();
    await peer.close();
  }

  private setRoomLinks(roomId: string, engines: number[]): void {
    const batchers: PacketBatcher[] = [];
    for (const e of engines) {
      const link = this.links.get(e);
      if (link && e !== this.index) batchers.push(link);
    }
    if (batchers.length === 0) this.roomLinks.delete(roomId);
    else this.roomLinks.set(roomId, batchers);
  }

  private markFanoutDirty(): void {
    this.fanoutDirty = true;
  }

  private rebuildFanout(): void {
    const audio = new Map<string, Downlink[]>();
    const video = new Map<string, Downlink[]>();
    for (const peer of this.peers.values()) {
      for (const d of peer.active) {
        const map = d.kind === "video" ? video : audio;
        let list = map.get(d.publisherId);
        if (!list) map.set(d.publisherId, (list = []));
        list.push(d);
      }
    }
    this.fanout = audio;
    this.fanoutVideo = video;
    this.fanoutDirty = false;
    // A cache lives as long as the publisher's video has subscribers on this engine.
    for (const id of this.videoCaches.keys()) if (!video.has(id)) this.videoCaches.delete(id);
  }

  /** An upload packet from one of this engine's peers (after SRTP). */
  private ingress(peer: RelayPeer, kind: MediaKind, marker: boolean, sequenceNumber: number, timestamp: number, payload: Buffer): void {
    if (peer.closed) return;
    this.received++;
    if (kind === "audio") peer.uploadCounter.record(sequenceNumber);
    // Never forward the same sequence number twice (a duplicate or late packet): see StreamSequencer.
    const seq = (kind === "audio" ? peer.audioSequence : peer.videoSequence).next(sequenceNumber);
    if (seq < 0) return;
    if (kind === "video") this.videoUploads.set(peer.id, (this.videoUploads.get(peer.id) ?? 0) + 1);
    if (this.fanoutDirty) this.rebuildFanout();
    this.forwardLocal(peer.id, kind, marker, seq, timestamp, payload);
    const links = this.roomLinks.get(peer.roomId);
    if (links) {
      for (const link of links) link.add(peer.id, kind, marker, seq, timestamp, payload);
    }
  }

  private forwardLocal(publisherId: string, kind: MediaKind, marker: boolean, seq: number, timestamp: number, payload: Buffer): void {
    const list = (kind === "video" ? this.fanoutVideo : this.fanout).get(publisherId);
    if (!list) return;
    if (kind === "video" && this.repair) {
      let cache = this.videoCaches.get(publisherId);
      if (!cache) this.videoCaches.set(publisherId, (cache = new RetransmitCache()));
      // A copy: the payload may be a view into a whole packet batch from another engine.
      cache.add(seq, marker, timestamp, Buffer.from(payload), Date.now());
    }
    for (let i = 0; i < list.length; i++) list[i]!.forward(marker, seq, timestamp, payload);
    this.forwarded += list.length;
  }

  stats(): EngineStats {
    let cacheBytes = 0;
    for (const cache of this.videoCaches.values()) cacheBytes += cache.bytes;
    let lost = this.goneLost;
    let expected = this.goneExpected;
    let leanPackets = this.goneLean.packets;
    let leanDropped = this.goneLean.dropped;
    let reportsDropped = this.goneLean.reportsDropped;
    let repaired = this.goneRepaired;
    let nativeSent = this.goneNative.sent;
    let nativeFallbacks = this.goneNative.fallbacks;
    for (const peer of this.peers.values()) {
      repaired += peer.videoSequence.filled;
      lost += peer.uploadCounter.lost;
      expected += peer.uploadCounter.expected;
      leanPackets += peer.leanUploadStats.packets;
      leanDropped += peer.leanUploadStats.dropped;
      reportsDropped += peer.leanUploadStats.reportsDropped;
      nativeSent += peer.nativeSendStats.sent;
      nativeFallbacks += peer.nativeSendStats.fallbacks;
    }
    return {
      index: this.index,
      peers: this.peers.size,
      forwardedPackets: this.forwarded,
      receivedPackets: this.received,
      uploadLost: lost,
      uploadExpected: expected,
      linkedPackets: this.linked,
      leanUploadPackets: leanPackets,
      leanUploadDropped: leanDropped,
      rtcpReportsDropped: reportsDropped,
      nativeSentPackets: nativeSent,
      nativeSendFallbacks: nativeFallbacks,
      nacksReceived: this.nacks,
      retransmittedPackets: this.retransmitted,
      retransmitsRefused: this.retransmitsRefused,
      keyframeRequests: this.keyframeRequests,
      uploadRepaired: repaired,
      retransmitCacheBytes: cacheBytes,
      load: this.load,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.loadTimer);
    const peers = [...this.peers.values()];
    this.peers.clear();
    this.fanout.clear();
    this.fanoutVideo.clear();
    this.videoCaches.clear();
    await Promise.all(peers.map((p) => p.close()));
  }
}
