/**
 * Where a joining participant's PeerConnection goes, and what a room costs.
 *
 * Cost model, in audio-packet equivalents per second (the unit of
 * `limits.maxForwardedPacketsPerSecond`): forwarding one audio packet to one subscriber costs 1,
 * one video packet VIDEO_PACKET_COST. A member's uploads cost each subscriber
 *
 *   streamCost = 50 (its audio, 20 ms Opus frames, once it counts as an audio publisher)
 *              + its video packets/s × VIDEO_PACKET_COST (once it counts as a video publisher)
 *
 * and every other member of the room receives them, so a room of n members costs
 * Σ streamCost × (n − 1) — p×(n−1)×50 for p audio publishers and no video. The engine hosting a
 * member does the per-subscriber work (header rewrite, SRTP, send) for the streams that member
 * receives.
 *
 * Who counts:
 * - Audio: a member counts as an audio publisher once it has sent audio (muting does not make it
 *   stop counting) and during its first PUBLISHER_GRACE_MS in the room (a burst of joins must not be
 *   admitted on the strength of members that have not started talking yet).
 * - Video: only a member that joined with `video: true` (the relay offers no video upload
 *   otherwise). During its grace period it counts at DEFAULT_VIDEO_PACKETS_PER_SECOND; once it has
 *   sent video it counts at its measured rate (VideoRate: engines report every second how many video
 *   packets each such member uploaded). A member that joined with video but has sent none after its
 *   grace period counts no video until it starts; from then on it counts, although it was admitted
 *   without it (the measured-load guard `limits.maxEngineLoad` still protects the relay).
 *
 * Admission (./relay.ts) and placement both use this estimate: it needs no CPU measurement, so it is
 * the same on a loaded and on an idle machine.
 */

/** Audio packets per second of one publisher (20 ms frames). */
export const AUDIO_PACKETS_PER_SECOND = 50;

/**
 * What forwarding one video packet costs the relay, in audio packets. bench/video.ts measured
 * 44–52 µs of relay CPU per forwarded 720p video packet at 8–16 subscribers (21–29 µs at the margin),
 * bench/relay.ts 11–16 µs per audio packet: SRTP over ~1,100 bytes instead of ~100, and a larger
 * `sendmsg`. 3 sits between the marginal (~2.3×) and the average (~4×) ratio; the capacity check in
 * bench/README.md ("Video admission") measures it again.
 */
export const VIDEO_PACKET_COST = 3;

/**
 * Video packets per second a video publisher counts for before its rate is measured: a 1280x720,
 * 30 fps stream at ~1.3 Mbit/s in 1,100-byte packets is ~145 (bench/video.ts); the CLI's default
 * (640x360, 15 fps, 500 kbit/s) is ~60, so this errs on the side of refusing.
 */
export const DEFAULT_VIDEO_PACKETS_PER_SECOND = 150;

/** Forwarded packets per second of a room of `n` participants, `publishers` of whom publish audio (default all). */
export function roomPacketRate(n: number, publishers = n): number {
  return n > 1 ? Math.min(publishers, n) * (n - 1) * AUDIO_PACKETS_PER_SECOND : 0;
}

/** What one member publishes, as the cost model sees it. */
export interface PublisherLoad {
  /** Counts as an audio publisher. */
  audio: boolean;
  /** Video packets per second it counts for (0: no video). */
  videoPacketsPerSecond: number;
}

/** Cost of one member's uploads to one subscriber, in audio-packet equivalents per second. */
export function streamCost(p: PublisherLoad, videoPacketCost = VIDEO_PACKET_COST): number {
  return (p.audio ? AUDIO_PACKETS_PER_SECOND : 0) + p.videoPacketsPerSecond * videoPacketCost;
}

/** Cost of a room whose members' uploads cost `costs` (streamCost each): Σ costs × (n − 1). */
export function roomCost(costs: readonly number[]): number {
  if (costs.length < 2) return 0;
  let sum = 0;
  for (const c of costs) sum += c;
  return sum * (costs.length - 1);
}

/**
 * What a newcomer whose uploads cost `newcomer` adds to a room whose members' cost `costs`: it
 * receives every member's streams, and every member receives its own.
 */
export function joinCost(costs: readonly number[], newcomer: number): number {
  let sum = 0;
  for (const c of costs) sum += c;
  return sum + newcomer * costs.length;
}

/** Seconds a video publisher's rate is averaged over: whole keyframe intervals of 1, 2 or 4 s. */
export const VIDEO_RATE_WINDOW = 4;

/**
 * The video packet rate a publisher counts for, from the per-second rates its engine reports.
 * The first report with video covers a partial second, so until a full one arrives the publisher
 * counts at least DEFAULT_VIDEO_PACKETS_PER_SECOND. Then the mean of the full seconds so far, and
 * from VIDEO_RATE_WINDOW of them on, the highest mean over VIDEO_RATE_WINDOW seconds it has reached
 * (a keyframe makes one second bigger than the next): a stream that pauses or dips (a static scene,
 * unpublished video) does not hand its share to newcomers, as muting does not for audio.
 */
export class VideoRate {
  private reports = 0;
  private first = 0;
  private readonly window: number[] = [];
  private peak = 0;

  /** One engine report: video packets per second received from the publisher since the previous one. */
  report(packetsPerSecond: number): void {
    if (!(packetsPerSecond >= 0) || !Number.isFinite(packetsPerSecond)) return;
    if (this.reports === 0) {
      if (packetsPerSecond === 0) return;
      this.first = packetsPerSecond;
    } else {
      this.window.push(packetsPerSecond);
      if (this.window.length > VIDEO_RATE_WINDOW) this.window.shift();
      if (this.window.length === VIDEO_RATE_WINDOW) this.peak = Math.max(this.peak, this.mean());
    }
    this.reports++;
  }

  private mean(): number {
    let sum = 0;
    for (const x of this.window) sum += x;
    return sum / this.window.length;
  }

  /** Has sent video. */
  get started(): boolean {
    return this.reports > 0;
  }

  /** Packets per second to count: `fallback` before any video, see the class comment after. */
  estimate(fallback = DEFAULT_VIDEO_PACKETS_PER_SECOND): number {
    if (this.reports === 0) return fallback;
    if (this.reports === 1) return Math.max(fallback, this.first);
    return Math.round(this.window.length < VIDEO_RATE_WINDOW ? this.mean() : this.peak);
  }
}

/**
 * How long a newcomer counts as a publisher (audio, and video if it joined with video) before it has
 * sent any: a publishing client starts within a second of joining, and engines report every second.
 */
export const PUBLISHER_GRACE_MS = 3_000;

/** How much more a room's own engine may carry than the least loaded one before a room is split. */
export const PLACEMENT_SLACK_PPS = 5_000;

export interface EngineLoad {
  /** Estimated cost (audio-packet equivalents per second, streamCost) of the streams its subscribers receive. */
  packetsPerSecond: number;
  /** Members of the joining participant's room the engine already hosts. */
  roomMembers: number;
}

/**
 * A room whose cost with the newcomer is at most this stays whole on its engine (unless that engine
 * carries this much more than the least loaded one): forwarding without the hop between worker
 * threads costs ~15% less CPU per packet (a room of 20 on one engine: 13.7 µs per packet, split
 * over two: 16.1 µs; bench/README.md), and 20,000 packets/s is a quarter of a core there.
 */
export const SOLO_ROOM_COST = 20_000;

/**
 * The engine for a participant joining a room: the engine that already hosts most of the room (no
 * cross-thread hop for small rooms) unless it carries more than `slack` packets/s above the least
 * loaded engine (`SOLO_ROOM_COST` while the room, `roomCost` with the newcomer, is that small); then
 * the least loaded one, so a big room ends up spread across every core.
 */
export function choosePlacement(engines: EngineLoad[], slack = PLACEMENT_SLACK_PPS, roomCost = 0): number {
  if (roomCost > 0 && roomCost <= SOLO_ROOM_COST) slack = Math.max(slack, SOLO_ROOM_COST);
  if (engines.length === 0) throw new RangeError("no engines to place on");
  let least = 0;
  let home = -1;
  engines.forEach((e, i) => {
    if (e.packetsPerSecond < engines[least]!.packetsPerSecond) least = i;
    if (e.roomMembers > 0 && (home < 0 || e.roomMembers > engines[home]!.roomMembers)) home = i;
  });
  if (home >= 0 && engines[home]!.packetsPerSecond <= engines[least]!.packetsPerSecond + slack) return home;
  return least;
}

/** The engine hosting the fewest members of the room (then the least loaded): every room crosses engines. */
export function spreadPlacement(engines: EngineLoad[]): number {
  if (engines.length === 0) throw new RangeError("no engines to place on");
  let best = 0;
  engines.forEach((e, i) => {
    const b = engines[best]!;
    if (e.roomMembers < b.roomMembers || (e.roomMembers === b.roomMembers && e.packetsPerSecond < b.packetsPerSecond)) best = i;
  });
  return best;
}
