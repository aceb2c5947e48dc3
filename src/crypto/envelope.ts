/**
 * Membership envelopes (security model P2, P3, P4, P8) and pairwise boxes.
 *
 * Every membership message (hello, key update, roster/metadata change, ack, bye, …) travels through
 * the relay as one opaque blob. The relay sees its length and nothing else.
 *
 *   sealed (on the wire)
 *   +-----------+------------------------------------------------------------+
 *   | nonce 24  | crypto_secretbox_easy(inner, nonce, rosterKey)  |inner|+16   |
 *   +-----------+------------------------------------------------------------+
 *                 XSalsa20-Poly1305 (libsodium crypto_secretbox; XSalsa20 per
 *                 "Extending the Salsa20 nonce", Poly1305 per RFC 8439 §2.5)
 *
 *   inner
 *   +--------------------------+-----------+-------------+
 *   | signed (variable)        | sig 64    | proof 32    |
 *   +--------------------------+-----------+-------------+
 *
 *   signed
 *   +--------+------+---------+---------+---------+----------+----------+------------+---------+
 *   | "CNV1" | type | roomId  | from    | to      | seq      | timeMs   | identity   | body    |
 *   |  4     | u8   | str8    | str8    | str8    | u64be    | u64be    | 32         | bytes32 |
 *   +--------+------+---------+---------+---------+----------+----------+------------+---------+
 *     str8 = u8 length ‖ UTF-8;  bytes32 = u32be length ‖ bytes;  to = "" for a broadcast
 *
 *   sig   = Ed25519-sign(identity secret, "conclave/v1/envelope" ‖ signed)    RFC 8032 §5.1.6
 *   proof = HMAC-SHA256(proofKey, signed ‖ sig)                              RFC 2104
 *
 * The secretbox keeps roster data from the relay and rejects senders without the invite secret
 * cheaply; the proof binds the signed message to knowledge of the invite secret (a member cannot
 * replay it into another room: the keys are derived per room, see invite.ts); the signature binds it
 * to the sender's long-term identity. Freshness (seq/time) is checked by the session layer.
 *
 * Pairwise boxes (boxTo/openBox) carry secrets such as sender keys to one member inside an envelope
 * body: X25519 + XSalsa20-Poly1305 (libsodium crypto_box), between per-session ephemeral key pairs
 * whose public halves travel in signed hellos.
 */
import { createHmac, randomBytes } from "node:crypto";
import { CryptoError } from "./errors.js";
import { concatBytes, equalBytes, expectBytes, expectU64, Reader, utf8, wipe, Writer } from "./bytes.js";
import { IDENTITY_PUBLIC_KEY_BYTES, IDENTITY_SECRET_KEY_BYTES, type IdentityKeyPair } from "./identity.js";
import type { RoomKeys } from "./invite.js";
import { sodium } from "./sodium.js";

/** Message types carried in the `type` byte. */
export const EnvelopeType = {
  hello: 1,
  key: 2,
  ack: 3,
  state: 4,
  chat: 5,
  bye: 6,
  rekeyRequest: 7,
} as const;
export type EnvelopeType = (typeof EnvelopeType)[keyof typeof EnvelopeType];

const MAGIC = utf8("CNV1");
const SIGN_CONTEXT = utf8("conclave/v1/envelope");
const NONCE_BYTES = 24; // crypto_secretbox_NONCEBYTES / crypto_box_NONCEBYTES
const MAC_BYTES = 16; // crypto_secretbox_MACBYTES / crypto_box_MACBYTES (Poly1305)
const SIG_BYTES = 64; // RFC 8032 §5.1.6
const PROOF_BYTES = 32; // HMAC-SHA256 output
const KEY_BYTES = 32;
const KX_KEY_BYTES = 32; // X25519, RFC 7748 §5

export interface SealEnvelopeParams {
  keys: RoomKeys;
  identity: IdentityKeyPair;
  type: number;
  roomId: string;
  from: string;
  /** Recipient peer id for a direct message; omit or "" for a broadcast. */
  to?: string;
  seq: bigint;
  timeMs: number;
  body: Uint8Array;
}

export interface OpenEnvelopeParams {
  keys: RoomKeys;
  /** The room we are in. */
  roomId: string;
  /** The sender's peer id as stamped by the relay. */
  from: string;
  /** Our own peer id. Direct messages are accepted only when this is given and matches. */
  to?: string;
  data: Uint8Array;
}

export interface OpenedEnvelope {
  type: number;
  from: string;
  /** "" for a broadcast. */
  to: string;
  seq: bigint;
  timeMs: number;
  /** The sender's Ed25519 identity public key; the signature has been verified against it. */
  identityKey: Uint8Array;
  body: Uint8Array;
}

/**
 * A random 24-byte nonce from the operating system's CSPRNG (node:crypto). libsodium.js's own
 * randombytes_buf fetches 4 bytes per call into JavaScript and costs ~8× as much; the nonce is the
 * same kind of value (random, 192 bits: XSalsa20 nonces may be random, libsodium crypto_secretbox docs).
 */
function randomNonce(): Uint8Array {
  return new Uint8Array(randomBytes(NONCE_BYTES));
}

function checkKeys(keys: RoomKeys): void {
  expectBytes(keys?.proofKey, "proofKey", KEY_BYTES);
  expectBytes(keys?.rosterKey, "rosterKey", KEY_BYTES);
}

function proofOf(proofKey: Uint8Array, signed: Uint8Array, sig: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac("sha256", proofKey).update(signed).update(sig).digest());
}

/** Builds, signs, proves and seals one membership message. Requires `await sodiumReady()`. */
export function sealEnvelope(p: SealEnvelopeParams): Uint8Array {
  checkKeys(p.keys);
  expectBytes(p.identity?.publicKey, "identity.publicKey", IDENTITY_PUBLIC_KEY_BYTES);
  expectBytes(p.identity?.secretKey, "identity.secretKey", IDENTITY_SECRET_KEY_BYTES);
  if (!equalBytes(p.identity.secretKey.subarray(32), p.identity.publicKey)) {
    throw new RangeError("identity.publicKey does not belong to identity.secretKey");
  }
  if (!Number.isInteger(p.type) || p.type < 0 || p.type > 0xff) throw new RangeError("type must be a u8");
  if (!Number.isSafeInteger(p.timeMs) || p.timeMs < 0) throw new RangeError("timeMs must be a non-negative safe integer");
  expectU64(p.seq, "seq");
  expectBytes(p.body, "body");

  const s = sodium();
  const signed = new Writer()
    .raw(MAGIC)
    .u8(p.type)
    .str8(p.roomId)
    .str8(p.from)
    .str8(p.to ?? "")
    .u64(p.seq)
    .u64(BigInt(p.timeMs))
    .raw(p.identity.publicKey)
    .bytes32(p.body)
    .finish();
  const sig = s.crypto_sign_detached(concatBytes(SIGN_CONTEXT, signed), p.identity.secretKey);
  const proof = proofOf(p.keys.proofKey, signed, sig);
  const inner = concatBytes(signed, sig, proof);
  const nonce = randomNonce();
  const boxed = s.crypto_secretbox_easy(inner, nonce, p.keys.rosterKey);
  wipe(signed, inner);
  return concatBytes(nonce, boxed);
}

/**
 * Opens and verifies one membership message. Checks, in order, each failing with a CryptoError:
 *  1. secretbox opens under rosterKey            else 'envelope-unsealed' (sender lacks the invite secret)
 *  2. layout parses exactly                      else 'malformed'
 *  3. proof matches (constant time)              else 'envelope-bad-proof'
 *  4. Ed25519 signature by the embedded identity else 'envelope-bad-signature'
 *  5. roomId and from equal the expected ones,
 *     to is "" or equals p.to (when p.to given)  else 'envelope-misbound'
 * Replay/freshness (seq, timeMs) is the caller's job.
 */
export function openEnvelope(p: OpenEnvelopeParams): OpenedEnvelope {
  checkKeys(p.keys);
  expectBytes(p.data, "data");
  if (typeof p.roomId !== "string" || typeof p.from !== "string") throw new TypeError("roomId and from must be strings");
  const s = sodium();

  if (p.data.length < NONCE_BYTES + MAC_BYTES) {
    throw new CryptoError("envelope-unsealed", "membership message could not be opened with the room key");
  }
  let inner: Uint8Array;
  try {
    inner = s.crypto_secretbox_open_easy(p.data.subarray(NONCE_BYTES), p.data.subarray(0, NONCE_BYTES), p.keys.rosterKey);
  } catch {
    throw new CryptoError("envelope-unsealed", "membership message could not be opened with the room key");
  }

  try {
    if (inner.length < SIG_BYTES + PROOF_BYTES) throw new CryptoError("malformed", "membership message is truncated");
    const signedLen = inner.length - SIG_BYTES - PROOF_BYTES;
    const signed = inner.subarray(0, signedLen);
    const sig = inner.subarray(signedLen, signedLen + SIG_BYTES);
    const proof = inner.subarray(signedLen + SIG_BYTES);

    const r = new Reader(signed);
    if (!equalBytes(r.raw(MAGIC.length), MAGIC)) throw new CryptoError("malformed", "not a conclave v1 membership message");
    const type = r.u8();
    const roomId = r.str8();
    const from = r.str8();
    const to = r.str8();
    const seq = r.u64();
    const time = r.u64();
    const identityKey = r.raw(IDENTITY_PUBLIC_KEY_BYTES);
    const body = r.bytes32();
    r.end();
    if (time > BigInt(Number.MAX_SAFE_INTEGER)) throw new CryptoError("malformed", "timestamp out of range");

    if (!equalBytes(proofOf(p.keys.proofKey, signed, sig), proof)) {
      throw new CryptoError("envelope-bad-proof", "membership message carries no valid proof of the invite secret");
    }
    let sigOk = false;
    try {
      sigOk = s.crypto_sign_verify_detached(sig, concatBytes(SIGN_CONTEXT, signed), identityKey);
    } catch {
      sigOk = false;
    }
    if (!sigOk) throw new CryptoError("envelope-bad-signature", "membership message signature does not verify");

    if (roomId !== p.roomId) throw new CryptoError("envelope-misbound", "membership message is for another room");
    if (from !== p.from) throw new CryptoError("envelope-misbound", "membership message sender does not match the relay's sender");
    if (to !== "" && to !== p.to) throw new CryptoError("envelope-misbound", "membership message is addressed to another peer");

    return { type, from, to, seq, timeMs: Number(time), identityKey, body };
  } finally {
    wipe(inner);
  }
}

export interface KxKeyPair {
  /** X25519 public key, 32 bytes. */
  publicKey: Uint8Array;
  /** X25519 secret key, 32 bytes. */
  secretKey: Uint8Array;
}

/** A fresh X25519 key pair (crypto_box_keypair), one per session; wipe the secret key on leave. */
export function generateKxKeyPair(): KxKeyPair {
  const kp = sodium().crypto_box_keypair();
  return { publicKey: kp.publicKey, secretKey: kp.privateKey };
}

/** nonce(24) ‖ crypto_box_easy(plaintext, nonce, recipientPublicKey, senderSecretKey). */
export function boxTo(p: { recipientPublicKey: Uint8Array; senderSecretKey: Uint8Array; plaintext: Uint8Array }): Uint8Array {
  expectBytes(p.recipientPublicKey, "recipientPublicKey", KX_KEY_BYTES);
  expectBytes(p.senderSecretKey, "senderSecretKey", KX_KEY_BYTES);
  expectBytes(p.plaintext, "plaintext");
  const s = sodium();
  const nonce = randomNonce();
  let boxed: Uint8Array;
  try {
    boxed = s.crypto_box_easy(p.plaintext, nonce, p.recipientPublicKey, p.senderSecretKey);
  } catch {
    // libsodium refuses low-order public keys (all-zero shared secret).
    throw new CryptoError("box-failed", "cannot encrypt to this public key");
  }
  return concatBytes(nonce, boxed);
}

/** Opens a boxTo() result; CryptoError('box-failed') if it does not authenticate. */
export function openBox(p: { senderPublicKey: Uint8Array; recipientSecretKey: Uint8Array; data: Uint8Array }): Uint8Array {
  expectBytes(p.senderPublicKey, "senderPublicKey", KX_KEY_BYTES);
  expectBytes(p.recipientSecretKey, "recipientSecretKey", KX_KEY_BYTES);
  expectBytes(p.data, "data");
  if (p.data.length < NONCE_BYTES + MAC_BYTES) throw new CryptoError("box-failed", "pairwise box could not be opened");
  try {
    return sodium().crypto_box_open_easy(
      p.data.subarray(NONCE_BYTES),
      p.data.subarray(0, NONCE_BYTES),
      p.senderPublicKey,
      p.recipientSecretKey,
    );
  } catch {
    throw new CryptoError("box-failed", "pairwise box could not be opened");
  }
}

/**
 * The pairwise key of two X25519 key pairs (crypto_box_beforenm: HSalsa20 of the X25519 shared
 * secret), so that boxing to the same member again skips the scalar multiplication. boxWith and
 * openBoxWith under it produce and accept exactly what boxTo and openBox do. Wipe it when done.
 */
export function boxSharedKey(p: { publicKey: Uint8Array; secretKey: Uint8Array }): Uint8Array {
  expectBytes(p.publicKey, "publicKey", KX_KEY_BYTES);
  expectBytes(p.secretKey, "secretKey", KX_KEY_BYTES);
  try {
    return sodium().crypto_box_beforenm(p.publicKey, p.secretKey);
  } catch {
    // libsodium refuses low-order public keys (all-zero shared secret).
    throw new CryptoError("box-failed", "cannot agree a key with this public key");
  }
}

/** nonce(24) ‖ crypto_box_easy_afternm(plaintext, nonce, sharedKey): the same bytes boxTo makes. */
export function boxWith(p: { sharedKey: Uint8Array; plaintext: Uint8Array }): Uint8Array {
  expectBytes(p.sharedKey, "sharedKey", KEY_BYTES);
  expectBytes(p.plaintext, "plaintext");
  const nonce = randomNonce();
  return concatBytes(nonce, sodium().crypto_box_easy_afternm(p.plaintext, nonce, p.sharedKey));
}

/** Opens a boxTo()/boxWith() result under the pairwise key; CryptoError('box-failed') if it does not authenticate. */
export function openBoxWith(p: { sharedKey: Uint8Array; data: Uint8Array }): Uint8Array {
  expectBytes(p.sharedKey, "sharedKey", KEY_BYTES);
  expectBytes(p.data, "data");
  if (p.data.length < NONCE_BYTES + MAC_BYTES) throw new CryptoError("box-failed", "pairwise box could not be opened");
  try {
    return sodium().crypto_box_open_easy_afternm(p.data.subarray(NONCE_BYTES), p.data.subarray(0, NONCE_BYTES), p.sharedKey);
  } catch {
    throw new CryptoError("box-failed", "pairwise box could not be opened");
  }
}
