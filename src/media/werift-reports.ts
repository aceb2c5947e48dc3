/**
 * Receiver reports (RFC 3550 §6.4.2) written by Conclave instead of werift, for streams a lean
 * receive path takes away from werift: report blocks from ReceptionStats (./reception-stats.ts), RR
 * packets of at most 31 blocks, and pausing werift's own receiver-report loop for such a stream.
 *
 * werift runs one report loop per RTCRtpReceiver (every 0.5–1.5 s: an RR for each stream the
 * receiver ever saw, encrypted and sent as one SRTCP datagram). It starts that loop on every RTP
 * packet it handles; a stream on a lean path no longer reaches it, so once paused the loop stays
 * paused until werift handles one of the receiver's packets again.
 *
 *  RFC 3550 §6.4.2, RR packet (RC report blocks of 24 bytes follow the header):
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |V=2|P|    RC   |   PT=RR=201   |             length            |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                     SSRC of packet sender                     |
 *  +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 *  |                 SSRC_1 (SSRC of first source)                 |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  | fraction lost |       cumulative number of packets lost       |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |           extended highest sequence number received           |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                      interarrival jitter                      |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                         last SR (LSR)                         |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                   delay since last SR (DLSR)                  |
 *  +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 */
import { RtcpReceiverInfo, RtcpRrPacket } from "werift";
import type { ReceptionStats } from "./reception-stats.js";

/** RFC 3550 §6.4.2: the report count (RC) is 5 bits, so one RR packet holds at most 31 blocks. */
export const MAX_REPORT_BLOCKS = 31;
/** RFC 3550 §6.4.1: DLSR is in units of 1/65536 s. */
const DLSR_UNITS_PER_S = 65536;

/** The parts of werift's RTCRtpReceiver used here (its report loop state and last SR per SSRC). */
interface WeriftReceiverReports {
  rtcpRunning?: unknown;
  rtcpCancel?: unknown;
  stopped?: unknown;
  /** Middle 32 bits of the NTP timestamp of the last SR received, by SSRC (RFC 3550 §6.4.1 LSR). */
  lastSRtimestamp?: Record<number, number | undefined>;
  /** When that SR arrived, in seconds (Date.now() / 1000), by SSRC. */
  receiveLastSRTimestamp?: Record<number, number | undefined>;
}

/**
 * Stop werift's receiver-report loop of `receiver` now. Its pending wait is aborted and the receiver
 * gets a fresh AbortController, so werift restarts the loop (runRtcp) when it next handles one of
 * its packets, as it would have. True when a loop was running.
 */
export function pauseWeriftReports(receiver: object): boolean {
  const r = receiver as WeriftReceiverReports;
  if (r.rtcpRunning !== true || !(r.rtcpCancel instanceof AbortController)) return false;
  r.rtcpRunning = false;
  r.rtcpCancel.abort();
  r.rtcpCancel = new AbortController();
  return true;
}

/**
 * Pause werift's loop once the packet werift is handling now has been handled: werift starts the
 * loop at the end of its per-packet work, after it hands the packet to the track's listeners (where
 * this is called from).
 */
export function pauseWeriftReportsAfterPacket(receiver: object): void {
  queueMicrotask(() => void pauseWeriftReports(receiver));
}

/**
 * One report block about `ssrc` (RFC 3550 §6.4.1) from `stats`, which starts a new loss interval.
 * LSR and DLSR come from the last sender report werift's `receiver` got from that source, else 0.
 */
export function reportBlock(ssrc: number, stats: ReceptionStats, receiver: object | undefined, nowMs: number): RtcpReceiverInfo {
  const r = stats.report();
  let lsr = 0;
  let dlsr = 0;
  const w = receiver as WeriftReceiverReports | undefined;
  const last = w?.lastSRtimestamp?.[ssrc];
  const at = w?.receiveLastSRTimestamp?.[ssrc];
  if (typeof last === "number" && last > 0 && typeof at === "number") {
    lsr = last >>> 0;
    const delay = nowMs / 1000 - at;
    if (delay > 0 && delay < 65536) dlsr = Math.floor(delay * DLSR_UNITS_PER_S);
  }
  return new RtcpReceiverInfo({
    ssrc: ssrc >>> 0,
    fractionLost: r.fractionLost,
    // A signed 24-bit field: two's complement in three bytes.
    packetsLost: r.packetsLost & 0xffffff,
    highestSequence: r.highestSequence,
    jitter: r.jitter,
    lsr,
    dlsr,
  });
}

/**
 * RR packets from `senderSsrc` carrying `blocks`, 31 to a packet (RFC 3550 §6.1: further RR packets
 * follow the first in the same compound packet). None for no blocks.
 */
export function receiverReports(senderSsrc: number, blocks: readonly RtcpReceiverInfo[]): RtcpRrPacket[] {
  const packets: RtcpRrPacket[] = [];
  for (let i = 0; i < blocks.length; i += MAX_REPORT_BLOCKS) {
    packets.push(new RtcpRrPacket({ ssrc: senderSsrc >>> 0, reports: blocks.slice(i, i + MAX_REPORT_BLOCKS) }));
  }
  return packets;
}
