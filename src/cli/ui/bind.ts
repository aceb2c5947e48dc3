/**
 * Feeds a CallStore from a live Participant: every library event as it comes, and a poll of the
 * state that changes continuously (levels, loss, jitter, round trip, membership) once per tick.
 * One tick publishes at most one new view, so the UI renders at most `rateHz` times a second.
 */
import type { Participant, ParticipantEvents } from "../../client/participant.js";
import { CallStore, initialView, type CallStoreOptions, type MemberSnapshot, type PeerSample, type PollSample } from "./state.js";

export interface BindOptions extends CallStoreOptions {
  /** Poll and publish rate, at most 10 (default 10). */
  rateHz?: number;
  /** What we publish, for the footer, until a `publishing` event says otherwise. */
  source?: string | null;
  /** Our display name (JoinOptions.name). */
  name?: string;
  /** `--show-video [PEER]`: start with the video preview shown. */
  preview?: { visible: boolean; peer?: string };
}

/** Read everything the view shows from the participant, now. */
export function sampleParticipant(participant: Participant, now = Date.now()): PollSample {
  const e2ee = participant.e2ee;
  const members: MemberSnapshot[] = [];
  const peers: Record<string, PeerSample> = {};
  for (const [peerId, m] of e2ee.members) {
    members.push({
      peerId,
      name: m.name,
      role: m.role,
      noRecord: m.noRecord,
      muted: m.muted,
      fingerprint: m.fingerprint,
      shortFingerprint: m.shortFingerprint,
      safetyNumber: m.safetyNumber,
      identityKey: Buffer.from(m.identityKey).toString("base64url"),
    });
    const level = participant.levelOf(peerId);
    const stats = participant.receiveStatsOf(peerId);
    const video = participant.publishesVideo(peerId) ? participant.videoStatsOf(peerId) : undefined;
    peers[peerId] = {
      video: participant.publishesVideo(peerId)
        ? { fps: video?.fps ?? 0, width: video?.width ?? 0, height: video?.height ?? 0, keyframes: video?.keyframes ?? 0 }
        : null,
      ...(level ? { levelDbfs: Number.isFinite(level.levelDbfs) ? level.levelDbfs : null, speaking: level.speaking } : {}),
      ...(stats
        ? { lossRate: stats.lossRate, jitterMs: stats.jitterMs, bitrateKbps: stats.bitrateKbps, packetsReceived: stats.packetsReceived }
        : {}),
    };
  }
  const meter = participant.localMeter;
  return {
    now,
    rttMs: participant.rttMs,
    muted: participant.muted,
    mic: meter ? { levelDbfs: Number.isFinite(meter.level) ? meter.level : -Infinity, speaking: meter.speaking } : null,
    generation: e2ee.currentGeneration,
    e2eeStats: { decryptFailures: e2ee.stats.decryptFailures, rejected: e2ee.stats.rejected, rotations: e2ee.stats.rotations },
    peers,
    members,
    heard: participant.heard,
  };
}

export interface Binding {
  store: CallStore;
  /** Poll and publish `hz` times a second from now on (at most 10). */
  setRate(hz: number): void;
  /** Stop listening and polling (the store keeps its last view). */
  dispose(): void;
}

export function bindParticipant(participant: Participant, options: BindOptions = {}): Binding {
  const now = Date.now();
  const view = initialView({
    room: participant.invite.room,
    relay: participant.invite.server,
    name: options.name ?? "you",
    suite: participant.e2ee.suite === 5 ? 5 : 4,
    peerId: participant.peerId,
    fingerprint: participant.e2ee.fingerprint,
    now,
    // join() resolved before we could listen: the call started now, as far as the UI knows.
    joinedAt: participant.peerId ? now : null,
    source: options.source ?? null,
    ...(options.preview ? { preview: options.preview } : {}),
  });
  const store = new CallStore(view, options);
  const onEvent = (event: ParticipantEvents["event"][0]): void => {
    const at = Date.parse(event.time);
    store.dispatch({ type: "event", event, at: Number.isFinite(at) ? at : Date.now() });
  };
  participant.on("event", onEvent);
  const clampRate = (hz: number): number => Math.min(10, Math.max(1, hz));
  let rate = clampRate(options.rateHz ?? 10);
  const tick = (): void => {
    try {
      store.dispatch({ type: "poll", sample: sampleParticipant(participant) });
    } catch {
      // a participant mid-close can throw from its getters; the next tick or 'closed' settles it
    }
    store.flush();
  };
  tick();
  let timer = setInterval(tick, 1000 / rate);
  if (options.maxRateHz === undefined) store.setMaxRate(rate);
  let disposed = false;
  return {
    store,
    setRate(hz) {
      const next = clampRate(hz);
      if (disposed || next === rate) return;
      rate = next;
      clearInterval(timer);
      timer = setInterval(tick, 1000 / rate);
      store.setMaxRate(rate);
    },
    dispose() {
      disposed = true;
      clearInterval(timer);
      participant.off("event", onEvent);
    },
  };
}

