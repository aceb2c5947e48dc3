/**
 * The envelope opener (src/crypto/envelope.ts) on hostile bytes. Three depths:
 *  - random bytes: never open (no room key) → 'envelope-unsealed';
 *  - random or half-structured inner bytes sealed under the right room key, as a member gone rogue
 *    could send: the parser, proof and signature checks refuse them with their own codes;
 *  - genuine envelopes with one flipped bit, or opened as the wrong sender/room/recipient.
 * Only CryptoErrors with documented codes may come out; nothing parses by accident.
 */
import { createHmac, randomBytes } from "node:crypto";
import * as fc from "fast-check";
import {
  concatBytes,
  CryptoError,
  deriveRoomKeys,
  generateIdentity,
  newRoomId,
  newRoomSecret,
  openEnvelope,
  sealEnvelope,
  sodium,
  utf8,
  Writer,
  type IdentityKeyPair,
  type RoomKeys,
} from "../../../src/crypto/index.js";
import { check, expectCoded, fuzzProperty, type FuzzProperty } from "./harness.js";

const OPEN_CODES = ["envelope-unsealed", "malformed", "envelope-bad-proof", "envelope-bad-signature", "envelope-misbound"] as const;

interface Room {
  keys: RoomKeys;
  roomId: string;
  identity: IdentityKeyPair;
}

function room(): Room {
  const roomId = newRoomId();
  return { keys: deriveRoomKeys(newRoomSecret(), roomId), roomId, identity: generateIdentity() };
}

const peerId = fc.stringMatching(/^[A-Za-z0-9_-]{1,16}$/);

/**
 * Something shaped like the signed layout, with lengths and fields that may lie, then a tail that is
 * either junk or exactly sig(64) ‖ proof(32), the proof valid or not: reaches every check after the
 * secretbox. Built in the check, which knows the room's proof key.
 */
const halfStructured = fc.record({
  signed: fc
    .record({
    magic: fc.constantFrom("CNV1", "CNV1", "CNV1", "CNV1", "CNV2", "CNV", ""),
    type: fc.nat(255),
    roomId: fc.string({ maxLength: 40 }),
    from: fc.string({ maxLength: 20 }),
    to: fc.string({ maxLength: 20 }),
    seq: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    time: fc.oneof(fc.bigInt({ min: 0n, max: BigInt(Number.MAX_SAFE_INTEGER) }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })),
    identity: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    lie: fc.oneof({ weight: 6, arbitrary: fc.constant(undefined) }, fc.nat(64), fc.constant(0xffff_ffff)),
    body: fc.uint8Array({ maxLength: 64 }),
  })
  .map((f) => {
    const w = new Writer().raw(utf8(f.magic)).u8(f.type);
    for (const s of [f.roomId, f.from, f.to]) {
      const b = utf8(s).subarray(0, 255);
      w.u8(b.length).raw(b);
    }
    return w.u64(f.seq).u64(f.time).raw(f.identity).u32(f.lie ?? f.body.length).raw(f.body).finish();
  }),
  tail: fc.oneof(fc.constant("sig+proof" as const), fc.constant("sig+bad-proof" as const), fc.uint8Array({ maxLength: 120 })),
  sig: fc.uint8Array({ minLength: 64, maxLength: 64 }),
});

function buildInner(keys: RoomKeys, h: typeof halfStructured extends fc.Arbitrary<infer T> ? T : never): Uint8Array {
  if (h.tail instanceof Uint8Array) return concatBytes(h.signed, h.tail);
  const proof =
    h.tail === "sig+proof"
      ? new Uint8Array(createHmac("sha256", keys.proofKey).update(h.signed).update(h.sig).digest())
      : randomBytes(32);
  return concatBytes(h.signed, h.sig, proof);
}

function sealRaw(keys: RoomKeys, inner: Uint8Array): Uint8Array {
  const s = sodium();
  const nonce = s.randombytes_buf(24);
  return concatBytes(nonce, s.crypto_secretbox_easy(inner, nonce, keys.rosterKey));
}

function refuses(open: () => unknown, codes: readonly string[], where: string): void {
  let opened = false;
  try {
    open();
    opened = true;
  } catch (err) {
    expectCoded(err, CryptoError, codes, where);
  }
  check(!opened, `${where}: a hostile envelope opened`);
}

export const envelopeProperties: FuzzProperty[] = [
  fuzzProperty(
    "envelope: openEnvelope on random bytes is 'envelope-unsealed'",
    1000,
    fc.tuple(fc.uint8Array({ maxLength: 300 }), peerId),
    ([data, from], r) => refuses(() => openEnvelope({ keys: r.keys, roomId: r.roomId, from, data }), ["envelope-unsealed"], "random bytes"),
    room,
  ),
  fuzzProperty(
    "envelope: junk sealed under the right room key is refused by the parser, proof or signature check",
    1000,
    fc.tuple(fc.oneof({ weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }) }, { weight: 4, arbitrary: halfStructured }), peerId),
    ([junk, from], r) => {
      const inner = junk instanceof Uint8Array ? junk : buildInner(r.keys, junk);
      refuses(() => openEnvelope({ keys: r.keys, roomId: r.roomId, from, data: sealRaw(r.keys, inner) }), OPEN_CODES, "sealed junk");
    },
    room,
  ),
  fuzzProperty(
    "envelope: one flipped bit in a genuine envelope fails to open; the original opens",
    500,
    fc.tuple(fc.uint8Array({ maxLength: 200 }), fc.nat(), fc.nat(7), peerId),
    ([body, at, bit, from], r) => {
      const sealed = sealEnvelope({ keys: r.keys, identity: r.identity, type: 5, roomId: r.roomId, from, seq: 1n, timeMs: Date.now(), body });
      const tampered = sealed.slice();
      tampered[at % tampered.length]! ^= 1 << bit;
      refuses(() => openEnvelope({ keys: r.keys, roomId: r.roomId, from, data: tampered }), ["envelope-unsealed"], "flipped bit");
      const opened = openEnvelope({ keys: r.keys, roomId: r.roomId, from, data: sealed });
      check(Buffer.compare(opened.body, body) === 0, "the original opens to its body");
    },
    room,
  ),
  fuzzProperty(
    "envelope: a genuine envelope opens only for its relay-stamped sender, its room and its recipient",
    500,
    fc.record({
      from: peerId,
      other: peerId,
      me: peerId,
      sameFrom: fc.boolean(),
      to: fc.constantFrom("broadcast", "me", "other"),
      otherRoom: fc.boolean(),
    }),
    (c, r) => {
      const to = c.to === "broadcast" ? undefined : c.to === "me" ? c.me : `${c.me}-x`;
      const sealed = sealEnvelope({
        keys: r.keys,
        identity: r.identity,
        type: 2,
        roomId: r.roomId,
        from: c.from,
        ...(to !== undefined ? { to } : {}),
        seq: 7n,
        timeMs: 1,
        body: randomBytes(8),
      });
      const roomId = c.otherRoom ? `${r.roomId}x` : r.roomId;
      const claimedFrom = c.sameFrom ? c.from : `${c.other}-y`;
      const open = (): unknown => openEnvelope({ keys: r.keys, roomId, from: claimedFrom, to: c.me, data: sealed });
      if (!c.otherRoom && c.sameFrom && c.to !== "other") {
        const opened = openEnvelope({ keys: r.keys, roomId, from: claimedFrom, to: c.me, data: sealed });
        check(opened.from === c.from && opened.identityKey.length === 32, "opened with the stamped sender");
      } else {
        refuses(open, ["envelope-misbound"], "misbound");
      }
    },
    room,
  ),
];
