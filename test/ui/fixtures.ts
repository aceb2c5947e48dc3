/** Hand-made call views for the UI tests. */
import { initialView, reduce, type CallAction, type CallView } from "../../src/cli/ui/state.js";
import type { ConclaveEvent } from "../../src/client/events.js";

export const T0 = Date.parse("2025-01-01T12:00:00Z");

export function key(n: number): string {
  return Buffer.alloc(32, n).toString("base64url");
}

export function baseView(): CallView {
  return initialView({
    room: "r7Qk2mX9aB4cD5eF6gH7",
    relay: "http://127.0.0.1:4433",
    name: "tester",
    suite: 4,
    peerId: "self-peer-id",
    fingerprint: "1111 2222 3333 4444 5555 6666 7777 8888",
    now: T0,
    joinedAt: T0,
    source: "tone:440",
  });
}

export function ev(event: ConclaveEvent, at = T0): CallAction {
  return { type: "event", event, at };
}

export function peerJoined(peerId: string, name: string, n: number, extra: Partial<{ role: string; noRecord: boolean }> = {}): CallAction {
  return ev({
    type: "peer-joined",
    peerId,
    name,
    fingerprint: `${String(n).repeat(4).slice(0, 4)} abcd ef01 2345 6789 abcd ef01 2345`,
    identityKey: key(n),
    role: extra.role ?? "member",
    noRecord: extra.noRecord ?? false,
  });
}

export function apply(view: CallView, ...actions: CallAction[]): CallView {
  return actions.reduce(reduce, view);
}

/** A call with two members, one speaking, a rotation and a chat line. */
export function busyView(): CallView {
  return apply(
    baseView(),
    peerJoined("peer-alice", "alice", 1),
    peerJoined("peer-bob", "bob", 2, { noRecord: true }),
    ev({ type: "safety-number", peerId: "peer-alice", name: "alice", safetyNumber: "12345 67890 11111 22222 33333 44444 55555 66666 77777 88888 99999 00000" }),
    ev({ type: "key-rotated", reason: "join", generation: 3, tookMs: 12, at: new Date(T0 + 5000).toISOString() }),
    { type: "poll", sample: { now: T0 + 65_000, rttMs: 14, peers: { "peer-alice": { speaking: true, levelDbfs: -12, lossRate: 0.004, jitterMs: 3.2, packetsReceived: 100 }, "peer-bob": { speaking: false, levelDbfs: -70, lossRate: 0, jitterMs: 1, packetsReceived: 50 } } } },
    ev({ type: "chat", from: "peer-alice", name: "alice", text: "hello there", sentAt: new Date(T0 + 60_000).toISOString() }),
  );
}
