/**
 * Where a joining participant's PeerConnection goes, and what a room costs.
 *
 * Cost model: a publisher sends one audio stream at 50 packets/s (20 ms Opus frames) and every
 * other member receives it, so a room of n members with p publishers forwards p×(n−1)×50
 * packets/s (n×(n−1)×50 when everyone publishes), and the engine hosting a member does the
 * per-subscriber work (header rewrite, SRTP, send) for the streams that member receives. A member
 * counts as a publisher once it has sent audio (muting does not make it stop counting) and during
 * its first seconds in the room (a burst of joins must not be admitted on the strength of members
 * that have not started talking yet). Admission (./relay.ts) and placement both use this estimate:
 * it needs no CPU measurement, so it is the same on a loaded and on an idle machine. Video is not
 * counted.
 */

/** Audio packets per second of one publisher (20 ms frames). */
export const AUDIO_PACKETS_PER_SECOND = 50;

/** Forwarded packets per second of a room of `n` participants, `publishers` of whom publish audio (default all). */
export function roomPacketRate(n: number, publishers = n): number {
  return n > 1 ? Math.min(publishers, n) * (n - 1) * AUDIO_PACKETS_PER_SECOND : 0;
}

/**
 * How long a newcomer counts as a publisher before it has sent any audio: a publishing client starts
 * within a second of joining, and engines report who sent audio every second.
 */
export const PUBLISHER_GRACE_MS = 3_000;

/** How much more a room's own engine may carry than the least loaded one before a room is split. */
export const PLACEMENT_SLACK_PPS = 5_000;

export interface EngineLoad {
  /** Estimated forwarded packets/s of the subscribers the engine hosts. */
  packetsPerSecond: number;
  /** Members of the joining participant's room the engine already hosts. */
  roomMembers: number;
}

/**
 * The engine for a participant joining a room: the engine that already hosts most of the room (no
 * cross-thread hop for small rooms) unless it carries more than `slack` packets/s above the least
 * loaded engine; then the least loaded one, so a big room ends up spread across every core.
 */
export function choosePlacement(engines: EngineLoad[], slack = PLACEMENT_SLACK_PPS): number {
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
