/**
 * Per-pair safety numbers (security model P4), after the idea of Signal's numeric fingerprints:
 * an iterated hash per identity key, rendered as decimal digits two people can read to each other.
 *
 * For each of the two Ed25519 public keys (sorted bytewise, so both people see the same number):
 *   h_0     = SHA-512("conclave/v1/safety" ‖ version u16be ‖ key)          (FIPS 180-4 §6.4)
 *   h_i     = SHA-512(h_{i-1} ‖ key)        for i = 1 … ITERATIONS-1
 *   digits  = bytes 0..29 of h, as 6 chunks of 5 bytes; each chunk read as a big-endian u40,
 *             mod 100000, zero-padded to 5 digits
 * Result: the 6 groups of the lower key, then the 6 of the higher key, separated by spaces
 * (12 groups, 60 digits). Each half is ~99.7 bits of the key's hash; the iterations make a targeted
 * search for a colliding key that much more expensive.
 */
import { createHash } from "node:crypto";
import { expectBytes, utf8 } from "./bytes.js";

const LABEL = utf8("conclave/v1/safety");
const VERSION = Uint8Array.of(0, 1);
/**
 * Signal uses 5200 SHA-512 iterations per side; we do the same. Cost measured ~16 ms for both sides
 * on Node 20, 2 vCPUs (test/crypto/identity.test.ts prints it).
 */
export const SAFETY_ITERATIONS = 5200;
const GROUPS_PER_SIDE = 6;
const CHUNK_BYTES = 5;

/**
 * Each half depends on one public key only, so it is computed once per key (5200 SHA-512 rounds,
 * ~8 ms) and kept in a small cache; public keys are not secret. A process holding many members
 * (bots, load tests) would otherwise spend N² of these.
 */
const sideCache = new Map<string, string[]>();
const SIDE_CACHE_LIMIT = 4096;

function side(key: Uint8Array): string[] {
  const id = Buffer.from(key).toString("hex");
  const cached = sideCache.get(id);
  if (cached) return cached;
  const computed = computeSide(key);
  if (sideCache.size >= SIDE_CACHE_LIMIT) sideCache.delete(sideCache.keys().next().value!);
  sideCache.set(id, computed);
  return computed;
}

function computeSide(key: Uint8Array): string[] {
  let h: Buffer = createHash("sha512").update(LABEL).update(VERSION).update(key).digest();
  for (let i = 1; i < SAFETY_ITERATIONS; i++) {
    h = createHash("sha512").update(h).update(key).digest();
  }
  const groups: string[] = [];
  for (let g = 0; g < GROUPS_PER_SIDE; g++) {
    const n = h.readUIntBE(g * CHUNK_BYTES, CHUNK_BYTES); // u40 fits exactly in a double
    groups.push(String(n % 100000).padStart(5, "0"));
  }
  return groups;
}

/** Symmetric safety number of two identity keys: safetyNumber(a, b) === safetyNumber(b, a). */
export function safetyNumber(a: Uint8Array, b: Uint8Array): string {
  expectBytes(a, "identity key a", 32);
  expectBytes(b, "identity key b", 32);
  const [lo, hi] = Buffer.compare(a, b) <= 0 ? [a, b] : [b, a];
  return [...side(lo), ...side(hi)].join(" ");
}
