/**
 * Join tokens (src/crypto/token.ts): verifyJoinToken never throws on token input and never accepts
 * a token it should not; every one-character edit of a genuine token is refused.
 */
import * as fc from "fast-check";
import {
  CryptoError,
  decodeJoinToken,
  generateOperatorKey,
  JOIN_TOKEN_PREFIX,
  parseOperatorKeys,
  signJoinToken,
  utf8,
  Writer,
  verifyJoinToken,
  type JoinTokenErrorCode,
  type OperatorKeyPair,
} from "../../../src/crypto/index.js";
import { check, expectCoded, fuzzProperty, note, type FuzzProperty } from "./harness.js";

const CODES: JoinTokenErrorCode[] = ["token-missing", "token-malformed", "token-bad-signature", "token-expired", "token-wrong-room"];
const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const NOW = 1_750_000_000_000;

const room = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);

interface Keys {
  operator: OperatorKeyPair;
  stranger: OperatorKeyPair;
}

function keys(): Keys {
  return { operator: generateOperatorKey(), stranger: generateOperatorKey() };
}

/** Token-shaped junk: the right prefix, base64url of anything, or the wrong prefix. */
const junkToken = fc.oneof(
  fc.string({ unit: "binary", maxLength: 300 }),
  fc.uint8Array({ maxLength: 220 }).map((b) => JOIN_TOKEN_PREFIX + Buffer.from(b).toString("base64url")),
  fc.uint8Array({ maxLength: 220 }).map((b) => `cjt2.${Buffer.from(b).toString("base64url")}`),
  fc.anything(),
);

/**
 * Well-formed but forged: the layout of src/crypto/token.ts with a random signature, under the
 * operator's key id or another, any version and expiry. Assembled in the check, which knows the key.
 */
const forged = fc.record({
  version: fc.constantFrom(1, 1, 1, 0, 2, 255),
  operatorKeyId: fc.boolean(),
  expiresAt: fc.oneof(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.constant(BigInt(NOW + 60_000))),
  id: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  room: fc.oneof(fc.constant("room"), fc.string({ maxLength: 70 })),
  sig: fc.uint8Array({ minLength: 64, maxLength: 64 }),
});

function forge(f: typeof forged extends fc.Arbitrary<infer T> ? T : never, k: Keys): string {
  const keyId = (f.operatorKeyId ? k.operator : k.stranger).publicKey.subarray(0, 8);
  const room = utf8(f.room).subarray(0, 255);
  const signed = new Writer().u8(f.version).raw(keyId).u64(f.expiresAt).raw(f.id).u8(room.length).raw(room).finish();
  return JOIN_TOKEN_PREFIX + Buffer.concat([signed, f.sig]).toString("base64url");
}

/** One edit of a token: replace, insert or delete a character, or cut it short. */
const edit = fc.tuple(fc.constantFrom("replace", "insert", "delete", "truncate"), fc.nat(), fc.nat(B64.length - 1));

function applyEdit(token: string, [kind, at, c]: [string, number, number]): string {
  const i = at % token.length;
  switch (kind) {
    case "replace": {
      const ch = B64[c]! === token[i] ? B64[(c + 1) % B64.length]! : B64[c]!;
      return token.slice(0, i) + ch + token.slice(i + 1);
    }
    case "insert":
      return token.slice(0, i) + B64[c]! + token.slice(i);
    case "delete":
      return token.slice(0, i) + token.slice(i + 1);
    default:
      return token.slice(0, i);
  }
}

export const tokenProperties: FuzzProperty[] = [
  fuzzProperty(
    "token: a genuine token verifies for its room until it expires, and only with the operator's key",
    300,
    fc.record({ room, otherRoom: room, ttl: fc.integer({ min: 1, max: 30 * 86_400_000 }), age: fc.integer({ min: 0, max: 60 * 86_400_000 }) }),
    (c, k) => {
      const expiresAt = NOW + c.ttl;
      const token = signJoinToken({ operatorSecretKey: k.operator.secretKey, room: c.room, expiresAt });
      const now = NOW + c.age;
      const verdict = verifyJoinToken(token, { operatorPublicKeys: [k.stranger.publicKey, k.operator.publicKey], room: c.room, now });
      if (now < expiresAt) check(verdict.ok && verdict.claims.room === c.room && verdict.claims.expiresAt === expiresAt, "valid token accepted");
      else check(!verdict.ok && verdict.code === "token-expired", "expired token refused");
      const stranger = verifyJoinToken(token, { operatorPublicKeys: [k.stranger.publicKey], room: c.room, now: NOW });
      check(!stranger.ok && stranger.code === "token-bad-signature", "another operator's key does not verify it");
      if (c.otherRoom !== c.room) {
        const wrong = verifyJoinToken(token, { operatorPublicKeys: [k.operator.publicKey], room: c.otherRoom, now: NOW });
        check(!wrong.ok && wrong.code === "token-wrong-room", "token for another room refused");
      }
    },
    keys,
  ),
  fuzzProperty(
    "token: verifyJoinToken on junk never throws and never accepts",
    1000,
    fc.oneof(junkToken, forged),
    (junk, k) => {
      const token = typeof junk === "object" && junk !== null && "sig" in junk && junk.sig instanceof Uint8Array ? forge(junk as typeof forged extends fc.Arbitrary<infer T> ? T : never, k) : junk;
      const verdict = verifyJoinToken(token, { operatorPublicKeys: [k.operator.publicKey], room: "room", now: NOW });
      check(!verdict.ok && CODES.includes(verdict.code), `junk refused with a known code`);
      note(verdict.code);
      if (!verdict.ok && typeof token === "string" && token.length >= 12) check(!verdict.message.includes(token), "messages do not repeat the token");
      if (typeof token === "string") {
        try {
          decodeJoinToken(token);
        } catch (err) {
          expectCoded(err, CryptoError, ["token-malformed"], "decodeJoinToken");
        }
      }
    },
    keys,
  ),
  fuzzProperty(
    "token: every one-character edit of a genuine token is refused",
    1000,
    fc.tuple(room, edit),
    ([r, e], k) => {
      const token = signJoinToken({ operatorSecretKey: k.operator.secretKey, room: r, expiresAt: NOW + 3_600_000 });
      const edited = applyEdit(token, e);
      if (edited === token) return;
      const verdict = verifyJoinToken(edited, { operatorPublicKeys: [k.operator.publicKey], room: r, now: NOW });
      check(!verdict.ok, `an edited token was accepted (${e[0]} at ${e[1] % token.length})`);
      note(verdict.code);
    },
    keys,
  ),
  fuzzProperty(
    "token: parseOperatorKeys on arbitrary text returns 32-byte keys or throws operator-keys-invalid",
    1000,
    fc.oneof(
      fc.string({ unit: "binary", maxLength: 300 }),
      fc.array(
        fc.oneof(
          fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => `ed25519 ${Buffer.from(b).toString("base64url")} comment`),
          fc.string({ maxLength: 60 }),
          fc.constantFrom("# comment", "", "   ", "ed25519", "ssh-ed25519 AAAA"),
        ),
        { maxLength: 6 },
      ).map((lines) => lines.join("\n")),
    ),
    (text) => {
      let parsed: Uint8Array[];
      try {
        parsed = parseOperatorKeys(text);
      } catch (err) {
        expectCoded(err, CryptoError, ["operator-keys-invalid"], "parseOperatorKeys");
        return;
      }
      note("accepted");
      check(parsed.length > 0 && parsed.every((key) => key.length === 32), "keys are 32 bytes");
    },
  ),
];
