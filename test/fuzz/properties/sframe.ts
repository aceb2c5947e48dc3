/**
 * SFrame parser and receiver (src/crypto/sframe, RFC 9605) on hostile bytes: decodeHeader only ever
 * throws CryptoError('sframe-malformed'); SFrameReceiver.decrypt never accepts junk, never throws
 * anything but its four documented codes, and is left able to decrypt the next genuine frame.
 */
import { randomBytes } from "node:crypto";
import * as fc from "fast-check";
import { CryptoError } from "../../../src/crypto/index.js";
import {
  decodeHeader,
  encodeHeader,
  MAX_HEADER_LENGTH,
  SFrameReceiver,
  SFrameSender,
  type CipherSuiteId,
} from "../../../src/crypto/sframe/index.js";
import { check, expectCoded, fuzzProperty, note, type FuzzProperty } from "./harness.js";

const U64_MAX = (1n << 64n) - 1n;
const RECEIVER_CODES = ["sframe-malformed", "sframe-unknown-kid", "sframe-replay", "sframe-auth-failed"] as const;
const SUITES: CipherSuiteId[] = [1, 2, 3, 4, 5];
/** KIDs the receivers know: small (in the config byte), one byte, five bytes, and the largest. */
const KNOWN_KIDS = [0n, 1n, 3n, 7n, 8n, 200n, 1n << 40n, U64_MAX];

const u64 = fc.oneof(fc.bigInt({ min: 0n, max: 7n }), fc.bigInt({ min: 0n, max: 0xffffn }), fc.bigInt({ min: 0n, max: U64_MAX }));

/** A well-formed header for a known KID with any counter, then junk: reaches key lookup and the AEAD. */
const knownKidJunk = fc
  .tuple(fc.constantFrom(...KNOWN_KIDS), u64, fc.oneof(fc.uint8Array({ maxLength: 24 }), fc.uint8Array({ minLength: 16, maxLength: 80 })))
  .map(([kid, ctr, body]) => Buffer.concat([encodeHeader(kid, ctr), body]));

const junkFrame = fc.oneof({ weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }) }, { weight: 3, arbitrary: knownKidJunk });

interface Receivers {
  receivers: Map<CipherSuiteId, SFrameReceiver>;
  senders: Map<CipherSuiteId, SFrameSender>;
}

function receivers(): Receivers {
  const out: Receivers = { receivers: new Map(), senders: new Map() };
  for (const suite of SUITES) {
    const receiver = new SFrameReceiver({ suite });
    for (const kid of KNOWN_KIDS) {
      const key = randomBytes(32);
      receiver.addKey(kid, key);
      if (kid === 200n) out.senders.set(suite, new SFrameSender({ suite, kid, baseKey: key }));
    }
    out.receivers.set(suite, receiver);
  }
  return out;
}

function genuineStillDecrypts(state: Receivers, suite: CipherSuiteId): void {
  const plaintext = randomBytes(20);
  const frame = state.senders.get(suite)!.encrypt(plaintext);
  const result = state.receivers.get(suite)!.decrypt(frame);
  check(Buffer.compare(result.plaintext, plaintext) === 0, "a genuine frame decrypts after junk");
}

export const sframeProperties: FuzzProperty[] = [
  fuzzProperty("sframe: RFC 9605 §4.3 header encode → decode round trip for any u64 KID and CTR", 1000, fc.tuple(u64, u64), ([kid, ctr]) => {
    const bytes = encodeHeader(kid, ctr);
    const h = decodeHeader(Buffer.concat([bytes, randomBytes(3)]));
    check(h.kid === kid && h.ctr === ctr && h.length === bytes.length, `round trip of kid ${kid} ctr ${ctr}`);
  }),
  fuzzProperty("sframe: decodeHeader on random bytes parses within bounds or throws sframe-malformed", 2000, fc.uint8Array({ maxLength: 24 }), (data) => {
    let h;
    try {
      h = decodeHeader(data);
    } catch (err) {
      expectCoded(err, CryptoError, ["sframe-malformed"], "decodeHeader");
      return;
    }
    note("accepted");
    check(h.length >= 1 && h.length <= MAX_HEADER_LENGTH && h.length <= data.length, `header length ${h.length}`);
    check(h.kid >= 0n && h.kid <= U64_MAX && h.ctr >= 0n && h.ctr <= U64_MAX, "kid and ctr are u64");
    // Re-encoding gives the same values (the encoder may pick a shorter form than the input used).
    const again = decodeHeader(encodeHeader(h.kid, h.ctr));
    check(again.kid === h.kid && again.ctr === h.ctr, "re-encoded header decodes to the same values");
  }),
  fuzzProperty(
    "sframe: SFrameReceiver.decrypt never accepts junk and keeps working (every suite)",
    2000,
    fc.tuple(fc.constantFrom(...SUITES), junkFrame),
    ([suite, frame], state) => {
      try {
        state.receivers.get(suite)!.decrypt(frame);
      } catch (err) {
        expectCoded(err, CryptoError, RECEIVER_CODES, "decrypt");
        genuineStillDecrypts(state, suite);
        return;
      }
      throw new Error("the receiver accepted a junk frame");
    },
    receivers,
  ),
  fuzzProperty(
    "sframe: one flipped bit anywhere in a genuine frame fails; the original still decrypts once, then is a replay",
    1000,
    fc.tuple(fc.constantFrom(...SUITES), fc.uint8Array({ maxLength: 60 }), fc.nat(), fc.nat(7)),
    ([suite, plaintext, at, bit], state) => {
      const frame = state.senders.get(suite)!.encrypt(plaintext);
      const tampered = Buffer.from(frame);
      tampered[at % tampered.length]! ^= 1 << bit;
      const receiver = state.receivers.get(suite)!;
      try {
        receiver.decrypt(tampered);
        throw new Error("a tampered frame was accepted");
      } catch (err) {
        expectCoded(err, CryptoError, RECEIVER_CODES, "tampered decrypt");
      }
      check(Buffer.compare(receiver.decrypt(frame).plaintext, plaintext) === 0, "the original decrypts");
      try {
        receiver.decrypt(frame);
        throw new Error("a replayed frame was accepted");
      } catch (err) {
        expectCoded(err, CryptoError, ["sframe-replay"], "replayed decrypt");
      }
    },
    receivers,
  ),
];
