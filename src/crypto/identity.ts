/**
 * Long-term identity (security model P4, P10): an Ed25519 key pair (RFC 8032 §5.1, libsodium
 * `crypto_sign`), its human-readable fingerprint, and the identity file format.
 *
 * Identity file, plain:
 *   { "v": 1, "kind": "conclave-identity", "publicKey": b64url(32), "secretKey": b64url(64) }
 * Identity file, passphrase-protected:
 *   { "v": 1, "kind": "conclave-identity", "publicKey": b64url(32),
 *     "encrypted": { "kdf": "argon2id13", "opslimit": n, "memlimit": n,
 *                    "salt": b64url(16), "nonce": b64url(24), "ciphertext": b64url(64 + 16) } }
 * where key = Argon2id13(passphrase NFC-normalised, salt, opslimit, memlimit) (RFC 9106, libsodium
 * `crypto_pwhash`) and ciphertext = XSalsa20-Poly1305(secretKey, nonce, key) (`crypto_secretbox`).
 * The public key is stored in clear so a locked file can still be identified; on load it is checked
 * against the one re-derived from the secret key's seed, so a swapped public key is detected.
 *
 * The secret key is libsodium's 64-byte form, seed(32) ‖ publicKey(32) (RFC 8032 §5.1.5).
 */
import { CryptoError } from "./errors.js";
import { concatBytes, equalBytes, expectBytes, fromBase64Url, toBase64Url, utf8, wipe } from "./bytes.js";
import { sodium } from "./sodium.js";

export interface IdentityKeyPair {
  /** Ed25519 public key, 32 bytes. */
  publicKey: Uint8Array;
  /** libsodium Ed25519 secret key, 64 bytes (seed ‖ public key). */
  secretKey: Uint8Array;
}

export const IDENTITY_PUBLIC_KEY_BYTES = 32; // RFC 8032 §5.1.5
export const IDENTITY_SECRET_KEY_BYTES = 64; // libsodium crypto_sign_SECRETKEYBYTES
const SEED_BYTES = 32; // RFC 8032 §5.1.5
const SALT_BYTES = 16; // crypto_pwhash_SALTBYTES
const NONCE_BYTES = 24; // crypto_secretbox_NONCEBYTES (XSalsa20)
const MAC_BYTES = 16; // crypto_secretbox_MACBYTES (Poly1305)
const KEY_BYTES = 32; // crypto_secretbox_KEYBYTES

const FILE_VERSION = 1;
const FILE_KIND = "conclave-identity";
const KDF_NAME = "argon2id13";
const FINGERPRINT_LABEL = utf8("conclave/v1/fingerprint");

/**
 * Argon2id cost presets (libsodium `crypto_pwhash_*_INTERACTIVE/MODERATE`):
 * interactive = 2 passes over 64 MiB (~0.2 s here), moderate = 3 passes over 256 MiB (~1.3 s here).
 */
export type PwhashStrength = "interactive" | "moderate";

/** Upper bounds accepted when reading a file, so a crafted file cannot make us burn minutes or GiBs. */
const MAX_OPSLIMIT = 16;
const MAX_MEMLIMIT = 1024 * 1024 * 1024;

/** A fresh random identity. Requires `await sodiumReady()` beforehand. */
export function generateIdentity(): IdentityKeyPair {
  const kp = sodium().crypto_sign_keypair();
  return { publicKey: kp.publicKey, secretKey: kp.privateKey };
}

/**
 * BLAKE2b-256("conclave/v1/fingerprint" ‖ publicKey), first 16 bytes as 8 space-separated groups of
 * 4 lowercase hex digits, e.g. "3f2a 9c01 …".
 */
export function fingerprint(publicKey: Uint8Array): string {
  expectBytes(publicKey, "publicKey", IDENTITY_PUBLIC_KEY_BYTES);
  const digest = sodium().crypto_generichash(32, concatBytes(FINGERPRINT_LABEL, publicKey), null);
  const hex = Buffer.from(digest.subarray(0, 16)).toString("hex");
  return hex.match(/.{4}/g)!.join(" ");
}

/** The first two groups of `fingerprint` ("3f2a 9c01"), for compact display. */
export function shortFingerprint(publicKey: Uint8Array): string {
  return fingerprint(publicKey).split(" ").slice(0, 2).join(" ");
}

function limitsFor(strength: PwhashStrength): { opslimit: number; memlimit: number } {
  const s = sodium();
  switch (strength) {
    case "interactive":
      return { opslimit: s.crypto_pwhash_OPSLIMIT_INTERACTIVE, memlimit: s.crypto_pwhash_MEMLIMIT_INTERACTIVE };
    case "moderate":
      return { opslimit: s.crypto_pwhash_OPSLIMIT_MODERATE, memlimit: s.crypto_pwhash_MEMLIMIT_MODERATE };
    default:
      throw new RangeError("unknown passphrase hashing strength");
  }
}

function passphraseKey(passphrase: string, salt: Uint8Array, opslimit: number, memlimit: number): Uint8Array {
  const s = sodium();
  const pw = utf8(passphrase.normalize("NFC"));
  try {
    return s.crypto_pwhash(KEY_BYTES, pw, salt, opslimit, memlimit, s.crypto_pwhash_ALG_ARGON2ID13);
  } finally {
    wipe(pw);
  }
}

/**
 * Serialises an identity as JSON text (see the file comment). With a passphrase the secret key is
 * encrypted under an Argon2id-derived key; `strength` defaults to "moderate" (use "interactive" for
 * tests or slow machines). The caller writes the file with mode 0600.
 */
export function encodeIdentityFile(
  id: IdentityKeyPair,
  passphrase?: string,
  options: { strength?: PwhashStrength } = {},
): string {
  expectBytes(id.publicKey, "publicKey", IDENTITY_PUBLIC_KEY_BYTES);
  expectBytes(id.secretKey, "secretKey", IDENTITY_SECRET_KEY_BYTES);
  if (passphrase === undefined) {
    return JSON.stringify({
      v: FILE_VERSION,
      kind: FILE_KIND,
      publicKey: toBase64Url(id.publicKey),
      secretKey: toBase64Url(id.secretKey),
    });
  }
  if (typeof passphrase !== "string" || passphrase.length === 0) {
    throw new TypeError("passphrase must be a non-empty string");
  }
  const s = sodium();
  const { opslimit, memlimit } = limitsFor(options.strength ?? "moderate");
  const salt = s.randombytes_buf(SALT_BYTES);
  const nonce = s.randombytes_buf(NONCE_BYTES);
  const key = passphraseKey(passphrase, salt, opslimit, memlimit);
  try {
    const ciphertext = s.crypto_secretbox_easy(id.secretKey, nonce, key);
    return JSON.stringify({
      v: FILE_VERSION,
      kind: FILE_KIND,
      publicKey: toBase64Url(id.publicKey),
      encrypted: {
        kdf: KDF_NAME,
        opslimit,
        memlimit,
        salt: toBase64Url(salt),
        nonce: toBase64Url(nonce),
        ciphertext: toBase64Url(ciphertext),
      },
    });
  } finally {
    wipe(key);
  }
}

function corrupt(detail: string): CryptoError {
  return new CryptoError("identity-corrupt", `identity file is corrupt: ${detail}`);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function b64Field(obj: Record<string, unknown>, name: string, length: number): Uint8Array {
  const v = obj[name];
  if (typeof v !== "string") throw corrupt(`field "${name}" missing`);
  let bytes: Uint8Array;
  try {
    bytes = fromBase64Url(v);
  } catch {
    throw corrupt(`field "${name}" is not base64url`);
  }
  if (bytes.length !== length) throw corrupt(`field "${name}" has the wrong length`);
  return bytes;
}

function intField(obj: Record<string, unknown>, name: string, min: number, max: number): number {
  const v = obj[name];
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max) {
    throw corrupt(`field "${name}" out of range`);
  }
  return v;
}

/**
 * Parses an identity file. Errors (CryptoError codes): 'identity-corrupt' (not JSON, wrong
 * version/kind, missing or malformed fields, or a public key that does not belong to the secret key),
 * 'passphrase-required' (file is encrypted and no passphrase was given), 'bad-passphrase' (wrong
 * passphrase, or the ciphertext was altered — the two cannot be told apart). A passphrase given for a
 * plain file is ignored.
 */
export function decodeIdentityFile(text: string, passphrase?: string): IdentityKeyPair {
  if (typeof text !== "string") throw new TypeError("identity file text must be a string");
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw corrupt("not JSON");
  }
  if (!isRecord(doc)) throw corrupt("not a JSON object");
  if (doc["v"] !== FILE_VERSION) throw corrupt("unsupported version");
  if (doc["kind"] !== FILE_KIND) throw corrupt("not a conclave identity");
  const publicKey = b64Field(doc, "publicKey", IDENTITY_PUBLIC_KEY_BYTES);
  const hasPlain = "secretKey" in doc;
  const hasEncrypted = "encrypted" in doc;
  if (hasPlain === hasEncrypted) throw corrupt('expected exactly one of "secretKey" and "encrypted"');

  let secretKey: Uint8Array;
  if (hasPlain) {
    secretKey = b64Field(doc, "secretKey", IDENTITY_SECRET_KEY_BYTES);
  } else {
    const enc = doc["encrypted"];
    if (!isRecord(enc)) throw corrupt('field "encrypted" is not an object');
    if (enc["kdf"] !== KDF_NAME) throw corrupt("unsupported key derivation");
    const s = sodium();
    const opslimit = intField(enc, "opslimit", s.crypto_pwhash_OPSLIMIT_MIN, MAX_OPSLIMIT);
    const memlimit = intField(enc, "memlimit", s.crypto_pwhash_MEMLIMIT_MIN, MAX_MEMLIMIT);
    const salt = b64Field(enc, "salt", SALT_BYTES);
    const nonce = b64Field(enc, "nonce", NONCE_BYTES);
    const ciphertext = b64Field(enc, "ciphertext", IDENTITY_SECRET_KEY_BYTES + MAC_BYTES);
    if (passphrase === undefined || passphrase === "") {
      throw new CryptoError("passphrase-required", "identity file is passphrase-protected; a passphrase is required");
    }
    if (typeof passphrase !== "string") throw new TypeError("passphrase must be a string");
    let key: Uint8Array;
    try {
      key = passphraseKey(passphrase, salt, opslimit, memlimit);
    } catch {
      throw corrupt("cannot derive a key with the stored parameters");
    }
    try {
      secretKey = s.crypto_secretbox_open_easy(ciphertext, nonce, key);
    } catch {
      throw new CryptoError("bad-passphrase", "wrong passphrase for identity file");
    } finally {
      wipe(key);
    }
  }
  checkKeyPair(publicKey, secretKey);
  return { publicKey, secretKey };
}

/** Throws 'identity-corrupt' unless the seed in `secretKey` derives exactly `publicKey`. */
function checkKeyPair(publicKey: Uint8Array, secretKey: Uint8Array): void {
  const seed = secretKey.slice(0, SEED_BYTES);
  const derived = sodium().crypto_sign_seed_keypair(seed);
  const ok =
    equalBytes(derived.publicKey, publicKey) &&
    equalBytes(secretKey.subarray(SEED_BYTES), publicKey);
  wipe(seed, derived.privateKey);
  if (!ok) {
    wipe(secretKey);
    throw corrupt("public key does not match secret key");
  }
}
