import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fc from "fast-check";
import {
  Vp8Depacketizer,
  packetizeVp8,
  parseVp8Descriptor,
  type RtpPacketLike,
  type Vp8AssembledFrame,
} from "../../../src/media/video/vp8-rtp.js";
import { isVp8Keyframe } from "../../../src/media/video/vp8.js";

/** Packetizes frames the way a sender does: consecutive sequence numbers, marker on the last. */
function send(frames: Uint8Array[], opts: { seq?: number; ts?: number; maxPayload?: number; pictureId?: boolean } = {}): RtpPacketLike[][] {
  let seq = opts.seq ?? 1000;
  let ts = opts.ts ?? 90000;
  return frames.map((frame, i) => {
    const payloads = packetizeVp8(frame, opts.maxPayload ?? 1100, opts.pictureId === false ? {} : { pictureId: (0x7ff0 + i) & 0x7fff });
    const pkts = payloads.map((payload, j) => ({ sequenceNumber: seq++ & 0xffff, timestamp: ts >>> 0, marker: j === payloads.length - 1, payload }));
    ts += 6000;
    return pkts;
  });
}

function receive(d: Vp8Depacketizer, packets: RtpPacketLike[]): Vp8AssembledFrame[] {
  return packets.flatMap((p) => d.push(p));
}

describe("RFC 7741 §4.2 VP8 payload descriptor", () => {
  test("packetizer writes X, I, M and a 15-bit PictureID; S only on the first packet; PID 0", () => {
    const frame = randomBytes(3000);
    const pkts = packetizeVp8(frame, 1000, { pictureId: 0x1234 });
    assert.equal(pkts.length, 4); // 3000 bytes / 996 per packet
    pkts.forEach((p, i) => {
      assert.ok(p.length <= 1000);
      assert.equal(p[0], 0x80 | (i === 0 ? 0x10 : 0)); // X, S on the first; N = 0; PID = 0
      assert.equal(p[1], 0x80); // I
      assert.equal(p[2], 0x80 | 0x12); // M + high bits
      assert.equal(p[3], 0x34);
      const d = parseVp8Descriptor(p)!;
      assert.deepEqual(d, { frameStart: i === 0, nonReference: false, partitionIndex: 0, pictureId: 0x1234, length: 4 });
    });
    // sizes are balanced: 750 each
    assert.deepEqual(pkts.map((p) => p.length - 4), [750, 750, 750, 750]);
    assert.deepEqual(Buffer.concat(pkts.map((p) => p.subarray(4))), frame);
  });

  test("without a PictureID the descriptor is one byte", () => {
    const pkts = packetizeVp8(Buffer.from([1, 2, 3]), 2);
    assert.equal(pkts.length, 3);
    assert.deepEqual(pkts.map((p) => [...p]), [[0x10, 1], [0x00, 2], [0x00, 3]]);
  });

  test("parser skips optional L and T/K bytes and reads the 7-bit PictureID form", () => {
    // X=1 S=1 | I=1 L=1 T=1 | M=0 pid=0x55 | TL0PICIDX | TID/Y/KEYIDX | data
    const d = parseVp8Descriptor(Buffer.from([0x90, 0xe0, 0x55, 0x07, 0x40, 0xaa]))!;
    assert.deepEqual(d, { frameStart: true, nonReference: false, partitionIndex: 0, pictureId: 0x55, length: 5 });
    // S with a non-zero PID is not a frame start; N bit
    assert.equal(parseVp8Descriptor(Buffer.from([0x31, 0xaa]))!.frameStart, false);
    assert.equal(parseVp8Descriptor(Buffer.from([0x31, 0xaa]))!.nonReference, true);
    assert.equal(parseVp8Descriptor(Buffer.from([0x80])), null);
    assert.equal(parseVp8Descriptor(Buffer.from([0x80, 0x80, 0x80])), null);
  });

  test("bad arguments", () => {
    assert.throws(() => packetizeVp8(Buffer.alloc(0)), RangeError);
    assert.throws(() => packetizeVp8(Buffer.alloc(10), 4, { pictureId: 1 }), RangeError);
    assert.throws(() => packetizeVp8(Buffer.alloc(10), 100, { pictureId: 0x8000 }), RangeError);
  });
});

describe("Vp8Depacketizer", () => {
  test("round trip of 1-byte, small and 100 kB frames, in order", () => {
    const frames = [Buffer.from([0x42]), randomBytes(500), randomBytes(100_000), randomBytes(1097), randomBytes(1098)];
    const d = new Vp8Depacketizer();
    const out = receive(d, send(frames).flat());
    assert.equal(out.length, frames.length);
    out.forEach((f, i) => {
      assert.deepEqual(f.data, frames[i]);
      assert.equal(f.timestamp, 90000 + i * 6000);
      assert.equal(f.pictureId, (0x7ff0 + i) & 0x7fff);
      assert.equal(f.discontinuity, false);
    });
    assert.equal(out[2]!.packets, Math.ceil(100_000 / 1096));
    assert.equal(d.stats.framesDropped, 0);
    // Opaque payloads: the depacketizer cannot see key frames, so it still asks for one.
    assert.equal(d.needsKeyframe, true);
    d.keyframeReceived();
    assert.equal(d.needsKeyframe, false);
  });

  test("reorder within a frame and duplicates", () => {
    const frames = [randomBytes(5000), randomBytes(4000)];
    const [a, b] = send(frames);
    const d = new Vp8Depacketizer();
    const shuffled = [a![3]!, a![0]!, a![4]!, a![1]!, a![1]!, a![2]!];
    const out1 = receive(d, shuffled);
    assert.equal(out1.length, 1);
    assert.deepEqual(out1[0]!.data, frames[0]);
    const out2 = receive(d, [...b!].reverse());
    assert.equal(out2.length, 1);
    assert.deepEqual(out2[0]!.data, frames[1]);
    assert.equal(d.stats.duplicates, 1);
    // A retransmitted packet of an emitted frame is late, not a new frame.
    assert.deepEqual(d.push(a![2]!), []);
    assert.equal(d.stats.late, 1);
  });

  test("sequence numbers wrap at 65535 without a hiccup", () => {
    const frames = Array.from({ length: 6 }, () => randomBytes(2500));
    const d = new Vp8Depacketizer();
    const out = receive(d, send(frames, { seq: 65530, ts: 0xffffffff - 6000 }).flat());
    assert.equal(out.length, 6);
    out.forEach((f, i) => assert.deepEqual(f.data, frames[i]));
    assert.equal(out[0]!.firstSequence, 65530);
    assert.ok(out[5]!.lastSequence < 100);
    assert.equal(d.stats.lossEvents, 0);
  });

  test("a lost packet: the frame is dropped, later frames come with discontinuity, needsKeyframe until a key frame", () => {
    const frames = Array.from({ length: 5 }, () => randomBytes(2500)); // 3 packets each
    const pkts = send(frames);
    const d = new Vp8Depacketizer({ reorderFrames: 2 });
    assert.equal(receive(d, pkts[0]!).length, 1);
    d.keyframeReceived();
    const lossy = pkts[1]!.filter((_, i) => i !== 1);
    assert.equal(receive(d, lossy).length, 0);
    // Frame 2 is complete but waits for the missing packet (one reorder slot), frame 3 releases it.
    assert.equal(receive(d, pkts[2]!).length, 0);
    const out = receive(d, pkts[3]!);
    assert.deepEqual(out.map((f) => f.data), [frames[2], frames[3]]);
    assert.equal(out[0]!.discontinuity, true);
    assert.equal(out[1]!.discontinuity, false);
    assert.equal(d.stats.framesDropped, 1);
    assert.equal(d.stats.lossEvents, 1);
    assert.equal(d.needsKeyframe, true);
    // The missing packet arrives far too late: ignored.
    assert.deepEqual(d.push(pkts[1]![1]!), []);
    d.keyframeReceived();
    assert.equal(receive(d, pkts[4]!).length, 1);
    assert.equal(d.needsKeyframe, false);
  });

  test("a late packet inside the reorder window still completes its frame", () => {
    const frames = Array.from({ length: 3 }, () => randomBytes(2500));
    const pkts = send(frames);
    const d = new Vp8Depacketizer({ reorderFrames: 2 });
    const late = pkts[0]![1]!;
    assert.equal(receive(d, [pkts[0]![0]!, pkts[0]![2]!, ...pkts[1]!]).length, 0);
    const out = receive(d, [late, ...pkts[2]!]);
    assert.deepEqual(out.map((f) => f.data), frames);
    assert.equal(d.stats.framesDropped, 0);
  });

  test("a whole lost frame and a lost marker packet are both detected", () => {
    const frames = Array.from({ length: 6 }, () => randomBytes(2000)); // 2 packets each
    const pkts = send(frames);
    const d = new Vp8Depacketizer({ reorderFrames: 1 });
    receive(d, pkts[0]!);
    const out = receive(d, [...pkts[2]!, pkts[3]![0]!, ...pkts[4]!, ...pkts[5]!]);
    // frame 1 vanished entirely; frame 3 lost its marker packet
    assert.deepEqual(out.map((f) => f.data), [frames[2], frames[4], frames[5]]);
    assert.deepEqual(out.map((f) => f.discontinuity), [true, true, false]);
    assert.equal(d.stats.lossEvents, 2);
    assert.equal(d.stats.framesDropped, 1);
  });

  test("flush() gives up on gaps at the end of a stream", () => {
    const frames = Array.from({ length: 3 }, () => randomBytes(2500));
    const pkts = send(frames);
    const d = new Vp8Depacketizer({ reorderFrames: 5 });
    receive(d, pkts[0]!);
    receive(d, pkts[1]!.slice(0, 2));
    assert.equal(receive(d, pkts[2]!).length, 0);
    const out = d.flush();
    assert.deepEqual(out.map((f) => f.data), [frames[2]]);
    assert.equal(d.stats.framesDropped, 1);
  });

  test("joining in the middle of a frame is not a loss; a restarted sender resets", () => {
    const frames = Array.from({ length: 3 }, () => randomBytes(2500));
    const pkts = send(frames);
    const d = new Vp8Depacketizer({ reorderFrames: 1 });
    const out = receive(d, [...pkts[0]!.slice(1), ...pkts[1]!, ...pkts[2]!]);
    assert.deepEqual(out.map((f) => f.data), [frames[1], frames[2]]);
    assert.equal(d.stats.framesDropped, 0);
    const again = send([frames[0]!], { seq: 40000, ts: 5 });
    assert.deepEqual(receive(d, again[0]!).map((f) => f.data), [frames[0]]);
    assert.equal(d.stats.resets, 1);
  });

  test("isKeyframe hook clears needsKeyframe for plaintext streams", () => {
    const key = Buffer.from([0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01]);
    const d = new Vp8Depacketizer({ isKeyframe: isVp8Keyframe });
    receive(d, send([Buffer.from([0x01, 0, 0, 7])]).flat());
    assert.equal(d.needsKeyframe, true);
    receive(d, send([key], { seq: 1001, ts: 96000 }).flat());
    assert.equal(d.needsKeyframe, false);
  });

  test("property: any frames, any reorder within frames, any loss of whole packets", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 0, max: 65535 }),
        fc.integer({ min: 20, max: 1500 }),
        fc.array(fc.nat(), { maxLength: 4 }),
        fc.integer({ min: 0, max: 1000 }),
        (sizes, seq, maxPayload, lossPicks, shuffleSeed) => {
          const frames = sizes.map((n, i) => Buffer.alloc(n, i + 1));
          const perFrame = send(frames, { seq, maxPayload });
          // Shuffle inside each frame (deterministic from the seed), then drop some packets.
          let s = shuffleSeed;
          const ordered = perFrame.flatMap((pkts) => {
            const copy = [...pkts];
            for (let i = copy.length - 1; i > 0; i--) {
              s = (s * 1103515245 + 12345) & 0x7fffffff;
              const j = s % (i + 1);
              [copy[i], copy[j]] = [copy[j]!, copy[i]!];
            }
            return copy;
          });
          const lost = new Set(lossPicks.map((p) => ordered[p % ordered.length]!.sequenceNumber));
          const d = new Vp8Depacketizer();
          const out = [...receive(d, ordered.filter((p) => !lost.has(p.sequenceNumber))), ...d.flush()];
          // Every emitted frame is exactly one of the sent frames, in order, never corrupted.
          let last = -1;
          for (const f of out) {
            const i = frames.findIndex((fr) => fr.equals(f.data));
            assert.ok(i > last, "frames in order and intact");
            last = i;
          }
          const hit = new Set(perFrame.flatMap((pkts, i) => (pkts.some((p) => lost.has(p.sequenceNumber)) ? [i] : [])));
          assert.equal(out.length, frames.length - hit.size);
          assert.equal(d.stats.framesEmitted, out.length);
          // Partial frames are counted as dropped, except those before the first emitted frame
          // (indistinguishable from joining a stream mid-frame).
          assert.ok(d.stats.framesDropped <= hit.size);
          if (out.length === 0 || hit.size === 0) return;
          const firstOut = frames.findIndex((fr) => fr.equals(out[0]!.data));
          const partialAfterFirst = [...hit].filter((i) => i > firstOut && perFrame[i]!.some((p) => !lost.has(p.sequenceNumber))).length;
          assert.ok(d.stats.framesDropped >= partialAfterFirst);
        },
      ),
      { numRuns: 300 },
    );
  });
});
