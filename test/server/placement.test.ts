/**
 * Cost model and placement (src/server/placement.ts): small rooms stay on one engine, a big room
 * ends up spread over every engine, and the estimate is publishers×(n−1)×50 for audio, with video
 * packets weighted by VIDEO_PACKET_COST at their measured rate (the default estimate before).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  choosePlacement,
  SOLO_ROOM_COST,
  roomPacketRate,
  roomCost,
  joinCost,
  streamCost,
  VideoRate,
  AUDIO_PACKETS_PER_SECOND,
  DEFAULT_VIDEO_PACKETS_PER_SECOND,
  PLACEMENT_SLACK_PPS,
  VIDEO_PACKET_COST,
  VIDEO_RATE_WINDOW,
} from "../../src/server/placement.js";

test("a room of n forwards n×(n−1)×50 packets/s", () => {
  assert.equal(roomPacketRate(0), 0);
  assert.equal(roomPacketRate(1), 0);
  assert.equal(roomPacketRate(2), 100);
  assert.equal(roomPacketRate(40), 78_000);
  assert.equal(roomPacketRate(42, 2), 4_100, "2 publishers, 40 listeners");
  assert.equal(roomPacketRate(3, 7), 300, "never more publishers than members");
});

/** Join `n` participants into one room over `engines` engines, as the relay does. */
function fill(n: number, engines: number): { members: number[]; rates: number[] } {
  const members = new Array<number>(engines).fill(0);
  const rates = new Array<number>(engines).fill(0);
  for (let joined = 0; joined < n; joined++) {
    // As the relay does: the room's cost with the newcomer decides whether it may stay whole.
    const e = choosePlacement(
      rates.map((packetsPerSecond, i) => ({ packetsPerSecond, roomMembers: members[i]! })),
      PLACEMENT_SLACK_PPS,
      roomPacketRate(joined + 1),
    );
    // The newcomer receives everyone already there; everyone already there receives the newcomer.
    rates[e]! += joined * AUDIO_PACKETS_PER_SECOND;
    for (let i = 0; i < engines; i++) rates[i]! += members[i]! * AUDIO_PACKETS_PER_SECOND;
    members[e]!++;
  }
  return { members, rates };
}

test("a small room stays on one engine", () => {
  assert.deepEqual(fill(8, 2).members.sort(), [0, 8]);
});

test("a room of 20 (19,000 packets/s, under SOLO_ROOM_COST) stays whole on one engine; the 21st member goes to the other", () => {
  assert.ok(roomPacketRate(20) <= SOLO_ROOM_COST && roomPacketRate(21) > SOLO_ROOM_COST);
  assert.deepEqual(fill(20, 2).members.sort((a, b) => a - b), [0, 20]);
  assert.deepEqual(fill(21, 2).members.sort((a, b) => a - b), [1, 20]);
  // Without the room's cost (or above it), only the slack keeps it together: split before 20.
  const members = [0, 0];
  const rates = [0, 0];
  for (let joined = 0; joined < 20; joined++) {
    const e = choosePlacement(rates.map((packetsPerSecond, i) => ({ packetsPerSecond, roomMembers: members[i]! })));
    rates[e]! += joined * AUDIO_PACKETS_PER_SECOND;
    for (let i = 0; i < 2; i++) rates[i]! += members[i]! * AUDIO_PACKETS_PER_SECOND;
    members[e]!++;
  }
  assert.ok(Math.min(...members) > 0, `split without the room cost: ${members}`);
});

test("a small room does not stay on an engine that carries SOLO_ROOM_COST more than another", () => {
  assert.equal(choosePlacement([{ packetsPerSecond: 30_000, roomMembers: 3 }, { packetsPerSecond: 5_000, roomMembers: 0 }], PLACEMENT_SLACK_PPS, 600), 1);
  assert.equal(choosePlacement([{ packetsPerSecond: 20_000, roomMembers: 3 }, { packetsPerSecond: 5_000, roomMembers: 0 }], PLACEMENT_SLACK_PPS, 600), 0);
});

test("a 40-person room is spread over both engines within the slack", () => {
  const { members, rates } = fill(40, 2);
  assert.ok(members.every((m) => m >= 15), `members per engine ${members}`);
  assert.ok(Math.abs(rates[0]! - rates[1]!) <= PLACEMENT_SLACK_PPS + 40 * AUDIO_PACKETS_PER_SECOND, `rates ${rates}`);
});

test("a new room goes to the least loaded engine", () => {
  assert.equal(choosePlacement([{ packetsPerSecond: 900, roomMembers: 0 }, { packetsPerSecond: 100, roomMembers: 0 }, { packetsPerSecond: 500, roomMembers: 0 }]), 1);
  assert.throws(() => choosePlacement([]), RangeError);
});

test("video counts its packet rate times VIDEO_PACKET_COST to every other member, audio 50", () => {
  assert.equal(VIDEO_PACKET_COST, 3);
  const audio = streamCost({ audio: true, videoPacketsPerSecond: 0 });
  const camera = streamCost({ audio: true, videoPacketsPerSecond: 140 });
  assert.equal(audio, 50);
  assert.equal(camera, 50 + 140 * 3);
  assert.equal(streamCost({ audio: false, videoPacketsPerSecond: 100 }, 2), 200, "the weight is a parameter");
  // The audio-only model is the special case: p publishers of n.
  assert.equal(roomCost([audio, audio, 0, 0]), roomPacketRate(4, 2));
  assert.equal(roomCost([camera]), 0, "alone, nothing is forwarded");
  // One camera, three listeners: each of the three receives 50 + 420.
  assert.equal(roomCost([camera, 0, 0, 0]), 3 * 470);
  assert.equal(roomCost([camera, audio, audio]), (470 + 50 + 50) * 2);
  // A newcomer receives everyone's streams and is sent to everyone: cost after = cost before + joinCost.
  const room = [camera, audio, 0];
  assert.equal(roomCost([...room, camera]), roomCost(room) + joinCost(room, camera));
  assert.equal(roomCost([...room, audio]), roomCost(room) + joinCost(room, audio));
  assert.equal(joinCost([], camera), 0);
});

test("a limit that fits audio members but not a video publisher", () => {
  // Three audio members and the default estimate of a newcomer's video.
  const limit = roomPacketRate(4);
  const room = [50, 50, 50];
  const newcomerAudio = streamCost({ audio: true, videoPacketsPerSecond: 0 });
  const newcomerVideo = streamCost({ audio: true, videoPacketsPerSecond: DEFAULT_VIDEO_PACKETS_PER_SECOND });
  assert.ok(roomCost(room) + joinCost(room, newcomerAudio) <= limit);
  assert.ok(roomCost(room) + joinCost(room, newcomerVideo) > limit);
});

test("a video publisher's rate: the default until measured over a full second, then the highest 4-second mean", () => {
  assert.equal(VIDEO_RATE_WINDOW, 4);
  const r = new VideoRate();
  assert.equal(r.started, false);
  assert.equal(r.estimate(), DEFAULT_VIDEO_PACKETS_PER_SECOND, "before any video");
  r.report(0);
  assert.equal(r.started, false, "a second without video is not a start");
  r.report(20);
  assert.equal(r.started, true);
  assert.equal(r.estimate(), DEFAULT_VIDEO_PACKETS_PER_SECOND, "the first (partial) second counts at least the default");
  r.report(60);
  assert.equal(r.estimate(), 60, "the first full second is the estimate");
  r.report(80);
  assert.equal(r.estimate(), 70, "then the mean");
  // Keyframe seconds and the seconds between: the 4-second mean, not the peak second.
  r.report(100);
  r.report(60);
  assert.equal(r.estimate(), 75);
  r.report(100);
  assert.equal(r.estimate(), 85);
  r.report(60);
  r.report(0);
  r.report(0);
  r.report(0);
  assert.equal(r.estimate(), 85, "a pause does not lower it");
  const big = new VideoRate();
  big.report(400);
  assert.equal(big.estimate(), 400, "a first second above the default counts as measured");
  big.report(Number.NaN);
  big.report(-5);
  big.report(Number.POSITIVE_INFINITY);
  assert.equal(big.estimate(), 400, "nonsense is ignored");
});

test("a room with a 720p camera is spread over both engines within the slack", () => {
  // Every member receives one 720p camera (50 + 145×3 = 485 per subscriber) plus the others' audio.
  const members = [0, 0];
  const rates = [0, 0];
  const camera = streamCost({ audio: true, videoPacketsPerSecond: 145 });
  const costs: { engine: number; cost: number }[] = [];
  for (let joined = 0; joined < 20; joined++) {
    const e = choosePlacement(rates.map((packetsPerSecond, i) => ({ packetsPerSecond, roomMembers: members[i]! })));
    const cost = joined === 0 ? camera : AUDIO_PACKETS_PER_SECOND;
    rates[e]! += costs.reduce((a, c) => a + c.cost, 0);
    for (const c of costs) rates[c.engine]! += cost;
    costs.push({ engine: e, cost });
    members[e]!++;
  }
  assert.ok(members.every((m) => m >= 5), `members per engine ${members}`);
  assert.ok(Math.abs(rates[0]! - rates[1]!) <= PLACEMENT_SLACK_PPS + camera + 20 * AUDIO_PACKETS_PER_SECOND, `rates ${rates}`);
});
