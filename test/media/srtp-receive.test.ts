/**
 * The shared lean SRTP receive path (src/media/srtp-receive.ts): several streams on one session,
 * take-over from werift's rollover state (the packet werift received last is already a replay, and
 * werift's state follows), RTP padding (RFC 3550 §5.1), and the socket hook in front of werift:
 * what it keeps, what it passes on, and that nothing a datagram does can throw out of it. The
 * one-stream form the relay uses is tested in test/server/srtp-input.test.ts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createCipheriv, randomBytes } from "node:crypto";
import { SrtpSession, RtpHeader, type RTCDtlsTransport } from "werift";
import { SrtpReceiver, SrtpReceiveIndex, REPLAY_WINDOW, srtpHeaderLength, weriftSrtpState, type WeriftSrtpState } from "../../src/media/srtp-receive.js";
import { SRTP_AEAD_AES_128_GCM } from "../../src/media/werift-udp.js";
import { weriftSrtpPair } from "../helpers/srtp.js";
import { waitFor } from "../helpers/util.js";
import { createSocket, type Socket } from "node:dgram";
import { once } from "node:events";

/** A sender's werift SRTP session and the receiver's session keys. */
function session(): { sender: SrtpSession; keys: { sessionKey: Buffer; sessionSalt: Buffer } } {
  const { local: sender, remote: receiver } = weriftSrtpPair();
  const c = receiver.remoteContext.cipher;
  return { sender, keys: { sessionKey: Buffer.from(c.srtpSessionKey), sessionSalt: Buffer.from(c.srtpSessionSalt) } };
}

function protect(sender: SrtpSession, ssrc: number, seq: number, payload: Buffer): Buffer {
  return sender.encrypt(payload, new RtpHeader({ payloadType: 111, sequenceNumber: seq, timestamp: seq * 960, ssrc }));
}

/** RFC 7714 §8.1 by hand, for packets werift would not build (RTP padding). */
function seal(keys: { sessionKey: Buffer; sessionSalt: Buffer }, header: Buffer, body: Buffer, roc = 0): Buffer {
  const iv = Buffer.alloc(12);
  header.copy(iv, 2, 8, 12);
  iv.writeUInt32BE(roc, 6);
  iv.writeUInt16BE(header.readUInt16BE(2), 10);
  for (let i = 0; i < 12; i++) iv[i]! ^= keys.sessionSalt[i]!;
  const c = createCipheriv("aes-128-gcm", keys.sessionKey, iv);
  c.setAAD(header);
  const out = Buffer.concat([c.update(body), c.final()]);
  return Buffer.concat([header, out, c.getAuthTag()]);
}

test("RFC 3711 §3.3.2: several streams on one session, each with its own sink, index and counters", () => {
  const { sender, keys } = session();
  const receiver = SrtpReceiver.withKeys(keys);
  const got = new Map<number, number[]>([[1, []], [2, []]]);
  receiver.add(1, (_m, seq) => got.get(1)!.push(seq));
  receiver.add(2, (_m, seq) => got.get(2)!.push(seq));
  const one = Array.from({ length: 5 }, (_, i) => protect(sender, 1, 100 + i, randomBytes(40)));
  const two = Array.from({ length: 5 }, (_, i) => protect(sender, 2, 100 + i, randomBytes(40)));
  for (let i = 0; i < 5; i++) {
    assert.equal(receiver.receive(one[i]!), true);
    assert.equal(receiver.receive(two[i]!), true);
  }
  // The same sequence numbers on another SSRC are not replays; the same packet again is.
  assert.equal(receiver.receive(one[2]!), true);
  assert.deepEqual(got.get(1), [100, 101, 102, 103, 104]);
  assert.deepEqual(got.get(2), [100, 101, 102, 103, 104]);
  assert.deepEqual(receiver.countersOf(1), { packets: 5, replayed: 1, rejected: 0, malformed: 0 });
  assert.deepEqual(receiver.countersOf(2), { packets: 5, replayed: 0, rejected: 0, malformed: 0 });
  assert.equal(receiver.packets, 10);
  assert.equal(receiver.dropped, 1);
  // An SSRC not taken over, or given back, is werift's.
  assert.equal(receiver.receive(protect(sender, 3, 1, randomBytes(40))), false);
  receiver.remove(2);
  assert.equal(receiver.receive(protect(sender, 2, 105, randomBytes(40))), false);
  assert.equal(receiver.has(2), false);
});

test("take-over from werift's state: werift's last packet is a replay here, and werift's state follows the stream", () => {
  const { sender, keys } = session();
  const first = protect(sender, 9, 65534, randomBytes(30)); // werift delivered this one
  const follow: WeriftSrtpState = { rolloverCounter: 0, lastSequenceNumber: 65534 };
  const receiver = SrtpReceiver.withKeys(keys);
  const got: number[] = [];
  receiver.add(9, (_m, seq) => got.push(seq), { start: { roc: 0, lastSequenceNumber: 65534 }, follow });
  assert.equal(receiver.receive(first), true);
  assert.equal(receiver.replayed, 1, "the take-over packet replayed is dropped");
  const next = [65535, 0, 1].map((seq) => protect(sender, 9, seq, randomBytes(30)));
  const late = protect(sender, 9, 65533, randomBytes(30));
  // Another payload type on the stream is werift's (it knows the negotiated codecs).
  const otherType = sender.encrypt(randomBytes(30), new RtpHeader({ payloadType: 63, sequenceNumber: 2, timestamp: 0, ssrc: 9 }));
  const typed = SrtpReceiver.withKeys(keys);
  typed.add(9, () => {}, { payloadType: 111 });
  assert.equal(typed.receive(otherType), false);
  for (const p of next) receiver.receive(p);
  assert.deepEqual(follow, { rolloverCounter: 1, lastSequenceNumber: 1 }, "the rollover counter stepped at the wrap");
  receiver.receive(late);
  assert.deepEqual(got, [65535, 0, 1, 65533], "a late packet inside the window is delivered once");
  assert.deepEqual(follow, { rolloverCounter: 1, lastSequenceNumber: 1 }, "a late packet does not move werift's state back");
});

test("RFC 3550 §5.1 padding is removed; padding longer than the payload is dropped as malformed", () => {
  const { keys } = session();
  const receiver = SrtpReceiver.withKeys(keys);
  const got: Buffer[] = [];
  receiver.add(5, (_m, _s, _t, payload) => got.push(Buffer.from(payload)));
  const header = (seq: number): Buffer => {
    const h = Buffer.alloc(12);
    h[0] = 0xa0; // V=2, P=1
    h[1] = 111;
    h.writeUInt16BE(seq, 2);
    h.writeUInt32BE(seq * 960, 4);
    h.writeUInt32BE(5, 8);
    return h;
  };
  receiver.receive(seal(keys, header(1), Buffer.from([1, 2, 3, 0, 0, 3])));
  receiver.receive(seal(keys, header(2), Buffer.from([1, 2, 9])));
  receiver.receive(seal(keys, header(3), Buffer.from([1, 2, 0])));
  assert.deepEqual(got, [Buffer.from([1, 2, 3])]);
  assert.equal(receiver.malformed, 2);
});

test("RFC 7983 demultiplexing: the header length of SRTP, -1 for STUN, DTLS, SRTCP and short or broken headers", () => {
  const rtp = Buffer.alloc(12 + 16 + 4);
  rtp[0] = 0x80;
  rtp[1] = 111;
  assert.equal(srtpHeaderLength(rtp), 12);
  const csrc = Buffer.from(rtp);
  csrc[0] = 0x81;
  assert.equal(srtpHeaderLength(csrc), 16);
  const ext = Buffer.alloc(12 + 8 + 16);
  ext[0] = 0x90;
  ext.writeUInt16BE(1, 14);
  assert.equal(srtpHeaderLength(ext), 20);
  ext.writeUInt16BE(2, 14);
  assert.equal(srtpHeaderLength(ext), -1, "an extension running into the tag");
  for (const first of [0x00, 0x01, 22, 0x40]) {
    const d = Buffer.from(rtp);
    d[0] = first;
    assert.equal(srtpHeaderLength(d), -1);
  }
  const rtcp = Buffer.from(rtp);
  rtcp[1] = 201;
  assert.equal(srtpHeaderLength(rtcp), -1);
  assert.equal(srtpHeaderLength(rtp.subarray(0, 27)), -1);
});

test("rollover estimate of RFC 3711 §3.3.1 and the replay window edge", () => {
  const index = new SrtpReceiveIndex({ roc: 3, lastSequenceNumber: 65500 });
  assert.equal(index.estimate(10), 4, "a wrap");
  assert.equal(index.isReplay(3, 65500), true, "the starting packet");
  assert.equal(index.isReplay(3, 65500 - REPLAY_WINDOW + 1), false);
  assert.equal(index.isReplay(3, 65500 - REPLAY_WINDOW), true);
});

/** A stand-in for werift's DTLS transport and the UDP transport under its selected pair. */
function fakeDtls(keys: { sessionKey: Buffer; sessionSalt: Buffer }, profile = SRTP_AEAD_AES_128_GCM) {
  const passed: Buffer[] = [];
  const transport = { type: "udp", closed: false, onData: (data: Buffer, _addr: [string, number]) => void passed.push(data) };
  const dtls = {
    state: "connected",
    srtpStarted: true,
    srtp: { remoteContext: { profile, cipher: { srtpSessionKey: keys.sessionKey, srtpSessionSalt: keys.sessionSalt }, srtpSSRCStates: { 7: { rolloverCounter: 0, lastSequenceNumber: 10 } } } },
    iceTransport: { connection: { nominated: { protocol: { transport } } } },
  } as unknown as RTCDtlsTransport;
  return { dtls, transport, passed };
}

test("the socket hook keeps registered SRTP, passes everything else on to werift, survives any datagram and a throwing sink, and detaches", () => {
  const { sender, keys } = session();
  const { dtls, transport, passed } = fakeDtls(keys);
  const original = transport.onData;
  assert.equal(SrtpReceiver.attach(fakeDtls(keys, 0x0001).dtls), undefined, "another profile stays with werift");
  const receiver = SrtpReceiver.attach(dtls)!;
  assert.ok(receiver);
  assert.equal(receiver.isOn(dtls), true);
  assert.deepEqual(weriftSrtpState(dtls, 7), { rolloverCounter: 0, lastSequenceNumber: 10 });
  let delivered = 0;
  receiver.add(7, () => {
    delivered++;
    if (delivered === 2) throw new Error("a sink that throws");
  });
  const feed = (d: Buffer): void => transport.onData(d, ["127.0.0.1", 1]);
  feed(protect(sender, 7, 11, randomBytes(30)));
  feed(protect(sender, 7, 12, randomBytes(30)));
  feed(protect(sender, 7, 13, randomBytes(30)));
  feed(protect(sender, 8, 1, randomBytes(30)));
  assert.equal(delivered, 3);
  assert.equal(passed.length, 1, "the other SSRC went to werift");
  // Random datagrams, and random bodies behind the stream's header: never thrown out of the hook.
  for (let i = 0; i < 2000; i++) {
    const d = randomBytes(i % 120);
    if (i % 2 && d.length >= 12) {
      d[0] = 0x80 | (d[0]! & 0x3f);
      d.writeUInt32BE(7, 8);
    }
    feed(d);
  }
  assert.equal(delivered, 3, "nothing random was delivered");
  assert.ok(receiver.rejected + receiver.replayed > 0);
  receiver.detach();
  assert.equal(transport.onData, original);
  assert.equal(receiver.attached, false);
});

test("on a real socket, datagrams come in native batches: registered SRTP is taken, the rest reaches werift as copies with its sender; detach gives dgram the socket back", async () => {
  const { sender, keys } = session();
  const bound = async (): Promise<Socket> => {
    const s = createSocket("udp4");
    await new Promise<void>((resolve) => s.bind(0, "127.0.0.1", resolve));
    return s;
  };
  const [rx, tx] = [await bound(), await bound()];
  const { dtls, transport } = fakeDtls(keys);
  // What werift's UdpTransport does: dgram's 'message' events go to onData.
  (transport as { socket?: Socket }).socket = rx;
  rx.on("message", (data, info) => transport.onData(data, [info.address, info.port]));
  const passed: { data: Buffer; addr: [string, number] }[] = [];
  transport.onData = (data, addr) => void passed.push({ data, addr });
  const receiver = SrtpReceiver.attach(dtls)!;
  const delivered: number[] = [];
  receiver.add(7, (_m, seq) => void delivered.push(seq));
  const until = (what: string, done: () => boolean): Promise<void> => waitFor(done, 5000, what);
  try {
    assert.equal(receiver.batched, true, "the test command builds the native module");
    const port = rx.address().port;
    for (let seq = 11; seq < 31; seq++) tx.send(protect(sender, 7, seq, randomBytes(40)), port, "127.0.0.1");
    tx.send(Buffer.from("a STUN or DTLS datagram"), port, "127.0.0.1");
    await until("20 packets and one passed on", () => delivered.length === 20 && passed.length === 1);
    assert.deepEqual(delivered, Array.from({ length: 20 }, (_, i) => 11 + i));
    assert.equal(passed[0]!.data.toString(), "a STUN or DTLS datagram");
    assert.deepEqual(passed[0]!.addr, ["127.0.0.1", tx.address().port]);
    // A copy: the batch's receive area is reused for the next datagrams.
    tx.send(Buffer.from("x".repeat(23)), port, "127.0.0.1");
    await until("a second datagram passed on", () => passed.length === 2);
    assert.equal(passed[0]!.data.toString(), "a STUN or DTLS datagram");
    receiver.detach();
    assert.equal(receiver.batched, false);
    const message = once(rx, "message");
    tx.send(protect(sender, 7, 40, randomBytes(40)), port, "127.0.0.1");
    await message;
    assert.equal(passed.length, 3, "after detach, dgram delivers to werift again");
    assert.equal(delivered.length, 20);
  } finally {
    receiver.detach();
    rx.close();
    tx.close();
  }
});

test("native and node:crypto decryption deliver the same payloads and refuse the same forgeries", () => {
  const { sender, keys } = session();
  const viaNative = SrtpReceiver.withKeys(keys);
  const viaNode = SrtpReceiver.withKeys(keys, { native: false });
  assert.equal(viaNative.usesNative, true, "the test command builds the native module");
  assert.equal(viaNode.usesNative, false);
  const got: { native: Buffer[]; node: Buffer[] } = { native: [], node: [] };
  viaNative.add(7, (_m, _s, _t, p) => got.native.push(Buffer.from(p)));
  viaNode.add(7, (_m, _s, _t, p) => got.node.push(Buffer.from(p)));
  const packets = Array.from({ length: 50 }, (_, i) => protect(sender, 7, (65_500 + i) & 0xffff, randomBytes(1 + ((i * 37) % 1100))));
  // A forged packet (tag bit flipped) and one with padding sealed by hand.
  const forged = Buffer.from(protect(sender, 7, 200, randomBytes(60)));
  forged[forged.length - 1]! ^= 1;
  const header = Buffer.from([0xa0, 111, 0, 201, 0, 0, 0, 1, 0, 0, 0, 7]);
  const padded = seal(keys, header, Buffer.concat([randomBytes(30), Buffer.from([0, 0, 3])]), 1);
  for (const p of [...packets, forged, padded]) {
    assert.equal(viaNative.receive(Buffer.from(p)), true);
    assert.equal(viaNode.receive(Buffer.from(p)), true);
  }
  assert.equal(got.native.length, 51);
  assert.deepEqual(got.native, got.node);
  assert.deepEqual(viaNative.countersOf(7), viaNode.countersOf(7));
  assert.equal(viaNative.countersOf(7)!.rejected, 1);
});
