/**
 * The call as the terminal UI sees it: a pure reducer from library events (ConclaveEvent), periodic
 * polls of participant state and local actions to one immutable `CallView`, and a small store that
 * publishes at most one new view per tick (10 Hz), so the UI renders once per tick however many
 * events arrive. Nothing here imports Ink or talks to a Participant: src/cli/ui/bind.ts feeds the
 * store from a live Participant, and the components render a plain CallView (tests build one by hand).
 *
 * Untrusted strings (member names, chat, error text from the relay) are sanitised here, once.
 */
import type { ConclaveEvent } from "../../client/events.js";
import { sanitize } from "./text.js";

export type SuiteId = 4 | 5;

/** RFC 9605 §4.5 cipher suite names. */
export const SUITE_NAMES: Record<SuiteId, string> = {
  4: "AES_128_GCM_SHA256_128",
  5: "AES_256_GCM_SHA512_128",
};

export type LinkQuality = "good" | "fair" | "poor" | "unknown";

export interface LinkView {
  /** Receive loss over the whole call, percent. */
  lossPct: number | null;
  jitterMs: number | null;
  bitrateKbps: number | null;
  /** Our round trip to the relay (the same for every row: media goes through it). */
  rttMs: number | null;
  quality: LinkQuality;
}

export interface PeerView {
  peerId: string;
  name: string;
  role: string;
  fingerprint: string;
  shortFingerprint: string;
  /** base64url identity public key. */
  identityKey: string;
  safetyNumber: string | null;
  speaking: boolean;
  levelDbfs: number | null;
  muted: boolean;
  /** Audio from them was decrypted at least once. */
  heard: boolean;
  link: LinkView;
  /** Role recorder: they receive everyone's keys who did not decline. */
  recorder: boolean;
  /** They declined recording (--no-record). */
  declinedRecording: boolean;
  verified: boolean;
  /** Their name was seen before with a different identity key. */
  identityChanged: boolean;
  joinedAt: number;
  /** Their video as received, null when they publish none. */
  video: VideoStatsView | null;
}

/** A member's video stream as we receive it (Participant.videoStatsOf, or `stats` events). */
export interface VideoStatsView {
  fps: number;
  /** From the latest key frame; 0 before the first one. */
  width: number;
  height: number;
  keyframes: number;
}

/** One decoded preview picture: rgb24, `width` × `height` pixels (VideoPreview 'frame'). */
export interface PreviewPicture {
  peerId: string;
  rgb: Uint8Array;
  width: number;
  height: number;
  at: number;
}

/**
 * The terminal video preview (`join --show-video [PEER]`, keys p and n). Which member is shown is
 * decided here, from the view; the driver (video-preview.ts) decodes that member's video only, and
 * only while `visible`.
 */
export interface PreviewView {
  visible: boolean;
  /** The member chosen with --show-video PEER or n; null: follow the active speaker. */
  pinned: string | null;
  /** --show-video PEER while no member matches it yet. */
  query: string | null;
  /** Whose video is shown: null when nobody (or not the pinned member) publishes video. */
  shown: string | null;
  /** When `shown` last changed (following the speaker holds a choice for SPEAKER_HOLD_MS). */
  shownSince: number;
  /** The latest picture of `shown`; null until its first key frame was decoded. */
  picture: PreviewPicture | null;
}

export type WarningKind = "intruder" | "identity-changed" | "error" | "decrypt";

export interface WarningView {
  /** Stable key: the same problem is listed once. */
  id: string;
  kind: WarningKind;
  text: string;
  at: number;
}

export interface ChatLine {
  id: number;
  from: string;
  name: string;
  text: string;
  at: number;
  self: boolean;
}

export interface RotationView {
  reason: string;
  generation: number;
  at: number;
  tookMs: number;
}

export interface CallView {
  status: "connecting" | "joined" | "reconnecting" | "left";
  room: string;
  relay: string;
  joinedAt: number | null;
  now: number;
  elapsedMs: number;
  e2ee: {
    suite: SuiteId;
    suiteName: string;
    generation: number;
    lastRotation: RotationView | null;
    rotations: number;
    decryptFailures: number;
    rejected: number;
  };
  rttMs: number | null;
  self: {
    name: string;
    peerId: string;
    fingerprint: string;
    muted: boolean;
    micLevelDbfs: number | null;
    speaking: boolean;
    /** What we publish ("tone:440", "device:default", …), null when nothing. */
    source: string | null;
  };
  /** Other members, in order of arrival. */
  peers: PeerView[];
  recording: { by: string[]; declined: string[] };
  /** Sticky: stay until the call ends. */
  warnings: WarningView[];
  chat: ChatLine[];
  leftReason: string | null;
  /** A transient line (device switched, verification saved, …). */
  notice: { text: string; at: number } | null;
  preview: PreviewView;
}

export interface MemberSnapshot {
  peerId: string;
  name: string;
  role: string;
  noRecord: boolean;
  muted: boolean;
  fingerprint: string;
  shortFingerprint: string;
  safetyNumber: string;
  identityKey: string;
}

export interface PeerSample {
  levelDbfs?: number | null;
  speaking?: boolean;
  lossRate?: number;
  jitterMs?: number;
  bitrateKbps?: number;
  packetsReceived?: number;
  /** Their video stats; null when they publish no video. */
  video?: VideoStatsView | null;
}

/** What the UI reads from the participant on each tick. Absent fields are left as they are. */
export interface PollSample {
  now: number;
  rttMs?: number | null;
  muted?: boolean;
  mic?: { levelDbfs: number; speaking: boolean } | null;
  generation?: number;
  e2eeStats?: { decryptFailures: number; rejected: number; rotations: number };
  peers?: Record<string, PeerSample>;
  /** The membership as the E2EE session has it; reconciles events we may have missed. */
  members?: MemberSnapshot[];
  /** Peer ids heard at least once. */
  heard?: string[];
}

export type CallAction =
  | { type: "event"; event: ConclaveEvent; at: number }
  | { type: "poll"; sample: PollSample }
  | { type: "trust"; peerId: string; verified: boolean; nameCheck?: "new" | "same" | "changed"; previousKey?: string }
  | { type: "chat-sent"; text: string; at: number }
  | { type: "notice"; text: string; at: number }
  | { type: "source"; source: string | null }
  | { type: "warning"; id: string; kind: WarningKind; text: string; at: number }
  /** p: show or hide the video preview. */
  | { type: "preview-toggle" }
  /** n: follow the speaker → first video publisher → … → last → follow the speaker again. */
  | { type: "preview-next" }
  | { type: "preview-picture"; picture: PreviewPicture };

export interface InitialViewOptions {
  room: string;
  relay: string;
  name: string;
  suite: SuiteId;
  peerId?: string;
  fingerprint?: string;
  now?: number;
  joinedAt?: number | null;
  source?: string | null;
  /** `--show-video [PEER]`: start with the preview shown, following PEER (a name or id prefix) or the speaker. */
  preview?: { visible: boolean; peer?: string };
}

export const MAX_CHAT_LINES = 200;
export const MAX_WARNINGS = 50;
/** Decibels below which a level counts as silence (meters draw nothing). */
export const METER_FLOOR_DBFS = -60;

export function initialView(options: InitialViewOptions): CallView {
  const now = options.now ?? Date.now();
  const joinedAt = options.joinedAt ?? null;
  return {
    status: joinedAt === null ? "connecting" : "joined",
    room: options.room,
    relay: options.relay,
    joinedAt,
    now,
    elapsedMs: joinedAt === null ? 0 : Math.max(0, now - joinedAt),
    e2ee: {
      suite: options.suite,
      suiteName: SUITE_NAMES[options.suite],
      generation: 0,
      lastRotation: null,
      rotations: 0,
      decryptFailures: 0,
      rejected: 0,
    },
    rttMs: null,
    self: {
      name: sanitize(options.name, 64),
      peerId: options.peerId ?? "",
      fingerprint: options.fingerprint ?? "",
      muted: false,
      micLevelDbfs: null,
      speaking: false,
      source: options.source ?? null,
    },
    peers: [],
    recording: { by: [], declined: [] },
    warnings: [],
    chat: [],
    leftReason: null,
    notice: null,
    preview: {
      visible: options.preview?.visible ?? false,
      pinned: null,
      query: options.preview?.peer ? options.preview.peer : null,
      shown: null,
      shownSince: now,
      picture: null,
    },
  };
}

/** Rate a link from loss (%), jitter (ms) and round trip (ms), as a person would notice it. */
export function rateLink(lossPct: number | null, jitterMs: number | null, rttMs: number | null): LinkQuality {
  if (lossPct === null && jitterMs === null) return "unknown";
  const loss = lossPct ?? 0;
  const jitter = jitterMs ?? 0;
  const rtt = rttMs ?? 0;
  if (loss >= 5 || jitter >= 60 || rtt >= 400) return "poor";
  if (loss >= 1 || jitter >= 30 || rtt >= 200) return "fair";
  return "good";
}

function emptyLink(rttMs: number | null): LinkView {
  return { lossPct: null, jitterMs: null, bitrateKbps: null, rttMs, quality: "unknown" };
}

function newPeer(
  m: { peerId: string; name: string; role: string; noRecord: boolean; fingerprint: string; identityKey: string; muted?: boolean; shortFingerprint?: string; safetyNumber?: string | null },
  view: CallView,
  at: number,
): PeerView {
  return {
    peerId: m.peerId,
    name: sanitize(m.name, 64) || "(no name)",
    role: sanitize(m.role, 16),
    fingerprint: m.fingerprint,
    shortFingerprint: m.shortFingerprint ?? m.fingerprint.split(" ").slice(0, 2).join(" "),
    identityKey: m.identityKey,
    safetyNumber: m.safetyNumber ?? null,
    speaking: false,
    levelDbfs: null,
    muted: m.muted ?? false,
    heard: false,
    link: emptyLink(view.rttMs),
    recorder: m.role === "recorder",
    declinedRecording: m.noRecord,
    verified: false,
    identityChanged: false,
    joinedAt: at,
    video: null,
  };
}

function updatePeer(view: CallView, peerId: string, change: (p: PeerView) => PeerView): CallView {
  const index = view.peers.findIndex((p) => p.peerId === peerId);
  if (index < 0) return view;
  const peers = view.peers.slice();
  peers[index] = change(peers[index]!);
  return { ...view, peers };
}

function addWarning(view: CallView, warning: WarningView): CallView {
  if (view.warnings.some((w) => w.id === warning.id)) return view;
  const warnings = [...view.warnings, warning];
  return { ...view, warnings: warnings.length > MAX_WARNINGS ? warnings.slice(-MAX_WARNINGS) : warnings };
}

function addChat(view: CallView, line: Omit<ChatLine, "id">): CallView {
  const last = view.chat.at(-1);
  const chat = [...view.chat, { ...line, id: (last?.id ?? 0) + 1 }];
  return { ...view, chat: chat.length > MAX_CHAT_LINES ? chat.slice(-MAX_CHAT_LINES) : chat };
}

function nameOf(view: CallView, peerId: string, fallback?: string | null): string {
  return view.peers.find((p) => p.peerId === peerId)?.name ?? (fallback ? sanitize(fallback, 64) : peerId.slice(0, 8));
}

export function reduceEvent(view: CallView, event: ConclaveEvent, at: number): CallView {
  switch (event.type) {
    case "connecting":
      return { ...view, status: "connecting", relay: event.server, room: event.room };
    case "joined":
      return {
        ...view,
        status: "joined",
        joinedAt: view.joinedAt ?? at,
        room: event.room,
        relay: event.server,
        self: { ...view.self, peerId: event.peerId, fingerprint: event.fingerprint },
      };
    case "peer-joined": {
      const existing = view.peers.find((p) => p.peerId === event.peerId);
      if (existing) {
        return updatePeer(view, event.peerId, (p) => ({
          ...p,
          name: sanitize(event.name, 64) || p.name,
          role: sanitize(event.role, 16),
          recorder: event.role === "recorder",
          declinedRecording: event.noRecord,
        }));
      }
      return { ...view, peers: [...view.peers, newPeer(event, view, at)] };
    }
    case "safety-number":
      return updatePeer(view, event.peerId, (p) => ({ ...p, safetyNumber: event.safetyNumber }));
    case "peer-left":
      return { ...view, peers: view.peers.filter((p) => p.peerId !== event.peerId) };
    case "publishing":
      return { ...view, self: { ...view.self, source: sanitize(event.source, 200) } };
    case "muted":
      if (event.peerId === view.self.peerId) return { ...view, self: { ...view.self, muted: event.muted } };
      return updatePeer(view, event.peerId, (p) => ({ ...p, muted: event.muted, speaking: event.muted ? false : p.speaking }));
    case "first-audio":
      return updatePeer(view, event.peerId, (p) => ({ ...p, heard: true }));
    case "key-rotated": {
      const parsed = Date.parse(event.at);
      return {
        ...view,
        e2ee: {
          ...view.e2ee,
          generation: event.generation,
          lastRotation: { reason: event.reason, generation: event.generation, at: Number.isFinite(parsed) ? parsed : at, tookMs: event.tookMs },
        },
      };
    }
    case "recording": {
      const by = event.by.filter((b) => b.peerId !== view.self.peerId).map((b) => sanitize(b.name, 64));
      const selfRecording = event.by.some((b) => b.peerId === view.self.peerId);
      const declined = (event.declined ?? []).map((d) => sanitize(d.name, 64));
      const byIds = new Set(event.by.map((b) => b.peerId));
      const declinedIds = new Set((event.declined ?? []).map((d) => d.peerId));
      const peers = view.peers.map((p) => {
        const recorder = p.recorder || byIds.has(p.peerId);
        const declinedRecording = p.declinedRecording || declinedIds.has(p.peerId);
        return recorder === p.recorder && declinedRecording === p.declinedRecording ? p : { ...p, recorder, declinedRecording };
      });
      return { ...view, peers, recording: { by: selfRecording ? [view.self.name, ...by] : by, declined } };
    }
    case "intruder":
      return addWarning(view, {
        id: `intruder:${event.peerId}`,
        kind: "intruder",
        text: `rejected a peer that is not a room member (${event.peerId.slice(0, 8)}): ${sanitize(event.reason, 120)}`,
        at,
      });
    case "identity-changed":
      return addWarning(
        updatePeer(view, event.peerId, (p) => ({ ...p, identityChanged: true, verified: false, fingerprint: event.fingerprint })),
        {
          id: `identity:${event.peerId}:${event.fingerprint}`,
          kind: "identity-changed",
          text: `${sanitize(event.name, 64)} changed identity key (was ${event.previous.split(" ").slice(0, 2).join(" ")}, now ${event.fingerprint.split(" ").slice(0, 2).join(" ")}); verify with v`,
          at,
        },
      );
    case "chat":
      return addChat(view, {
        from: event.from,
        name: sanitize(event.name, 64) || nameOf(view, event.from),
        text: sanitize(event.text),
        at: Number.isFinite(Date.parse(event.sentAt)) ? Math.min(Date.parse(event.sentAt), at) : at,
        self: false,
      });
    case "error":
      return addWarning(view, { id: `error:${event.code}`, kind: "error", text: sanitize(`${event.message} (${event.code})`, 200), at });
    case "left":
      return { ...view, status: "left", leftReason: sanitize(event.reason, 80) };
    case "reconnecting":
      return { ...view, status: "reconnecting", notice: { text: `connection lost (${sanitize(event.reason, 80)}); reconnecting`, at } };
    case "reconnected":
      return {
        ...view,
        status: "joined",
        self: { ...view.self, peerId: event.peerId },
        notice: { text: `reconnected after ${(event.downtimeMs / 1000).toFixed(1)} s`, at },
      };
    case "stats": {
      // Stats events carry the same numbers the poll reads; use them when nobody polls (no levels).
      const byId = new Map(event.peers.map((s) => [s.peerId, s]));
      let next = view;
      for (const p of view.peers) {
        const s = byId.get(p.peerId);
        if (!s) continue;
        next = updatePeer(next, p.peerId, (q) => {
          const link = { ...q.link, lossPct: s.lossPct, jitterMs: s.jitterMs, bitrateKbps: s.bitrateKbps };
          return {
            ...q,
            levelDbfs: s.levelDbfs ?? q.levelDbfs,
            speaking: q.muted ? false : s.speaking,
            heard: q.heard || s.packetsReceived > 0,
            link: { ...link, quality: rateLink(link.lossPct, link.jitterMs, link.rttMs) },
            video: s.video ? { fps: s.video.fps, width: s.video.width, height: s.video.height, keyframes: s.video.keyframes } : q.video,
          };
        });
      }
      return { ...next, e2ee: { ...next.e2ee, decryptFailures: event.decryptFailures, rejected: event.rejected } };
    }
    default:
      // An event this UI does not know yet (the library grows): nothing to show.
      return view;
  }
}

export function reducePoll(view: CallView, sample: PollSample): CallView {
  const rttMs = sample.rttMs !== undefined ? sample.rttMs : view.rttMs;
  let peers = view.peers;
  if (sample.members) {
    const present = new Set(sample.members.map((m) => m.peerId));
    const known = new Set(peers.map((p) => p.peerId));
    peers = peers.filter((p) => present.has(p.peerId));
    for (const m of sample.members) {
      if (!known.has(m.peerId)) peers = [...peers, newPeer(m, view, sample.now)];
    }
    const byId = new Map(sample.members.map((m) => [m.peerId, m]));
    peers = peers.map((p) => {
      const m = byId.get(p.peerId)!;
      const name = sanitize(m.name, 64) || p.name;
      return p.muted === m.muted && p.safetyNumber === m.safetyNumber && p.name === name && p.declinedRecording === m.noRecord
        ? p
        : { ...p, muted: m.muted, safetyNumber: m.safetyNumber, name, declinedRecording: m.noRecord };
    });
  }
  const heard = sample.heard ? new Set(sample.heard) : undefined;
  peers = peers.map((p) => {
    const s = sample.peers?.[p.peerId];
    const isHeard = p.heard || (heard?.has(p.peerId) ?? false) || (s?.packetsReceived ?? 0) > 0;
    const lossPct = s?.lossRate !== undefined ? Math.round(s.lossRate * 1000) / 10 : p.link.lossPct;
    const jitterMs = s?.jitterMs !== undefined ? Math.round(s.jitterMs * 10) / 10 : p.link.jitterMs;
    const bitrateKbps = s?.bitrateKbps !== undefined ? Math.round(s.bitrateKbps * 10) / 10 : p.link.bitrateKbps;
    const quality = rateLink(lossPct, jitterMs, rttMs);
    const levelDbfs = s?.levelDbfs !== undefined ? s.levelDbfs : p.levelDbfs;
    const speaking = p.muted ? false : (s?.speaking ?? p.speaking);
    const video = s?.video === undefined ? p.video : sameVideo(p.video, s.video) ? p.video : s.video && { ...s.video, fps: Math.round(s.video.fps * 10) / 10 };
    const same =
      video === p.video &&
      isHeard === p.heard &&
      lossPct === p.link.lossPct &&
      jitterMs === p.link.jitterMs &&
      bitrateKbps === p.link.bitrateKbps &&
      rttMs === p.link.rttMs &&
      quality === p.link.quality &&
      levelDbfs === p.levelDbfs &&
      speaking === p.speaking;
    return same ? p : { ...p, heard: isHeard, speaking, levelDbfs, video, link: { lossPct, jitterMs, bitrateKbps, rttMs, quality } };
  });
  const mic = sample.mic === undefined ? undefined : sample.mic;
  const self = {
    ...view.self,
    ...(sample.muted !== undefined ? { muted: sample.muted } : {}),
    ...(mic !== undefined ? { micLevelDbfs: mic ? mic.levelDbfs : null, speaking: mic ? mic.speaking : false } : {}),
  };
  const e2ee = {
    ...view.e2ee,
    ...(sample.generation !== undefined ? { generation: Math.max(sample.generation, view.e2ee.generation) } : {}),
    ...(sample.e2eeStats ?? {}),
  };
  const joinedAt = view.joinedAt;
  return {
    ...view,
    now: sample.now,
    elapsedMs: joinedAt === null ? 0 : Math.max(0, sample.now - joinedAt),
    rttMs,
    self,
    e2ee,
    peers,
  };
}

function sameVideo(a: VideoStatsView | null, b: VideoStatsView | null): boolean {
  if (a === null || b === null) return a === b;
  return Math.round(a.fps * 10) === Math.round(b.fps * 10) && a.width === b.width && a.height === b.height && a.keyframes === b.keyframes;
}

/** Following the speaker keeps a choice this long before switching to another speaker (each switch waits for a key frame). */
export const SPEAKER_HOLD_MS = 2000;

/** The member `query` names: exact name, then name prefix (both ignoring case), then peer id prefix. */
export function matchPeer(peers: readonly PeerView[], query: string): PeerView | undefined {
  const q = query.toLowerCase();
  return (
    peers.find((p) => p.name.toLowerCase() === q) ??
    peers.find((p) => p.name.toLowerCase().startsWith(q)) ??
    peers.find((p) => p.peerId.startsWith(query))
  );
}

/** Members who publish video, in the order of the participant list. */
export function videoPublishers(view: CallView): PeerView[] {
  return view.peers.filter((p) => p.video !== null);
}

/**
 * Whom the preview shows. Pinned (by --show-video PEER or n): that member while they publish video.
 * Otherwise the active speaker among video publishers; when nobody speaks, the one shown last; with
 * nobody shown yet, the first publisher. A speaker change waits until the current choice has been
 * shown for SPEAKER_HOLD_MS, unless the current one stopped publishing.
 */
function settlePreview(view: CallView): CallView {
  const prev = view.preview;
  let { pinned, query } = prev;
  if (query !== null) {
    const match = matchPeer(view.peers, query);
    if (match) {
      pinned = match.peerId;
      query = null;
    }
  }
  if (pinned !== null && !view.peers.some((p) => p.peerId === pinned)) pinned = null;
  let shown: string | null;
  if (pinned !== null) {
    shown = view.peers.find((p) => p.peerId === pinned)?.video ? pinned : null;
  } else if (query !== null) {
    shown = null;
  } else {
    const candidates = videoPublishers(view);
    const current = candidates.find((p) => p.peerId === prev.shown);
    const speaker = candidates.find((p) => p.speaking);
    if (!current) shown = (speaker ?? candidates[0])?.peerId ?? null;
    else if (speaker && !current.speaking && view.now - prev.shownSince >= SPEAKER_HOLD_MS) shown = speaker.peerId;
    else shown = current.peerId;
  }
  const changed = shown !== prev.shown;
  const picture = changed || !prev.visible ? null : prev.picture;
  if (!changed && pinned === prev.pinned && query === prev.query && picture === prev.picture) return view;
  return { ...view, preview: { ...prev, pinned, query, shown, picture, shownSince: changed ? view.now : prev.shownSince } };
}

function reducePreview(view: CallView, action: Extract<CallAction, { type: `preview-${string}` }>): CallView {
  const p = view.preview;
  switch (action.type) {
    case "preview-toggle":
      return { ...view, preview: { ...p, visible: !p.visible, picture: null } };
    case "preview-next": {
      const list = videoPublishers(view);
      const at = p.pinned === null ? -1 : list.findIndex((x) => x.peerId === p.pinned);
      const next = at + 1 < list.length ? list[at + 1]!.peerId : null;
      return { ...view, preview: { ...p, visible: true, pinned: next, query: null } };
    }
    case "preview-picture":
      if (!p.visible || action.picture.peerId !== p.shown) return view;
      return { ...view, preview: { ...p, picture: action.picture } };
  }
}

export function reduce(view: CallView, action: CallAction): CallView {
  const next = reduceAction(view, action);
  return next === view || action.type === "preview-picture" ? next : settlePreview(next);
}

function reduceAction(view: CallView, action: CallAction): CallView {
  switch (action.type) {
    case "preview-toggle":
    case "preview-next":
    case "preview-picture":
      return reducePreview(view, action);
    case "event":
      return reduceEvent(view, action.event, action.at);
    case "poll":
      return reducePoll(view, action.sample);
    case "trust": {
      let next = updatePeer(view, action.peerId, (p) => ({
        ...p,
        verified: action.verified,
        identityChanged: p.identityChanged || action.nameCheck === "changed",
      }));
      const peer = next.peers.find((p) => p.peerId === action.peerId);
      if (peer && action.nameCheck === "changed") {
        const was = action.previousKey ? ` (last time ${action.previousKey.slice(0, 8)}…)` : "";
        next = addWarning(next, {
          id: `name:${peer.name.toLowerCase()}:${peer.identityKey}`,
          kind: "identity-changed",
          text: `"${peer.name}" joined with a different identity key than before${was}; compare safety numbers (v)`,
          at: view.now,
        });
      }
      return next;
    }
    case "chat-sent":
      return addChat(view, { from: view.self.peerId, name: view.self.name, text: sanitize(action.text), at: action.at, self: true });
    case "notice":
      return { ...view, notice: { text: sanitize(action.text, 200), at: action.at } };
    case "source":
      return { ...view, self: { ...view.self, source: action.source === null ? null : sanitize(action.source, 200) } };
    case "warning":
      return addWarning(view, { id: action.id, kind: action.kind, text: sanitize(action.text, 200), at: action.at });
  }
}

/** Anything that can say whether a key is verified and how a name relates to what we saw before. */
export interface TrustLookup {
  isVerified(identityKeyB64: string): boolean;
  checkName(name: string, identityKeyB64: string): "new" | "same" | "changed";
  remember(name: string, identityKeyB64: string): void;
  knownKeyFor?(name: string): string | undefined;
}

export interface CallStoreOptions {
  trust?: TrustLookup;
  /** Most views published per second (default 10). */
  maxRateHz?: number;
  /** Called when the trust store fails (disk full, permissions); the call goes on. */
  onTrustError?: (err: Error) => void;
}

/**
 * Holds the current view; `dispatch` reduces immediately, listeners see at most `maxRateHz` new
 * snapshots a second. Works with React's useSyncExternalStore (getSnapshot is stable between
 * publishes). Looks up the trust store for members it has not seen before.
 */
export class CallStore {
  private current: CallView;
  private published: CallView;
  private readonly listeners = new Set<() => void>();
  private minIntervalMs: number;
  private lastPublish = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly trust: TrustLookup | undefined;
  private readonly onTrustError: ((err: Error) => void) | undefined;
  private readonly trusted = new Set<string>();
  private closed = false;

  constructor(initial: CallView, options: CallStoreOptions = {}) {
    this.current = initial;
    this.published = initial;
    this.minIntervalMs = 1000 / (options.maxRateHz ?? 10);
    this.trust = options.trust;
    this.onTrustError = options.onTrustError;
    this.checkTrust();
  }

  getSnapshot = (): CallView => this.published;

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  };

  /** The latest reduced view, published or not. */
  get latest(): CallView {
    return this.current;
  }

  dispatch(action: CallAction): void {
    if (this.closed) return;
    const next = reduce(this.current, action);
    if (next === this.current) return;
    this.current = next;
    this.checkTrust();
    this.schedule();
  }

  /** Publish now (the tick) — the poll loop calls this once per tick after dispatching. */
  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.published === this.current) return;
    this.published = this.current;
    this.lastPublish = Date.now();
    for (const listener of [...this.listeners]) {
      try {
        listener();
      } catch {
        // a throwing listener must not stop the others
      }
    }
  }

  /** Publish at most `hz` views a second from now on (the video preview lowers it: each frame costs more to draw). */
  setMaxRate(hz: number): void {
    if (hz > 0) this.minIntervalMs = 1000 / hz;
  }

  /** The user marked a member verified (or not): remember it and show it. */
  setVerified(peerId: string, verified: boolean, persist?: (identityKey: string, name: string) => void): void {
    const peer = this.current.peers.find((p) => p.peerId === peerId);
    if (!peer) return;
    persist?.(peer.identityKey, peer.name);
    this.dispatch({ type: "trust", peerId, verified });
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.listeners.clear();
  }

  private schedule(): void {
    if (this.timer || this.closed) return;
    const wait = Math.max(0, this.lastPublish + this.minIntervalMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, wait);
  }

  private checkTrust(): void {
    if (!this.trust) return;
    for (const peer of this.current.peers) {
      const key = `${peer.peerId}:${peer.identityKey}`;
      if (this.trusted.has(key)) continue;
      this.trusted.add(key);
      let verified = false;
      let nameCheck: "new" | "same" | "changed" = "new";
      let previousKey: string | undefined;
      try {
        verified = this.trust.isVerified(peer.identityKey);
        nameCheck = this.trust.checkName(peer.name, peer.identityKey);
        if (nameCheck === "changed") previousKey = this.trust.knownKeyFor?.(peer.name);
        this.trust.remember(peer.name, peer.identityKey);
      } catch (err) {
        this.onTrustError?.(err as Error);
      }
      if (verified || nameCheck === "changed") {
        this.current = reduce(this.current, { type: "trust", peerId: peer.peerId, verified, nameCheck, ...(previousKey ? { previousKey } : {}) });
      }
    }
  }
}
