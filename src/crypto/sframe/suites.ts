/**
 * SFrame cipher suites, RFC 9605 §4.5 (definitions) and §8.1 (IANA "SFrame Cipher Suites" registry).
 *
 *   Nh  – output size of the suite's hash, in bytes (the HKDF hash)
 *   Nka – AES key size inside a CTR+HMAC key (§4.5.1); 0 for AES-GCM suites
 *   Nk  – size of the AEAD key derived per KID (§4.4.2)
 *   Nn  – size of the AEAD nonce (§4.4.3)
 *   Nt  – size of the authentication tag appended to the ciphertext (§4.4.3)
 */

/** RFC 9605 §8.1: 0x0001 AES_128_CTR_HMAC_SHA256_80. */
export const AES_128_CTR_HMAC_SHA256_80 = 1;
/** RFC 9605 §8.1: 0x0002 AES_128_CTR_HMAC_SHA256_64. */
export const AES_128_CTR_HMAC_SHA256_64 = 2;
/** RFC 9605 §8.1: 0x0003 AES_128_CTR_HMAC_SHA256_32. */
export const AES_128_CTR_HMAC_SHA256_32 = 3;
/** RFC 9605 §8.1: 0x0004 AES_128_GCM_SHA256_128 (Conclave's default). */
export const AES_128_GCM_SHA256_128 = 4;
/** RFC 9605 §8.1: 0x0005 AES_256_GCM_SHA512_128. */
export const AES_256_GCM_SHA512_128 = 5;

/** A cipher suite identifier from RFC 9605 §8.1 that this module implements. */
export type CipherSuiteId = 1 | 2 | 3 | 4 | 5;

export interface CipherSuite {
  readonly id: CipherSuiteId;
  readonly name: string;
  /** "gcm": AES-GCM (§4.5); "ctr-hmac": AES-CTR + truncated HMAC (§4.5.1). */
  readonly kind: "gcm" | "ctr-hmac";
  /** node:crypto cipher name for the AEAD (or for the CTR part of a CTR+HMAC suite). */
  readonly cipher: string;
  /** node:crypto digest name for HKDF (and for the HMAC of a CTR+HMAC suite). */
  readonly hash: "sha256" | "sha512";
  readonly Nh: number;
  readonly Nka: number;
  readonly Nk: number;
  readonly Nn: number;
  readonly Nt: number;
}

// RFC 9605 §4.5 and §4.5.1 give these sizes; §8.1 lists the identifiers.
const TABLE: readonly CipherSuite[] = [
  { id: 1, name: "AES_128_CTR_HMAC_SHA256_80", kind: "ctr-hmac", cipher: "aes-128-ctr", hash: "sha256", Nh: 32, Nka: 16, Nk: 48, Nn: 12, Nt: 10 },
  { id: 2, name: "AES_128_CTR_HMAC_SHA256_64", kind: "ctr-hmac", cipher: "aes-128-ctr", hash: "sha256", Nh: 32, Nka: 16, Nk: 48, Nn: 12, Nt: 8 },
  { id: 3, name: "AES_128_CTR_HMAC_SHA256_32", kind: "ctr-hmac", cipher: "aes-128-ctr", hash: "sha256", Nh: 32, Nka: 16, Nk: 48, Nn: 12, Nt: 4 },
  { id: 4, name: "AES_128_GCM_SHA256_128", kind: "gcm", cipher: "aes-128-gcm", hash: "sha256", Nh: 32, Nka: 0, Nk: 16, Nn: 12, Nt: 16 },
  { id: 5, name: "AES_256_GCM_SHA512_128", kind: "gcm", cipher: "aes-256-gcm", hash: "sha512", Nh: 64, Nka: 0, Nk: 32, Nn: 12, Nt: 16 },
];

/** Conclave's default suite: AES_128_GCM_SHA256_128 (RFC 9605 §8.1, 0x0004). */
export const DEFAULT_SUITE: CipherSuiteId = AES_128_GCM_SHA256_128;

/** Looks up a suite; the caller has already checked that `id` is a CipherSuiteId. */
export function suiteInfo(id: CipherSuiteId): CipherSuite {
  return TABLE[id - 1] as CipherSuite;
}

/** True if `id` names a suite this module implements. */
export function isSuiteId(id: unknown): id is CipherSuiteId {
  return typeof id === "number" && Number.isInteger(id) && id >= 1 && id <= TABLE.length;
}
