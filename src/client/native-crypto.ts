/**
 * The client's SFrame AES-GCM runs in the native module when it is built (src/media/native.ts):
 * one OpenSSL context per thread instead of a node:crypto cipher object per frame. Same function,
 * same bytes (test/crypto/sframe.test.ts runs the RFC 9605 vectors through it); without the module,
 * or with CONCLAVE_NATIVE=0, SFrame stays on node:crypto.
 */
import { useGcmBackend, usingGcmBackend } from "../crypto/sframe/index.js";
import { native } from "../media/native.js";

let tried = false;

/** Install the native GCM for SFrame once per thread, if available. Returns whether it is in use. */
export function useNativeSframe(): boolean {
  if (!tried) {
    tried = true;
    const n = native();
    if (n) useGcmBackend(n);
  }
  return usingGcmBackend();
}
