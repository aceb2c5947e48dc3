/**
 * Cost model and placement (src/server/placement.ts): small rooms stay on one engine, a big room
 * ends up spread over every engine, and the estimate is publishers×(n−1)×50.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { choosePlacement, roomPacketRate, AUDIO_PACKETS_PER_SECOND, PLACEMENT_SLACK_PPS } from "../../src/server/placement.js";

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
    const e = choosePlacement(rates.map((packetsPerSecond, i) => ({ packetsPerSecond, roomMembers: members[i]! })));
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

test("a 40-person room is spread over both engines within the slack", () => {
  const { members, rates } = fill(40, 2);
  assert.ok(members.every((m) => m >= 15), `members per engine ${members}`);
  assert.ok(Math.abs(rates[0]! - rates[1]!) <= PLACEMENT_SLACK_PPS + 40 * AUDIO_PACKETS_PER_SECOND, `rates ${rates}`);
});

test("a new room goes to the least loaded engine", () => {
  assert.equal(choosePlacement([{ packetsPerSecond: 900, roomMembers: 0 }, { packetsPerSecond: 100, roomMembers: 0 }, { packetsPerSecond: 500, roomMembers: 0 }]), 1);
  assert.throws(() => choosePlacement([]), RangeError);
});
