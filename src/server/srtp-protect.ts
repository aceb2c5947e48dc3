/**
 * SRTP protection for the relay's lean forwarding path: one outgoing SRTP stream per forwarded
 * publisher, encrypted with the session keys werift derived for that subscriber's DTLS-SRTP session.
 *
 * Only the sending side lives here, and only what a forwarder needs: AEAD_AES_128_GCM (RFC 7714,
 * the profile werift prefers and negotiates with werift and libwebrtc peers) and the rollover-counter
 * bookkeeping of RFC 3711 §3.3.1. Other profiles fall back to werift's own SRTP context
 * (see SrtpOutput in ./srtp-output.ts). The relay never sees media keys: the payload it encrypts is
 * already SFrame ciphertext (docs/security.md).
 */
import { createCipheriv, type Cipher } from "node:crypto";

/** RFC 3550 §5.1 fixed header, no CSRCs, no extension. */
export const RTP_HEADER_BYTES = 12;
/** RFC 7714 §8: AEAD authentication tag of AEAD_AES_128_GCM. */
export const GCM_TAG_BYTES = 16;
/** RFC 7714 §8.1: 96-bit IV (and 96-bit session salt). */
const GCM_IV_BYTES = 12;
/** RFC 7714 §12: AEAD_AES_128_GCM key length. */
const GCM_KEY_BYTES = 16;

/**
 * Writes the 12-byte RTP header (RFC 3550 §5.1):
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |V=2|P|X|  CC   |M|     PT      |       sequence number         |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                           timestamp                           |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |           synchronization source (SSRC) identifier            |
 *    +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 *
 * P, X and CC are zero: the relay forwards the payload only (no padding, no header extensions are
 * negotiated, see src/media/rtc-config.ts).
 */
export function writeRtpHeader(
  out: Uint8Array,
  marker: boolean,
  payloadType: number,
  sequenceNumber: number,
  timestamp: number,
  ssrc: number,
): void {
  out[0] = 0x80;
  out[1] = (marker ? 0x80 : 0) | (payloadType & 0x7f);
  out[2] = (sequenceNumber >>> 8) & 0xff;
  out[3] = sequenceNumber & 0xff;
  out[4] = timestamp >>> 24;
  out[5] = (timestamp >>> 16) & 0xff;
  out[6] = (timestamp >>> 8) & 0xff;
  out[7] = timestamp & 0xff;
  out[8] = ssrc >>> 24;
  out[9] = (ssrc >>> 16) & 0xff;
  out[10] = (ssrc >>> 8) & 0xff;
  out[11] = ssrc & 0xff;
}

/**
 * Sequence numbers of one forwarded stream, as the relay sends them on: no SRTP packet index is ever
 * protected twice under a subscriber's key with different data (RFC 3711 §3.3.1, RFC 7714 §8.1: the
 * IV is built from it, and AES-GCM must never reuse an IV). A duplicate is dropped; gaps pass
 * through, so receivers still see upstream loss. A publisher whose numbers jump backwards for good
 * (a restarted sender) is followed after RESYNC_AFTER packets, continuing our numbering where it was.
 *
 * A late packet (one behind the newest) is dropped too, unless the stream fills late packets
 * (video: a packet the relay NACKed from the publisher, RFC 4585 §6.2.1, arrives after the ones
 * behind it): then it goes out under the number it maps to if that number is among the last
 * LATE_WINDOW and was never sent, which the sequencer remembers per slot.
 */
export class StreamSequencer {
  static readonly RESYNC_AFTER = 25;
  static readonly LATE_WINDOW = 512;
  private lastIn = -1;
  private lastOut = 0;
  private stale = 0;
  /** Out numbers sent, by out mod LATE_WINDOW (fillLate only). */
  private readonly sent: Int32Array | undefined;
  /** Packets dropped as duplicates or late. */
  dropped = 0;
  /** Late packets sent on (fillLate). */
  filled = 0;

  constructor(options: { fillLate?: boolean } = {}) {
    this.sent = options.fillLate ? new Int32Array(StreamSequencer.LATE_WINDOW).fill(-1) : undefined;
  }

  /** The sequence number to forward `seq` with, or −1 to drop it. */
  next(seq: number): number {
    if (this.lastIn < 0) {
      this.lastIn = seq;
      this.lastOut = seq;
      return this.mark(seq);
    }
    const delta = (seq - this.lastIn) & 0xffff;
    if (delta !== 0 && delta < 0x8000) {
      this.lastIn = seq;
      this.lastOut = (this.lastOut + delta) & 0xffff;
      this.stale = 0;
      return this.mark(this.lastOut);
    }
    const sent = this.sent;
    if (sent && delta !== 0) {
      const back = 0x10000 - delta;
      if (back < StreamSequencer.LATE_WINDOW) {
        const out = (this.lastOut - back) & 0xffff;
        const slot = out & (StreamSequencer.LATE_WINDOW - 1);
        if (sent[slot] !== out) {
          sent[slot] = out;
          this.filled++;
          return out;
        }
      }
    }
    if (++this.stale < StreamSequencer.RESYNC_AFTER) {
      this.dropped++;
      return -1;
    }
    this.stale = 0;
    this.lastIn = seq;
    this.lastOut = (this.lastOut + 1) & 0xffff;
    return this.mark(this.lastOut);
  }

  private mark(out: number): number {
    if (this.sent) this.sent[out & (StreamSequencer.LATE_WINDOW - 1)] = out;
    return out;
  }
}

/**
 * Rollover counter of one outgoing SRTP stream (RFC 3711 §3.3.1): the 48-bit packet index is
 * ROC·2^16 + SEQ. The forwarder keeps the publisher's sequence numbers, so the index follows them:
 * a forward step that wraps increments the ROC; a late packet from before the last wrap is
 * protected with ROC − 1 and does not move the state.
 */
export class RolloverCounter {
  private roc = 0;
  private last = -1;

  /** The ROC to protect a packet with sequence number `seq`. */
  next(seq: number): number {
    const last = this.last;
    if (last < 0) {
      this.last = seq;
      return this.roc;
    }
    const forward = ((seq - last) & 0xffff) < 0x8000;
    if (forward) {
      if (seq < last) this.roc = (this.roc + 1) >>> 0;
      this.last = seq;
      return this.roc;
    }
    // Older than the newest packet: it belongs to the previous cycle if it sits above the newest.
    return seq > last && this.roc > 0 ? this.roc - 1 : this.roc;
  }
}

/**
 * GHASH reduction for a right shift by 8 bits (NIST SP 800-38D §6.3: multiplying by x^8 in
 * GF(2^128) with R = 11100001 ‖ 0^120): R8[b] is what the 8 bits b shifted out contribute to the
 * top 32 bits.
 */
const R8 = (() => {
  const table = new Int32Array(256);
  for (let b = 0; b < 256; b++) {
    let z0 = 0;
    let z1 = 0;
    let z2 = 0;
    let z3 = b;
    for (let i = 0; i < 8; i++) {
      const lsb = z3 & 1;
      z3 = (z3 >>> 1) | ((z2 & 1) << 31);
      z2 = (z2 >>> 1) | ((z1 & 1) << 31);
      z1 = (z1 >>> 1) | ((z0 & 1) << 31);
      z0 = z0 >>> 1;
      if (lsb) z0 ^= 0xe1000000;
    }
    table[b] = z0;
  }
  return table;
})();

/**
 * AEAD_AES_128_GCM packet protection (RFC 7714 §8), for one SRTP session's local keys.
 *
 * IV formation, RFC 7714 §8.1:
 *
 *       0  0  0  0  0  0  0  0  0  0  1  1
 *       0  1  2  3  4  5  6  7  8  9  0  1
 *     +--+--+--+--+--+--+--+--+--+--+--+--+
 *     |00|00|    SSRC   |     ROC   | SEQ |---+
 *     +--+--+--+--+--+--+--+--+--+--+--+--+   |
 *     +--+--+--+--+--+--+--+--+--+--+--+--+   |
 *     |         Encryption Salt           |->(+)
 *     +--+--+--+--+--+--+--+--+--+--+--+--+   |
 *     +--+--+--+--+--+--+--+--+--+--+--+--+   |
 *     |       Initialization Vector       |<--+
 *     +--+--+--+--+--+--+--+--+--+--+--+--+
 *
 * The associated data is the RTP header (§8.2); the packet on the wire is
 * header ‖ ciphertext ‖ 16-byte tag (§8, no MKI).
 *
 * GCM itself (NIST SP 800-38D §7.1) is composed here from one long-lived AES-128-ECB context and a
 * table-driven GHASH, instead of a node:crypto GCM context per packet: setting up an OpenSSL
 * cipher context costs more than encrypting an audio packet, and the relay protects every packet
 * once per subscriber. Per packet: one ECB call over the counter blocks J0, inc32(J0), …
 * (§7.1 steps 2–3), the XOR with the payload, and GHASH over header, ciphertext and lengths
 * (steps 4–6). test/server/srtp-protect.test.ts checks it against the RFC 7714 vector and against
 * OpenSSL's GCM on random packets. GHASH uses 8-bit tables (Shoup's method), whose lookups depend
 * on the hash subkey: a local cache-timing observer could learn about the hop-by-hop SRTP key, which
 * protects only SFrame ciphertext the relay cannot read anyway (docs/security.md).
 */
export class SrtpGcmProtector {
  private readonly ecb: Cipher;
  /** The 96-bit salt as three big-endian words. */
  private readonly salt0: number;
  private readonly salt1: number;
  private readonly salt2: number;
  /** T[4·b … 4·b+3] = b·H as four big-endian 32-bit words, for every byte value b (§6.3). */
  private readonly table = new Int32Array(256 * 4);
  /** Counter blocks J0, inc32(J0), … for the ECB call. */
  private counters = new Scratch(16 * 96);
  /** GHASH input: header ‖ 0^32 ‖ ciphertext ‖ 0^u, whole blocks. */
  private blocks = new Scratch(16 * 96);
  private z0 = 0;
  private z1 = 0;
  private z2 = 0;
  private z3 = 0;

  constructor(sessionKey: Uint8Array, sessionSalt: Uint8Array) {
    if (sessionKey.length !== GCM_KEY_BYTES) throw new RangeError(`SRTP GCM session key must be ${GCM_KEY_BYTES} bytes`);
    if (sessionSalt.length < GCM_IV_BYTES) throw new RangeError(`SRTP GCM session salt must be at least ${GCM_IV_BYTES} bytes`);
    this.ecb = createCipheriv("aes-128-ecb", Buffer.from(sessionKey), null);
    this.ecb.setAutoPadding(false);
    const salt = Buffer.from(sessionSalt.subarray(0, GCM_IV_BYTES));
    this.salt0 = salt.readInt32BE(0);
    this.salt1 = salt.readInt32BE(4);
    this.salt2 = salt.readInt32BE(8);
    wipe(salt);
    // Hash subkey H = CIPH_K(0^128) (§6.4); table of its multiples by each byte value.
    const h = this.ecb.update(Buffer.alloc(16));
    const t = this.table;
    let v0 = h.readInt32BE(0);
    let v1 = h.readInt32BE(4);
    let v2 = h.readInt32BE(8);
    let v3 = h.readInt32BE(12);
    for (let i = 0; i < 8; i++) {
      const at = (0x80 >>> i) * 4;
      t[at] = v0;
      t[at + 1] = v1;
      t[at + 2] = v2;
      t[at + 3] = v3;
      // V·x: shift right by one bit, reduce with R (§6.3, algorithm 1 step 3).
      const lsb = v3 & 1;
      v3 = (v3 >>> 1) | ((v2 & 1) << 31);
      v2 = (v2 >>> 1) | ((v1 & 1) << 31);
      v1 = (v1 >>> 1) | ((v0 & 1) << 31);
      v0 = v0 >>> 1;
      if (lsb) v0 ^= 0xe1000000;
    }
    for (let b = 3; b < 256; b++) {
      if ((b & (b - 1)) === 0) continue;
      const hi = 1 << (31 - Math.clz32(b));
      for (let k = 0; k < 4; k++) t[b * 4 + k] = t[hi * 4 + k]! ^ t[(b ^ hi) * 4 + k]!;
    }
    wipe(h);
  }

  /** Y = (Y ⊕ X)·H for one 128-bit block X given as four big-endian words (§6.4). */
  private ghashBlock(x0: number, x1: number, x2: number, x3: number): void {
    const t = this.table;
    x0 ^= this.z0;
    x1 ^= this.z1;
    x2 ^= this.z2;
    x3 ^= this.z3;
    let a = 0;
    let b = 0;
    let c = 0;
    let d = 0;
    // Horner over the 16 bytes, last to first: Z = Z·x^8 ⊕ T[byte].
    for (let k = 0; k < 4; k++) {
      const w = k === 0 ? x3 : k === 1 ? x2 : k === 2 ? x1 : x0;
      for (let shift = 0; shift < 32; shift += 8) {
        const r = R8[d & 0xff]!;
        d = (d >>> 8) | (c << 24);
        c = (c >>> 8) | (b << 24);
        b = (b >>> 8) | (a << 24);
        a = (a >>> 8) ^ r;
        const at = ((w >>> shift) & 0xff) << 2;
        a ^= t[at]!;
        b ^= t[at | 1]!;
        c ^= t[at | 2]!;
        d ^= t[at | 3]!;
      }
    }
    this.z0 = a;
    this.z1 = b;
    this.z2 = c;
    this.z3 = d;
  }

  /**
   * Protects one RTP packet with a fixed 12-byte header and returns the SRTP packet
   * (a new buffer: the datagram may still be queued when the next packet is protected).
   */
  protect(
    marker: boolean,
    payloadType: number,
    seq: number,
    timestamp: number,
    ssrc: number,
    roc: number,
    payload: Uint8Array,
    ahead?: KeystreamAhead,
  ): Buffer {
    const length = payload.length;
    const n = (length + 15) >> 4;
    const bytes = (n + 1) << 4;
    if (bytes > this.blocks.bytes.length) this.blocks = new Scratch(bytes);
    let keystream: Buffer;
    let at = 0;
    if (ahead) {
      at = ahead.offsetOf(seq, roc, n + 1);
      if (at < 0) at = this.prepare(ahead, ssrc, roc, seq, n + 1);
      keystream = ahead.data;
    } else {
      keystream = this.keystream(ssrc, roc, seq, n + 1, 1);
    }
    // Block 0: the header (A, 12 bytes) padded with zeros; then C = P ⊕ keystream from inc32(J0)
    // (§7.1 step 3), padded with zeros to a whole block.
    const scratch = this.blocks;
    const bv = scratch.view;
    const bb = scratch.bytes;
    writeRtpHeader(bb, marker, payloadType, seq, timestamp, ssrc);
    bv.setInt32(12, 0);
    const ks = at + 16;
    for (let i = 0; i < length; i++) bb[16 + i] = payload[i]! ^ keystream[ks + i]!;
    for (let i = 16 + length; i < bytes; i++) bb[i] = 0;
    // S = GHASH(A ‖ 0^v ‖ C ‖ 0^u ‖ [len(A)]64 ‖ [len(C)]64) (§7.1 steps 4–5).
    this.z0 = this.z1 = this.z2 = this.z3 = 0;
    for (let o = 0; o < bytes; o += 16) this.ghashBlock(bv.getInt32(o), bv.getInt32(o + 4), bv.getInt32(o + 8), bv.getInt32(o + 12));
    this.ghashBlock(0, RTP_HEADER_BYTES * 8, 0, length * 8);
    const out = Buffer.allocUnsafe(RTP_HEADER_BYTES + length + GCM_TAG_BYTES);
    bb.copy(out, 0, 0, RTP_HEADER_BYTES);
    bb.copy(out, RTP_HEADER_BYTES, 16, 16 + length);
    // T = S ⊕ CIPH_K(J0) (§7.1 step 6), all 16 bytes (RFC 7714 §8: 16-octet tag).
    const end = RTP_HEADER_BYTES + length;
    out.writeInt32BE(this.z0 ^ keystream.readInt32BE(at), end);
    out.writeInt32BE(this.z1 ^ keystream.readInt32BE(at + 4), end + 4);
    out.writeInt32BE(this.z2 ^ keystream.readInt32BE(at + 8), end + 8);
    out.writeInt32BE(this.z3 ^ keystream.readInt32BE(at + 12), end + 12);
    return out;
  }

  /**
   * CIPH_K of the counter blocks J0, inc32(J0), … (`blocks` of them, §7.1 step 2; IV per RFC 7714
   * §8.1) for `packets` consecutive sequence numbers from `seq`, in one ECB call.
   */
  private keystream(ssrc: number, roc: number, seq: number, blocks: number, packets: number): Buffer {
    const bytes = blocks * packets * 16;
    if (bytes > this.counters.bytes.length) this.counters = new Scratch(bytes);
    const cv = this.counters.view;
    const iv0 = this.salt0 ^ (ssrc >>> 16);
    const iv1 = this.salt1 ^ ((ssrc << 16) | (roc >>> 16));
    let o = 0;
    for (let p = 0; p < packets; p++) {
      const iv2 = this.salt2 ^ ((roc << 16) | ((seq + p) & 0xffff));
      for (let i = 1; i <= blocks; i++, o += 16) {
        cv.setInt32(o, iv0);
        cv.setInt32(o + 4, iv1);
        cv.setInt32(o + 8, iv2);
        cv.setInt32(o + 12, i);
      }
    }
    return this.ecb.update(this.counters.bytes.subarray(0, bytes));
  }

  /** Fill `ahead` from `seq` on; returns the offset of `seq`'s keystream (0). */
  private prepare(ahead: KeystreamAhead, ssrc: number, roc: number, seq: number, blocks: number): number {
    // Never across a sequence-number wrap: the packets after it take ROC + 1.
    const packets = Math.min(KeystreamAhead.PACKETS, 0x10000 - seq);
    const per = Math.max(blocks, KeystreamAhead.BLOCKS);
    ahead.fill(this.keystream(ssrc, roc, seq, per, packets), seq, roc, packets, per);
    return 0;
  }
}

/**
 * Keystream prepared ahead for one outgoing stream: the forwarder keeps the publisher's sequence
 * numbers, so the next packets' counter blocks are known before they arrive, and one ECB call can
 * cover several packets (setting up the call costs more than the AES work). A packet out of the
 * prepared range, or longer than the prepared blocks, gets its keystream on the spot.
 */
export class KeystreamAhead {
  /** Packets prepared per ECB call, and blocks per packet (J0 + 7: payloads up to 112 bytes). */
  static readonly PACKETS = 8;
  static readonly BLOCKS = 8;
  data: Buffer = Buffer.alloc(0);
  private seq = 0;
  private roc = 0;
  private packets = 0;
  private blocks = 0;

  /** Offset of `seq`'s keystream if it is prepared for at least `blocks` blocks, else −1. */
  offsetOf(seq: number, roc: number, blocks: number): number {
    const index = (seq - this.seq) & 0xffff;
    if (index >= this.packets || roc !== this.roc || blocks > this.blocks) return -1;
    return index * this.blocks * 16;
  }

  fill(data: Buffer, seq: number, roc: number, packets: number, blocks: number): void {
    this.data = data;
    this.seq = seq;
    this.roc = roc;
    this.packets = packets;
    this.blocks = blocks;
  }
}

/** A reusable buffer with a DataView for big-endian word access. */
class Scratch {
  readonly bytes: Buffer;
  readonly view: DataView;
  constructor(size: number) {
    const ab = new ArrayBuffer(size);
    this.bytes = Buffer.from(ab);
    this.view = new DataView(ab);
  }
}

function wipe(b: Buffer): void {
  b.fill(0);
}

/** RFC 3711 §3.4: the SRTCP index is 31 bits. */
const SRTCP_INDEX_MASK = 0x7fffffff;
/** RFC 3550 §6.4: the first 8 bytes of an RTCP packet (header and sender SSRC) stay in the clear. */
const RTCP_CLEAR_BYTES = 8;

/**
 * RFC 7714 §9 SRTCP protection (AEAD_AES_128_GCM) of one compound RTCP packet with SRTCP index
 * `index`: the first 8 bytes in the clear, the rest encrypted, then the tag and the E flag with the
 * index. IV (§9.1): 0x0000 ‖ SSRC ‖ 0x0000 ‖ 0 ‖ index, XOR the session salt; AAD (§9.2, encrypted
 * packet): the first 8 bytes ‖ E ‖ index. `index` must never repeat under one key (the caller
 * shares werift's counter for the SSRC, src/server/srtp-output.ts).
 */
export function protectSrtcp(key: Uint8Array, salt: Uint8Array, compound: Buffer, index: number): Buffer {
  if (compound.length < RTCP_CLEAR_BYTES) throw new RangeError("an RTCP packet has at least 8 bytes");
  const iv = Buffer.alloc(12);
  compound.copy(iv, 2, 4, 8);
  iv.writeUInt32BE(index & SRTCP_INDEX_MASK, 8);
  for (let i = 0; i < 12; i++) iv[i]! ^= salt[i]!;
  const tail = Buffer.alloc(4);
  tail.writeUInt32BE(((index & SRTCP_INDEX_MASK) | 0x80000000) >>> 0, 0);
  const cipher = createCipheriv("aes-128-gcm", key, iv);
  cipher.setAAD(Buffer.concat([compound.subarray(0, RTCP_CLEAR_BYTES), tail]));
  const body = cipher.update(compound.subarray(RTCP_CLEAR_BYTES));
  cipher.final();
  return Buffer.concat([compound.subarray(0, RTCP_CLEAR_BYTES), body, cipher.getAuthTag(), tail]);
}
