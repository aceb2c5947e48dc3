/**
 * SRTP fixtures shared by the tests of the relay's and the participants' SRTP code: the RFC 7714
 * §16.1 AEAD_AES_128_GCM vector (test/server/vectors/rfc7714-srtp-gcm.json), and a pair of werift
 * SRTP sessions that share master keys as two ends do after a DTLS-SRTP handshake.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { randomBytes } from "node:crypto";
import { SrtpSession, ProtectionProfileAeadAes128Gcm } from "werift";

export interface Rfc7714Vector {
  session_key: string;
  session_salt: string;
  roc: number;
  rtp: string;
  srtp: string;
}

export function loadRfc7714Vector(): Rfc7714Vector {
  // Compiled to dist/test/helpers/; walk up to the repository root.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = join(dir, "test", "server", "vectors", "rfc7714-srtp-gcm.json");
    if (existsSync(p)) return JSON.parse(readFileSync(p, "utf8")) as Rfc7714Vector;
    dir = dirname(dir);
  }
  throw new Error("test/server/vectors/rfc7714-srtp-gcm.json not found");
}

/**
 * Two werift AEAD_AES_128_GCM sessions with random master keys: `local` protects what `remote`
 * unprotects, and the other way round.
 */
export function weriftSrtpPair(): { local: SrtpSession; remote: SrtpSession } {
  const a = { key: randomBytes(16), salt: randomBytes(12) };
  const b = { key: randomBytes(16), salt: randomBytes(12) };
  const local = new SrtpSession({
    keys: { localMasterKey: a.key, localMasterSalt: a.salt, remoteMasterKey: b.key, remoteMasterSalt: b.salt },
    profile: ProtectionProfileAeadAes128Gcm,
  });
  const remote = new SrtpSession({
    keys: { localMasterKey: b.key, localMasterSalt: b.salt, remoteMasterKey: a.key, remoteMasterSalt: a.salt },
    profile: ProtectionProfileAeadAes128Gcm,
  });
  return { local, remote };
}
