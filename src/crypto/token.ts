/**
 * Signed join tokens (`conclave serve --auth FILE`): an organisation's operator signs, offline, a
 * short-lived permission to join one room; the relay checks it against the operator public keys it
 * was given before it admits the socket or creates any media state. Tokens say nothing about
 * membership of the call itself: that is still the invite secret's job (docs/security.md); a token
 * only decides who may use the relay.
 *
 * Token text (ASCII, URL-safe, fits in a query string):
 *
 *   "cjt1." ‖ base64url(signed ‖ sig)                        RFC 4648 §5, unpadded, canonical
 *
 *   signed
 *   +--------+-----------+------------------+----------+-------------+
 *   | ver u8 | keyId 8   | expiresAt u64be  | id 16    | room str8   |
 *   |  = 1   |           | ms since epoch   | random   | base64url   |
 *   +--------+-----------+------------------+----------+-------------+
 *     keyId = the first 8 bytes of the operator's Ed25519 public key (selects the key; not secret)
 *     str8  = u8 length ‖ UTF-8 (room ids are 1..64 base64url characters, as in signalling)
 *
 *   sig = Ed25519-sign(operator secret key, "conclave/v1/join-token" ‖ signed)   RFC 8032 §5.1.6
 *
 * The signature covers every field, so a token is bound to its room and expiry. The context string
 * keeps token signatures apart from envelope signatures (a key must still not double as an identity).
 * A token is valid while `now < expiresAt`. There is no revocation list: keep TTLs short.
 *
 * Operator key file (secret, mode 0600, written by src/client/operator-key.ts):
 *   { "v": 1, "kind": "conclave-operator-key", "publicKey": b64url(32), "secretKey": b64url(64) }
 *
 * Operator public keys file (`--auth FILE`, not secret): text, one key per line,
 *   ed25519 <base64url public key, 43 characters> [comment …]
 * blank lines and lines starting with '#' are ignored; at least one key is required.
 *
 * Pure: no I/O. Signing and verifying need `await sodiumReady()` first.
 */
import { CryptoError } from "./errors.js";
import { concatBytes, equalBytes, expectBytes, fromBase64Url, Reader, toBase64Url, utf8, Writer } from "./bytes.js";
import { sodium } from "./sodium.js";

export const JOIN_TOKEN_PREFIX = "cjt1.";
export const JOIN_TOKEN_VERSION = 1;
export const OPERATOR_PUBLIC_KEY_BYTES = 32; // RFC 8032 §5.1.5
export const OPERATOR_SECRET_KEY_BYTES = 64; // libsodium crypto_sign_SECRETKEYBYTES: seed ‖ public key
export const JOIN_TOKEN_ID_BYTES = 16;
/** Longest token text accepted before decoding (a 64-character room gives 222 characters). */
export const MAX_JOIN_TOKEN_CHARS = 512;

const KEY_ID_BYTES = 8;
const SIG_BYTES = 64; // RFC 8032 §5.1.6
const SEED_BYTES = 32; // RFC 8032 §5.1.5
const SIGN_CONTEXT = utf8("conclave/v1/join-token");
/** Same rule as signalling room ids (src/protocol/messages.ts), repeated here: crypto imports no other src folder. */
const ROOM_RE = /^[A-Za-z0-9_-]{1,64}$/;
const KEY_FILE_VERSION = 1;
const KEY_FILE_KIND = "conclave-operator-key";
const KEY_LINE_TYPE = "ed25519";

export type JoinTokenErrorCode =
  | "token-missing"
  | "token-malformed"
  | "token-bad-signature"
  | "token-expired"
  | "token-wrong-room";

export interface OperatorKeyPair {
  /** Ed25519 public key, 32 bytes: goes into the relay's `--auth` file. */
  publicKey: Uint8Array;
  /** libsodium Ed25519 secret key, 64 bytes (seed ‖ public key): stays with the operator. */
  secretKey: Uint8Array;
}

export interface SignJoinTokenParams {
  operatorSecretKey: Uint8Array;
  room: string;
  /** Milliseconds since the epoch; the token is valid while `now < expiresAt`. */
  expiresAt: number;
  /** 16 bytes naming this token in logs; random when absent. */
  id?: Uint8Array;
}

export interface VerifyJoinTokenParams {
  /** Operator public keys the relay trusts (32 bytes each). */
  operatorPublicKeys: readonly Uint8Array[];
  /** The room the `join` asks for. */
  room: string;
  /** Milliseconds since the epoch; default `Date.now()`. */
  now?: number;
}

/** What a token claims. `keyId` is hex, `id` base64url; neither is secret. */
export interface JoinTokenClaims {
  version: number;
  keyId: string;
  expiresAt: number;
  id: string;
  room: string;
}

export type JoinTokenVerdict =
  | { ok: true; claims: JoinTokenClaims }
  /** `message` is fit to send to the client and to log: it never contains the token or its signature. */
  | { ok: false; code: JoinTokenErrorCode; message: string };

interface DecodedToken {
  claims: JoinTokenClaims;
  keyId: Uint8Array;
  signed: Uint8Array;
  sig: Uint8Array;
}

function malformed(detail: string): CryptoError {
  return new CryptoError("token-malformed", `the join token is malformed: ${detail}`);
}

function checkRoom(room: unknown): string {
  if (typeof room !== "string") throw new TypeError("room must be a string");
  if (!ROOM_RE.test(room)) throw new RangeError("room must be 1 to 64 base64url characters");
  return room;
}

/** Hex of the first 8 bytes of an operator public key: how tokens, files and logs name a key. */
export function operatorKeyId(publicKey: Uint8Array): string {
  expectBytes(publicKey, "publicKey", OPERATOR_PUBLIC_KEY_BYTES);
  return Buffer.from(publicKey.subarray(0, KEY_ID_BYTES)).toString("hex");
}

/** A fresh operator key pair. Requires `await sodiumReady()`. */
export function generateOperatorKey(): OperatorKeyPair {
  const kp = sodium().crypto_sign_keypair();
  return { publicKey: kp.publicKey, secretKey: kp.privateKey };
}

/** Signs a join token for one room (see the layout above). Requires `await sodiumReady()`. */
export function signJoinToken(p: SignJoinTokenParams): string {
  if (typeof p !== "object" || p === null) throw new TypeError("expected an options object");
  const secretKey = expectBytes(p.operatorSecretKey, "operatorSecretKey", OPERATOR_SECRET_KEY_BYTES);
  const room = checkRoom(p.room);
  if (!Number.isSafeInteger(p.expiresAt) || p.expiresAt <= 0) {
    throw new RangeError("expiresAt must be a positive safe integer (milliseconds since the epoch)");
  }
  const s = sodium();
  const id = p.id === undefined ? s.randombytes_buf(JOIN_TOKEN_ID_BYTES) : expectBytes(p.id, "id", JOIN_TOKEN_ID_BYTES);
  const publicKey = secretKey.subarray(SEED_BYTES);
  const signed = new Writer()
    .u8(JOIN_TOKEN_VERSION)
    .raw(publicKey.subarray(0, KEY_ID_BYTES))
    .u64(BigInt(p.expiresAt))
    .raw(id)
    .str8(room)
    .finish();
  const sig = s.crypto_sign_detached(concatBytes(SIGN_CONTEXT, signed), secretKey);
  return JOIN_TOKEN_PREFIX + toBase64Url(concatBytes(signed, sig));
}

function decode(token: string): DecodedToken {
  if (token.length > MAX_JOIN_TOKEN_CHARS) throw malformed("too long");
  if (!token.startsWith(JOIN_TOKEN_PREFIX)) throw malformed(`it does not start with "${JOIN_TOKEN_PREFIX}"`);
  let bytes: Uint8Array;
  try {
    bytes = fromBase64Url(token.slice(JOIN_TOKEN_PREFIX.length));
  } catch {
    throw malformed("not base64url");
  }
  if (bytes.length < SIG_BYTES + 1) throw malformed("truncated");
  const signed = bytes.subarray(0, bytes.length - SIG_BYTES);
  const sig = bytes.subarray(bytes.length - SIG_BYTES);
  const r = new Reader(signed);
  try {
    const version = r.u8();
    if (version !== JOIN_TOKEN_VERSION) throw malformed(`unsupported version ${version}`);
    const keyId = r.raw(KEY_ID_BYTES);
    const expires = r.u64();
    const id = r.raw(JOIN_TOKEN_ID_BYTES);
    const room = r.str8();
    r.end();
    if (expires === 0n || expires > BigInt(Number.MAX_SAFE_INTEGER)) throw malformed("expiry out of range");
    if (!ROOM_RE.test(room)) throw malformed("the room is not a room id");
    return {
      claims: { version, keyId: Buffer.from(keyId).toString("hex"), expiresAt: Number(expires), id: toBase64Url(id), room },
      keyId,
      signed,
      sig,
    };
  } catch (err) {
    if (err instanceof CryptoError && err.code === "malformed") throw malformed("truncated or trailing bytes");
    throw err;
  }
}

/**
 * What a token claims, WITHOUT checking its signature (for display: `conclave token new --json`).
 * Throws CryptoError('token-malformed').
 */
export function decodeJoinToken(token: string): JoinTokenClaims {
  if (typeof token !== "string") throw new TypeError("token must be a string");
  return decode(token).claims;
}

/**
 * Checks a join token for `room`, in this order: present ('token-missing'), well formed
 * ('token-malformed'), signed by one of `operatorPublicKeys` ('token-bad-signature', also for a key
 * the relay does not list), not expired ('token-expired'), for this room ('token-wrong-room').
 * Never throws for bad token input (only for bad parameters). Requires `await sodiumReady()`.
 */
export function verifyJoinToken(token: unknown, p: VerifyJoinTokenParams): JoinTokenVerdict {
  if (typeof p !== "object" || p === null) throw new TypeError("expected an options object");
  if (!Array.isArray(p.operatorPublicKeys)) throw new TypeError("operatorPublicKeys must be an array");
  for (const k of p.operatorPublicKeys) expectBytes(k, "operator public key", OPERATOR_PUBLIC_KEY_BYTES);
  if (typeof p.room !== "string") throw new TypeError("room must be a string");
  const now = p.now ?? Date.now();
  if (!Number.isFinite(now)) throw new RangeError("now must be a finite number of milliseconds");

  if (token === undefined || token === null || token === "") {
    return { ok: false, code: "token-missing", message: "this relay requires a join token; ask its operator for one" };
  }
  if (typeof token !== "string") {
    return { ok: false, code: "token-malformed", message: "the join token is malformed: not a string" };
  }
  let decoded: DecodedToken;
  try {
    decoded = decode(token);
  } catch (err) {
    if (err instanceof CryptoError) return { ok: false, code: "token-malformed", message: err.message };
    throw err;
  }
  const s = sodium();
  const message = concatBytes(SIGN_CONTEXT, decoded.signed);
  let verified = false;
  for (const key of p.operatorPublicKeys) {
    if (!equalBytes(key.subarray(0, KEY_ID_BYTES), decoded.keyId)) continue;
    try {
      verified = s.crypto_sign_verify_detached(decoded.sig, message, key);
    } catch {
      verified = false;
    }
    if (verified) break;
  }
  if (!verified) {
    return {
      ok: false,
      code: "token-bad-signature",
      message: `the join token is not signed by an operator key this relay trusts (key ${decoded.claims.keyId})`,
    };
  }
  if (now >= decoded.claims.expiresAt) {
    return {
      ok: false,
      code: "token-expired",
      message: `the join token expired at ${new Date(decoded.claims.expiresAt).toISOString()}; ask for a new one`,
    };
  }
  if (decoded.claims.room !== p.room) {
    return { ok: false, code: "token-wrong-room", message: "the join token is for another room" };
  }
  return { ok: true, claims: decoded.claims };
}

function keyFileCorrupt(detail: string): CryptoError {
  return new CryptoError("operator-key-corrupt", `operator key file is corrupt: ${detail}`);
}

/** Serialises an operator key pair as JSON text (see the file comment). The caller writes it with mode 0600. */
export function encodeOperatorKeyFile(key: OperatorKeyPair): string {
  expectBytes(key?.publicKey, "publicKey", OPERATOR_PUBLIC_KEY_BYTES);
  expectBytes(key.secretKey, "secretKey", OPERATOR_SECRET_KEY_BYTES);
  if (!equalBytes(key.secretKey.subarray(SEED_BYTES), key.publicKey)) {
    throw new RangeError("publicKey does not belong to secretKey");
  }
  return (
    JSON.stringify({
      v: KEY_FILE_VERSION,
      kind: KEY_FILE_KIND,
      publicKey: toBase64Url(key.publicKey),
      secretKey: toBase64Url(key.secretKey),
    }) + "\n"
  );
}

/**
 * Parses an operator key file; the public key is re-derived from the seed and must match.
 * Throws CryptoError('operator-key-corrupt'). Requires `await sodiumReady()`.
 */
export function decodeOperatorKeyFile(text: string): OperatorKeyPair {
  if (typeof text !== "string") throw new TypeError("operator key file text must be a string");
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw keyFileCorrupt("not JSON");
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw keyFileCorrupt("not a JSON object");
  const o = doc as Record<string, unknown>;
  if (o["v"] !== KEY_FILE_VERSION) throw keyFileCorrupt("unsupported version");
  if (o["kind"] !== KEY_FILE_KIND) throw keyFileCorrupt("not a conclave operator key");
  const field = (name: string, length: number): Uint8Array => {
    const v = o[name];
    let bytes: Uint8Array;
    try {
      if (typeof v !== "string") throw new Error("missing");
      bytes = fromBase64Url(v);
    } catch {
      throw keyFileCorrupt(`field "${name}" is missing or not base64url`);
    }
    if (bytes.length !== length) throw keyFileCorrupt(`field "${name}" has the wrong length`);
    return bytes;
  };
  const publicKey = field("publicKey", OPERATOR_PUBLIC_KEY_BYTES);
  const secretKey = field("secretKey", OPERATOR_SECRET_KEY_BYTES);
  const derived = sodium().crypto_sign_seed_keypair(secretKey.subarray(0, SEED_BYTES));
  if (!equalBytes(derived.publicKey, publicKey) || !equalBytes(secretKey.subarray(SEED_BYTES), publicKey)) {
    throw keyFileCorrupt("the public key does not belong to the secret key");
  }
  return { publicKey, secretKey };
}

/** One line of an `--auth` file: `ed25519 <base64url public key> [comment]`. */
export function formatOperatorKeyLine(publicKey: Uint8Array, comment?: string): string {
  expectBytes(publicKey, "publicKey", OPERATOR_PUBLIC_KEY_BYTES);
  const c = comment?.replace(/[\r\n]+/g, " ").trim();
  return `${KEY_LINE_TYPE} ${toBase64Url(publicKey)}${c ? ` ${c}` : ""}`;
}

/**
 * Parses an `--auth` file (see the file comment) into its distinct public keys. Throws
 * CryptoError('operator-keys-invalid') naming the first bad line, or when no key is listed.
 */
export function parseOperatorKeys(text: string): Uint8Array[] {
  if (typeof text !== "string") throw new TypeError("operator keys text must be a string");
  const invalid = (detail: string): CryptoError => new CryptoError("operator-keys-invalid", detail);
  if (/"secretKey"\s*:/.test(text)) {
    throw invalid("this is an operator SECRET key file; --auth takes the public key line that `conclave token keygen` prints");
  }
  const keys: Uint8Array[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "" || line.startsWith("#")) continue;
    const [type, key] = line.split(/\s+/, 2);
    if (type !== KEY_LINE_TYPE) throw invalid(`line ${i + 1}: expected "${KEY_LINE_TYPE} <public key> [comment]"`);
    let bytes: Uint8Array;
    try {
      bytes = fromBase64Url(key ?? "");
    } catch {
      throw invalid(`line ${i + 1}: the public key is not base64url`);
    }
    if (bytes.length !== OPERATOR_PUBLIC_KEY_BYTES) throw invalid(`line ${i + 1}: the public key must be 32 bytes (43 characters)`);
    if (!keys.some((k) => equalBytes(k, bytes))) keys.push(bytes);
  }
  if (keys.length === 0) throw invalid("no operator public key listed; add the line that `conclave token keygen` prints");
  return keys;
}
