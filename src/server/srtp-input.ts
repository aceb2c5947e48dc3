/**
 * The receive half of a publisher's DTLS-SRTP session for its audio upload, as the lean forwarder
 * uses it: take the datagram from the UDP socket, check it is SRTP for the upload's SSRC, verify and
 * decrypt it (AEAD_AES_128_GCM, RFC 7714) and hand the fields the forwarder needs straight to it.
 * The SRTP work is src/media/srtp-receive.ts (shared with the client's lean audio receive path);
 * this is its one-stream form for the relay.
 *
 * Why: werift's generic receive path (STUN probe, ICE, DTLS demultiplexing, SRTP with a header
 * object and a buffer copy per packet, RTP parsing, the router, receiver statistics and events)
 * costs some 40 µs per upload on this machine — at 10 participants that is more than the relay
 * spends on each of the 9 forwards of the packet. Here it is one AES-GCM decryption and a few
 * reads.
 *
 * Scope: audio uploads only, and only once werift has delivered the stream's first packet (so the
 * track, SSRC and rollover state are known). Everything else — STUN, DTLS, SRTCP, video, another
 * SSRC, another profile — goes on to werift unchanged. Unlike werift's receive path this one keeps
 * an SRTP replay list (RFC 3711 §3.3.2): a replayed or forged packet is dropped before it reaches
 * the forwarder.
 */
import type { RTCDtlsTransport } from "werift";
import { SrtpReceiver, weriftSrtpState, weriftStreamStart, type SrtpPacketSink, type SrtpStreamStart } from "../media/srtp-receive.js";
import { isLoneReport } from "./rtcp-filter.js";

/** RFC 7714 §8: authentication tag length (of SRTCP too, for the report filter). */
const TAG_BYTES = 16;

export { SrtpReceiveIndex, REPLAY_WINDOW } from "../media/srtp-receive.js";

/** What the forwarder gets of one decrypted upload packet (with its RTP header's length). */
export type UploadPacketSink = SrtpPacketSink;

export class SrtpInput {
  private constructor(private readonly receiver: SrtpReceiver) {}

  /** Packets decrypted and delivered here. */
  get packets(): number {
    return this.receiver.packets;
  }

  /** Packets dropped as replays, after failed authentication, or malformed. */
  get dropped(): number {
    return this.receiver.dropped;
  }

  /** Lone SRTCP sender/receiver reports on this socket, dropped unread (./rtcp-filter.ts). */
  get reportsDropped(): number {
    return this.receiver.unreadDropped;
  }

  /**
   * A receive path for upload `ssrc` from SRTP session keys (RFC 7714 session key and salt), not
   * yet attached to a socket: feed it with receive(). `start` is the stream's rollover state so far.
   */
  static withKeys(
    ssrc: number,
    keys: { sessionKey: Uint8Array; sessionSalt: Uint8Array },
    deliver: UploadPacketSink,
    start?: SrtpStreamStart,
  ): SrtpInput {
    const receiver = SrtpReceiver.withKeys(keys);
    receiver.add(ssrc, deliver, start ? { start } : {});
    return new SrtpInput(receiver);
  }

  /**
   * Take over the receive path of upload `ssrc` on `dtls`'s selected candidate pair. Undefined (and
   * werift keeps the stream) when the session is not AEAD_AES_128_GCM, DTLS-SRTP is not up, or the
   * selected pair is not on a UDP socket.
   */
  static attach(dtls: RTCDtlsTransport | undefined, ssrc: number, deliver: UploadPacketSink): SrtpInput | undefined {
    // Reports the relay does not use (./rtcp-filter.ts): not worth werift's SRTCP path.
    const receiver = SrtpReceiver.attach(dtls, { dropUnread: (data) => isLoneReport(data, TAG_BYTES) });
    if (!receiver || !dtls) return undefined;
    const start = weriftStreamStart(dtls, ssrc);
    const follow = weriftSrtpState(dtls, ssrc);
    receiver.add(ssrc, deliver, { ...(start ? { start } : {}), ...(follow ? { follow } : {}) });
    return new SrtpInput(receiver);
  }

  /** Give the socket back to werift. */
  detach(): void {
    this.receiver.detach();
  }

  /**
   * One datagram: true when it was this upload's SRTP (delivered, or dropped as a replay or a
   * forgery), false when werift should have it.
   */
  receive(data: Buffer): boolean {
    return this.receiver.receive(data);
  }
}
