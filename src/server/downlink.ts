/**
 * One forwarded stream: a publisher's audio or video on its way to one subscriber, on the send-only m-line
 * the relay negotiated for it. The relay keeps the publisher's sequence numbers and timestamps and
 * rewrites only the SSRC and payload type to the ones negotiated with the subscriber.
 *
 * Two implementations with one interface, so a benchmark can compare them in the same run:
 * - LeanDownlink: rewrites the 12-byte header, SRTP-protects and sends in one synchronous call
 *   (./srtp-output.ts), and sends its own RTCP sender reports at a low rate.
 * - GenericDownlink: werift's RTCRtpSender.sendRtp, which rewrites the packet in place (so it gets
 *   its own packet object), rebuilds header extensions, keeps statistics, feeds bandwidth
 *   estimation and schedules RTCP itself.
 */
import { RtcpSenderInfo, RtcpSrPacket, RtpHeader, RtpPacket, type RTCRtpSender } from "werift";
import { KeystreamAhead, RolloverCounter } from "./srtp-protect.js";
import type { SrtpOutput } from "./srtp-output.js";
import { RetransmitLimiter, type RetransmitCache } from "./retransmit-cache.js";

export type MediaKind = "audio" | "video";

export interface Downlink {
  readonly publisherId: string;
  readonly kind: MediaKind;
  forward(marker: boolean, seq: number, timestamp: number, payload: Buffer): void;
}

/** Seconds from the NTP epoch (1900) to the Unix epoch (1970): RFC 868 / RFC 3550 §4. */
const NTP_UNIX_OFFSET_S = 2_208_988_800;

/** RFC 3550 §4: 64-bit NTP timestamp, seconds in the high word and the fraction in the low word. */
export function ntpTimestamp(unixMs: number): bigint {
  const seconds = Math.floor(unixMs / 1000);
  const fraction = Math.floor(((unixMs - seconds * 1000) / 1000) * 0x1_0000_0000);
  return (BigInt(seconds + NTP_UNIX_OFFSET_S) << 32n) | BigInt(fraction >>> 0);
}

export class LeanDownlink implements Downlink {
  private readonly roc = new RolloverCounter();
  private readonly ahead = new KeystreamAhead();
  packets = 0;
  octets = 0;
  private lastTimestamp = 0;
  private lastSentMs = 0;
  private reportedPackets = 0;
  /** Video only: what NACKs may make this stream resend (./retransmit-cache.ts). */
  private readonly limiter: RetransmitLimiter | undefined;
  /** Packets resent in answer to NACKs, and resends refused by the limiter. */
  retransmitted = 0;

  constructor(
    readonly publisherId: string,
    readonly kind: MediaKind,
    readonly ssrc: number,
    readonly payloadType: number,
    private readonly clockRate: number,
    readonly output: SrtpOutput,
  ) {
    this.limiter = kind === "video" ? new RetransmitLimiter() : undefined;
  }

  get retransmitsRefused(): number {
    return this.limiter?.refused ?? 0;
  }

  forward(marker: boolean, seq: number, timestamp: number, payload: Buffer): void {
    if (!this.output.send(marker, this.payloadType, seq, timestamp, this.ssrc, this.roc, payload, this.ahead)) return;
    this.limiter?.forwarded();
    this.packets = (this.packets + 1) >>> 0;
    this.octets = (this.octets + payload.length) >>> 0;
    this.lastTimestamp = timestamp;
    this.lastSentMs = Date.now();
  }

  /**
   * Answer a generic NACK (RFC 4585 §6.2.1) for this stream: resend the named packets still in
   * `cache`, within the limiter's bounds. Each goes out with its original sequence number and
   * timestamp under the ROC of that sequence number (RolloverCounter.next leaves its state alone for
   * an older packet), without the keystream prepared ahead for the next packets. Returns the count.
   */
  retransmit(cache: RetransmitCache, lost: readonly number[], nowMs: number): number {
    const limiter = this.limiter;
    if (!limiter) return 0;
    let sent = 0;
    const n = Math.min(lost.length, RetransmitLimiter.MAX_NACK_ENTRIES);
    for (let i = 0; i < n && sent < RetransmitLimiter.MAX_PER_NACK; i++) {
      const packet = cache.get(lost[i]! & 0xffff, nowMs);
      if (!packet || !limiter.allow(packet.seq, nowMs)) continue;
      if (!this.output.send(packet.marker, this.payloadType, packet.seq, packet.timestamp, this.ssrc, this.roc, packet.payload)) break;
      sent++;
    }
    this.retransmitted += sent;
    return sent;
  }

  /**
   * RTCP sender report (RFC 3550 §6.4.1) if this stream sent data since the last one. The RTP
   * timestamp is the last forwarded one advanced by the wall-clock time since it went out, so
   * receivers can map it to the same NTP time the report carries.
   */
  senderReport(nowMs: number): RtcpSrPacket | undefined {
    if (this.packets === this.reportedPackets) return undefined;
    this.reportedPackets = this.packets;
    const elapsed = Math.max(0, nowMs - this.lastSentMs);
    return new RtcpSrPacket({
      ssrc: this.ssrc,
      senderInfo: new RtcpSenderInfo({
        ntpTimestamp: ntpTimestamp(nowMs),
        rtpTimestamp: (this.lastTimestamp + Math.round((elapsed * this.clockRate) / 1000)) >>> 0,
        packetCount: this.packets,
        octetCount: this.octets,
      }),
    });
  }
}

export class GenericDownlink implements Downlink {
  constructor(
    readonly publisherId: string,
    readonly kind: MediaKind,
    private readonly sender: RTCRtpSender,
  ) {}

  forward(marker: boolean, seq: number, timestamp: number, payload: Buffer): void {
    // sendRtp rewrites the header in place: every subscriber gets its own packet object.
    const header = new RtpHeader({ marker, payloadType: 0, sequenceNumber: seq, timestamp, ssrc: 0 });
    void this.sender.sendRtp(new RtpPacket(header, payload)).catch(() => {});
  }
}
