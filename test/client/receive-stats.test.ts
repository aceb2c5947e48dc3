/**
 * Receive statistics of one stream (src/client/receive-stats.ts): loss from extended sequence
 * numbers across a wrap (RFC 3550 §A.1), interarrival jitter (§A.8), and the 2-second bitrate window.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ReceiveStats } from "../../src/client/receive-stats.js";

test("loss counts the gaps, across a sequence-number wrap; a duplicate or late packet is not loss", () => {
  const s = new ReceiveStats();
  let t = 1_000_000;
  const seqs = [65530, 65531, 65533, 65534, 65535, 0, 1, 3, 4, 2, 4];
  for (const seq of seqs) s.record(seq, 0, 100, (t += 20));
  const snap = s.snapshot(t);
  // Expected 65530..4 after the wrap = 11 numbers; received 11 packets (2 and 4 late/duplicate).
  assert.equal(snap.packetsReceived, 11);
  assert.equal(snap.packetsLost, 0, "65532 missing, but 4 arrived twice: RFC 3550 counts can even out");
  const gap = new ReceiveStats();
  for (const seq of [10, 11, 14, 15]) gap.record(seq, 0, 100, (t += 20));
  assert.equal(gap.snapshot(t).packetsLost, 2);
  assert.equal(gap.snapshot(t).lossRate, 2 / 6);
});

test("jitter is zero for packets that arrive exactly on their timestamps, and grows when they do not", () => {
  const steady = new ReceiveStats();
  const jittery = new ReceiveStats();
  for (let i = 0; i < 200; i++) {
    steady.record(i, i * 960, 100, 5_000 + i * 20);
    jittery.record(i, i * 960, 100, 5_000 + i * 20 + (i % 2 === 0 ? 0 : 15));
  }
  assert.equal(steady.snapshot(5_000 + 200 * 20).jitterMs, 0);
  const j = jittery.snapshot(5_000 + 200 * 20).jitterMs;
  assert.ok(j > 10 && j < 16, `jitter ${j} ms for arrivals 15 ms apart from their timestamps every other packet`);
});

test("bitrate covers the last 2 s: 50 packets/s of 100 bytes is 40 kbit/s, and it falls to 0 after silence", () => {
  const s = new ReceiveStats();
  const start = 10_000_000;
  for (let i = 0; i < 150; i++) s.record(i, i * 960, 100, start + i * 20);
  const end = start + 150 * 20;
  const kbps = s.snapshot(end).bitrateKbps;
  assert.ok(kbps >= 38 && kbps <= 42, `bitrate ${kbps} kbit/s`);
  assert.equal(s.snapshot(end + 2_100).bitrateKbps, 0, "nothing in the last 2 s");
  assert.ok(s.snapshot(end + 1_000).bitrateKbps < kbps, "half the window is silent");
  assert.equal(s.snapshot(end).bytesReceived, 15_000);
});
