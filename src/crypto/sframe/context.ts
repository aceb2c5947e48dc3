/**
 * Stateful SFrame contexts for the media path, RFC 9605 §4.4 (send and receive) and §9.3
 * (anti-replay).
 *
 * Keys are derived once per KID (§4.4.2) and cached; each packet then costs one header write, one
 * nonce update (§4.4.3) and one AEAD call. Counters are kept as two uint32 halves so the packet path
 * does no bigint arithmetic.
 *
 * Safety rules enforced here:
 *  - a sender never reuses a (KID, CTR) pair: the counter for a KID only goes up, it is never
 *    wrapped (CryptoError "sframe-counter-exhausted"), and a sender refuses to switch back to a KID
 *    it has already used;
 *  - a receiver rejects a counter it has already accepted for that KID, or one older than its
 *    replay window; only frames that authenticate move the window;
 *  - derived keys are wiped when a KID is removed or replaced, and on close().
 */

import { CryptoError } from "../errors.js";
import { forgetKey, open, sealInto } from "./aead.js";
import { headerLength32, join64, parseHeader, prepareKid, writeHeader32 } from "./header.js";
import type { HeaderFields, PreparedKid } from "./header.js";
import { deriveKeyAndSaltUnchecked } from "./keys.js";
import type { CipherSuite, CipherSuiteId } from "./suites.js";
import { checkBaseKey, checkBytes, checkOptionalBytes, checkSuite, checkU64 } from "./validate.js";

/** Default replay window, in counters per KID. */
export const DEFAULT_REPLAY_WINDOW = 128;
/** Largest replay window accepted. */
export const MAX_REPLAY_WINDOW = 1 << 16;

const U32 = 0x1_0000_0000;

/** Key material for one KID, derived once (§4.4.2), with a reusable nonce buffer (§4.4.3). */
class KeyState {
  readonly kid: bigint;
  readonly prepared: PreparedKid;
  readonly key: Buffer;
  readonly salt: Buffer;
  /** Scratch nonce: bytes 0..3 are the salt's, bytes 4..11 are rewritten per packet. */
  readonly nonce: Buffer;
  readonly saltHi: number;
  readonly saltLo: number;

  constructor(suite: CipherSuite, kid: bigint, baseKey: Uint8Array) {
    const { key, salt } = deriveKeyAndSaltUnchecked(suite, kid, baseKey);
    this.kid = kid;
    this.prepared = prepareKid(kid);
    this.key = key;
    this.salt = salt;
    this.nonce = Buffer.from(salt);
    // §4.4.3: the 64-bit counter lines up with the last 8 bytes of the Nn = 12 byte salt.
    this.saltHi = salt.readUInt32BE(suite.Nn - 8);
    this.saltLo = salt.readUInt32BE(suite.Nn - 4);
  }

  /** nonce = salt XOR CTR (§4.4.3), CTR = hi·2^32 + lo. */
  nonceFor(hi: number, lo: number): Buffer {
    const n = this.nonce;
    n.writeUInt32BE((this.saltHi ^ hi) >>> 0, n.length - 8);
    n.writeUInt32BE((this.saltLo ^ lo) >>> 0, n.length - 4);
    return n;
  }

  wipe(): void {
    forgetKey(this.key);
    this.key.fill(0);
    this.salt.fill(0);
    this.nonce.fill(0);
  }
}

/**
 * A 64-bit send counter (§4.4.3) that refuses to wrap: after 2^64 - 1 has been handed out,
 * `take()` throws CryptoError "sframe-counter-exhausted".
 */
export class Counter64 {
  hi: number;
  lo: number;
  exhausted = false;

  constructor(start = 0n) {
    this.hi = Number(start >> 32n);
    this.lo = Number(start & 0xffff_ffffn);
  }

  get value(): bigint {
    return join64(this.hi, this.lo);
  }

  /** Reserves the current value and moves past it. Read `hi`/`lo` before calling. */
  take(): void {
    if (this.exhausted) {
      throw new CryptoError("sframe-counter-exhausted", "SFrame counter for this KID is exhausted; switch to a new KID");
    }
    if (this.lo !== 0xffff_ffff) {
      this.lo++;
    } else if (this.hi !== 0xffff_ffff) {
      this.lo = 0;
      this.hi++;
    } else {
      this.exhausted = true;
    }
  }
}

export interface SFrameSenderOptions {
  /** RFC 9605 §8.1 cipher suite id; default 0x0004 AES_128_GCM_SHA256_128. */
  suite?: CipherSuiteId;
  kid: bigint;
  baseKey: Uint8Array;
}

function closedError(): CryptoError {
  return new CryptoError("sframe-closed", "SFrame context is closed");
}

/** Encrypts outgoing frames under one KID at a time (RFC 9605 §4.4.3). */
export class SFrameSender {
  readonly #suite: CipherSuite;
  #state: KeyState | null;
  #counter = new Counter64();
  readonly #usedKids = new Set<bigint>();

  constructor(opts: SFrameSenderOptions) {
    if (typeof opts !== "object" || opts === null) throw new TypeError("SFrameSender options must be an object");
    this.#suite = checkSuite(opts.suite);
    checkU64("kid", opts.kid);
    checkBaseKey(opts.baseKey);
    this.#state = new KeyState(this.#suite, opts.kid, opts.baseKey);
    this.#usedKids.add(opts.kid);
  }

  get suite(): CipherSuiteId {
    return this.#suite.id;
  }

  /** The KID frames are currently encrypted under. */
  get kid(): bigint {
    if (this.#state === null) throw closedError();
    return this.#state.kid;
  }

  /** The counter the next frame will carry (the number of frames sent under the current KID). */
  get counter(): bigint {
    return this.#counter.value;
  }

  /**
   * Switches to a new KID and base key; the counter restarts at 0. The previous key is wiped.
   * Switching to a KID this sender has used before is refused (RangeError): with the same base key
   * it would repeat nonces.
   */
  setKey(kid: bigint, baseKey: Uint8Array): void {
    if (this.#state === null) throw closedError();
    checkU64("kid", kid);
    checkBaseKey(baseKey);
    if (this.#usedKids.has(kid)) throw new RangeError("this SFrameSender has already used that KID; pick a new one");
    const next = new KeyState(this.#suite, kid, baseKey);
    this.#state.wipe();
    this.#state = next;
    this.#counter = new Counter64();
    this.#usedKids.add(kid);
  }

  /** Returns header || ciphertext || tag (§4.4.3). `metadata` is authenticated but not sent. */
  encrypt(plaintext: Uint8Array, metadata?: Uint8Array): Buffer {
    const st = this.#state;
    if (st === null) throw closedError();
    checkBytes("plaintext", plaintext);
    checkOptionalBytes("metadata", metadata);
    const counter = this.#counter;
    const hi = counter.hi;
    const lo = counter.lo;
    counter.take(); // commit before use: a failure below can never lead to the counter being reused
    const hlen = headerLength32(st.prepared, hi, lo);
    const out = Buffer.allocUnsafe(hlen + plaintext.length + this.#suite.Nt);
    writeHeader32(out, st.prepared, hi, lo);
    sealInto(this.#suite, st.key, st.nonceFor(hi, lo), out.subarray(0, hlen), metadata, plaintext, out, hlen);
    return out;
  }

  /** Wipes the key; later calls throw CryptoError "sframe-closed". Idempotent. */
  close(): void {
    this.#state?.wipe();
    this.#state = null;
  }
}

/**
 * Sliding replay window for one KID (RFC 9605 §9.3 anti-replay, in the style of RFC 4303 §3.4.3):
 * counters above the highest one seen are accepted; within the last `size` counters each is accepted
 * once; older ones are rejected. The bitmap is a ring indexed by CTR mod its power-of-two length.
 */
export class ReplayWindow {
  readonly size: number;
  readonly #bits: Uint32Array;
  readonly #mask: number;
  #empty = true;
  #topHi = 0;
  #topLo = 0;

  constructor(size: number) {
    this.size = size;
    let slots = 32;
    while (slots < size) slots *= 2;
    this.#bits = new Uint32Array(slots / 32);
    this.#mask = slots - 1;
  }

  /** CTR - top as a double: exact when |difference| < 2^53, and of the right sign otherwise. */
  #diff(hi: number, lo: number): number {
    return (hi - this.#topHi) * U32 + (lo - this.#topLo);
  }

  #bit(lo: number): boolean {
    const i = lo & this.#mask;
    return (((this.#bits[i >>> 5] as number) >>> (i & 31)) & 1) === 1;
  }

  /** True if the counter may be accepted; does not change the window. */
  check(hi: number, lo: number): boolean {
    if (this.#empty) return true;
    const d = this.#diff(hi, lo);
    if (d > 0) return true;
    if (-d >= this.size) return false;
    return !this.#bit(lo);
  }

  /** Records an authenticated counter (call only after `check` returned true and the frame verified). */
  commit(hi: number, lo: number): void {
    const bits = this.#bits;
    const mask = this.#mask;
    const d = this.#empty ? Infinity : this.#diff(hi, lo);
    if (d > 0) {
      if (d > mask) {
        bits.fill(0);
      } else {
        // Clear the slots of the counters moved over (top+1 .. ctr); they are new.
        for (let k = 0, i = this.#topLo; k < d; k++) {
          i = (i + 1) & mask;
          bits[i >>> 5] = (bits[i >>> 5] as number) & ~(1 << (i & 31));
        }
      }
      this.#empty = false;
      this.#topHi = hi;
      this.#topLo = lo;
    }
    const i = lo & mask;
    bits[i >>> 5] = (bits[i >>> 5] as number) | (1 << (i & 31));
  }
}

export interface SFrameReceiverOptions {
  /** RFC 9605 §8.1 cipher suite id; default 0x0004 AES_128_GCM_SHA256_128. */
  suite?: CipherSuiteId;
  /** Replay window per KID, in counters (default 128, at most 65536). */
  replayWindow?: number;
}

export interface SFrameDecryptResult {
  kid: bigint;
  ctr: bigint;
  plaintext: Buffer;
}

/** A decrypted frame; its counter becomes a bigint only if someone reads it. */
class DecryptResult implements SFrameDecryptResult {
  constructor(
    readonly kid: bigint,
    private readonly hi: number,
    private readonly lo: number,
    readonly plaintext: Buffer,
  ) {}

  get ctr(): bigint {
    return join64(this.hi, this.lo);
  }
}

interface ReceiverKey {
  state: KeyState;
  window: ReplayWindow;
}

/** Map key for a KID: a number when it fits exactly (as the header parser produces), else the bigint. */
function kidKey(kid: bigint): number | bigint {
  return kid <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(kid) : kid;
}

/** Decrypts incoming frames for any number of KIDs (RFC 9605 §4.4.4). */
export class SFrameReceiver {
  readonly #suite: CipherSuite;
  readonly #windowSize: number;
  readonly #keys = new Map<number | bigint, ReceiverKey>();
  readonly #fields: HeaderFields = { length: 0, kid: 0, ctrHi: 0, ctrLo: 0 };
  #closed = false;

  constructor(opts: SFrameReceiverOptions = {}) {
    if (typeof opts !== "object" || opts === null) throw new TypeError("SFrameReceiver options must be an object");
    this.#suite = checkSuite(opts.suite);
    const w = opts.replayWindow ?? DEFAULT_REPLAY_WINDOW;
    if (typeof w !== "number" || !Number.isInteger(w)) throw new TypeError("replayWindow must be an integer");
    if (w < 1 || w > MAX_REPLAY_WINDOW) throw new RangeError(`replayWindow must be between 1 and ${MAX_REPLAY_WINDOW}`);
    this.#windowSize = w;
  }

  get suite(): CipherSuiteId {
    return this.#suite.id;
  }

  /**
   * Installs the base key for a KID (§4.4.2). Replacing the key of a KID already present wipes the
   * old key but keeps that KID's replay window, so frames seen before stay rejected.
   */
  addKey(kid: bigint, baseKey: Uint8Array): void {
    if (this.#closed) throw closedError();
    checkU64("kid", kid);
    checkBaseKey(baseKey);
    const state = new KeyState(this.#suite, kid, baseKey);
    const k = kidKey(kid);
    const old = this.#keys.get(k);
    if (old !== undefined) {
      old.state.wipe();
      old.state = state;
    } else {
      this.#keys.set(k, { state, window: new ReplayWindow(this.#windowSize) });
    }
  }

  /** Forgets a KID and wipes its key. Its replay window goes with it. */
  removeKey(kid: bigint): void {
    checkU64("kid", kid);
    const k = kidKey(kid);
    const old = this.#keys.get(k);
    if (old === undefined) return;
    old.state.wipe();
    this.#keys.delete(k);
  }

  hasKey(kid: bigint): boolean {
    checkU64("kid", kid);
    return this.#keys.has(kidKey(kid));
  }

  /**
   * Parses the header, checks the replay window, decrypts and authenticates (§4.4.4).
   * Throws CryptoError: "sframe-malformed", "sframe-unknown-kid", "sframe-replay",
   * "sframe-auth-failed". Only a frame that authenticates moves the replay window.
   */
  decrypt(data: Uint8Array, metadata?: Uint8Array): SFrameDecryptResult {
    if (this.#closed) throw closedError();
    checkBytes("data", data);
    checkOptionalBytes("metadata", metadata);
    const f = this.#fields;
    parseHeader(data, f);
    const hlen = f.length;
    const tagStart = data.length - this.#suite.Nt;
    if (tagStart < hlen) throw new CryptoError("sframe-malformed", "SFrame frame is shorter than header plus tag");
    const entry = this.#keys.get(f.kid);
    if (entry === undefined) throw new CryptoError("sframe-unknown-kid", `no SFrame key for KID ${String(f.kid)}`);
    const hi = f.ctrHi;
    const lo = f.ctrLo;
    const window = entry.window;
    if (!window.check(hi, lo)) throw new CryptoError("sframe-replay", "SFrame counter already seen or older than the replay window");
    const st = entry.state;
    const pt = open(this.#suite, st.key, st.nonceFor(hi, lo), data.subarray(0, hlen), metadata,
      data.subarray(hlen, tagStart), data.subarray(tagStart));
    if (pt === null) throw new CryptoError("sframe-auth-failed", "SFrame frame failed authentication");
    window.commit(hi, lo);
    return new DecryptResult(st.kid, hi, lo, pt);
  }

  /** Wipes every key; later calls throw CryptoError "sframe-closed". Idempotent. */
  close(): void {
    for (const e of this.#keys.values()) e.state.wipe();
    this.#keys.clear();
    this.#closed = true;
  }
}
