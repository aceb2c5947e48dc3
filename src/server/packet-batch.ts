/**
 * Upload packets on their way from the engine that received them to another engine that hosts
 * subscribers in the same room. Packets are appended to one buffer and the buffer leaves once per
 * turn of the event loop (transferred, not copied), so a busy room costs one message per turn, not
 * one per packet.
 *
 * Record layout (big-endian), repeated:
 *
 *     +--------+----------------+-------+----------+-----------+----------+-------------+
 *     | idLen  | publisher id   | flags | sequence | timestamp | length   | payload     |
 *     | 1 byte | idLen bytes    | 1 B   | 2 bytes  | 4 bytes   | 2 bytes  | length B    |
 *     +--------+----------------+-------+----------+-----------+----------+-------------+
 *
 * flags bit 0 is the RTP marker bit, bit 1 set for video. Publisher ids are relay-assigned
 * base64url (ASCII).
 */
import type { MediaKind } from "./downlink.js";

export type PacketSink = (publisherId: string, kind: MediaKind, marker: boolean, seq: number, timestamp: number, payload: Buffer) => void;

const INITIAL_BYTES = 16 * 1024;
const MAX_ID_BYTES = 255;
const MAX_PAYLOAD_BYTES = 0xffff;

export class PacketBatcher {
  private buffer = Buffer.allocUnsafe(INITIAL_BYTES);
  private length = 0;
  private scheduled = false;
  /** Packets appended since the batcher was made. */
  packets = 0;

  constructor(private readonly flushTo: (batch: Uint8Array) => void) {}

  add(publisherId: string, kind: MediaKind, marker: boolean, seq: number, timestamp: number, payload: Uint8Array): void {
    const idLen = publisherId.length;
    if (idLen > MAX_ID_BYTES || payload.length > MAX_PAYLOAD_BYTES) return;
    const need = 1 + idLen + 1 + 2 + 4 + 2 + payload.length;
    if (this.length + need > this.buffer.length) this.grow(need);
    const b = this.buffer;
    let o = this.length;
    b[o++] = idLen;
    o += b.write(publisherId, o, idLen, "latin1");
    b[o++] = (marker ? 1 : 0) | (kind === "video" ? 2 : 0);
    b.writeUInt16BE(seq & 0xffff, o);
    o += 2;
    b.writeUInt32BE(timestamp >>> 0, o);
    o += 4;
    b.writeUInt16BE(payload.length, o);
    o += 2;
    b.set(payload, o);
    o += payload.length;
    this.length = o;
    this.packets++;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private grow(need: number): void {
    const next = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.length + need));
    this.buffer.copy(next, 0, 0, this.length);
    this.buffer = next;
  }

  flush(): void {
    this.scheduled = false;
    if (this.length === 0) return;
    // A fresh ArrayBuffer of exactly the batch, so the receiver can own it.
    const out = new Uint8Array(this.length);
    out.set(this.buffer.subarray(0, this.length));
    this.length = 0;
    this.flushTo(out);
  }
}

/** Calls `sink` for every packet in a batch; stops at the first malformed record. */
export function readPacketBatch(batch: Uint8Array, sink: PacketSink): number {
  const b = Buffer.from(batch.buffer, batch.byteOffset, batch.byteLength);
  let o = 0;
  let count = 0;
  while (o < b.length) {
    const idLen = b[o]!;
    if (o + 1 + idLen + 9 > b.length) break;
    const id = b.toString("latin1", o + 1, o + 1 + idLen);
    o += 1 + idLen;
    const marker = (b[o]! & 1) === 1;
    const kind: MediaKind = (b[o]! & 2) === 2 ? "video" : "audio";
    const seq = b.readUInt16BE(o + 1);
    const timestamp = b.readUInt32BE(o + 3);
    const len = b.readUInt16BE(o + 7);
    o += 9;
    if (o + len > b.length) break;
    sink(id, kind, marker, seq, timestamp, b.subarray(o, o + len));
    o += len;
    count++;
  }
  return count;
}
