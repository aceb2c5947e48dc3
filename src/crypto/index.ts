/**
 * Public API of the E2EE building blocks (SFrame lives in ./sframe and is exported separately).
 * Call `await sodiumReady()` once before using identity, envelope or box functions.
 */
export { CryptoError } from "./errors.js";
export { sodiumReady, sodium, type Sodium } from "./sodium.js";
export {
  toBase64Url,
  fromBase64Url,
  concatBytes,
  equalBytes,
  wipe,
  u64be,
  utf8,
  Writer,
  Reader,
  expectBytes,
  expectU32,
  expectU64,
  U32_MAX,
  U64_MAX,
} from "./bytes.js";
export {
  generateIdentity,
  fingerprint,
  shortFingerprint,
  encodeIdentityFile,
  decodeIdentityFile,
  IDENTITY_PUBLIC_KEY_BYTES,
  IDENTITY_SECRET_KEY_BYTES,
  type IdentityKeyPair,
  type PwhashStrength,
} from "./identity.js";
export {
  newRoomSecret,
  newRoomId,
  encodeRoomSecret,
  decodeRoomSecret,
  deriveRoomKeys,
  ROOM_SECRET_BYTES,
  ROOM_ID_BYTES,
  type RoomKeys,
} from "./invite.js";
export {
  EnvelopeType,
  sealEnvelope,
  openEnvelope,
  generateKxKeyPair,
  boxTo,
  openBox,
  boxSharedKey,
  boxWith,
  openBoxWith,
  type SealEnvelopeParams,
  type OpenEnvelopeParams,
  type OpenedEnvelope,
  type KxKeyPair,
} from "./envelope.js";
export {
  kidFor,
  splitKid,
  newKeyspace,
  newSenderKey,
  ratchetSenderKey,
  senderKeyLength,
  type SenderKeySuite,
} from "./sender-keys.js";
export { safetyNumber, SAFETY_ITERATIONS } from "./safety.js";
export * from "./token.js";
