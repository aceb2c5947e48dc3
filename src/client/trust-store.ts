/**
 * What this user has decided to trust, remembered across calls: `$XDG_CONFIG_HOME/conclave/verified.json`
 * (mode 0600, like the identity file).
 *
 *   verified  identity public key (base64url) → the name it used when the user compared safety
 *             numbers and marked it verified
 *   names     display name → the identity key last seen under that name, so a familiar name that
 *             arrives with a different key ("alice", new key) can be flagged instead of silently
 *             trusted
 *
 * Names are sent end-to-end encrypted but chosen by each member, so they prove nothing on their own;
 * the identity key (checked against the safety number) is what the user verifies. Names are compared
 * after Unicode NFKC normalisation, trimming and case folding, so "Alice" and "alice" count as the
 * same name.
 *
 * Every change re-reads the file before writing it (atomically, via a temporary file), so two
 * Conclave processes of the same user do not undo each other's decisions. A file that cannot be
 * parsed is moved aside to `verified.json.corrupt` and the store starts empty.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { configDir } from "./identity-store.js";

export type NameCheck = "new" | "same" | "changed";

interface VerifiedEntry {
  name: string;
  verifiedAt: string;
}

interface NameEntry {
  /** The name as last displayed (before normalisation). */
  name: string;
  identityKey: string;
  seenAt: string;
}

interface TrustFile {
  version: 1;
  verified: Record<string, VerifiedEntry>;
  names: Record<string, NameEntry>;
}

const IDENTITY_KEY_B64 = /^[A-Za-z0-9_-]{43}$/;

export function defaultTrustStorePath(env: NodeJS.ProcessEnv = process.env): string {
  return join(configDir(env), "verified.json");
}

/** The key under which a display name is remembered. */
export function normaliseName(name: string): string {
  return name.normalize("NFKC").trim().toLowerCase();
}

function emptyFile(): TrustFile {
  // Null-prototype maps: a member may call itself "__proto__".
  return { version: 1, verified: Object.create(null) as Record<string, VerifiedEntry>, names: Object.create(null) as Record<string, NameEntry> };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Parse leniently: entries of the wrong shape are dropped, not fatal. */
function parseTrustFile(text: string): TrustFile {
  const raw: unknown = JSON.parse(text);
  if (!isRecord(raw)) throw new TypeError("not an object");
  const file = emptyFile();
  if (isRecord(raw.verified)) {
    for (const [key, entry] of Object.entries(raw.verified)) {
      if (IDENTITY_KEY_B64.test(key) && isRecord(entry) && typeof entry.name === "string") {
        file.verified[key] = { name: entry.name, verifiedAt: typeof entry.verifiedAt === "string" ? entry.verifiedAt : "" };
      }
    }
  }
  if (isRecord(raw.names)) {
    for (const [name, entry] of Object.entries(raw.names)) {
      if (isRecord(entry) && typeof entry.identityKey === "string" && IDENTITY_KEY_B64.test(entry.identityKey)) {
        file.names[name] = {
          name: typeof entry.name === "string" ? entry.name : name,
          identityKey: entry.identityKey,
          seenAt: typeof entry.seenAt === "string" ? entry.seenAt : "",
        };
      }
    }
  }
  return file;
}

function checkKey(identityKeyB64: string): void {
  if (typeof identityKeyB64 !== "string" || !IDENTITY_KEY_B64.test(identityKeyB64)) {
    throw new TypeError("identity key must be 32 bytes in base64url (43 characters)");
  }
}

export class TrustStore {
  readonly path: string;
  private data: TrustFile;

  private constructor(path: string, data: TrustFile) {
    this.path = path;
    this.data = data;
  }

  /** Open (or start) the store; nothing is written until the first change. */
  static open(path: string = defaultTrustStorePath()): TrustStore {
    return new TrustStore(path, TrustStore.read(path));
  }

  private static read(path: string): TrustFile {
    if (!existsSync(path)) return emptyFile();
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch {
      return emptyFile();
    }
    try {
      return parseTrustFile(text);
    } catch {
      try {
        renameSync(path, `${path}.corrupt`);
      } catch {
        // leave it; the next write replaces it
      }
      return emptyFile();
    }
  }

  /** Re-read, apply, write atomically with mode 0600. */
  private update(change: (file: TrustFile) => void): void {
    const fresh = TrustStore.read(this.path);
    change(fresh);
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(fresh, null, 2) + "\n", { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, this.path);
    this.data = fresh;
  }

  isVerified(identityKeyB64: string): boolean {
    return Object.hasOwn(this.data.verified, identityKeyB64);
  }

  /** The name under which a key was verified, if it was. */
  verifiedName(identityKeyB64: string): string | undefined {
    return Object.hasOwn(this.data.verified, identityKeyB64) ? this.data.verified[identityKeyB64]!.name : undefined;
  }

  setVerified(identityKeyB64: string, name: string, verified: boolean): void {
    checkKey(identityKeyB64);
    this.update((file) => {
      if (verified) file.verified[identityKeyB64] = { name, verifiedAt: new Date().toISOString() };
      else delete file.verified[identityKeyB64];
    });
  }

  /** Has this name been seen before, and with this identity key? */
  checkName(name: string, identityKeyB64: string): NameCheck {
    const key = normaliseName(name);
    if (!Object.hasOwn(this.data.names, key)) return "new";
    return this.data.names[key]!.identityKey === identityKeyB64 ? "same" : "changed";
  }

  /** The identity key last seen under a name. */
  knownKeyFor(name: string): string | undefined {
    const key = normaliseName(name);
    return Object.hasOwn(this.data.names, key) ? this.data.names[key]!.identityKey : undefined;
  }

  /** Remember that `name` now belongs to this key (a later different key will be "changed"). */
  remember(name: string, identityKeyB64: string): void {
    checkKey(identityKeyB64);
    const key = normaliseName(name);
    if (key.length === 0) return;
    const known = Object.hasOwn(this.data.names, key) ? this.data.names[key] : undefined;
    // Avoid rewriting the file on every call for a name that did not change.
    if (known && known.identityKey === identityKeyB64 && known.name === name) return;
    this.update((file) => {
      file.names[key] = { name, identityKey: identityKeyB64, seenAt: new Date().toISOString() };
    });
  }
}
