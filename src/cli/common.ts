/** Helpers shared by the commands: option parsing, ffmpeg, logging, waiting for a stop signal. */
import { readFileSync } from "node:fs";
import { InvalidArgumentError } from "commander";
import { UsageError } from "../errors.js";
import { resolveFfmpeg } from "../media/index.js";
import { createLogger, type Logger } from "../log.js";
import { loadIdentity } from "../client/index.js";
import type { IdentityKeyPair } from "../crypto/index.js";

export function parsePositiveInt(name: string, max = 1_000_000) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new InvalidArgumentError(`${name} must be a whole number from 1 to ${max}`);
    return n;
  };
}

export function parseSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 7 * 24 * 3600) throw new InvalidArgumentError("must be a number of seconds above 0");
  return n;
}

export function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError("must be a port from 0 to 65535");
  return n;
}

export function parsePortRange(value: string): [number, number] {
  const m = /^(\d+)-(\d+)$/.exec(value);
  const lo = m ? Number(m[1]) : NaN;
  const hi = m ? Number(m[2]) : NaN;
  if (!m || lo < 1024 || hi > 65535 || lo > hi) throw new InvalidArgumentError("must be MIN-MAX with 1024 <= MIN <= MAX <= 65535");
  return [lo, hi];
}

export function parseSuite(value: string): 4 | 5 {
  if (value === "4" || value === "0x0004" || /^aes[-_]?128/i.test(value)) return 4;
  if (value === "5" || value === "0x0005" || /^aes[-_]?256/i.test(value)) return 5;
  throw new InvalidArgumentError("must be 4 (AES_128_GCM_SHA256_128) or 5 (AES_256_GCM_SHA512_128)");
}

export function makeLogger(debug: boolean): Logger {
  return createLogger(debug ? "debug" : (process.env.CONCLAVE_LOG as "info" | "warn" | undefined) ?? "warn");
}

export function ffmpegPath(flag: string | undefined): string {
  return resolveFfmpeg(flag ? { flag } : {}).path;
}

export async function identityFor(path: string | undefined): Promise<IdentityKeyPair> {
  const passphrase = process.env.CONCLAVE_PASSPHRASE;
  const { identity } = await loadIdentity({ ...(path ? { path } : {}), ...(passphrase ? { passphrase } : {}) });
  return identity;
}

/**
 * Resolve when the user asks to stop (SIGINT/SIGTERM), when `seconds` have passed, or when `done`
 * settles. Returns what ended it.
 */
export function waitForStop(seconds: number | undefined, done?: Promise<unknown>): Promise<"signal" | "duration" | "done"> {
  return new Promise((resolve) => {
    const finish = (why: "signal" | "duration" | "done"): void => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      clearTimeout(timer);
      resolve(why);
    };
    const onSignal = (): void => finish("signal");
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    const timer = seconds !== undefined ? setTimeout(() => finish("duration"), seconds * 1000) : undefined;
    done?.then(
      () => finish("done"),
      () => finish("done"),
    );
  });
}

/** Read a PEM file named on the command line; one clear line when it cannot be read. */
export function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new UsageError(`cannot read the ${what} ${path} (${(err as NodeJS.ErrnoException).code ?? "error"})`);
  }
}

export function readCa(path: string): Buffer {
  return readPem(path, "CA certificate");
}

export function parseVideoSize(value: string): [number, number] {
  const m = /^(\d{2,4})x(\d{2,4})$/.exec(value);
  const w = m ? Number(m[1]) : NaN;
  const h = m ? Number(m[2]) : NaN;
  if (!m || w < 16 || h < 16 || w > 3840 || h > 2160 || w % 2 !== 0 || h % 2 !== 0) {
    throw new InvalidArgumentError("must be WIDTHxHEIGHT with even sizes from 16x16 to 3840x2160, e.g. 640x360");
  }
  return [w, h];
}
