/** Relay limits: every one configurable, each with a safe default (docs/operations.md). */
export interface RelayLimits {
  /** Rooms open at once. */
  maxRooms: number;
  /** Participants in one room. */
  maxParticipantsPerRoom: number;
  /** Participants across the relay: the capacity it admits before refusing new joins. */
  maxParticipants: number;
  /** Largest signalling frame, bytes. */
  maxMessageBytes: number;
  /** Signalling messages per second per connection (token bucket, burst = 2×). */
  messagesPerSecond: number;
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
  maxMessageBytes: 256 * 1024,
  messagesPerSecond: 50,
  handshakeTimeoutMs: 5_000,
  answerTimeoutMs: 10_000,
  pingIntervalMs: 2_000,
};
