/**
 * Invite secrets and the room keys derived from them (security model P3).
 *
 * An invite is `https://HOST[:PORT]/r/ROOM#SECRET`: ROOM is a random public room id, SECRET 32 random
 * bytes (base64url) that never leave the client. From SECRET two independent keys are derived with
 * HKDF-SHA256 (RFC 5869 §2), same salt, distinct info labels that also bind the room id:
 *
 *   proofKey  = HKDF-SHA256(IKM = SECRET, salt = "conclave/v1", info = "conclave/v1/membership-proof|" ‖ ROOM, L = 32)
 *   rosterKey = HKDF-SHA256(IKM = SECRET, salt = "conclave/v1", info = "conclave/v1/roster-seal|"      ‖ ROOM, L = 32)
 *
 * proofKey keys the HMAC that proves knowledge of SECRET; rosterKey is the XSalsa20-Poly1305 key that
 * seals membership messages (see envelope.ts).
 */
import { hkdfSync, randomBytes } from "node:crypto";
import { CryptoError } from "./errors.js";
import { expectBytes, fromBase64Url, toBase64Url, utf8 } from "./bytes.js";

export const ROOM_SECRET_BYTES = 32;
export const ROOM_ID_BYTES = 16;
const ROOM_KEY_BYTES = 32;
/** Room ids travel as str8 fields in envelopes, so they must fit in 255 UTF-8 bytes. */
const ROOM_ID_MAX_BYTES = 255;

const HKDF_SALT = utf8("conclave/v1");
const PROOF_INFO = "conclave/v1/membership-proof|";
const ROSTER_INFO = "conclave/v1/roster-seal|";

export interface RoomKeys {
  /** HMAC-SHA256 key for membership proofs. */
  proofKey: Uint8Array;
  /** XSalsa20-Poly1305 key that seals membership messages. */
  rosterKey: Uint8Array;
}

/** 32 fresh random bytes. */
export function newRoomSecret(): Uint8Array {
  return new Uint8Array(randomBytes(ROOM_SECRET_BYTES));
}

/** 16 random bytes, base64url (22 characters). */
export function newRoomId(): string {
  return toBase64Url(randomBytes(ROOM_ID_BYTES));
}

/** The SECRET part of an invite link. */
export function encodeRoomSecret(secret: Uint8Array): string {
  expectBytes(secret, "room secret", ROOM_SECRET_BYTES);
  return toBase64Url(secret);
}

/** Parses the SECRET part of an invite link; CryptoError('invite-secret-invalid') if it is not 32 bytes of base64url. */
export function decodeRoomSecret(text: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = fromBase64Url(text);
  } catch {
    throw new CryptoError("invite-secret-invalid", "invite secret is not valid base64url");
  }
  if (bytes.length !== ROOM_SECRET_BYTES) {
    throw new CryptoError("invite-secret-invalid", `invite secret must be ${ROOM_SECRET_BYTES} bytes`);
  }
  return bytes;
}

function checkRoomId(roomId: string): void {
  if (typeof roomId !== "string") throw new TypeError("roomId must be a string");
  const n = utf8(roomId).length;
  if (n === 0 || n > ROOM_ID_MAX_BYTES) throw new RangeError("roomId must be 1..255 UTF-8 bytes");
}

function hkdf32(secret: Uint8Array, info: string): Uint8Array {
  return new Uint8Array(hkdfSync("sha256", secret, HKDF_SALT, utf8(info), ROOM_KEY_BYTES));
}

/** Derives the room's proof and roster keys from the invite secret (see the file comment). */
export function deriveRoomKeys(secret: Uint8Array, roomId: string): RoomKeys {
  expectBytes(secret, "room secret", ROOM_SECRET_BYTES);
  checkRoomId(roomId);
  return {
    proofKey: hkdf32(secret, PROOF_INFO + roomId),
    rosterKey: hkdf32(secret, ROSTER_INFO + roomId),
  };
}
