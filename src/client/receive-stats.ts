/**
 * Receive statistics for one remote stream, computed from RTP as it arrives:
 * packets received and lost (from extended sequence numbers, RFC 3550 §A.1), interarrival jitter
 * (RFC 3550 §6.4.1 / §A.8) and received bitrate over a sliding window.
 */
export interface ReceiveStatsSnapshot {
  packetsReceived: number;
  packetsLost: number;
  /** Lost / expected, 0..1. */
  lossRate: number;
  jitterMs: number;
  bitrateKbps: number;
  bytesReceived: number;
  lastPacketAt: number;
}

const WINDOW_MS = 2000;
/** The bitrate window is kept as bytes per 100 ms slot: no allocation per packet. */
const SLOT_MS = 100;
const SLOTS = WINDOW_MS / SLOT_MS;

export class ReceiveStats {
  private baseSeq = -1;
  private maxExtSeq = -1;
  private cycles = 0;
  private received = 0;
  private bytes = 0;
  private jitter = 0; // in clock units
  private lastTransit: number | undefined;
  /** Bytes received in each slot of the last WINDOW_MS, and which slot (arrival ms ÷ SLOT_MS) each holds. */
  private readonly slotBytes = new Float64Array(SLOTS);
  private readonly slotIds = new Float64Array(SLOTS).fill(-1);
  private lastAt = 0;

  constructor(private readonly clockRate = 48000) {}

  /** Record a packet: its sequence number, RTP timestamp, payload size and arrival time (ms). */
  record(seq: number, timestamp: number, bytes: number, arrivalMs: number): void {
    if (this.baseSeq < 0) {
      this.baseSeq = seq;
      this.maxExtSeq = seq;
    } else {
      const maxSeq = this.maxExtSeq & 0xffff;
      const delta = (seq - maxSeq + 0x10000) % 0x10000;
      if (delta !== 0 && delta < 0x8000) {
        if (seq < maxSeq) this.cycles += 0x10000;
        this.maxExtSeq = this.cycles + seq;
      }
    }
    this.received++;
    this.bytes += bytes;
    const arrival = (arrivalMs * this.clockRate) / 1000;
    const transit = arrival - timestamp;
    if (this.lastTransit !== undefined) {
      let d = Math.abs(transit - this.lastTransit);
      // A timestamp wrap or a sender restart is not jitter.
      if (d > this.clockRate * 10) d = 0;
      this.jitter += (d - this.jitter) / 16;
    }
    this.lastTransit = transit;
    const id = Math.floor(arrivalMs / SLOT_MS);
    const slot = id % SLOTS;
    if (this.slotIds[slot] !== id) {
      this.slotIds[slot] = id;
      this.slotBytes[slot] = 0;
    }
    this.slotBytes[slot]! += bytes;
    this.lastAt = arrivalMs;
  }

  /** Bytes received in the slots of the last WINDOW_MS before `now`. */
  private windowBytes(now: number): number {
    const newest = Math.floor(now / SLOT_MS);
    let sum = 0;
    for (let i = 0; i < SLOTS; i++) {
      const id = this.slotIds[i]!;
      if (id > newest - SLOTS && id <= newest) sum += this.slotBytes[i]!;
    }
    return sum;
  }

  snapshot(now = Date.now()): ReceiveStatsSnapshot {
    const expected = this.baseSeq < 0 ? 0 : this.maxExtSeq - this.baseSeq + 1;
    const lost = Math.max(0, expected - this.received);
    const windowBytes = this.windowBytes(now);
    return {
      packetsReceived: this.received,
      packetsLost: lost,
      lossRate: expected > 0 ? lost / expected : 0,
      jitterMs: (this.jitter / this.clockRate) * 1000,
      bitrateKbps: (windowBytes * 8) / WINDOW_MS,
      bytesReceived: this.bytes,
      lastPacketAt: this.lastAt,
    };
  }
}
