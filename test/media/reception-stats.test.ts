/**
 * Reception statistics of one RTP stream as a receiver report block carries them
 * (src/media/reception-stats.ts): RFC 3550 §A.1 extended sequence numbers, §A.3 cumulative and
 * interval loss, §A.8 interarrival jitter.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ReceptionStats } from "../../src/media/reception-stats.js";

/** Feed `seqs`, 20 ms of 48 kHz audio each, arriving exactly on their timestamps (no jitter) after `t0`. */
function feed(s: ReceptionStats, seqs: number[], t0 = 1_000): void {
  for (const seq of seqs) s.add(seq, seq * 960, t0 + seq * 20);
}

test("RFC 3550 §A.3: cumulative loss and the fraction lost per report interval", () => {
  const s = new ReceptionStats(48000);
  feed(s, [10, 11, 14, 15]);
  // Expected 10..15 = 6, received 4: 2 lost; fraction = floor(2 × 256 / 6).
  assert.deepEqual(s.report(), { fractionLost: 85, packetsLost: 2, highestSequence: 15, jitter: 0 });
  assert.equal(s.heardSinceReport, false);
  feed(s, [16, 17]);
  assert.equal(s.heardSinceReport, true);
  const r = s.report();
  assert.equal(r.fractionLost, 0, "no loss in this interval");
  assert.equal(r.packetsLost, 2, "the cumulative count stays");
  assert.equal(r.highestSequence, 17);
  feed(s, [20]);
  // Interval: expected 18..20 = 3, received 1.
  assert.equal(s.report().fractionLost, Math.floor((2 * 256) / 3));
});

test("RFC 3550 §A.1: the extended highest sequence number counts cycles across a wrap", () => {
  const s = new ReceptionStats(48000);
  feed(s, [65533, 65534, 65535, 0, 1, 2]);
  const r = s.report();
  assert.equal(r.highestSequence, 0x10000 + 2);
  assert.equal(r.packetsLost, 0);
  assert.equal(s.packetsExpected, 6);
  // Three more cycles in steps of 1000 (each below MAX_DROPOUT): the cycle count keeps going.
  const t = new ReceptionStats(48000);
  let seq = 0;
  for (let i = 0; i <= 3 * 66; i++) {
    t.add(seq, 0, i);
    seq = (seq + 1000) & 0xffff;
  }
  const last = (3 * 66 * 1000) & 0xffff;
  assert.equal(t.report().highestSequence, 3 * 0x10000 + last);
});

test("RFC 3550 §A.1: a reordered packet counts as received without moving the highest, across a wrap too", () => {
  const s = new ReceptionStats(48000);
  feed(s, [100, 102, 101, 103]);
  const first = s.report();
  assert.deepEqual([first.fractionLost, first.packetsLost, first.highestSequence], [0, 0, 103]);
  const w = new ReceptionStats(48000);
  feed(w, [65534, 65535, 1, 0, 2]);
  const r = w.report();
  assert.equal(r.highestSequence, 0x10002, "0 after 1 is late, not a new cycle");
  assert.equal(r.packetsLost, 0);
  // Before the wrap is counted: 65535 arriving after 1 is late too.
  const v = new ReceptionStats(48000);
  feed(v, [65534, 0, 65535, 1]);
  const late = v.report();
  assert.deepEqual([late.highestSequence, late.packetsLost], [0x10001, 0]);
});

test("RFC 3550 §A.3: duplicates can make the cumulative loss negative (a signed 24-bit value)", () => {
  const s = new ReceptionStats(48000);
  feed(s, [5, 6, 6, 7]);
  const r = s.report();
  assert.equal(r.packetsLost, -1);
  assert.equal(r.fractionLost, 0, "a negative interval loss reports as 0");
});

test("RFC 3550 §A.1: a lone big jump is ignored; a jump that the next packet follows restarts the stream", () => {
  const s = new ReceptionStats(48000);
  feed(s, [100, 101, 102]);
  assert.equal(s.add(40_000, 0, 2_000), false, "the jump is not counted yet");
  assert.equal(s.add(103, 103 * 960, 2_020), true);
  const before = s.report();
  assert.deepEqual([before.highestSequence, before.packetsLost], [103, 0]);
  assert.equal(s.add(40_000, 0, 3_000), false);
  assert.equal(s.add(40_001, 960, 3_020), true, "the packet after the jump: a restarted sender");
  s.add(40_002, 1_920, 3_040);
  const r = s.report();
  assert.equal(r.highestSequence, 40_002);
  assert.equal(r.packetsLost, 0);
  assert.equal(s.packetsReceived, 2);
});

test("RFC 3550 §A.8: interarrival jitter against a hand-computed value, in timestamp units", () => {
  // 8 kHz clock: 8 units per ms; 20 ms packets advance the timestamp by 160.
  const s = new ReceptionStats(8000);
  const arrivals = [0, 20, 45, 60, 80];
  arrivals.forEach((at, i) => s.add(i, 1_000 + i * 160, 10_000 + at));
  // D = (ΔR × 8) − 160 per packet: 0, 40, |−40|, 0.
  // J: 0 → 0 → 40/16 = 2.5 → 2.5 + (40 − 2.5)/16 = 4.84375 → 4.84375 − 4.84375/16 = 4.541015625.
  assert.equal(s.report().jitter, 4);
  const t = new ReceptionStats(8000);
  [0, 20, 45, 60, 80, 100].forEach((at, i) => t.add(i, 1_000 + i * 160, 10_000 + at));
  // One more on time: 4.541015625 × 15/16 = 4.2572021484375.
  assert.equal(t.report().jitter, 4);
  const u = new ReceptionStats(8000);
  [0, 40, 80, 120].forEach((at, i) => u.add(i, i * 160, at));
  // Every D is 160: J = 160 × (1 − (15/16)^3) = 28.30...
  assert.equal(u.report().jitter, Math.floor(160 * (1 - (15 / 16) ** 3)));
});

test("RFC 3550 §A.8: jitter compares timestamps modulo 2^32 (a timestamp wrap is not jitter)", () => {
  const s = new ReceptionStats(48000);
  let ts = 0xffffffff - 960 * 3 + 1;
  for (let i = 0; i < 8; i++) {
    s.add(i, ts >>> 0, 5_000 + i * 20);
    ts += 960;
  }
  assert.equal(s.report().jitter, 0);
});

test("a clock rate that is not positive is refused", () => {
  assert.throws(() => new ReceptionStats(0), RangeError);
});
