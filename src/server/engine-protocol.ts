/**
 * Messages between the relay's main thread (signalling, admission, placement) and its media engines
 * (werift PeerConnections and forwarding, ./media-engine.ts). The same messages drive an engine in
 * the main thread and one in a worker thread (./media-worker.ts), so both paths run the same code.
 *
 * Every message carries only routing data: opaque peer and room ids, SDP for the relay's own
 * PeerConnections, counters. Media between engines travels on separate MessagePorts
 * (./packet-batch.ts).
 */
import type { MessagePort } from "node:worker_threads";
import type { ServerMessage } from "../protocol/index.js";
import type { RtcNetworkOptions } from "../media/rtc-config.js";
import type { VideoCodecName } from "../media/index.js";
import type { ForwardingMode } from "./peer.js";

export interface EngineOptions {
  index: number;
  network: RtcNetworkOptions;
  forwarding: ForwardingMode;
  answerTimeoutMs: number;
  /** Report every upload packet to the main thread (`RelayOptions.onForward`, e.g. `--pcap`). */
  tap: boolean;
  /**
   * Keep the last second of every forwarded video stream and answer subscribers' NACKs from it
   * (lean forwarding; ./retransmit-cache.ts). Off: NACKs go unanswered (for comparisons).
   */
  videoRepair: boolean;
  /**
   * Lean forwarding: audio uploads skip werift's receive path (./srtp-input.ts) once their first
   * packet is in. Off: werift receives every upload (for comparisons).
   */
  leanUploads: boolean;
  /** Lean forwarding: protect and send with the native module when it is built (src/media/native.ts). */
  nativeSend: boolean;
}

export type EngineCommand =
  /** Create the participant's PeerConnection, with downlinks for the room's current publishers. */
  | {
      op: "add-peer";
      peerId: string;
      roomId: string;
      video: boolean;
      /** The codec of its video upload (absent: vp8). */
      videoCodec?: VideoCodecName;
      publishers: { id: string; video: boolean; videoCodec?: VideoCodecName }[];
    }
  | { op: "add-publisher"; peerId: string; publisherId: string; video: boolean; videoCodec?: VideoCodecName }
  | { op: "remove-publisher"; peerId: string; publisherId: string }
  | { op: "answer"; peerId: string; sdp: string }
  | { op: "remove-peer"; peerId: string }
  /** A subscriber on another engine wants a keyframe from `peerId` (hosted here). */
  | { op: "keyframe"; peerId: string }
  /** The other engines that host members of `roomId`: they get this engine's uploads in the room. */
  | { op: "room-links"; roomId: string; engines: number[] }
  /** A port to engine `engine` (worker engines only). */
  | { op: "link"; engine: number; port: MessagePort }
  | { op: "stats"; requestId: number }
  | { op: "close"; requestId: number };

export interface EngineStats {
  index: number;
  peers: number;
  /** RTP packets handed to the network for subscribers. */
  forwardedPackets: number;
  /** RTP packets received from this engine's publishers. */
  receivedPackets: number;
  /** Upload packets missing by sequence number (RFC 3550 §A.1), and the number expected. */
  uploadLost: number;
  uploadExpected: number;
  /** Packets received from other engines for this engine's subscribers. */
  linkedPackets: number;
  /** Audio upload packets taken by the lean receive path (./srtp-input.ts), and dropped there (replays, forgeries). */
  leanUploadPackets: number;
  leanUploadDropped: number;
  /** Lone SRTCP sender/receiver reports dropped unread on lean upload sockets (./rtcp-filter.ts). */
  rtcpReportsDropped: number;
  /** Forwarded packets the native send path (src/media/native.ts) put on the wire, and the sends it
   *  handed back to dgram (socket buffer full, errors). */
  nativeSentPackets: number;
  nativeSendFallbacks: number;
  /** Generic NACKs (RFC 4585 §6.2.1) from subscribers on video downlinks, the packets resent in
   *  answer, and the resends refused by the per-subscriber bound (./retransmit-cache.ts). */
  nacksReceived: number;
  retransmittedPackets: number;
  retransmitsRefused: number;
  /** Keyframe requests (PLI, FIR) from subscribers, before the per-publisher rate limit. */
  keyframeRequests: number;
  /** Late video uploads sent on under their own numbers (the publisher answered the relay's NACK). */
  uploadRepaired: number;
  /** Payload bytes held in the video retransmission caches now. */
  retransmitCacheBytes: number;
  /** Event-loop utilisation of the engine's thread, 0..1, smoothed over the last few seconds. */
  load: number;
}

export type EngineEvent =
  | { ev: "ready"; index: number }
  /** A message for a participant's signalling socket. */
  | { ev: "signal"; peerId: string; message: ServerMessage }
  | { ev: "peer-failed"; peerId: string; reason: string }
  /** A subscriber here wants a keyframe from `publisherId`, hosted on another engine. */
  | { ev: "keyframe"; publisherId: string }
  /**
   * Every second: counters, the peers that sent audio since the previous report, and the video
   * upload rate (packets/s since the previous report, 0 if none) of every peer that joined with video.
   */
  | { ev: "load"; stats: EngineStats; publishing: string[]; video: { peerId: string; packetsPerSecond: number }[] }
  | { ev: "stats"; requestId: number; stats: EngineStats }
  | { ev: "closed"; requestId: number }
  /** Serialized upload RTP packets (only with `tap`). */
  | { ev: "tap"; peerIds: string[]; packets: Uint8Array[] }
  | { ev: "log"; level: "debug" | "info" | "warn" | "error"; message: string; fields?: Record<string, unknown> };
