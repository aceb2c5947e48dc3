/**
 * The receive half of a publisher's DTLS-SRTP session for its audio upload, as the lean forwarder
 * uses it: take the datagram from the UDP socket, check it is SRTP for the upload's SSRC, verify and
 * decrypt it (AEAD_AES_128_GCM, RFC 7714) and hand the fields the forwarder needs straight to it.
 *
 * Why: werift's generic receive path (STUN probe, ICE, DTLS demultiplexing, SRTP with a header
 * object and a buffer copy per packet, RTP parsing, the router, receiver statistics and events)
 * costs some 40 µs per upload on this machine — at 10 participants that is more than the relay
 * spends on each of the 9 forwards of the packet. Here it is one AES-GCM decryption and a few
 * reads.
 *
 * Scope: audio uploads only, and only once werift has delivered the stream's first packet (so the
 * track, SSRC and rollover state are known). Everything else — STUN, DTLS, SRTCP, video, another
 * SSRC, a packet that fails authentication here — goes on to werift unchanged. Unlike werift's
 * receive path this one keeps an SRTP replay list (RFC 3711 §3.3.2): a replayed packet is dropped
 * before it reaches the forwarder.
 */
import { createDecipheriv } from "node:crypto";
import type { RTCDtlsTransport } from "werift";
import { SRTP_AEAD_AES_128_GCM, udpTransportOf, type WeriftUdpTransport } from "./srtp-output.js";
import { isLoneReport } from "./rtcp-filter.js";

/** RFC 7714 §8: authentication tag length. */
const TAG_BYTES = 16;
/** RFC 3711 §3.3.2: replay window, in packets (64 is the RFC's minimum and libsrtp's default). */
export const REPLAY_WINDOW = 64;

/**
 * Packet index tracking of one received SRTP stream (RFC 3711 §3.3.1 and Appendix A): estimates
 * the rollover counter of each packet from its sequence number and keeps the replay list.
 */
export class SrtpReceiveIndex {
  private roc: number;
  /** Highest sequence number authenticated so far (s_l). */
  private highest: number;
  /** Slot i holds the last index ≡ i (mod REPLAY_WINDOW) received (indices are < 2^48: exact in a double). */
  private readonly seen = new Float64Array(REPLAY_WINDOW).fill(-1);
  private started: boolean;

  constructor(start?: { roc: number; lastSequenceNumber: number }) {
    this.roc = start?.roc ?? 0;
    this.highest = start?.lastSequenceNumber ?? 0;
    this.started = start !== undefined;
  }

  /** RFC 3711 §3.3.1: the ROC guess v for sequence number `seq`. */
  estimate(seq: number): number {
    if (!this.started) return this.roc;
    if (this.highest < 0x8000) return seq - this.highest > 0x8000 && this.roc > 0 ? this.roc - 1 : this.roc;
    return this.highest - 0x8000 > seq ? (this.roc + 1) >>> 0 : this.roc;
  }

  /** Whether the packet with this ROC guess and sequence number was already received or is too old. */
  isReplay(roc: number, seq: number): boolean {
    if (!this.started) return false;
    const index = roc * 0x10000 + seq;
    const delta = index - (this.roc * 0x10000 + this.highest);
    if (delta > 0) return false;
    if (-delta >= REPLAY_WINDOW) return true;
    return this.seen[index % REPLAY_WINDOW] === index;
  }

  /** Record an authenticated packet. */
  accept(roc: number, seq: number): void {
    const index = roc * 0x10000 + seq;
    if (!this.started || index > this.roc * 0x10000 + this.highest) {
      this.started = true;
      this.roc = roc;
      this.highest = seq;
    }
    this.seen[index % REPLAY_WINDOW] = index;
  }
}

/** What the forwarder gets of one decrypted upload packet. */
export type UploadPacketSink = (marker: boolean, sequenceNumber: number, timestamp: number, payload: Buffer) => void;


export class SrtpInput {
  /** Packets decrypted and delivered here. */
  packets = 0;
  /** Packets dropped as replays or after failed authentication. */
  dropped = 0;
  /** Lone SRTCP sender/receiver reports on this socket, dropped unread (./rtcp-filter.ts). */
  reportsDropped = 0;
  private readonly index: SrtpReceiveIndex;
  private readonly key: Buffer;
  private readonly salt: Buffer;
  private readonly iv = Buffer.alloc(12);
  private transport: WeriftUdpTransport | undefined;
  private passOn: ((data: Buffer, addr: [string, number]) => void) | undefined;

  private constructor(
    private readonly ssrc: number,
    key: Buffer,
    salt: Buffer,
    start: { roc: number; lastSequenceNumber: number } | undefined,
    private readonly deliver: UploadPacketSink,
  ) {
    this.key = key;
    this.salt = salt;
    this.index = new SrtpReceiveIndex(start);
  }

  /**
   * A receive path for upload `ssrc` from SRTP session keys (RFC 7714 session key and salt), not
   * yet attached to a socket: feed it with receive(). `start` is the stream's rollover state so far.
   */
  static withKeys(
    ssrc: number,
    keys: { sessionKey: Uint8Array; sessionSalt: Uint8Array },
    deliver: UploadPacketSink,
    start?: { roc: number; lastSequenceNumber: number },
  ): SrtpInput {
    // werift derives 14-byte session salts (RFC 3711 §4.3.1) and uses the first 12 for GCM (RFC 7714 §8.1).
    if (keys.sessionKey.length !== 16 || keys.sessionSalt.length < 12) throw new RangeError("AEAD_AES_128_GCM needs a 16-byte key and a 12-byte salt");
    return new SrtpInput(ssrc, Buffer.from(keys.sessionKey), Buffer.from(keys.sessionSalt.subarray(0, 12)), start, deliver);
  }

  /**
   * Take over the receive path of upload `ssrc` on `dtls`'s selected candidate pair. Undefined (and
   * werift keeps the stream) when the session is not AEAD_AES_128_GCM, DTLS-SRTP is not up, or the
   * selected pair is not on a UDP socket.
   */
  static attach(dtls: RTCDtlsTransport | undefined, ssrc: number, deliver: UploadPacketSink): SrtpInput | undefined {
    if (!dtls || dtls.state !== "connected" || !dtls.srtpStarted || !dtls.srtp) return undefined;
    const remote = dtls.srtp.remoteContext;
    if (remote.profile !== SRTP_AEAD_AES_128_GCM) return undefined;
    const transport = udpTransportOf(dtls.iceTransport.connection.nominated);
    if (!transport || typeof transport.onData !== "function") return undefined;
    const state = (remote as unknown as { srtpSSRCStates: Record<number, { rolloverCounter: number; lastSequenceNumber: number } | undefined> }).srtpSSRCStates[ssrc];
    const input = SrtpInput.withKeys(
      ssrc,
      { sessionKey: remote.cipher.srtpSessionKey, sessionSalt: remote.cipher.srtpSessionSalt },
      deliver,
      state ? { roc: state.rolloverCounter, lastSequenceNumber: state.lastSequenceNumber } : undefined,
    );
    input.hook(transport);
    return input;
  }

  private hook(transport: WeriftUdpTransport): void {
    const passOn = transport.onData;
    this.transport = transport;
    this.passOn = passOn;
    transport.onData = (data, addr) => {
      if (this.receive(data)) return;
      // Reports the relay does not use (./rtcp-filter.ts): not worth werift's SRTCP path.
      if (isLoneReport(data, TAG_BYTES)) {
        this.reportsDropped++;
        return;
      }
      passOn(data, addr);
    };
  }

  /** Give the socket back to werift. */
  detach(): void {
    if (this.transport && this.passOn) this.transport.onData = this.passOn;
    this.transport = undefined;
    this.passOn = undefined;
  }

  /**
   * One datagram: true when it was this upload's SRTP (delivered, or dropped as a replay or a
   * forgery), false when werift should have it.
   */
  receive(data: Buffer): boolean {
    // RFC 7983 demultiplexing: RTP/RTCP start with 128..191; RTCP packet types 192..223 (RFC 5761).
    if (data.length < 12 + TAG_BYTES || data[0]! >> 6 !== 2) return false;
    const pt = data[1]!;
    if (pt >= 192 && pt <= 223) return false;
    if (data.readUInt32BE(8) !== this.ssrc) return false;
    let offset = 12 + 4 * (data[0]! & 0x0f);
    if (data[0]! & 0x10) {
      if (offset + 4 > data.length - TAG_BYTES) return false;
      offset += 4 + 4 * data.readUInt16BE(offset + 2);
    }
    const tagAt = data.length - TAG_BYTES;
    if (offset > tagAt) return false;
    const seq = data.readUInt16BE(2);
    const roc = this.index.estimate(seq);
    if (this.index.isReplay(roc, seq)) {
      this.dropped++;
      return true;
    }
    // RFC 7714 §8.1: IV = (0x0000 ‖ SSRC ‖ ROC ‖ SEQ) XOR salt.
    const iv = this.iv;
    iv.fill(0, 0, 2);
    data.copy(iv, 2, 8, 12);
    iv.writeUInt32BE(roc, 6);
    iv.writeUInt16BE(seq, 10);
    for (let i = 0; i < 12; i++) iv[i]! ^= this.salt[i]!;
    let payload: Buffer;
    try {
      const decipher = createDecipheriv("aes-128-gcm", this.key, iv);
      decipher.setAAD(data.subarray(0, offset));
      decipher.setAuthTag(data.subarray(tagAt));
      const first = decipher.update(data.subarray(offset, tagAt));
      const last = decipher.final();
      payload = last.length === 0 ? first : Buffer.concat([first, last]);
    } catch {
      // Not authentic under this session (a forgery, or werift's to judge): never forwarded.
      this.dropped++;
      return true;
    }
    this.index.accept(roc, seq);
    if (data[0]! & 0x20 && payload.length > 0) {
      const pad = payload[payload.length - 1]!;
      if (pad === 0 || pad > payload.length) {
        this.dropped++;
        return true;
      }
      payload = payload.subarray(0, payload.length - pad);
    }
    this.packets++;
    this.deliver((data[1]! & 0x80) !== 0, seq, data.readUInt32BE(4), payload);
    return true;
  }
}
