/**
 * Where a user's long-term identity lives: `$XDG_CONFIG_HOME/conclave/identity.json` (or
 * `~/.config/conclave/identity.json`, or `--identity FILE`), written with mode 0600, optionally
 * encrypted with a passphrase (Argon2id, see src/crypto/identity.ts).
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync, chmodSync, renameSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import {
  sodiumReady,
  generateIdentity,
  encodeIdentityFile,
  decodeIdentityFile,
  CryptoError,
  type IdentityKeyPair,
} from "../crypto/index.js";
import { KeyError } from "../errors.js";

export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.length > 0 ? env.XDG_CONFIG_HOME : join(homedir(), ".config");
  return join(base, "conclave");
}

export function defaultIdentityPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(configDir(env), "identity.json");
}

function writePrivate(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

export interface IdentityLoadOptions {
  path?: string;
  passphrase?: string;
  /** Create one when the file does not exist (default true). */
  create?: boolean;
}

export async function loadIdentity(options: IdentityLoadOptions = {}): Promise<{ identity: IdentityKeyPair; path: string; created: boolean }> {
  await sodiumReady();
  const path = options.path ?? defaultIdentityPath();
  if (!existsSync(path)) {
    if (options.create === false) throw new KeyError(`no identity at ${path}; create one with conclave id --new`, "identity-missing");
    const identity = generateIdentity();
    writePrivate(path, encodeIdentityFile(identity, options.passphrase));
    return { identity, path, created: true };
  }
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new KeyError(`cannot read the identity file ${path}: ${(err as NodeJS.ErrnoException).code ?? "error"}`, "identity-unreadable");
  }
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) chmodSync(path, 0o600);
  try {
    return { identity: decodeIdentityFile(text, options.passphrase), path, created: false };
  } catch (err) {
    if (err instanceof CryptoError) {
      const message =
        err.code === "passphrase-required"
          ? `the identity ${path} is passphrase-protected; set CONCLAVE_PASSPHRASE`
          : err.code === "bad-passphrase"
            ? `wrong passphrase for the identity ${path}`
            : `the identity file ${path} is damaged; move it away and run conclave id --new`;
      throw new KeyError(message, err.code);
    }
    throw err;
  }
}

/** Make a new identity, replacing any existing one (the old file is kept as identity.json.old). */
export async function rotateIdentity(options: { path?: string; passphrase?: string } = {}): Promise<{ identity: IdentityKeyPair; path: string }> {
  await sodiumReady();
  const path = options.path ?? defaultIdentityPath();
  if (existsSync(path)) renameSync(path, `${path}.old`);
  const identity = generateIdentity();
  writePrivate(path, encodeIdentityFile(identity, options.passphrase));
  return { identity, path };
}
