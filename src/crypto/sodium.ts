/**
 * libsodium loader. libsodium-wrappers-sumo 0.8.x ships its own ESM typings
 * (`dist/modules-sumo-esm/libsodium-wrappers.d.mts`, `export default sodium`), so under NodeNext the
 * default import is the fully typed module object; no local declaration is needed.
 *
 * The library is WebAssembly and must finish loading before use: call `await sodiumReady()` once at
 * start-up. After that the synchronous crypto functions of this folder may be called; before it they
 * throw CryptoError('sodium-not-ready').
 */
import sodiumModule from "libsodium-wrappers-sumo";
import { CryptoError } from "./errors.js";

export type Sodium = typeof sodiumModule;

let loaded: Sodium | undefined;
let loading: Promise<Sodium> | undefined;

/** Resolves once libsodium is initialised; memoised, safe to call many times. */
export function sodiumReady(): Promise<Sodium> {
  loading ??= sodiumModule.ready.then(() => {
    loaded = sodiumModule;
    return sodiumModule;
  });
  return loading;
}

/** The initialised library; throws if `sodiumReady()` has not resolved yet. */
export function sodium(): Sodium {
  if (loaded === undefined) {
    throw new CryptoError("sodium-not-ready", "libsodium is not initialised; await sodiumReady() first");
  }
  return loaded;
}
