/**
 * The optional native SRTP path (native/conclave_native.c, built at install by
 * scripts/build-native.mjs): AEAD_AES_128_GCM SRTP protection in OpenSSL and one sendto(2) per
 * datagram on a UDP socket werift opened, for the relay's lean forwarder; and the matching check and
 * decryption for lean receive paths.
 *
 * Optional by design: without a C compiler, on another OS, or with CONCLAVE_NATIVE=0, `native()`
 * is undefined and callers use the JavaScript path, which produces the same bytes.
 */
import type { Socket } from "node:dgram";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

/** An OpenSSL AES-128-GCM context holding one SRTP session's key and salt. */
export type NativeGcmContext = { readonly __brand: "NativeGcmContext" };
/** A keyed AES-GCM context (SFrame). */
export type NativeAeadKey = { readonly __brand: "NativeAeadKey" };
/** A resolved socket address to send to. */
export type NativeTarget = { readonly __brand: "NativeTarget" };
/** A batched reader of one UDP socket. */
export type NativeBatchReader = { readonly __brand: "NativeBatchReader" };

export interface NativeSendPath {
  /**
   * A context for one SRTP session's key (16 bytes) and salt (first 12 bytes used): it seals
   * (outgoing packets, the local key) or, with `open` true, opens (incoming ones, the remote key).
   */
  gcmContext(key: Uint8Array, salt: Uint8Array, open?: boolean): NativeGcmContext;
  /** The address `host`:`port`, or null when `host` is not an IP address literal. */
  target(host: string, port: number): NativeTarget | null;
  /**
   * RFC 7714 protection of a packet with a 12-byte header: `byte1` is the marker bit and payload
   * type (the header's second byte). Writes header ‖ ciphertext ‖ tag into `out`; returns its length.
   */
  seal(context: NativeGcmContext, byte1: number, seq: number, timestamp: number, ssrc: number, roc: number, payload: Uint8Array, out: Uint8Array): number;
  /**
   * RFC 7714 check and decryption of one SRTP packet whose RTP header (CSRCs and extension
   * included) is `headerBytes` long, under rollover counter `roc`: writes the payload into `out` and
   * returns its length, or −1 when the packet is not authentic under this key.
   */
  open(context: NativeGcmContext, packet: Uint8Array, headerBytes: number, roc: number, out: Uint8Array): number;
  /** A keyed AES-GCM context (16/32-byte key): the key schedule is set up once, for every frame under the key. */
  aeadKey(key: Uint8Array): NativeAeadKey;
  /** Frees a keyed context now (its key schedule is wiped); using it afterwards throws. */
  aeadForget(handle: NativeAeadKey): void;
  /** aeadSeal under a keyed context. */
  aeadSealWith(handle: NativeAeadKey, nonce: Uint8Array, aad1: Uint8Array, aad2: Uint8Array, plaintext: Uint8Array, out: Uint8Array, offset: number): number;
  /** aeadOpen under a keyed context. */
  aeadOpenWith(handle: NativeAeadKey, nonce: Uint8Array, aad1: Uint8Array, aad2: Uint8Array, ciphertext: Uint8Array, tag: Uint8Array, out: Uint8Array): number;
  /**
   * connect(2) the UDP socket `fd` to `target`: sealSend to that target on that socket then uses
   * the kernel's cached route (send(2) without an address). The socket receives only from that
   * address afterwards. 0, or −errno.
   */
  connectTarget(fd: number, target: NativeTarget): number;
  /** `seal` and sendto(2) on `fd` without blocking: bytes sent, or −errno (−11 EAGAIN: buffer full). */
  sealSend(context: NativeGcmContext, byte1: number, seq: number, timestamp: number, ssrc: number, roc: number, payload: Uint8Array, fd: number, target: NativeTarget): number;
  /**
   * Batched reading of the UDP socket `fd` (a duplicate of it, watched by libuv): whenever it is
   * readable, recvmmsg(2) into `area` (2048-byte slots) and one `onBatch(count)`. Datagram i is at
   * area[meta[8i] .. meta[8i] + meta[8i+1]), from family meta[8i+2] (4 or 6), port meta[8i+3]. A
   * negative count is −errno from the socket. The caller pauses dgram's reading first (src/media/udp-batch.ts).
   */
  recvBatch(fd: number, area: Uint8Array, meta: Uint32Array, onBatch: (count: number) => void): NativeBatchReader;
  /** No more batches; the duplicate descriptor is closed. Idempotent. */
  recvStop(reader: NativeBatchReader): void;
  /** Datagrams a reader dropped as longer than a slot. */
  recvDropped(reader: NativeBatchReader): number;
  /** The sender of datagram `index` of the last batch, formatted as dgram does (inet_ntop). */
  formatAddress(meta: Uint32Array, index: number): string;
}

/**
 * Largest payload `seal` and `sealSend` protect (the module's 2048-byte packet buffer less the RTP
 * header and the tag); they throw on a longer one, so callers send those another way.
 */
export const NATIVE_MAX_SEAL_PAYLOAD = 2048 - 12 - 16;

/** Linux errno EAGAIN, as sealSend returns it (negated). */
export const NATIVE_EAGAIN = 11;

/** Where the module is looked for: build/ at the package root (dist/src/media → ../../../build). */
export const NATIVE_MODULE_PATH = fileURLToPath(new URL("../../../build/conclave_native.node", import.meta.url));

/** Every function of NativeSendPath: a module lacking one is not used. */
const NATIVE_FUNCTIONS: readonly (keyof NativeSendPath)[] = ["gcmContext", "target", "seal", "open", "aeadKey", "aeadForget", "aeadSealWith", "aeadOpenWith", "sealSend", "connectTarget", "recvBatch", "recvStop", "recvDropped", "formatAddress"];

let loaded: { api: NativeSendPath | undefined; reason: string } | undefined;

function load(): { api: NativeSendPath | undefined; reason: string } {
  if (process.env.CONCLAVE_NATIVE === "0") return { api: undefined, reason: "turned off (CONCLAVE_NATIVE=0)" };
  if (!existsSync(NATIVE_MODULE_PATH)) return { api: undefined, reason: "not built (scripts/build-native.mjs)" };
  try {
    const api = createRequire(import.meta.url)(NATIVE_MODULE_PATH) as Record<string, unknown>;
    // A module built from another version of the source may lack a function a caller would then throw on.
    const missing = NATIVE_FUNCTIONS.find((name) => typeof api[name] !== "function");
    if (missing) return { api: undefined, reason: `the module is from another version (no ${missing})` };
    return { api: api as unknown as NativeSendPath, reason: NATIVE_MODULE_PATH };
  } catch (err) {
    return { api: undefined, reason: `cannot load it: ${String((err as Error | undefined)?.message ?? err).split("\n")[0]}` };
  }
}

/** The native send path, or undefined when it is unavailable or turned off. */
export function native(): NativeSendPath | undefined {
  loaded ??= load();
  return loaded.api;
}

/** What `conclave doctor` reports: whether the native path is in use, and where from or why not. */
export function nativeStatus(): { available: boolean; detail: string } {
  loaded ??= load();
  return { available: loaded.api !== undefined, detail: loaded.reason };
}

let stateSymbol: symbol | undefined;

/**
 * The file descriptor of a bound dgram socket, or −1. Read from the socket's internal state (the
 * public `_handle` accessor is deprecated and warns); −1 when Node's internals differ.
 */
export function socketFd(socket: Socket): number {
  const fd = internalHandle(socket)?.fd;
  return typeof fd === "number" && fd >= 0 ? fd : -1;
}

/** What the batched reader needs of a dgram socket's handle (Node's UDPWrap). */
export interface UdpHandle {
  recvStart(): number;
  recvStop(): number;
}

/** The handle of an open dgram socket, to pause and resume its reading; undefined when Node's internals differ. */
export function socketHandle(socket: Socket): UdpHandle | undefined {
  const handle = internalHandle(socket);
  return typeof handle?.recvStart === "function" && typeof handle.recvStop === "function" ? (handle as UdpHandle) : undefined;
}

function internalHandle(socket: Socket): { fd?: unknown; recvStart?: unknown; recvStop?: unknown } | undefined {
  stateSymbol ??= Object.getOwnPropertySymbols(socket).find((s) => s.description === "state symbol");
  if (!stateSymbol) return undefined;
  const state = (socket as unknown as Record<symbol, { handle?: { fd?: unknown; recvStart?: unknown; recvStop?: unknown } | null } | undefined>)[stateSymbol];
  return state?.handle ?? undefined;
}
