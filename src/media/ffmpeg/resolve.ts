/**
 * Finds the ffmpeg binary to run, in this order:
 *
 *   1. `--ffmpeg PATH` (the `flag` option; a bare name such as `ffmpeg` is looked up on PATH)
 *   2. `CONCLAVE_FFMPEG` in the environment
 *   3. the `ffmpeg-static` package (optional dependency; its export is the binary's path, but its
 *      install script downloads the binary and may have failed, so the file can be missing)
 *   4. the `@ffmpeg-installer/ffmpeg` package (its `.path`)
 *   5. `ffmpeg` on PATH
 *
 * A path the user gave (flag, env) must exist and be executable, otherwise that is an error naming
 * the source: we never silently fall back from an explicit choice. Binaries shipped in npm packages
 * may lack their execute bit (npm 11 can skip install scripts that would chmod them); we add u+x, and
 * if the package directory is read-only we copy the binary to the cache directory
 * ($XDG_CACHE_HOME/conclave or ~/.cache/conclave) and make that copy executable.
 *
 * Results are cached per (flag, relevant env) for the life of the process.
 */
import { createRequire } from "node:module";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createHash } from "node:crypto";
import { MediaError } from "../../errors.js";

export type FfmpegSource = "flag" | "env" | "ffmpeg-static" | "@ffmpeg-installer/ffmpeg" | "PATH";

export interface FfmpegResolution {
  path: string;
  source: FfmpegSource;
}

export interface ResolveFfmpegOptions {
  /** Value of the `--ffmpeg` command-line flag. */
  flag?: string;
  /** Environment to read CONCLAVE_FFMPEG, PATH, XDG_CACHE_HOME and HOME from (default process.env). */
  env?: NodeJS.ProcessEnv;
}

const cache = new Map<string, FfmpegResolution>();

export function resolveFfmpeg(opts: ResolveFfmpegOptions = {}): FfmpegResolution {
  const env = opts.env ?? process.env;
  const key = JSON.stringify([
    opts.flag ?? null,
    env.CONCLAVE_FFMPEG ?? null,
    env.PATH ?? null,
    env.XDG_CACHE_HOME ?? null,
    env.HOME ?? null,
  ]);
  const hit = cache.get(key);
  if (hit) return hit;
  const found = resolveUncached(opts.flag, env);
  cache.set(key, found);
  return found;
}

/** Forget cached resolutions (tests, or after the user installed ffmpeg). */
export function clearFfmpegResolutionCache(): void {
  cache.clear();
}

function resolveUncached(flag: string | undefined, env: NodeJS.ProcessEnv): FfmpegResolution {
  if (flag !== undefined && flag !== "") {
    return { path: explicitPath(flag, "--ffmpeg", env), source: "flag" };
  }
  const fromEnv = env.CONCLAVE_FFMPEG;
  if (fromEnv !== undefined && fromEnv !== "") {
    return { path: explicitPath(fromEnv, "CONCLAVE_FFMPEG", env), source: "env" };
  }

  const require = createRequire(import.meta.url);
  const cacheDir = defaultCacheDir(env);

  const fromStatic = packagePath(require, "ffmpeg-static", (m) => (typeof m === "string" ? m : null));
  if (fromStatic) {
    const usable = ensureExecutable(fromStatic, { cacheDir });
    if (usable) return { path: usable, source: "ffmpeg-static" };
  }

  const fromInstaller = packagePath(require, "@ffmpeg-installer/ffmpeg", (m) => {
    const p = (m as { path?: unknown } | null)?.path;
    return typeof p === "string" ? p : null;
  });
  if (fromInstaller) {
    const usable = ensureExecutable(fromInstaller, { cacheDir });
    if (usable) return { path: usable, source: "@ffmpeg-installer/ffmpeg" };
  }

  const onPath = findOnPath("ffmpeg", env);
  if (onPath) return { path: onPath, source: "PATH" };

  throw new MediaError(
    "ffmpeg not found: install dependencies with npm install or pass --ffmpeg PATH",
    "ffmpeg-not-found",
  );
}

/** A path the user named: must be an executable file. A bare name is looked up on PATH. */
function explicitPath(value: string, sourceName: string, env: NodeJS.ProcessEnv): string {
  if (!value.includes("/") && !value.includes(path.sep)) {
    const onPath = findOnPath(value, env);
    if (onPath) return onPath;
    throw new MediaError(`ffmpeg from ${sourceName} ("${value}") was not found on PATH`, "ffmpeg-not-found");
  }
  const abs = path.resolve(value);
  let st: fs.Stats;
  try {
    st = fs.statSync(abs);
  } catch {
    throw new MediaError(`ffmpeg from ${sourceName} does not exist: ${abs}`, "ffmpeg-not-found");
  }
  if (!st.isFile()) {
    throw new MediaError(`ffmpeg from ${sourceName} is not a file: ${abs}`, "ffmpeg-not-found");
  }
  if (!isExecutable(abs)) {
    throw new MediaError(
      `ffmpeg from ${sourceName} is not executable: ${abs} (chmod +x it or point to another binary)`,
      "ffmpeg-not-found",
    );
  }
  return abs;
}

function packagePath(require: NodeJS.Require, name: string, pick: (m: unknown) => string | null): string | null {
  try {
    // Both packages are CommonJS; @ffmpeg-installer throws a string when its binary is missing.
    return pick(require(name));
  } catch {
    return null;
  }
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME)
    ? env.XDG_CACHE_HOME
    : path.join(env.HOME ?? os.homedir(), ".cache");
  return path.join(base, "conclave");
}

export interface EnsureExecutableOptions {
  /** Where to copy the binary when it cannot be made executable in place. */
  cacheDir: string;
  /** Injected for tests (simulating a read-only package directory). */
  chmod?: (file: string, mode: number) => void;
}

/**
 * Returns a path to an executable copy of `file`: `file` itself if it is executable or can be made
 * so (u+x), else a copy in `cacheDir`. Returns null if `file` is missing or no copy can be made.
 */
export function ensureExecutable(file: string, opts: EnsureExecutableOptions): string | null {
  const chmod = opts.chmod ?? fs.chmodSync;
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    return null;
  }
  if (!st.isFile() || st.size === 0) return null;
  if (isExecutable(file) && (st.mode & 0o100) !== 0) return file;
  try {
    chmod(file, (st.mode & 0o7777) | 0o100);
    if (isExecutable(file)) return file;
  } catch {
    // read-only install (e.g. a root-owned global node_modules): fall through to the cache copy
  }
  const tag = createHash("sha256").update(`${path.resolve(file)}\0${st.size}\0${st.mtimeMs}`).digest("hex").slice(0, 16);
  const dir = path.join(opts.cacheDir, `bin-${tag}`);
  const target = path.join(dir, path.basename(file));
  try {
    const existing = fs.statSync(target);
    if (existing.size === st.size && isExecutable(target)) return target;
  } catch {
    // not cached yet
  }
  try {
    fs.mkdirSync(dir, { recursive: true });
    const tmp = `${target}.${process.pid}.tmp`;
    fs.copyFileSync(file, tmp);
    fs.chmodSync(tmp, 0o755);
    fs.renameSync(tmp, target); // atomic: a concurrent run never sees a half-copied binary
    return isExecutable(target) ? target : null;
  } catch {
    return null;
  }
}

function findOnPath(name: string, env: NodeJS.ProcessEnv): string | null {
  for (const dir of (env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      if (fs.statSync(candidate).isFile() && isExecutable(candidate)) return candidate;
    } catch {
      // not in this directory
    }
  }
  return null;
}
