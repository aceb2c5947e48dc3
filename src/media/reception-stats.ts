/**
 * Reception statistics of one received RTP stream, as an RTCP receiver report block carries them
 * (RFC 3550 §6.4.1): the extended highest sequence number, cumulative and interval loss (Appendix
 * A.1 and A.3) and the interarrival jitter in timestamp units (Appendix A.8).
 *
 * Pure and allocation-free per packet: add() is a handful of arithmetic operations on numbers, fed
 * by whichever receive path delivered the packet (the relay's lean upload path, a participant's
 * lean audio path, or werift's). The caller reads the clock (one read per packet).
 *
 * Unlike Appendix A.1 there is no probation: these streams are authenticated SRTP, so the first
 * packet starts the stream. A.1's resynchronisation is kept: a jump of MAX_DROPOUT or more is taken
 * as a restarted sender only when the next packet follows it.
 */

/** RFC 3550 §A.1: sequence number modulus, and the largest jump ahead / behind taken as in order / reordered. */
const RTP_SEQ_MOD = 0x10000;
const MAX_DROPOUT = 3000;
const MAX_MISORDER = 100;
/** RFC 3550 §6.4.1: cumulative number of packets lost is a signed 24-bit field. */
const MAX_LOST = 0x7fffff;
const MIN_LOST = -0x800000;

/** The statistics one report block carries (RFC 3550 §6.4.1), LSR and DLSR aside. */
export interface ReceptionReport {
  /** Loss since the previous report, as a fixed-point fraction of 256 (0..255). */
  fractionLost: number;
  /** Cumulative loss: expected minus received, clamped to a signed 24-bit value (negative after duplicates). */
  packetsLost: number;
  /** Extended highest sequence number received: cycles in the high 16 bits (mod 2^32). */
  highestSequence: number;
  /** Interarrival jitter estimate, in timestamp units (an unsigned integer). */
  jitter: number;
}

export class ReceptionStats {
  /** RFC 3550 §A.1 source state. */
  private maxSeq = 0;
  /** Shifted count of sequence number cycles (a multiple of RTP_SEQ_MOD). */
  private cycles = 0;
  private baseSeq = 0;
  /** The sequence number after the last big jump: if it comes next, the sender restarted. */
  private badSeq = RTP_SEQ_MOD + 1;
  private received = 0;
  /** RFC 3550 §A.3: counts at the previous report. */
  private expectedPrior = 0;
  private receivedPrior = 0;
  private started = false;
  /** RFC 3550 §A.8: the jitter estimate (timestamp units) and the previous packet's arrival and timestamp. */
  private jitterUnits = 0;
  private lastArrival = 0;
  private lastTimestamp = 0;
  private hasTransit = false;
  private readonly unitsPerMs: number;

  /** `clockRate`: the stream's RTP timestamp rate in Hz (48000 for Opus). */
  constructor(clockRate: number) {
    if (!(clockRate > 0)) throw new RangeError("clock rate must be positive");
    this.unitsPerMs = clockRate / 1000;
  }

  /**
   * One received packet: its sequence number, RTP timestamp, and arrival time in milliseconds on
   * any monotonic clock. Returns false when the packet was not counted (the first packet after a
   * big jump, §A.1).
   */
  add(seq: number, timestamp: number, arrivalMs: number): boolean {
    if (!this.started) {
      this.restart(seq);
    } else {
      const udelta = (seq - this.maxSeq) & 0xffff;
      if (udelta < MAX_DROPOUT) {
        // In order, with a permissible gap: a smaller number means the sequence wrapped.
        if (seq < this.maxSeq) this.cycles += RTP_SEQ_MOD;
        this.maxSeq = seq;
      } else if (udelta <= RTP_SEQ_MOD - MAX_MISORDER) {
        // A very large jump: count it only if the packet after it follows on (a restarted sender).
        if (seq !== this.badSeq) {
          this.badSeq = (seq + 1) & 0xffff;
          return false;
        }
        this.restart(seq);
      }
      // Otherwise a duplicate or a reordered packet: counted as received, the highest stays.
    }
    this.received++;
    // RFC 3550 §A.8: D(i-1,i) = (R_i - R_{i-1}) - (S_i - S_{i-1}), timestamps compared mod 2^32.
    const arrival = arrivalMs * this.unitsPerMs;
    if (this.hasTransit) {
      let d = arrival - this.lastArrival - ((timestamp - this.lastTimestamp) | 0);
      if (d < 0) d = -d;
      this.jitterUnits += (d - this.jitterUnits) / 16;
    }
    this.hasTransit = true;
    this.lastArrival = arrival;
    this.lastTimestamp = timestamp;
    return true;
  }

  /** RFC 3550 §A.1 init_seq: a new (or restarted) sequence from `seq`. */
  private restart(seq: number): void {
    this.started = true;
    this.baseSeq = seq;
    this.maxSeq = seq;
    this.badSeq = RTP_SEQ_MOD + 1;
    this.cycles = 0;
    this.received = 0;
    this.receivedPrior = 0;
    this.expectedPrior = 0;
    this.hasTransit = false;
  }

  /** Packets counted so far (duplicates included, as RFC 3550 counts them). */
  get packetsReceived(): number {
    return this.received;
  }

  /** Packets expected from the sequence numbers: extended highest minus the first, plus one. */
  get packetsExpected(): number {
    return this.started ? this.cycles + this.maxSeq - this.baseSeq + 1 : 0;
  }

  /** Whether packets were counted since the previous report(): a report block is due (§6.4). */
  get heardSinceReport(): boolean {
    return this.received !== this.receivedPrior;
  }

  /** The statistics for a report block now; the interval for `fractionLost` restarts here (§A.3). */
  report(): ReceptionReport {
    const expected = this.packetsExpected;
    let lost = expected - this.received;
    if (lost > MAX_LOST) lost = MAX_LOST;
    else if (lost < MIN_LOST) lost = MIN_LOST;
    const expectedInterval = expected - this.expectedPrior;
    const receivedInterval = this.received - this.receivedPrior;
    this.expectedPrior = expected;
    this.receivedPrior = this.received;
    const lostInterval = expectedInterval - receivedInterval;
    const fractionLost = expectedInterval === 0 || lostInterval <= 0 ? 0 : Math.min(255, Math.floor((lostInterval * 256) / expectedInterval));
    return {
      fractionLost,
      packetsLost: lost,
      highestSequence: (this.cycles + this.maxSeq) >>> 0,
      jitter: Math.min(0xffffffff, Math.floor(this.jitterUnits)),
    };
  }
}
