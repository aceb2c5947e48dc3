/**
 * What a participant could still do with the keys it held: given the receive keys exported from a
 * session (E2eeSession.exportReceiveKeysForTest) it builds every key the holder could compute — the
 * keys themselves and up to `ratchetSteps` one-way ratchet steps forward of each (RFC 9605 §5.1
 * style, src/crypto/sender-keys.ts), which is more than any client derives — and tries each of them
 * on captured SFrame messages with the one-shot RFC 9605 §4.4.4 decryption (no replay window).
 */
import { ratchetSenderKey, splitKid, type SenderKeySuite } from "../../src/crypto/index.js";
import { decrypt as sframeDecrypt, decodeHeader } from "../../src/crypto/sframe/index.js";
import type { ExportedReceiveKey } from "../../src/client/e2ee.js";

export interface KeyRing {
  /** Base keys by keyspace. */
  byKeyspace: Map<number, Uint8Array[]>;
  size: number;
}

export function keyRingFrom(keys: ExportedReceiveKey[], suite: SenderKeySuite, ratchetSteps = 32): KeyRing {
  const byKeyspace = new Map<number, Uint8Array[]>();
  let size = 0;
  for (const k of keys) {
    const list = byKeyspace.get(k.keyspace) ?? [];
    byKeyspace.set(k.keyspace, list);
    let key = k.key;
    list.push(key);
    size++;
    for (let i = 0; i < ratchetSteps; i++) {
      key = ratchetSenderKey(key, suite);
      list.push(key);
      size++;
    }
  }
  return { byKeyspace, size };
}

/**
 * Does any key in the ring open this SFrame message? With `anyKeyspace`, keys of every sender are
 * tried, not only the sender the KID names.
 */
export function ringDecrypts(ring: KeyRing, suite: SenderKeySuite, frame: Uint8Array, anyKeyspace = false): boolean {
  let keyspace: number;
  try {
    keyspace = splitKid(decodeHeader(frame).kid).keyspace;
  } catch {
    return false;
  }
  const candidates = anyKeyspace ? [...ring.byKeyspace.values()].flat() : (ring.byKeyspace.get(keyspace) ?? []);
  for (const baseKey of candidates) {
    try {
      sframeDecrypt({ suite, baseKey, ciphertext: frame });
      return true;
    } catch {
      // not this key
    }
  }
  return false;
}
