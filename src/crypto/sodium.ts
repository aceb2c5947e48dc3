/**
 * libsodium loader. libsodium-wrappers-sumo 0.8.x ships its own ESM typings
 * (`dist/modules-sumo-esm/libsodium-wrappers.d.mts`, `export default sodium`), so under NodeNext the
 * default import is the fully typed module object; no local declaration is needed.
 *
 * The library is WebAssembly and must finish loading before use: call `await sodiumReady()` once at
 * start-up. After that the synchronous crypto functions of this folder may be called; before it they
 * throw CryptoError('sodium-not-ready').
 */
import { randomFillSync } from "node:crypto";
import sodiumModule from "libsodium-wrappers-sumo";
import { CryptoError } from "./errors.js";

export type Sodium = typeof sodiumModule;

let loaded: Sodium | undefined;
let loading: Promise<Sodium> | undefined;

/** Resolves once libsodium is initialised; memoised, safe to call many times. */
export function sodiumReady(): Promise<Sodium> {
  loading ??= sodiumModule.ready.then(() => {
    useBufferedRandomness(sodiumModule);
    loaded = sodiumModule;
    return sodiumModule;
  });
  return loading;
}

/** Random words handed to libsodium per refill of the pool (4 KiB). */
const POOL_WORDS = 1024;
let refills = 0;

/** How often libsodium's randomness pool was refilled (0 when libsodium uses its own source). */
export function randomPoolRefills(): number {
  return refills;
}

/**
 * libsodium.js asks JavaScript for randomness 4 bytes at a time (`getRandomValue`, which on Node
 * calls crypto.randomBytes(4) and allocates a Buffer per call): a key pair costs 8 calls, a join
 * dozens. Serve those words from a pool filled by the same CSPRNG (node:crypto, the operating
 * system's generator via OpenSSL) 4 KiB at a time; each word is zeroed in the pool as it is handed
 * out, so no random value that became key material stays behind in it.
 */
function useBufferedRandomness(s: Sodium): void {
  const raw = (s as unknown as { libsodium?: { getRandomValue?: () => number } }).libsodium;
  if (!raw || typeof raw.getRandomValue !== "function") return;
  const pool = new Uint32Array(POOL_WORDS);
  let next = POOL_WORDS;
  raw.getRandomValue = (): number => {
    if (next === POOL_WORDS) {
      randomFillSync(pool);
      refills++;
      next = 0;
    }
    const value = pool[next]!;
    pool[next++] = 0;
    return value >>> 0;
  };
}

/** The initialised library; throws if `sodiumReady()` has not resolved yet. */
export function sodium(): Sodium {
  if (loaded === undefined) {
    throw new CryptoError("sodium-not-ready", "libsodium is not initialised; await sodiumReady() first");
  }
  return loaded;
}
