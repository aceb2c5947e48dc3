/**
 * Files of the access-control scheme (formats in src/crypto/token.ts, guide in docs/operations.md):
 *
 *  - the operator key: `$XDG_CONFIG_HOME/conclave/operator-key.json` (or `--key FILE`), secret,
 *    written once with mode 0600 by `conclave token keygen` and read by `conclave token new`;
 *  - the relay's `--auth FILE`: the operator PUBLIC keys, one `ed25519 <key> [comment]` line each.
 */
import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import {
  CryptoError,
  decodeOperatorKeyFile,
  encodeOperatorKeyFile,
  generateOperatorKey,
  parseOperatorKeys,
  sodiumReady,
  type OperatorKeyPair,
} from "../crypto/index.js";
import { ConclaveError, ExitCode, KeyError } from "../errors.js";
import { configDir } from "./identity-store.js";

export function defaultOperatorKeyPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(configDir(env), "operator-key.json");
}

/** Creates `path` with mode 0600 only if it does not exist yet (link(2) of a private temp file). */
function createPrivate(path: string, text: string): boolean {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  try {
    linkSync(tmp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  } finally {
    unlinkSync(tmp);
  }
}

export interface OperatorKeyLoadOptions {
  path?: string;
  /** Create a key when the file does not exist (default false: issuing tokens needs an existing key). */
  create?: boolean;
}

/** Loads (or with `create`, creates) the operator key. Errors are KeyErrors that never show key bytes. */
export async function loadOperatorKey(
  options: OperatorKeyLoadOptions = {},
): Promise<{ key: OperatorKeyPair; path: string; created: boolean }> {
  await sodiumReady();
  const path = options.path ?? defaultOperatorKeyPath();
  if (!existsSync(path)) {
    if (!options.create) {
      throw new KeyError(`no operator key at ${path}; create one with conclave token keygen`, "operator-key-missing");
    }
    const key = generateOperatorKey();
    if (createPrivate(path, encodeOperatorKeyFile(key))) return { key, path, created: true };
    // Someone created it between the check and the link: use theirs.
  }
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new KeyError(`cannot read the operator key ${path}: ${(err as NodeJS.ErrnoException).code ?? "error"}`, "operator-key-unreadable");
  }
  if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
  try {
    return { key: decodeOperatorKeyFile(text), path, created: false };
  } catch (err) {
    if (err instanceof CryptoError) throw new KeyError(`the operator key ${path} is damaged: ${err.message}`, err.code);
    throw err;
  }
}

/**
 * Reads a relay's `--auth FILE` (operator public keys). Throws a ConclaveError (exit code 2, usage)
 * naming the file and the first bad line.
 */
export function readOperatorPublicKeys(path: string): Uint8Array[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConclaveError(
      "auth-file-unreadable",
      `cannot read the --auth file ${path}: ${(err as NodeJS.ErrnoException).code ?? "error"}`,
      ExitCode.usage,
    );
  }
  try {
    return parseOperatorKeys(text);
  } catch (err) {
    if (err instanceof CryptoError) throw new ConclaveError(err.code, `${path}: ${err.message}`, ExitCode.usage);
    throw err;
  }
}
