/**
 * SFrame benchmark: SFrameSender.encrypt / SFrameReceiver.decrypt against raw node:crypto
 * aes-128-gcm doing the same per-packet work (createCipheriv with a fresh IV, setAAD of a small
 * header, update, final, getAuthTag), measured in the same run.
 *
 * Method: warm up, then alternate SFrame and raw rounds (each round runs for ~ROUND_MS), and report
 * the median microseconds per operation of each. `node dist/bench/sframe.js` prints JSON lines.
 *
 * When the native module is built (src/media/native.ts), everything runs twice: with SFrame on
 * node:crypto against raw node:crypto (`gcm: "node:crypto"`), and with SFrame on the native GCM
 * (as clients run it) against the raw native GCM (`gcm: "native"`); `nativeSpeedup` on the native
 * lines is node:crypto SFrame ÷ native SFrame, same run.
 */

import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { pathToFileURL } from "node:url";

import { SFrameReceiver, SFrameSender, useGcmBackend } from "../src/crypto/sframe/index.js";
import { native, type NativeSendPath } from "../src/media/native.js";

const PAYLOADS = [100, 1200] as const;
const ROUNDS = 9;
const ROUND_MS = 150;
const WARMUP_MS = 200;
const METADATA = Buffer.alloc(0);

/** Runs `op` in batches until `ms` have passed; returns microseconds per call. */
function timeRound(op: () => void, ms: number): number {
  const batch = 256;
  let calls = 0;
  const start = process.hrtime.bigint();
  const limit = start + BigInt(ms) * 1_000_000n;
  let now = start;
  while (now < limit) {
    for (let i = 0; i < batch; i++) op();
    calls += batch;
    now = process.hrtime.bigint();
  }
  return Number(now - start) / 1000 / calls;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** Alternates `a` and `b` rounds after a warm-up; returns the two medians. */
function compare(a: () => void, b: () => void): [number, number] {
  timeRound(a, WARMUP_MS);
  timeRound(b, WARMUP_MS);
  const ra: number[] = [];
  const rb: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    if (r % 2 === 0) {
      ra.push(timeRound(a, ROUND_MS));
      rb.push(timeRound(b, ROUND_MS));
    } else {
      rb.push(timeRound(b, ROUND_MS));
      ra.push(timeRound(a, ROUND_MS));
    }
  }
  return [median(ra), median(rb)];
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

export async function benchSframe(): Promise<Array<Record<string, unknown>>> {
  useGcmBackend(undefined);
  const results = benchWith(undefined);
  const n = native();
  if (n) {
    useGcmBackend(n);
    try {
      for (const r of benchWith(n)) {
        const same = results.find((x) => x.name === r.name && x.payloadBytes === r.payloadBytes);
        results.push({ ...r, nativeSpeedup: same ? round3((same.usPerOp as number) / (r.usPerOp as number)) : null });
      }
    } finally {
      useGcmBackend(undefined);
    }
  }
  return results;
}

/** SFrame against the raw cipher: node:crypto's (n undefined) or the native module's. */
function benchWith(n: NativeSendPath | undefined): Array<Record<string, unknown>> {
  const gcm = n ? "native" : "node:crypto";
  const results: Array<Record<string, unknown>> = [];
  const baseKey = randomBytes(16);
  const rawKey = randomBytes(16);
  // The raw native cipher keyed once, as SFrame keys it once per key.
  const rawHandle = n?.aeadKey(rawKey);
  const rawIv = randomBytes(12);
  const rawHeader = Buffer.from([0x1c, 0x00, 0x00, 0x01, 0x00]); // 5 bytes, a typical SFrame header size
  let ivCounter = 0;

  for (const payloadBytes of PAYLOADS) {
    const payload = randomBytes(payloadBytes);

    // --- encrypt ---------------------------------------------------------------------------
    // A fresh sender per payload size; KIDs never repeat within one sender.
    const tx = new SFrameSender({ kid: 1n, baseKey });
    const sframeEncrypt = (): void => {
      tx.encrypt(payload, METADATA);
    };
    const sealed = Buffer.alloc(payload.length + 16);
    const rawEncrypt = n
      ? (): void => {
          rawIv.writeUInt32BE(++ivCounter >>> 0, 8);
          n.aeadSealWith(rawHandle!, rawIv, rawHeader, METADATA, payload, sealed, 0);
        }
      : (): void => {
          rawIv.writeUInt32BE(++ivCounter >>> 0, 8);
          const c = createCipheriv("aes-128-gcm", rawKey, rawIv);
          c.setAAD(rawHeader);
          c.update(payload);
          c.final();
          c.getAuthTag();
        };
    const [encUs, rawEncUs] = compare(sframeEncrypt, rawEncrypt);
    results.push({
      type: "bench", name: "sframe-encrypt", suite: 4, gcm, payloadBytes,
      usPerOp: round3(encUs), rawAesGcmUsPerOp: round3(rawEncUs), ratio: round3(encUs / rawEncUs),
    });

    // --- decrypt ---------------------------------------------------------------------------
    // Pre-encrypt a pool of frames once. When the pool is used up, a new receiver with a fresh
    // replay window takes over (one key derivation per POOL packets, negligible), so the replay
    // check runs on every packet but never rejects.
    const POOL = 16_384;
    const kid = 2n;
    const poolSender = new SFrameSender({ kid, baseKey });
    const frames = Array.from({ length: POOL }, () => poolSender.encrypt(payload, METADATA));
    poolSender.close();
    let rx = new SFrameReceiver();
    rx.addKey(kid, baseKey);
    let next = 0;
    const sframeDecrypt = (): void => {
      if (next === POOL) {
        rx.close();
        rx = new SFrameReceiver();
        rx.addKey(kid, baseKey);
        next = 0;
      }
      rx.decrypt(frames[next++] as Buffer, METADATA);
    };
    // Raw: decrypt one valid ciphertext with its IV, tag and AAD each time.
    const rawCt = (() => {
      const c = createCipheriv("aes-128-gcm", rawKey, rawIv);
      c.setAAD(rawHeader);
      const ct = Buffer.concat([c.update(payload), c.final()]);
      return { ct, tag: c.getAuthTag(), iv: Buffer.from(rawIv) };
    })();
    const opened = Buffer.alloc(payload.length);
    const rawDecrypt = n
      ? (): void => {
          n.aeadOpenWith(rawHandle!, rawCt.iv, rawHeader, METADATA, rawCt.ct, rawCt.tag, opened);
        }
      : (): void => {
          const d = createDecipheriv("aes-128-gcm", rawKey, rawCt.iv);
          d.setAuthTag(rawCt.tag);
          d.setAAD(rawHeader);
          d.update(rawCt.ct);
          d.final();
        };
    const [decUs, rawDecUs] = compare(sframeDecrypt, rawDecrypt);
    results.push({
      type: "bench", name: "sframe-decrypt", suite: 4, gcm, payloadBytes,
      usPerOp: round3(decUs), rawAesGcmUsPerOp: round3(rawDecUs), ratio: round3(decUs / rawDecUs),
    });
    tx.close();
    rx.close();
  }
  return results;
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) {
  for (const r of await benchSframe()) process.stdout.write(`${JSON.stringify(r)}\n`);
}
