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
 * - werift's receiver statistics of the stream are fed here, so the RTCP receiver reports werift
 *   keeps sending to the relay (every 0.5–1.5 s, RFC 3550 §6.4.2) stay true (packets, loss, jitter);
 * - werift's SRTP rollover state of the stream follows, so werift can take the stream back.
 * Audio has no NACK in werift (it generates NACKs for video only), so nothing is lost there.
 *
 * Everything else — video, RTCP, an SSRC not taken over, a session that is not AEAD_AES_128_GCM,
 * a socket that is not UDP — stays with werift. If the selected candidate pair moves to another
 * socket, the streams' packets reach werift again, and the next one through werift moves this path
 * to the new socket.
 */
import type { RTCDtlsTransport, RTCRtpTransceiver } from "werift";
import { SrtpReceiver, weriftSrtpState, weriftStatsFeed, weriftStreamStart, type SrtpReceiveCounters } from "../media/srtp-receive.js";

/** What the participant's audio handler takes of one packet. */
export type LeanAudioSink = (sequenceNumber: number, timestamp: number, payload: Buffer) => void;

/** How long to wait before trying again on a transport where the lean path could not attach. */
const RETRY_MS = 1000;

export class LeanAudioReceive {
  private receiver: SrtpReceiver | undefined;
  private dtls: RTCDtlsTransport | undefined;
  private retryAt = 0;
  /** Counters of receivers retired (socket moved, session replaced). */
  private readonly retired: SrtpReceiveCounters = { packets: 0, replayed: 0, rejected: 0, malformed: 0 };
  private closed = false;

  /**
   * werift just delivered a packet of `ssrc` with `payloadType` on `transceiver` (an audio
   * downlink): take the stream's packets of that payload type over (werift keeps any other, as it
   * knows the negotiated codecs). True when they now come through here.
   */
  take(transceiver: RTCRtpTransceiver, ssrc: number, payloadType: number, deliver: LeanAudioSink): boolean {
    if (this.closed) return false;
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
    const start = weriftStreamStart(dtls, ssrc);
    const follow = weriftSrtpState(dtls, ssrc);
    const feed = weriftStatsFeed(transceiver.receiver, ssrc);
    this.receiver.add(
      ssrc,
      (_marker, seq, timestamp, payload, headerBytes) => {
        feed?.(seq, timestamp, headerBytes, payload.length);
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

  /** Give stream `ssrc` back to werift. */
  release(ssrc: number): void {
    this.receiver?.remove(ssrc);
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

  /** Drop the current socket hook (a new session follows); counters are kept. */
  reset(): void {
    this.retire();
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

  /** Give the socket back to werift. Idempotent. */
  close(): void {
    this.retire();
    this.closed = true;
  }
}
