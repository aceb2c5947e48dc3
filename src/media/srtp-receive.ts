/**
 * A lean SRTP receive path beside werift's: take each datagram from the UDP socket of the ICE pair
 * werift selected, keep the SRTP packets of the streams registered here, verify and decrypt them
 * (AEAD_AES_128_GCM, RFC 7714) and hand their fields straight to the stream's sink. The relay uses
 * it for audio uploads (src/server/srtp-input.ts), a participant for the audio it receives
 * (src/client/lean-receive.ts).
 *
 * Why: werift's generic receive path (STUN probe, ICE, DTLS demultiplexing, SRTP with a header
 * object, a decipher and buffer copies per packet, RTP parsing, the router, receiver statistics,
 * events and a packet clone) costs some 20–40 µs per packet on this machine. Here it is a map
 * lookup, one AES-GCM decryption and a few reads.
 *
 * Scope: RTP for a registered SSRC on an AEAD_AES_128_GCM session. Everything else — STUN, DTLS,
 * SRTCP, another SSRC, another profile — goes on to werift unchanged. A registered stream's packet
 * that fails authentication, is a replay or is malformed after decryption is dropped here and
 * counted, never handed on. Unlike werift's receive path this one keeps an SRTP replay list
 * (RFC 3711 §3.3.2).
 *
 *  RFC 3550 §5.1 / RFC 7714 §8 (SRTP packet as received):
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |V=2|P|X|  CC   |M|     PT      |       sequence number         |  ┐
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  │
 *  |                           timestamp                           |  │ AAD
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  │
 *  |                             SSRC                              |  │
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  │
 *  |            CSRC list (CC × 4) and header extension (X)        |  ┘
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |              encrypted payload (and RTP padding, P)           |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                 authentication tag (16 bytes)                 |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
import { createDecipheriv } from "node:crypto";
import type { RTCDtlsTransport } from "werift";
import { SRTP_AEAD_AES_128_GCM, udpTransportOf, type WeriftUdpTransport } from "./werift-udp.js";
import { native, type NativeGcmContext, type NativeSendPath } from "./native.js";
import { UdpBatchReceive } from "./udp-batch.js";

/** RFC 7714 §8: authentication tag length. */
const TAG_BYTES = 16;
/** Largest payload the native module opens (its stack buffer); longer ones use node:crypto. */
const NATIVE_MAX_PAYLOAD = 2048;
/** RFC 3550 §5.1: fixed RTP header length. */
const RTP_HEADER_BYTES = 12;
/** RFC 3711 §3.3.2: replay window, in packets (64 is the RFC's minimum and libsrtp's default). */
export const REPLAY_WINDOW = 64;

/** Where a stream's rollover state stands when this path takes it over from werift. */
export interface SrtpStreamStart {
  roc: number;
  lastSequenceNumber: number;
}

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

  constructor(start?: SrtpStreamStart) {
    this.roc = start?.roc ?? 0;
    this.highest = start?.lastSequenceNumber ?? 0;
    this.started = start !== undefined;
    // The packet werift received last was delivered: it is no less a replay than those received here.
    if (start) this.seen[(this.roc * 0x10000 + this.highest) % REPLAY_WINDOW] = this.roc * 0x10000 + this.highest;
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

  /** Record an authenticated packet; true when it is the highest so far (s_l and the ROC moved). */
  accept(roc: number, seq: number): boolean {
    const index = roc * 0x10000 + seq;
    this.seen[index % REPLAY_WINDOW] = index;
    if (this.started && index <= this.roc * 0x10000 + this.highest) return false;
    this.started = true;
    this.roc = roc;
    this.highest = seq;
    return true;
  }
}

/**
 * RFC 7983 §7 demultiplexing and RFC 3550 §5.1 header walk: the header length (fixed part, CSRCs
 * and header extension) of an SRTP packet carrying RTP with room for a GCM tag, or -1 when `data` is
 * something else (STUN, DTLS, SRTCP — RFC 5761 §4: payload types 192..223 are RTCP — or too short).
 */
export function srtpHeaderLength(data: Buffer): number {
  if (data.length < RTP_HEADER_BYTES + TAG_BYTES) return -1;
  const b0 = data[0]!;
  if (b0 >> 6 !== 2) return -1;
  const pt = data[1]!;
  if (pt >= 192 && pt <= 223) return -1;
  let offset = RTP_HEADER_BYTES + 4 * (b0 & 0x0f);
  if (b0 & 0x10) {
    if (offset + 4 > data.length - TAG_BYTES) return -1;
    offset += 4 + 4 * data.readUInt16BE(offset + 2);
  }
  return offset > data.length - TAG_BYTES ? -1 : offset;
}

/** What a stream's sink gets of one decrypted packet: payload without padding; headerBytes as received. */
export type SrtpPacketSink = (marker: boolean, sequenceNumber: number, timestamp: number, payload: Buffer, headerBytes: number) => void;

/** Counters of a receive path, or of one of its streams. */
export interface SrtpReceiveCounters {
  /** Packets decrypted and delivered. */
  packets: number;
  /** Dropped as replays or as too old for the replay window (RFC 3711 §3.3.2). */
  replayed: number;
  /** Dropped because they failed authentication (forged, corrupted, or not under this session). */
  rejected: number;
  /** Authentic but malformed (bad RTP padding): dropped. */
  malformed: number;
}

/** werift's rollover state of one received SSRC (its SRTP context's srtpSSRCStates entry). */
export interface WeriftSrtpState {
  rolloverCounter: number;
  lastSequenceNumber: number;
}

interface Stream extends SrtpReceiveCounters {
  readonly index: SrtpReceiveIndex;
  readonly deliver: SrtpPacketSink;
  readonly follow: WeriftSrtpState | undefined;
  /** Only this RTP payload type is taken; -1: any. */
  readonly payloadType: number;
}

/** How a receive path sits in front of werift (SrtpReceiver.attach). */
export interface SrtpReceiverAttachOptions {
  /**
   * Datagrams not taken here that werift should not get either (dropped, counted in
   * `unreadDropped`): the relay keeps SRTCP reports it does not use from werift's SRTCP path.
   */
  dropUnread?: (data: Buffer) => boolean;
}

/** How a stream is taken over (SrtpReceiver.add). */
export interface SrtpStreamOptions {
  /** The stream's rollover state so far (weriftStreamStart). */
  start?: SrtpStreamStart;
  /**
   * werift's state of the stream (weriftSrtpState): every packet that moves the stream's index
   * forward is written there too, so werift can take the stream back at any time (another socket,
   * detach, a payload type left to it) without losing track of its rollover counter.
   */
  follow?: WeriftSrtpState;
  /** Take only packets of this payload type; werift gets the others (it knows what to do with them). */
  payloadType?: number;
}

/** werift's live rollover state for `ssrc` on `dtls`, once its SRTP context received from it. */
export function weriftSrtpState(dtls: RTCDtlsTransport, ssrc: number): WeriftSrtpState | undefined {
  const remote = dtls.srtp?.remoteContext as unknown as { srtpSSRCStates?: Record<number, WeriftSrtpState | undefined> } | undefined;
  const state = remote?.srtpSSRCStates?.[ssrc];
  return state && typeof state.rolloverCounter === "number" && typeof state.lastSequenceNumber === "number" ? state : undefined;
}

/** The rollover state werift's SRTP context keeps for `ssrc` on `dtls`, once it received from it. */
export function weriftStreamStart(dtls: RTCDtlsTransport, ssrc: number): SrtpStreamStart | undefined {
  const state = weriftSrtpState(dtls, ssrc);
  return state ? { roc: state.rolloverCounter, lastSequenceNumber: state.lastSequenceNumber } : undefined;
}

export class SrtpReceiver implements SrtpReceiveCounters {
  packets = 0;
  replayed = 0;
  rejected = 0;
  malformed = 0;
  /** Datagrams not taken here that the attach's `dropUnread` kept from werift. */
  unreadDropped = 0;
  private readonly streams = new Map<number, Stream>();
  private readonly key: Buffer;
  private readonly salt: Buffer;
  private readonly iv = Buffer.alloc(12);
  /** The native module's GCM (one OpenSSL context for this session), when it is built. */
  private readonly native: NativeSendPath | undefined;
  private readonly nativeContext: NativeGcmContext | undefined;
  private transport: WeriftUdpTransport | undefined;
  private passOn: ((data: Buffer, addr: [string, number]) => void) | undefined;
  private batch: UdpBatchReceive | undefined;

  private constructor(key: Buffer, salt: Buffer, useNative: boolean) {
    this.key = key;
    this.salt = salt;
    this.native = useNative ? native() : undefined;
    this.nativeContext = this.native?.gcmContext(key, salt, true);
  }

  /**
   * A receive path from SRTP session keys (RFC 7714 session key and salt), not attached to a
   * socket: feed it with receive(). It decrypts with the native module when that is built, unless
   * `native` is false (node:crypto: a cipher object per packet; same result).
   */
  static withKeys(keys: { sessionKey: Uint8Array; sessionSalt: Uint8Array }, options: { native?: boolean } = {}): SrtpReceiver {
    // werift derives 14-byte session salts (RFC 3711 §4.3.1) and uses the first 12 for GCM (RFC 7714 §8.1).
    if (keys.sessionKey.length !== 16 || keys.sessionSalt.length < 12) throw new RangeError("AEAD_AES_128_GCM needs a 16-byte key and a 12-byte salt");
    return new SrtpReceiver(Buffer.from(keys.sessionKey), Buffer.from(keys.sessionSalt.subarray(0, 12)), options.native !== false);
  }

  /** Whether packets are decrypted by the native module. */
  get usesNative(): boolean {
    return this.nativeContext !== undefined;
  }

  /**
   * A receive path on `dtls`'s selected candidate pair, hooked in front of werift (no stream yet:
   * add them). Undefined (and werift keeps everything) when the session is not AEAD_AES_128_GCM,
   * DTLS-SRTP is not up, or the selected pair is not on a UDP socket.
   */
  static attach(dtls: RTCDtlsTransport | undefined, options: SrtpReceiverAttachOptions = {}): SrtpReceiver | undefined {
    if (!dtls || dtls.state !== "connected" || !dtls.srtpStarted || !dtls.srtp) return undefined;
    const remote = dtls.srtp.remoteContext;
    if (remote.profile !== SRTP_AEAD_AES_128_GCM) return undefined;
    const transport = udpTransportOf(dtls.iceTransport.connection.nominated);
    if (!transport || typeof transport.onData !== "function") return undefined;
    const receiver = SrtpReceiver.withKeys({ sessionKey: remote.cipher.srtpSessionKey, sessionSalt: remote.cipher.srtpSessionSalt });
    receiver.hook(transport, options.dropUnread);
    return receiver;
  }

  /** Whether this path is still in front of werift on a live socket. */
  get attached(): boolean {
    return this.transport !== undefined && !this.transport.closed;
  }

  /** Whether this path sits on the socket of `dtls`'s currently selected candidate pair. */
  isOn(dtls: RTCDtlsTransport): boolean {
    return this.attached && this.transport === udpTransportOf(dtls.iceTransport.connection.nominated);
  }

  /** Receive stream `ssrc` here from now on. */
  add(ssrc: number, deliver: SrtpPacketSink, options: SrtpStreamOptions = {}): void {
    this.streams.set(ssrc >>> 0, {
      index: new SrtpReceiveIndex(options.start),
      deliver,
      follow: options.follow,
      payloadType: options.payloadType ?? -1,
      packets: 0,
      replayed: 0,
      rejected: 0,
      malformed: 0,
    });
  }

  /** Leave stream `ssrc` to werift again. */
  remove(ssrc: number): void {
    this.streams.delete(ssrc >>> 0);
  }

  has(ssrc: number): boolean {
    return this.streams.has(ssrc >>> 0);
  }

  /** Counters of one stream. */
  countersOf(ssrc: number): SrtpReceiveCounters | undefined {
    const s = this.streams.get(ssrc >>> 0);
    return s ? { packets: s.packets, replayed: s.replayed, rejected: s.rejected, malformed: s.malformed } : undefined;
  }

  /** Packets dropped here for any reason. */
  get dropped(): number {
    return this.replayed + this.rejected + this.malformed;
  }

  private hook(transport: WeriftUdpTransport, dropUnread: ((data: Buffer) => boolean) | undefined): void {
    const passOn = transport.onData;
    this.transport = transport;
    this.passOn = passOn;
    const wrapper = (data: Buffer, addr: [string, number]): void => {
      if (this.take(data, dropUnread)) return;
      passOn(data, addr);
    };
    transport.onData = wrapper;
    // Datagrams come in batches from the native reader when it is built (src/media/udp-batch.ts);
    // otherwise dgram delivers them one by one to the wrapper.
    this.batch = UdpBatchReceive.start(transport.socket, (data, sender) => {
      if (transport.onData !== wrapper) {
        // Someone hooked the transport after us: the datagram goes to the head of the chain.
        transport.onData(Buffer.from(data), sender());
        return;
      }
      if (this.take(data, dropUnread)) return;
      // werift keeps what it is given (DTLS, STUN); the batch's area is reused.
      const addr = sender();
      (transport as { rinfo?: unknown }).rinfo = { address: addr[0], port: addr[1], family: addr[0].includes(":") ? "IPv6" : "IPv4", size: data.length };
      passOn(Buffer.from(data), addr);
    });
  }

  /** Whether the datagram stays here (received or dropped); false when werift should have it. */
  private take(data: Buffer, dropUnread: ((data: Buffer) => boolean) | undefined): boolean {
    let mine: boolean;
    try {
      mine = this.receive(data);
    } catch {
      // A throwing sink must not take the socket down; the datagram is spent.
      mine = true;
    }
    if (mine) return true;
    if (dropUnread?.(data)) {
      this.unreadDropped++;
      return true;
    }
    return false;
  }

  /** Whether datagrams come through the native batched reader. */
  get batched(): boolean {
    return this.batch?.running ?? false;
  }

  /** Give the socket back to werift (only if no one hooked it after us). Idempotent. */
  detach(): void {
    this.batch?.stop();
    this.batch = undefined;
    if (this.transport && this.passOn) this.transport.onData = this.passOn;
    this.transport = undefined;
    this.passOn = undefined;
    this.streams.clear();
  }

  /** node:crypto's AES-GCM check and decryption of one packet; null when it is not authentic. */
  private decrypt(data: Buffer, offset: number, tagAt: number, roc: number, seq: number): Buffer | null {
    // RFC 7714 §8.1: IV = (0x0000 ‖ SSRC ‖ ROC ‖ SEQ) XOR salt.
    const iv = this.iv;
    iv.fill(0, 0, 2);
    data.copy(iv, 2, 8, 12);
    iv.writeUInt32BE(roc, 6);
    iv.writeUInt16BE(seq, 10);
    for (let i = 0; i < 12; i++) iv[i]! ^= this.salt[i]!;
    try {
      const decipher = createDecipheriv("aes-128-gcm", this.key, iv);
      decipher.setAAD(data.subarray(0, offset));
      decipher.setAuthTag(data.subarray(tagAt));
      const first = decipher.update(data.subarray(offset, tagAt));
      const last = decipher.final();
      return last.length === 0 ? first : Buffer.concat([first, last]);
    } catch {
      return null;
    }
  }

  /**
   * One datagram: true when it was SRTP of a registered stream (delivered, or dropped as a replay,
   * a forgery or malformed), false when werift should have it.
   */
  receive(data: Buffer): boolean {
    const offset = srtpHeaderLength(data);
    if (offset < 0) return false;
    const stream = this.streams.get(data.readUInt32BE(8));
    if (!stream || (stream.payloadType >= 0 && (data[1]! & 0x7f) !== stream.payloadType)) return false;
    const seq = data.readUInt16BE(2);
    const roc = stream.index.estimate(seq);
    if (stream.index.isReplay(roc, seq)) {
      stream.replayed++;
      this.replayed++;
      return true;
    }
    const tagAt = data.length - TAG_BYTES;
    let payload: Buffer | null;
    if (this.nativeContext && tagAt - offset <= NATIVE_MAX_PAYLOAD) {
      // The same check and decryption in OpenSSL (IV from the salt, SSRC, ROC and SEQ; §8.1).
      payload = Buffer.allocUnsafe(tagAt - offset);
      // `payload` is uninitialised memory: only a whole plaintext counts as authentic.
      if (this.native!.open(this.nativeContext, data, offset, roc, payload) !== payload.length) payload = null;
    } else {
      payload = this.decrypt(data, offset, tagAt, roc, seq);
    }
    if (payload === null) {
      // Not authentic under this session (RFC 7714 §9.3: a failed check drops the packet).
      stream.rejected++;
      this.rejected++;
      return true;
    }
    if (stream.index.accept(roc, seq) && stream.follow) {
      stream.follow.rolloverCounter = roc;
      stream.follow.lastSequenceNumber = seq;
    }
    if (data[0]! & 0x20) {
      // RFC 3550 §5.1: the last padding octet counts the padding, itself included.
      const pad = payload.length > 0 ? payload[payload.length - 1]! : 0;
      if (pad === 0 || pad > payload.length) {
        stream.malformed++;
        this.malformed++;
        return true;
      }
      payload = payload.subarray(0, payload.length - pad);
    }
    stream.packets++;
    this.packets++;
    stream.deliver((data[1]! & 0x80) !== 0, seq, data.readUInt32BE(4), payload, offset);
    return true;
  }
}
