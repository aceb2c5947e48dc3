/**
 * Signalling schema (src/protocol/messages.ts): whatever arrives, parseClientMessage and
 * parseServerMessage either return a message that survives another encode/parse unchanged, or throw
 * a ProtocolError with a known code. Nothing else escapes, and nothing pollutes Object.prototype.
 */
import { deepStrictEqual } from "node:assert/strict";
import * as fc from "fast-check";
import {
  encodeMessage,
  parseClientMessage,
  parseServerMessage,
  ProtocolError,
  PROTOCOL_VERSION,
  type ClientMessage,
  type ServerMessage,
} from "../../../src/protocol/index.js";
import { check, expectCoded, fuzzProperty, note, type FuzzProperty } from "./harness.js";

const PROTOCOL_CODES = ["bad-frame", "too-large", "bad-json", "bad-message"] as const;

const id = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);
const envelope = fc.stringMatching(/^[A-Za-z0-9_-]{1,300}$/);
const sdp = fc.string({ minLength: 1, maxLength: 400, unit: "binary" });
const counter = fc.nat();

/** fast-check may build null-prototype objects; messages off the wire are plain objects. */
function plain<T>(arbitrary: fc.Arbitrary<T>): fc.Arbitrary<T> {
  return arbitrary.map((v) => JSON.parse(JSON.stringify(v)) as T);
}

export const clientMessage: fc.Arbitrary<ClientMessage> = plain(fc.oneof(
  fc.record(
    { type: fc.constant("join" as const), v: fc.constant(PROTOCOL_VERSION as 1), room: id, token: fc.string({ maxLength: 300 }) },
    { requiredKeys: ["type", "v", "room"] },
  ),
  fc.record({ type: fc.constant("answer" as const), sdp }),
  fc.record({ type: fc.constant("relay" as const), to: id, data: envelope }, { requiredKeys: ["type", "data"] }),
  fc.record({ type: fc.constant("leave" as const) }),
  fc.record({ type: fc.constant("ping" as const), id: counter }),
));

const track = fc.record({ mid: fc.string({ minLength: 1, maxLength: 16 }), peerId: id, kind: fc.constantFrom("audio" as const, "video" as const) });

export const serverMessage: fc.Arbitrary<ServerMessage> = plain(fc.oneof(
  fc.record({
    type: fc.constant("welcome" as const),
    v: fc.constant(PROTOCOL_VERSION as 1),
    peerId: id,
    room: id,
    peers: fc.array(id, { maxLength: 8 }),
  }),
  fc.record({ type: fc.constant("peer-joined" as const), peerId: id }),
  fc.record({ type: fc.constant("peer-left" as const), peerId: id, reason: fc.string({ maxLength: 64 }) }),
  fc.record({ type: fc.constant("offer" as const), sdp, tracks: fc.array(track, { maxLength: 6 }) }),
  fc.record({ type: fc.constant("relay" as const), from: id, data: envelope }),
  fc.record({ type: fc.constant("pong" as const), id: counter }),
  fc.record({
    type: fc.constant("error" as const),
    code: fc.string({ maxLength: 64 }),
    message: fc.string({ maxLength: 1024 }),
    fatal: fc.boolean(),
  }),
));

const fieldNames = ["type", "v", "room", "token", "sdp", "to", "from", "data", "id", "peerId", "peers", "tracks", "reason", "code", "message", "fatal"];

/** A valid message with one field replaced, removed or added: the near misses a hostile peer sends. */
function nearMiss<T extends object>(valid: fc.Arbitrary<T>): fc.Arbitrary<string> {
  return fc
    .tuple(valid, fc.constantFrom(...fieldNames), fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.string({ unit: "binary" })), fc.nat(3))
    .map(([message, field, value, how]) => {
      const obj: Record<string, unknown> = { ...(message as Record<string, unknown>) };
      if (how === 0) delete obj[field];
      else obj[field] = value;
      const text = JSON.stringify(obj);
      // how === 3: also try to reach Object.prototype through a "__proto__" key (JSON.parse makes it an own key).
      return how === 3 ? text.replace(/^\{/, '{"__proto__":{"polluted":true},') : text;
    });
}

/** Anything a socket can deliver, and a few things it cannot (non-strings reach the parser in tests only). */
function hostileInput(valid: fc.Arbitrary<object>): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 3, arbitrary: nearMiss(valid) },
    { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 600 }) },
    { weight: 2, arbitrary: fc.json({ maxDepth: 4 }) },
    { weight: 1, arbitrary: valid.map((m) => JSON.stringify(m)) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)) },
    { weight: 1, arbitrary: fc.anything() },
  );
}

function parsesOrRefuses<T>(parse: (raw: unknown) => T): (raw: unknown) => void {
  return (raw) => {
    let parsed: T;
    try {
      parsed = parse(raw);
    } catch (err) {
      expectCoded(err, ProtocolError, PROTOCOL_CODES, "parse");
      check((err as Error).message.length <= 1200, "error messages stay short");
      return;
    } finally {
      check(({} as Record<string, unknown>)["polluted"] === undefined, "Object.prototype was polluted");
    }
    // Whatever was accepted is a well-formed message: it encodes and parses back to itself.
    note("accepted");
    deepStrictEqual(parse(encodeMessage(parsed as ClientMessage)), parsed);
  };
}

export const signallingProperties: FuzzProperty[] = [
  fuzzProperty("signalling: every valid client message survives encode → parseClientMessage", 500, clientMessage, (m) => {
    deepStrictEqual(parseClientMessage(encodeMessage(m)), m);
  }),
  fuzzProperty("signalling: every valid server message survives encode → parseServerMessage", 500, serverMessage, (m) => {
    deepStrictEqual(parseServerMessage(encodeMessage(m)), m);
  }),
  fuzzProperty(
    "signalling: parseClientMessage on hostile input returns a valid message or throws a coded ProtocolError",
    2000,
    hostileInput(clientMessage),
    parsesOrRefuses(parseClientMessage),
  ),
  fuzzProperty(
    "signalling: parseServerMessage on hostile input returns a valid message or throws a coded ProtocolError",
    2000,
    hostileInput(serverMessage),
    parsesOrRefuses(parseServerMessage),
  ),
  fuzzProperty(
    "signalling: a client cannot smuggle a relay-stamped field (from, peerId) through parseClientMessage",
    500,
    fc.tuple(clientMessage, id, id),
    ([m, from, peerId]) => {
      const parsed = parseClientMessage(JSON.stringify({ ...m, from, peerId })) as Record<string, unknown>;
      check(!("from" in parsed) && !("peerId" in parsed), "unknown fields must be stripped");
    },
  ),
];
