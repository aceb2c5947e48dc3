/** Shared helpers for media tests: the real ffmpeg, temp dirs, waiting with timeouts. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { resolveFfmpeg } from "../../src/media/ffmpeg/resolve.js";

export function ffmpegPath(): string {
  return resolveFfmpeg().path;
}

/** A fresh temp directory removed by the returned cleanup. */
export function tempDir(prefix = "conclave-media-"): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Rejects after `ms` unless `p` settles first. */
export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `cond` every 20 ms until it holds or `ms` elapse. */
export async function waitUntil(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A syntactically valid Opus packet: SILK WB 20 ms (config 9), code 0, `extra` payload bytes. */
export function fakeOpus(extra = 10, fill = 0x55): Buffer {
  const b = Buffer.alloc(1 + extra, fill);
  b[0] = 9 << 3;
  return b;
}
