/**
 * A participant's lean receive path for the audio the relay forwards to it: once werift has
 * delivered a remote audio stream's first packet (so its track, SSRC and SRTP rollover state are
 * known), the stream's SRTP goes from the UDP socket through src/media/srtp-receive.ts (one AES-GCM
 * decryption, a replay list) straight to the participant's audio handler, skipping werift's
 * receive path (SRTP context, RTP parsing, router, events, a packet clone: some 20–40 µs a packet).
 *
 * What werift's receiver did with these packets and still gets done:
 * - the payload, sequence number and timestamp go to the same handler (receive statistics, SFrame
 *   decryption, `audio` listeners, level meters, first-audio);
 * - RTCP receiver reports (RFC 3550 §6.4.2) to the relay: werift sends one SRTCP datagram per
 *   receiver, each with one stream's report, every 0.5–1.5 s (9 a second in a room of 10). For the
 *   streams taken here its loops are paused (src/media/werift-reports.ts) and this path sends, every
 *   0.75–2.25 s, ONE compound packet with a report block per stream heard since the last (31 to an
 *   RR packet), from reception statistics (src/media/reception-stats.ts) fed by both receive paths;
 * - werift's SRTP rollover state of the stream follows, so werift can take the stream back.
 * Audio has no NACK in werift (it generates NACKs for video only), so nothing is lost there.
 *
 * Everything else — video, incoming RTCP, an SSRC not taken over, a session that is not
 * AEAD_AES_128_GCM, a socket that is not UDP — stays with werift, reports on it included. If the selected candidate pair
 * moves to another socket, the streams' packets reach werift again (and are still counted and
 * reported here), and the next one through werift moves this path to the new socket. A stream
 * given back to werift (release: its member left, or werift routes its SSRC to another m-line) is
 * no longer reported here; werift's loop restarts when werift next handles one of its packets, and
 * reports from werift's own statistics (a new m-line's receiver starts them afresh).
 */
import type { RTCDtlsTransport, RTCRtpReceiver, RTCRtpTransceiver } from "werift";
import { SrtpReceiver, weriftSrtpState, weriftStreamStart, type SrtpReceiveCounters } from "../media/srtp-receive.js";
import { ReceptionStats } from "../media/reception-stats.js";
import { pauseWeriftReportsAfterPacket, receiverReports, reportBlock } from "../media/werift-reports.js";

/** What the participant's audio handler takes of one packet. */
export type LeanAudioSink = (sequenceNumber: number, timestamp: number, payload: Buffer) => void;

/** How long to wait before trying again on a transport where the lean path could not attach. */
const RETRY_MS = 1000;
/**
 * Receiver reports go out every REPORT_INTERVAL_MS × [0.5, 1.5] (RFC 3550 §6.3.1 randomisation),
 * 0.75–2.25 s: about as often as werift's loops (0.5–1.5 s), and far below §6.2's 5 % of the
 * session bandwidth (24 bytes a stream per report against 50 packets a second per stream).
 */
const REPORT_INTERVAL_MS = 1500;

/** A stream this path took over: it reports on it (whichever path delivers its packets). */
interface LeanStream {
  readonly receiver: RTCRtpReceiver;
  readonly stats: ReceptionStats;
}

export class LeanAudioReceive {
  private receiver: SrtpReceiver | undefined;
  private dtls: RTCDtlsTransport | undefined;
  private retryAt = 0;
  /** Counters of receivers retired (socket moved, session replaced). */
  private readonly retired: SrtpReceiveCounters = { packets: 0, replayed: 0, rejected: 0, malformed: 0 };
  /** SSRC → stream taken over, from its first take until it is released or the session ends. */
  private readonly streams = new Map<number, LeanStream>();
  /** Sender SSRC of our receiver reports: that of the first taken stream's werift receiver (rtcpSsrc). */
  private reportSsrc: number | undefined;
  private reportTimer: NodeJS.Timeout | undefined;
  private closed = false;

  /**
   * werift just delivered packet `sequenceNumber` (RTP timestamp `timestamp`) of `ssrc` with
   * `payloadType` on `transceiver` (an audio downlink): take the stream's packets of that payload
   * type over (werift keeps any other, as it knows the negotiated codecs). True when they now come
   * through here. A stream once taken is reported on here, this packet included.
   */
  take(transceiver: RTCRtpTransceiver, ssrc: number, payloadType: number, sequenceNumber: number, timestamp: number, deliver: LeanAudioSink): boolean {
    if (this.closed) return false;
    const taken = this.attachStream(transceiver, ssrc, payloadType, deliver);
    const stream = this.streams.get(ssrc);
    if (stream && stream.receiver === transceiver.receiver) {
      stream.stats.add(sequenceNumber, timestamp, performance.now());
      // werift restarts its report loop after each packet it handles: ours reports on this stream.
      pauseWeriftReportsAfterPacket(stream.receiver);
    }
    return taken;
  }

  private attachStream(transceiver: RTCRtpTransceiver, ssrc: number, payloadType: number, deliver: LeanAudioSink): boolean {
    const dtls = transceiver.receiver.dtlsTransport;
    if (!dtls) return false;
    if (this.receiver && (this.dtls !== dtls || !this.receiver.isOn(dtls))) this.retire();
    if (!this.receiver) {
      const now = Date.now();
      if (this.dtls === dtls && now < this.retryAt) return false;
      this.dtls = dtls;
      this.receiver = SrtpReceiver.attach(dtls);
      if (!this.receiver) {
        this.retryAt = now + RETRY_MS;
        return false;
      }
    }
    // Already here (a packet werift had in hand before the take-over): keep the stream's replay list.
    if (this.receiver.has(ssrc)) return true;
    let stream = this.streams.get(ssrc);
    if (!stream || stream.receiver !== transceiver.receiver) {
      const clockRate = transceiver.codecs.find((c) => c.payloadType === payloadType)?.clockRate ?? 48000;
      stream = { receiver: transceiver.receiver, stats: new ReceptionStats(clockRate) };
      this.streams.set(ssrc, stream);
      this.reportSsrc ??= transceiver.receiver.rtcpSsrc;
      this.scheduleReport();
    }
    const stats = stream.stats;
    const start = weriftStreamStart(dtls, ssrc);
    const follow = weriftSrtpState(dtls, ssrc);
    this.receiver.add(
      ssrc,
      (_marker, seq, timestamp, payload) => {
        stats.add(seq, timestamp, performance.now());
        deliver(seq, timestamp, payload);
      },
      { ...(start ? { start } : {}), ...(follow ? { follow } : {}), payloadType },
    );
    return true;
  }

  /** Whether `ssrc` comes through here. */
  has(ssrc: number): boolean {
    return this.receiver?.has(ssrc) ?? false;
  }

  /** Give stream `ssrc` back to werift, and stop reporting on it. */
  release(ssrc: number): void {
    this.receiver?.remove(ssrc);
    this.streams.delete(ssrc);
  }

  /** Packets delivered and dropped here (replays, failed authentication, malformed), over the session. */
  get counters(): SrtpReceiveCounters {
    const r = this.receiver;
    return {
      packets: this.retired.packets + (r?.packets ?? 0),
      replayed: this.retired.replayed + (r?.replayed ?? 0),
      rejected: this.retired.rejected + (r?.rejected ?? 0),
      malformed: this.retired.malformed + (r?.malformed ?? 0),
    };
  }

  /** Drop the current socket hook and the streams (a new session follows); counters are kept. */
  reset(): void {
    this.retire();
    this.streams.clear();
    this.reportSsrc = undefined;
    this.dtls = undefined;
    clearTimeout(this.reportTimer);
    this.reportTimer = undefined;
  }

  private retire(): void {
    const r = this.receiver;
    if (!r) return;
    this.retired.packets += r.packets;
    this.retired.replayed += r.replayed;
    this.retired.rejected += r.rejected;
    this.retired.malformed += r.malformed;
    r.detach();
    this.receiver = undefined;
  }

  private scheduleReport(): void {
    if (this.reportTimer || this.closed) return;
    this.reportTimer = setTimeout(() => {
      this.reportTimer = undefined;
      this.sendReport();
      if (this.streams.size > 0) this.scheduleReport();
    }, REPORT_INTERVAL_MS * (0.5 + Math.random()));
    this.reportTimer.unref();
  }

  /**
   * One compound RTCP packet (RFC 3550 §6.1) with a report block for each taken stream heard since
   * the last report (§6.4): an RR packet per 31 blocks, all in one SRTCP datagram.
   */
  private sendReport(): void {
    const dtls = this.dtls;
    if (this.closed || !dtls || dtls.state !== "connected" || this.reportSsrc === undefined) return;
    const now = Date.now();
    const blocks = [];
    for (const [ssrc, stream] of this.streams) {
      if (stream.stats.heardSinceReport) blocks.push(reportBlock(ssrc, stream.stats, stream.receiver, now));
    }
    if (blocks.length === 0) return;
    dtls.sendRtcp(receiverReports(this.reportSsrc, blocks)).catch(() => {});
  }

  /** Give the socket back to werift and stop reporting. Idempotent. */
  close(): void {
    this.reset();
    this.closed = true;
  }
}
