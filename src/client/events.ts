/**
 * The events a participant session emits. The headless front end writes each as one JSON line
 * (`{"type":...,"time":ISO,...}`); the terminal UI renders the same stream. docs/events.md lists them.
 */
export interface PeerStats {
  peerId: string;
  name: string | null;
  packetsReceived: number;
  packetsLost: number;
  lossPct: number;
  jitterMs: number;
  bitrateKbps: number;
  decryptFailures: number;
  levelDbfs: number | null;
  speaking: boolean;
  /** When the member publishes video: frames per second, resolution and keyframes received. */
  video?: { fps: number; width: number; height: number; frames: number; keyframes: number; packetsLost: number; bitrateKbps: number };
}

export type ConclaveEvent =
  | { type: "connecting"; server: string; room: string }
  | { type: "joined"; room: string; peerId: string; server: string; joinMs: number; fingerprint: string }
  | { type: "peer-joined"; peerId: string; name: string; fingerprint: string; identityKey: string; role: string; noRecord: boolean }
  | { type: "peer-left"; peerId: string; name: string | null; reason: string }
  | { type: "publishing"; source: string; ssrc: number }
  | {
      type: "stats";
      peers: PeerStats[];
      sent: { packets: number; bytes: number };
      decryptFailures: number;
      unknownKey: number;
      rejected: number;
      /** SRTP packets the lean audio receive path dropped (replayed, failed authentication, malformed); absent when it is off. */
      srtpDropped?: number;
    }
  | { type: "recording"; by: { peerId: string; name: string }[]; declined?: { peerId: string; name: string }[]; files?: string[] }
  | { type: "left"; reason: string }
  | { type: "reconnecting"; reason: string }
  | { type: "reconnected"; downtimeMs: number; attempts: number; peerId: string }
  | { type: "error"; code: string; message: string }
  | { type: "intruder"; peerId: string; reason: string }
  | { type: "key-rotated"; reason: "join" | "leave" | "start"; generation: number; tookMs: number; at: string }
  | { type: "first-audio"; peerId: string; name: string | null; afterJoinMs: number }
  /** The first decrypted video frame from a member; width × height from its VP8 key frame header. */
  | { type: "first-video"; peerId: string; name: string | null; afterJoinMs: number; width: number; height: number }
  | { type: "chat"; from: string; name: string; text: string; sentAt: string }
  | { type: "muted"; peerId: string; name: string; muted: boolean }
  | { type: "identity-changed"; peerId: string; name: string; fingerprint: string; previous: string }
  | { type: "safety-number"; peerId: string; name: string; safetyNumber: string };

export type ConclaveEventType = ConclaveEvent["type"];

/** Stamp an event with the time, as written in JSON lines. */
export function stamp(event: ConclaveEvent): ConclaveEvent & { time: string } {
  return { ...event, time: new Date().toISOString() };
}
