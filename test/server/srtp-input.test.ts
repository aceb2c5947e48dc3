/**
 * The lean receive path of audio uploads (src/server/srtp-input.ts): RFC 7714 decryption (the
 * RFC's vector and packets protected by werift's SRTP context, as every participant sends them),
 * the rollover counter across a sequence-number wrap, the replay list, forgeries, and the
 * demultiplexing that leaves everything else to werift.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { SrtpSession, RtpHeader } from "werift";
import { SrtpInput, SrtpReceiveIndex, REPLAY_WINDOW } from "../../src/server/srtp-input.js";
import { loadRfc7714Vector, weriftSrtpPair } from "../helpers/srtp.js";

interface Delivered {
  marker: boolean;
  seq: number;
  timestamp: number;
  payload: Buffer;
}

/** A publisher's werift SRTP session and the receive path for its SSRC at the relay. */
function pair(ssrc: number): { publisher: SrtpSession; input: SrtpInput; got: Delivered[] } {
  const { local: publisher, remote: relay } = weriftSrtpPair();
  const got: Delivered[] = [];
  const cipher = relay.remoteContext.cipher;
  const input = SrtpInput.withKeys(ssrc, { sessionKey: cipher.srtpSessionKey, sessionSalt: cipher.srtpSessionSalt }, (marker, seq, timestamp, payload) =>
    got.push({ marker, seq, timestamp, payload: Buffer.from(payload) }),
  );
  return { publisher, input, got };
}

function protect(publisher: SrtpSession, ssrc: number, seq: number, payload: Buffer, extensions = false): Buffer {
  const header = new RtpHeader({ payloadType: 111, sequenceNumber: seq, timestamp: seq * 960, ssrc, marker: seq % 7 === 0 });
  if (extensions) {
    header.extension = true;
    header.extensions = [{ id: 1, payload: Buffer.from("0") }, { id: 3, payload: Buffer.from([1, 2, 3]) }];
  }
  return publisher.encrypt(payload, header);
}

test("RFC 7714 §16.1.1: the vector's SRTP packet decrypts to its RTP payload", () => {
  const v = loadRfc7714Vector();
  const got: Buffer[] = [];
  const rtp = Buffer.from(v.rtp, "hex");
  const input = SrtpInput.withKeys(rtp.readUInt32BE(8), { sessionKey: Buffer.from(v.session_key, "hex"), sessionSalt: Buffer.from(v.session_salt, "hex") }, (_m, _s, _t, p) => got.push(p));
  assert.equal(input.receive(Buffer.from(v.srtp, "hex")), true);
  assert.deepEqual(got, [rtp.subarray(12)]);
});

test("packets werift protects (with and without header extensions) arrive with their fields, across a sequence wrap", () => {
  const ssrc = 0x1234abcd;
  const { publisher, input, got } = pair(ssrc);
  const sent: Delivered[] = [];
  // 65530 … 65535, 0 … 20: the publisher's rollover counter steps to 1 at the wrap.
  for (let i = 0; i < 27; i++) {
    const seq = (65530 + i) & 0xffff;
    const payload = randomBytes(20 + i);
    sent.push({ marker: seq % 7 === 0, seq, timestamp: (seq * 960) >>> 0, payload });
    assert.equal(input.receive(protect(publisher, ssrc, seq, payload, i % 2 === 0)), true);
  }
  assert.deepEqual(got, sent);
  assert.equal(input.packets, 27);
  assert.equal(input.dropped, 0);
});

test("a replayed packet, a forged one and one too old are dropped, never delivered", () => {
  const ssrc = 7;
  const { publisher, input, got } = pair(ssrc);
  const packets = Array.from({ length: REPLAY_WINDOW + 10 }, (_, i) => protect(publisher, ssrc, 1000 + i, randomBytes(30)));
  input.receive(packets[0]!);
  assert.equal(input.receive(packets[0]!), true, "a replay is this stream's packet");
  assert.equal(got.length, 1, "the replay is not delivered");
  for (let bit = 0; bit < packets[1]!.length * 8; bit += 13) {
    const forged = Buffer.from(packets[1]!);
    forged[bit >> 3]! ^= 1 << (bit & 7);
    if (forged.readUInt32BE(8) !== ssrc || forged[0]! >> 6 !== 2) continue; // now someone else's packet
    input.receive(forged);
  }
  assert.equal(got.length, 1, "no forgery is delivered");
  // Skip ahead past the window: packet 1 is now too old to tell from a replay.
  input.receive(packets[packets.length - 1]!);
  input.receive(packets[1]!);
  assert.equal(got.length, 2, "a packet older than the replay window is dropped");
  // Late but inside the window, and not seen yet: delivered once.
  input.receive(packets[packets.length - 5]!);
  input.receive(packets[packets.length - 5]!);
  assert.equal(got.length, 3);
  assert.equal(got[2]!.seq, 1000 + packets.length - 5);
  assert.ok(input.dropped >= 4);
});

test("STUN, DTLS, RTCP and other SSRCs are left to werift", () => {
  const { publisher, input, got } = pair(42);
  const stun = Buffer.concat([Buffer.from([0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42]), randomBytes(12)]);
  const dtls = Buffer.concat([Buffer.from([22, 0xfe, 0xfd]), randomBytes(40)]);
  const rtcp = Buffer.concat([Buffer.from([0x80, 200, 0, 6]), randomBytes(40)]);
  const other = protect(publisher, 43, 1, randomBytes(30));
  for (const d of [stun, dtls, rtcp, other, Buffer.alloc(0), Buffer.from([0x80])]) assert.equal(input.receive(d), false);
  assert.equal(got.length, 0);
});

test("rollover estimate of RFC 3711 §3.3.1 from a known state", () => {
  const index = new SrtpReceiveIndex({ roc: 3, lastSequenceNumber: 65500 });
  assert.equal(index.estimate(65501), 3);
  assert.equal(index.estimate(10), 4, "a wrap");
  const low = new SrtpReceiveIndex({ roc: 3, lastSequenceNumber: 10 });
  assert.equal(low.estimate(65530), 2, "a late packet from before the wrap");
  assert.equal(low.estimate(11), 3);
});
