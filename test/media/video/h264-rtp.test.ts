import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fc from "fast-check";
import {
  H264Depacketizer,
  H264_OPAQUE_NAL_HEADER,
  packetizeH264,
  parseH264PayloadHeader,
} from "../../../src/media/video/h264-rtp.js";
import type { RtpPacketLike, Vp8AssembledFrame } from "../../../src/media/video/vp8-rtp.js";

/** Packetizes frames the way a sender does: consecutive sequence numbers, marker on the last. */
function send(frames: Uint8Array[], opts: { seq?: number; maxPayload?: number } = {}): RtpPacketLike[][] {
  let seq = opts.seq ?? 1000;
  let ts = 90000;
  return frames.map((frame) => {
    const payloads = packetizeH264(frame, opts.maxPayload ?? 1100);
    const pkts = payloads.map((payload, j) => ({ sequenceNumber: seq++ & 0xffff, timestamp: ts >>> 0, marker: j === payloads.length - 1, payload }));
    ts += 6000;
    return pkts;
  });
}

function receive(d: H264Depacketizer, packets: RtpPacketLike[]): Vp8AssembledFrame[] {
  return packets.flatMap((p) => d.push(p));
}

describe("RFC 6184 packets carrying one opaque NAL unit per encrypted access unit", () => {
  test("a frame that fits is one single NAL unit packet (§5.6) behind the constant header F=0 NRI=3 Type=23", () => {
    const frame = randomBytes(1099);
    const [p, ...rest] = packetizeH264(frame, 1100);
    assert.equal(rest.length, 0);
    assert.equal(p!.length, 1100);
    assert.equal(p![0], 0x77);
    assert.equal(H264_OPAQUE_NAL_HEADER, 0x77);
    assert.deepEqual(p!.subarray(1), frame);
    assert.deepEqual(parseH264PayloadHeader(p!), { frameStart: true, frameEnd: true, length: 1 });
  });

  test("a larger frame is FU-A (§5.8): indicator 0x7c, S on the first, E on the last, balanced sizes, never one FU", () => {
    const frame = randomBytes(3000);
    const pkts = packetizeH264(frame, 1000);
    assert.equal(pkts.length, 4); // 3000 / 998 per packet
    assert.deepEqual(pkts.map((p) => p.length - 2), [750, 750, 750, 750]);
    pkts.forEach((p, i) => {
      assert.equal(p[0], 0x7c);
      assert.equal(p[1], (i === 0 ? 0x80 : 0) | (i === 3 ? 0x40 : 0) | 23);
      assert.deepEqual(parseH264PayloadHeader(p), { frameStart: i === 0, frameEnd: i === 3, length: 2 });
    });
    assert.deepEqual(Buffer.concat(pkts.map((p) => p.subarray(2))), frame);
    // 1100 bytes with maxPayload 1100 do not fit one single NAL unit packet: two FUs, never S and E in one.
    const two = packetizeH264(randomBytes(1100), 1100);
    assert.equal(two.length, 2);
    assert.throws(() => packetizeH264(Buffer.alloc(0)), RangeError);
    assert.throws(() => packetizeH264(Buffer.from([1]), 2), RangeError);
  });

  test("the header parser refuses everything but the opaque form: plaintext slices, SPS, STAP-A, FU of another type, S+E, reserved bit", () => {
    for (const bad of [
      [0x65, 1, 2], // IDR slice in the clear
      [0x41, 1], // non-IDR slice
      [0x67, 0x42], // SPS
      [0x78, 0, 2, 0x67, 1], // STAP-A
      [0x7c, 0x85, 1], // FU-A of an IDR slice
      [0x7c, 0xc0 | 23, 1], // S and E in one FU
      [0x7c, 0x20 | 23, 1], // R set
      [0x7c, 0x80 | 23], // no data
      [0xf7, 1], // forbidden bit
      [0x77], // header only
      [],
    ]) {
      assert.equal(parseH264PayloadHeader(Buffer.from(bad)), null, JSON.stringify(bad));
    }
  });
});

describe("H264Depacketizer", () => {
  test("reassembles frames in order across sequence wrap; packets reordered within the window give the same frames", () => {
    const frames = [randomBytes(5000), randomBytes(200), randomBytes(2300), randomBytes(1), randomBytes(4000)];
    const inOrder = new H264Depacketizer();
    const got = receive(inOrder, send(frames, { seq: 65533 }).flat());
    assert.deepEqual(got.map((f) => f.data), frames);
    assert.ok(got.every((f) => !f.discontinuity));
    assert.equal(inOrder.stats.malformed, 0);

    // Swap packets inside and across the first two frames, and the last two frames' packets.
    const pkts = send(frames).flat();
    const shuffled = [pkts[1]!, pkts[5]!, pkts[0]!, pkts[3]!, pkts[2]!, pkts[4]!, ...pkts.slice(6).reverse()];
    const d = new H264Depacketizer({ reorderFrames: 3 });
    const out = [...receive(d, shuffled), ...d.flush()];
    assert.deepEqual(out.map((f) => f.data), frames);
    assert.equal(d.stats.framesDropped, 0);
  });

  test("a lost fragment drops its frame, sets needsKeyframe and marks the next frame; keyframeReceived clears it", () => {
    const frames = [randomBytes(3000), randomBytes(3000), randomBytes(500), randomBytes(3000)];
    const pkts = send(frames, { maxPayload: 1100 });
    const d = new H264Depacketizer({ reorderFrames: 1 });
    assert.ok(d.needsKeyframe, "a receiver starts needing a key frame");
    const first = receive(d, pkts[0]!);
    assert.equal(first.length, 1);
    d.keyframeReceived();
    assert.ok(!d.needsKeyframe);
    const lossy = [...pkts[1]!.filter((_, i) => i !== 1), ...pkts[2]!, ...pkts[3]!];
    const rest = receive(d, lossy);
    assert.deepEqual(rest.map((f) => f.data), [frames[2], frames[3]]);
    assert.ok(rest[0]!.discontinuity);
    assert.ok(d.needsKeyframe);
    assert.equal(d.stats.framesDropped, 1);
    // The lost packet arriving late is counted, not emitted.
    assert.deepEqual(d.push(pkts[1]![1]!), []);
    assert.equal(d.stats.late, 1);
  });

  test("malformed and hostile packets never throw; plaintext H.264 is refused", () => {
    const d = new H264Depacketizer();
    fc.assert(
      fc.property(
        fc.record({ sequenceNumber: fc.integer({ min: 0, max: 0xffff }), timestamp: fc.integer({ min: 0, max: 0xffffffff }), marker: fc.boolean(), payload: fc.uint8Array({ maxLength: 64 }) }),
        (p) => {
          const out = d.push(p);
          // Anything that came out was built only from packets in the opaque form.
          for (const f of out) assert.ok(f.data.length > 0);
        },
      ),
      { numRuns: 3000 },
    );
    assert.ok(d.stats.malformed > 0);
    // Plaintext H.264 (a real-looking IDR slice in a single NAL unit packet) is refused.
    const plain = new H264Depacketizer();
    assert.deepEqual(plain.push({ sequenceNumber: 1, timestamp: 0, marker: true, payload: Buffer.from([0x65, 0x88, 0x84, 0]) }), []);
    assert.equal(plain.stats.malformed, 1);
  });
});
