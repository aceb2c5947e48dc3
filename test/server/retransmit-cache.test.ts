import { test } from "node:test";
import assert from "node:assert/strict";
import { RetransmitCache, RetransmitLimiter } from "../../src/server/retransmit-cache.js";
import { LeanDownlink } from "../../src/server/downlink.js";
import { StreamSequencer, type RolloverCounter } from "../../src/server/srtp-protect.js";
import type { SrtpOutput } from "../../src/server/srtp-output.js";

const payload = (n: number): Buffer => Buffer.alloc(100, n & 0xff);

test("RFC 4585 §6.2.1 repair cache: lookup by sequence number, bounded to PACKETS packets", () => {
  const cache = new RetransmitCache();
  const n = RetransmitCache.PACKETS;
  for (let seq = 1000; seq < 1000 + 2 * n; seq++) cache.add(seq, seq % 3 === 0, seq * 3000, payload(seq), 0);
  assert.equal(cache.size, n, "never more than PACKETS packets");
  assert.equal(cache.bytes, n * 100);
  assert.equal(cache.get(1000, 0), undefined, "the oldest were replaced");
  assert.equal(cache.get(1000 + n - 1, 0), undefined);
  const p = cache.get(1000 + n, 0)!;
  assert.equal(p.seq, 1000 + n);
  assert.equal(p.timestamp, (1000 + n) * 3000);
  assert.equal(p.marker, (1000 + n) % 3 === 0);
  assert.equal(p.payload[0], (1000 + n) & 0xff);
  assert.equal(cache.get(1000 + 2 * n, 0), undefined, "not sent yet");
});

test("repair cache: 16-bit sequence numbers wrap; a slot holds only its own number", () => {
  const cache = new RetransmitCache();
  for (let i = 0; i < 100; i++) cache.add((65500 + i) & 0xffff, false, i, payload(i), 0);
  for (let i = 0; i < 100; i++) assert.equal(cache.get((65500 + i) & 0xffff, 0)?.timestamp, i);
  // 65536 numbers later the same slot is another packet: the old number misses.
  assert.equal(cache.get((65500 + 100 + RetransmitCache.PACKETS) & 0xffff, 0), undefined);
  cache.add(65500 + 100 + RetransmitCache.PACKETS, false, 7, payload(7), 0);
  assert.equal(cache.get(65500 + 100, 0), undefined, "the slot now holds a newer number");
  assert.equal(cache.get((65500 + 100 + RetransmitCache.PACKETS) & 0xffff, 0)?.timestamp, 7, "numbers are taken mod 2^16");
});

test("repair cache: packets older than MAX_AGE_MS are not resent", () => {
  const cache = new RetransmitCache();
  cache.add(5, false, 0, payload(5), 1000);
  assert.ok(cache.get(5, 1000 + RetransmitCache.MAX_AGE_MS));
  assert.equal(cache.get(5, 1001 + RetransmitCache.MAX_AGE_MS), undefined);
});

test("repair limiter: a burst, then a quarter of the forwarded packets; one number at most MAX_PER_PACKET times, MIN_INTERVAL_MS apart", () => {
  const l = new RetransmitLimiter();
  let allowed = 0;
  for (let seq = 0; seq < 1000; seq++) if (l.allow(seq, 0)) allowed++;
  assert.equal(allowed, RetransmitLimiter.BURST);
  // Then one resend per 1 / SHARE forwarded packets, however many are asked for.
  allowed = 0;
  for (let i = 0; i < 400; i++) {
    l.forwarded();
    if (l.allow(1000 + 2 * i, 0)) allowed++;
    if (l.allow(1001 + 2 * i, 0)) allowed++;
  }
  assert.equal(allowed, 400 * RetransmitLimiter.SHARE);
  const m = new RetransmitLimiter();
  const t0 = 10_000;
  assert.equal(m.allow(77, t0), true);
  assert.equal(m.allow(77, t0 + RetransmitLimiter.MIN_INTERVAL_MS - 1), false, "too soon");
  let times = 1;
  for (let k = 1; k < 10; k++) if (m.allow(77, t0 + k * RetransmitLimiter.MIN_INTERVAL_MS)) times++;
  assert.equal(times, RetransmitLimiter.MAX_PER_PACKET);
  assert.ok(m.refused > 0);
});

/** A stand-in for the subscriber's SRTP output: records what would be protected and sent. */
function recordingOutput(): { output: SrtpOutput; sent: { seq: number; roc: number; marker: boolean; ts: number; payload: Buffer }[] } {
  const sent: { seq: number; roc: number; marker: boolean; ts: number; payload: Buffer }[] = [];
  const output = {
    send(marker: boolean, _pt: number, seq: number, ts: number, _ssrc: number, roc: RolloverCounter, p: Buffer): boolean {
      sent.push({ seq, roc: roc.next(seq), marker, ts, payload: p });
      return true;
    },
  } as unknown as SrtpOutput;
  return { output, sent };
}

test("a video downlink resends NACKed packets from the cache with their original number, timestamp and ROC", () => {
  const { output, sent } = recordingOutput();
  const d = new LeanDownlink("pub", "video", 0x1234, 96, 90000, output);
  const cache = new RetransmitCache();
  // Across the 16-bit wrap: 65530..65535, 0..9.
  for (let i = 0; i < 16; i++) {
    const seq = (65530 + i) & 0xffff;
    cache.add(seq, i % 4 === 3, 1000 + i, payload(i), 0);
    d.forward(i % 4 === 3, seq, 1000 + i, payload(i));
  }
  assert.equal(sent.at(-1)!.roc, 1, "the stream wrapped");
  sent.length = 0;
  const n = d.retransmit(cache, [65533, 2, 40_000], 0);
  assert.equal(n, 2, "the packet never forwarded is not invented");
  assert.deepEqual(
    sent.map((s) => [s.seq, s.roc, s.ts, s.marker, s.payload[0]]),
    [
      [65533, 0, 1003, true, 3],
      [2, 1, 1008, false, 8],
    ],
  );
  assert.equal(d.retransmitted, 2);
  // An audio downlink never resends.
  const a = new LeanDownlink("pub", "audio", 0x99, 111, 48000, output);
  assert.equal(a.retransmit(cache, [2], 0), 0);
});

test("a NACK naming every number resends at most MAX_PER_NACK, and the bucket bounds the rest", () => {
  const { output, sent } = recordingOutput();
  const d = new LeanDownlink("pub", "video", 0x1234, 96, 90000, output);
  const cache = new RetransmitCache();
  for (let seq = 0; seq < RetransmitCache.PACKETS; seq++) cache.add(seq, false, seq, payload(seq), 0);
  const everything = Array.from({ length: 0x10000 }, (_, i) => i);
  assert.equal(d.retransmit(cache, everything, 0), RetransmitLimiter.MAX_PER_NACK);
  let total = RetransmitLimiter.MAX_PER_NACK;
  for (let i = 1; i < 100; i++) total += d.retransmit(cache, everything, i * 100);
  assert.equal(total, RetransmitLimiter.BURST, "no forwarded packets: nothing beyond the burst");
  assert.equal(sent.length, total);
  assert.ok(d.retransmitsRefused > 0);
});

test("a video sequencer fills a late packet once, within LATE_WINDOW, never reusing a number it sent", () => {
  const s = new StreamSequencer({ fillLate: true });
  assert.equal(s.next(100), 100);
  assert.equal(s.next(103), 103, "101 and 102 lost upstream");
  assert.equal(s.next(101), 101, "the NACKed packet arrives late and goes out under its number");
  assert.equal(s.next(101), -1, "but only once");
  assert.equal(s.next(103), -1, "a duplicate of a sent packet is dropped");
  assert.equal(s.next(102), 102);
  assert.equal(s.filled, 2);
  for (let seq = 104; seq < 104 + StreamSequencer.LATE_WINDOW + 10; seq++) s.next(seq);
  assert.equal(s.next(99), -1, "older than the window");
  // Across the wrap.
  const w = new StreamSequencer({ fillLate: true });
  w.next(65534);
  assert.equal(w.next(1), 1);
  assert.equal(w.next(65535), 65535);
  assert.equal(w.next(0), 0);
  assert.equal(w.next(0), -1);
  // Audio keeps dropping late packets.
  const a = new StreamSequencer();
  a.next(10);
  a.next(12);
  assert.equal(a.next(11), -1);
});
