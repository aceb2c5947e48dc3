/** Relay limits: every one configurable, each with a safe default (docs/operations.md). */
import { availableParallelism } from "node:os";
import { VIDEO_PACKET_COST } from "./placement.js";

/**
 * Forwarded audio packets per second the default admission limit allows per core: under half of
 * what one core forwards when fully busy (~90,000 at ~11 µs a packet, bench/README.md), so the
 * calls carried stay below 1% loss with room for joins, signalling and the rest of the machine.
 */
export const ADMITTED_PACKETS_PER_SECOND_PER_CORE = 40_000;

export interface RelayLimits {
  /** Rooms open at once. */
  maxRooms: number;
  /** Participants in one room. */
  maxParticipantsPerRoom: number;
  /** Participants across the relay: the capacity it admits before refusing new joins. */
  maxParticipants: number;
  /**
   * Forwarded packets per second the relay admits, in audio-packet equivalents (a forwarded video
   * packet counts `videoPacketCost`), estimated as Σ over rooms of Σ per member of
   * (50 if it publishes audio + its video packets/s × videoPacketCost) × (members − 1)
   * (./placement.ts). A join that would take the estimate past this is refused with `overloaded`,
   * so the calls already carried keep their CPU. Default: ADMITTED_PACKETS_PER_SECOND_PER_CORE per
   * core, for up to 8 cores (80,000 on 2 cores: one audio room of 40, everyone publishing; or one
   * 720p video publisher and 35 audio publishers).
   */
  maxForwardedPacketsPerSecond: number;
  /**
   * What one forwarded video packet counts for in `maxForwardedPacketsPerSecond`, in audio packets
   * (VIDEO_PACKET_COST, 3: a ~1,100-byte video packet costs the relay 2–4× a ~100-byte audio packet,
   * bench/README.md). Also used by placement.
   */
  videoPacketCost: number;
  /**
   * Event-loop utilisation (0..1, smoothed over a few seconds) of the busiest media engine above
   * which joins are refused with `overloaded`: a guard for machines slower or busier than the packet
   * estimate assumes (a saturated engine answers ICE consent checks late, and werift drops a
   * connection after 30 s of late answers). 1 disables it.
   */
  maxEngineLoad: number;
  /** Largest signalling frame, bytes. */
  maxMessageBytes: number;
  /**
   * Signalling messages per second per connection (token bucket, burst = 2×). A message costs one
   * token per recipient: an envelope for every other member costs n−1.
   */
  messagesPerSecond: number;
  /**
   * Added to `messagesPerSecond` for every other member of the connection's room. End-to-end key
   * distribution is pairwise, so when someone leaves every member sends a new key to, and
   * acknowledges one from, each other member: about 2×(n−1) messages at once in a room of n, and
   * a burst of leaves (a network blip) multiplies that. Too tight a bucket turns one leave into a
   * cascade of members dropped for rate limiting.
   */
  messagesPerSecondPerPeer: number;
  /** Time a new socket has to send a valid `join`. */
  handshakeTimeoutMs: number;
  /** Time a joined participant has to answer an offer before it is dropped. */
  answerTimeoutMs: number;
  /** Heartbeat: sockets that miss two pings in a row are closed. */
  pingIntervalMs: number;
}

export const defaultLimits: RelayLimits = {
  maxRooms: 100,
  maxParticipantsPerRoom: 50,
  maxParticipants: 200,
  maxForwardedPacketsPerSecond: ADMITTED_PACKETS_PER_SECOND_PER_CORE * Math.min(Math.max(1, availableParallelism()), 8),
  videoPacketCost: VIDEO_PACKET_COST,
  maxEngineLoad: 0.9,
  maxMessageBytes: 256 * 1024,
  messagesPerSecond: 50,
  messagesPerSecondPerPeer: 20,
  handshakeTimeoutMs: 5_000,
  answerTimeoutMs: 10_000,
  pingIntervalMs: 2_000,
};
