/**
 * Video repair on the relay's lean path: the last packets of each forwarded video stream, so a
 * subscriber's generic NACK (RFC 4585 §6.2.1) can be answered from the relay instead of costing a
 * keyframe from the publisher.
 *
 * One RetransmitCache per publisher's video stream per media engine, shared by every subscriber on
 * that engine: the relay keeps the publisher's sequence numbers (./srtp-protect.ts StreamSequencer),
 * so sequence number S is the same packet for every subscriber. What is cached is what the relay
 * forwards, the SFrame ciphertext payload and the RTP header fields; a retransmission is protected
 * again under the subscriber's own SRTP key with the packet index of the original. Same key, same
 * index, same header and same payload give the same SRTP packet bit for bit (AES-GCM is
 * deterministic), so nothing new is encrypted under a reused IV (RFC 7714 §8.1 is about IV reuse
 * with different data); a packet the subscriber was never sent gets an index its stream never used.
 *
 * Bounds: RetransmitCache.PACKETS packets per stream (512; about 0.6 MB at the 1,100-byte payloads
 * Conclave sends, 3 s of 720p at 1.5 Mbit/s), and packets older than MAX_AGE_MS (1 s) are never
 * resent. Per subscriber stream, RetransmitLimiter bounds what a NACK can make the relay send.
 */

/** One cached packet (slots are reused; read it before the next add()). */
export interface CachedPacket {
  seq: number;
  marker: boolean;
  timestamp: number;
  payload: Buffer;
  atMs: number;
}

export class RetransmitCache {
  /** Packets kept per stream (a power of two: the slot is seq mod PACKETS). */
  static readonly PACKETS = 512;
  /** A packet older than this is not resent: the receiver has given up on it by then. */
  static readonly MAX_AGE_MS = 1000;
  private readonly slots: (CachedPacket | undefined)[] = new Array<CachedPacket | undefined>(RetransmitCache.PACKETS);
  /** Payload bytes held now. */
  bytes = 0;

  /** Keep a forwarded packet. `payload` is kept by reference: the caller must not reuse it. */
  add(seq: number, marker: boolean, timestamp: number, payload: Buffer, nowMs: number): void {
    const i = seq & (RetransmitCache.PACKETS - 1);
    const slot = this.slots[i];
    if (slot) {
      this.bytes -= slot.payload.length;
      slot.seq = seq & 0xffff;
      slot.marker = marker;
      slot.timestamp = timestamp;
      slot.payload = payload;
      slot.atMs = nowMs;
    } else {
      this.slots[i] = { seq: seq & 0xffff, marker, timestamp, payload, atMs: nowMs };
    }
    this.bytes += payload.length;
  }

  /** The packet with 16-bit sequence number `seq`, if it is still held and not too old. */
  get(seq: number, nowMs: number): CachedPacket | undefined {
    const slot = this.slots[seq & (RetransmitCache.PACKETS - 1)];
    if (!slot || slot.seq !== (seq & 0xffff) || nowMs - slot.atMs > RetransmitCache.MAX_AGE_MS) return undefined;
    return slot;
  }

  /** Packets held (for tests and stats). */
  get size(): number {
    let n = 0;
    for (const s of this.slots) if (s) n++;
    return n;
  }
}

/**
 * What NACKs may make the relay send to one subscriber for one stream, so a hostile or broken
 * subscriber cannot turn the relay into an amplifier:
 *  - a token bucket: every forwarded packet adds SHARE tokens (a quarter of a retransmission), up to
 *    BURST; a retransmission takes one. So retransmissions stay under 25% of the stream's forwarded
 *    packets, plus one burst of 64 (a lost keyframe);
 *  - one sequence number is resent at most MAX_PER_PACKET (2) times, and not again within
 *    MIN_INTERVAL_MS (40 ms): werift receivers repeat a NACK every 5 ms for 50 ms until the packet
 *    comes, and a receiver that falls behind would otherwise get every packet it misses again and
 *    again while it cannot read them;
 *  - one NACK message is read for at most MAX_NACK_ENTRIES sequence numbers (a cache's worth) and
 *    resends at most MAX_PER_NACK of them.
 */
export class RetransmitLimiter {
  static readonly SHARE = 0.25;
  static readonly BURST = 64;
  static readonly MAX_PER_PACKET = 2;
  static readonly MIN_INTERVAL_MS = 40;
  static readonly MAX_PER_NACK = 64;
  static readonly MAX_NACK_ENTRIES = RetransmitCache.PACKETS;
  /** Slots remembering recent resends (by seq mod SLOTS). */
  private static readonly SLOTS = 256;
  private tokens = RetransmitLimiter.BURST;
  private readonly seqs = new Int32Array(RetransmitLimiter.SLOTS).fill(-1);
  private readonly times = new Float64Array(RetransmitLimiter.SLOTS);
  private readonly counts = new Uint8Array(RetransmitLimiter.SLOTS);
  /** Resends refused by the bucket or the per-packet rules. */
  refused = 0;

  /** One packet was forwarded on the stream. */
  forwarded(): void {
    const t = this.tokens + RetransmitLimiter.SHARE;
    this.tokens = t > RetransmitLimiter.BURST ? RetransmitLimiter.BURST : t;
  }

  /** May `seq` be resent now? Takes a token and records the resend if so. */
  allow(seq: number, nowMs: number): boolean {
    const s = seq & 0xffff;
    const i = s & (RetransmitLimiter.SLOTS - 1);
    const same = this.seqs[i] === s;
    if (same && (this.counts[i]! >= RetransmitLimiter.MAX_PER_PACKET || nowMs - this.times[i]! < RetransmitLimiter.MIN_INTERVAL_MS)) {
      this.refused++;
      return false;
    }
    if (this.tokens < 1) {
      this.refused++;
      return false;
    }
    this.tokens -= 1;
    this.seqs[i] = s;
    this.times[i] = nowMs;
    this.counts[i] = same ? this.counts[i]! + 1 : 1;
    return true;
  }
}
