/**
 * Packet batches between media engines (src/server/packet-batch.ts): what goes in comes out, in
 * order, once per turn of the event loop; a truncated batch yields its whole records only.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { PacketBatcher, readPacketBatch } from "../../src/server/packet-batch.js";

interface Packet {
  id: string;
  kind: "audio" | "video";
  marker: boolean;
  seq: number;
  ts: number;
  payload: Buffer;
}

function collect(batch: Uint8Array): Packet[] {
  const out: Packet[] = [];
  readPacketBatch(batch, (id, kind, marker, seq, ts, payload) => out.push({ id, kind, marker, seq, ts, payload: Buffer.from(payload) }));
  return out;
}

test("a batch carries every packet of one turn, in order, and leaves once", async () => {
  const batches: Uint8Array[] = [];
  const batcher = new PacketBatcher((b) => batches.push(b));
  const sent: Packet[] = [];
  for (let i = 0; i < 3000; i++) {
    const p: Packet = { id: `peer${i % 7}`, kind: i % 3 === 0 ? "video" : "audio", marker: i % 5 === 0, seq: (65500 + i) & 0xffff, ts: (i * 960) >>> 0, payload: randomBytes(i % 300) };
    sent.push(p);
    batcher.add(p.id, p.kind, p.marker, p.seq, p.ts, p.payload);
  }
  assert.equal(batches.length, 0, "nothing leaves before the turn ends");
  await new Promise((r) => setImmediate(r));
  assert.equal(batches.length, 1);
  assert.deepEqual(collect(batches[0]!), sent);
  batcher.add("late", "audio", false, 1, 2, Buffer.from([9]));
  await new Promise((r) => setImmediate(r));
  assert.equal(batches.length, 2);
  assert.deepEqual(collect(batches[1]!), [{ id: "late", kind: "audio", marker: false, seq: 1, ts: 2, payload: Buffer.from([9]) }]);
});

test("any packets round-trip; a truncated batch yields only whole records", () => {
  const packet = fc.record({
    id: fc.stringMatching(/^[A-Za-z0-9_-]{1,16}$/),
    kind: fc.constantFrom("audio" as const, "video" as const),
    marker: fc.boolean(),
    seq: fc.integer({ min: 0, max: 0xffff }),
    ts: fc.integer({ min: 0, max: 0xffffffff }),
    payload: fc.uint8Array({ maxLength: 400 }).map((u) => Buffer.from(u)),
  });
  fc.assert(
    fc.property(fc.array(packet, { maxLength: 40 }), fc.nat(), (generated, cut) => {
      const packets: Packet[] = generated.map((p) => ({ id: p.id, kind: p.kind, marker: p.marker, seq: p.seq, ts: p.ts, payload: p.payload }));
      let batch: Uint8Array | undefined;
      const batcher = new PacketBatcher((b) => (batch = b));
      for (const p of packets) batcher.add(p.id, p.kind, p.marker, p.seq, p.ts, p.payload);
      batcher.flush();
      if (packets.length === 0) return batch === undefined;
      assert.deepEqual(collect(batch!), packets);
      const truncated = batch!.subarray(0, cut % batch!.length);
      const partial = collect(truncated);
      assert.deepEqual(partial, packets.slice(0, partial.length));
      return true;
    }),
  );
});
