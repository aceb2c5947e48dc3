/**
 * The lean forwarder's SRTP protection (src/server/srtp-protect.ts): the RFC 7714 vector, the
 * rollover counter of RFC 3711 §3.3.1, and interoperation with werift's own SRTP receive context
 * (the one every Conclave participant decrypts with), including a sequence-number wrap and tampering.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createCipheriv, randomBytes, randomInt } from "node:crypto";
import { SrtpSession, SrtcpSession, RtpPacket, RtcpSrPacket, RtcpSenderInfo, ProtectionProfileAeadAes128Gcm } from "werift";
import {
  KeystreamAhead,
  RolloverCounter,
  SrtpGcmProtector,
  StreamSequencer,
  writeRtpHeader,
  RTP_HEADER_BYTES,
  GCM_TAG_BYTES,
} from "../../src/server/srtp-protect.js";
import { ntpTimestamp } from "../../src/server/downlink.js";
import { protectSrtcp } from "../../src/server/srtp-protect.js";
import { loadRfc7714Vector, weriftSrtpPair } from "../helpers/srtp.js";

test("RFC 7714 §16.1.1 AEAD_AES_128_GCM SRTP packet protection", () => {
  const v = loadRfc7714Vector();
  const rtp = Buffer.from(v.rtp, "hex");
  const protector = new SrtpGcmProtector(Buffer.from(v.session_key, "hex"), Buffer.from(v.session_salt, "hex"));
  const marker = (rtp[1]! & 0x80) !== 0;
  const out = protector.protect(
    marker,
    rtp[1]! & 0x7f,
    rtp.readUInt16BE(2),
    rtp.readUInt32BE(4),
    rtp.readUInt32BE(8),
    v.roc,
    rtp.subarray(RTP_HEADER_BYTES),
  );
  assert.equal(out.toString("hex"), v.srtp);
});

/** RFC 7714 §8 with OpenSSL's GCM, as the reference the table-driven implementation must match. */
function referenceProtect(key: Buffer, salt: Buffer, header: Buffer, roc: number, payload: Buffer): Buffer {
  const iv = Buffer.alloc(12);
  iv.writeUInt32BE(header.readUInt32BE(8), 2);
  iv.writeUInt32BE(roc, 6);
  iv.writeUInt16BE(header.readUInt16BE(2), 10);
  for (let i = 0; i < 12; i++) iv[i]! ^= salt[i]!;
  const c = createCipheriv("aes-128-gcm", key, iv);
  c.setAAD(header);
  const body = c.update(payload);
  c.final();
  return Buffer.concat([header, body, c.getAuthTag()]);
}

test("matches OpenSSL's AES-GCM on random packets of every length up to 1500 bytes", () => {
  const key = randomBytes(16);
  const salt = randomBytes(12);
  const protector = new SrtpGcmProtector(key, salt);
  for (let length = 0; length <= 1500; length += length < 64 ? 1 : 37) {
    for (let k = 0; k < 3; k++) {
      const header = Buffer.alloc(RTP_HEADER_BYTES);
      const marker = randomInt(2) === 1;
      const pt = randomInt(128);
      const seq = randomInt(0x10000);
      const ts = randomInt(0x1_0000_0000);
      const ssrc = randomInt(0x1_0000_0000);
      const roc = k === 2 ? 0xffffffff : randomInt(0x1_0000_0000);
      writeRtpHeader(header, marker, pt, seq, ts, ssrc);
      const payload = randomBytes(length);
      const got = protector.protect(marker, pt, seq, ts, ssrc, roc, payload);
      assert.equal(got.toString("hex"), referenceProtect(key, salt, header, roc, payload).toString("hex"), `length ${length}`);
    }
  }
});

test("keystream prepared ahead gives the same packets as keystream made on the spot", () => {
  const key = randomBytes(16);
  const salt = randomBytes(12);
  const plain = new SrtpGcmProtector(key, salt);
  const batched = new SrtpGcmProtector(key, salt);
  const ahead = new KeystreamAhead();
  let seq = 65520;
  let roc = 0;
  for (let i = 0; i < 300; i++) {
    // Mostly consecutive, with gaps, long payloads and a wrap (the ROC steps with it).
    seq = (seq + (i % 37 === 0 ? 5 : 1)) & 0xffff;
    if (seq < 16 && i > 0 && roc === 0) roc = 1;
    const payload = randomBytes(i % 50 === 0 ? 700 : 60 + (i % 90));
    const a = plain.protect(false, 111, seq, i * 960, 0xabc, roc, payload);
    const b = batched.protect(false, 111, seq, i * 960, 0xabc, roc, payload, ahead);
    assert.equal(b.toString("hex"), a.toString("hex"), `packet ${i} (seq ${seq})`);
  }
});

test("RFC 3711 §3.3.1: a forwarded stream never repeats a sequence number", () => {
  const s = new StreamSequencer();
  assert.equal(s.next(100), 100);
  assert.equal(s.next(101), 101);
  assert.equal(s.next(101), -1, "duplicate dropped");
  assert.equal(s.next(99), -1, "late packet dropped");
  assert.equal(s.next(105), 105, "a gap passes through");
  assert.equal(s.next(65535 - 100), -1);
  assert.equal(s.dropped, 3);
  // A sender that restarts far behind is followed after a while, continuing our numbering.
  const r = new StreamSequencer();
  r.next(40_000);
  const outs: number[] = [];
  for (let i = 0; i < StreamSequencer.RESYNC_AFTER + 1; i++) outs.push(r.next(30_000 + i));
  assert.deepEqual(outs.slice(0, -2), new Array<number>(StreamSequencer.RESYNC_AFTER - 1).fill(-1));
  assert.deepEqual(outs.slice(-2), [40_001, 40_002]);
  const w = new StreamSequencer();
  w.next(65534);
  assert.equal(w.next(65535), 65535);
  assert.equal(w.next(0), 0, "wraps forward");
  assert.equal(w.next(65535), -1, "and not back");
});

test("RFC 3550 §5.1 fixed header layout", () => {
  const h = Buffer.alloc(RTP_HEADER_BYTES);
  writeRtpHeader(h, true, 111, 0xbeef, 0xdeadbeef, 0x01020304);
  assert.equal(h.toString("hex"), "80efbeefdeadbeef01020304");
  writeRtpHeader(h, false, 0, 0, 0, 0xffffffff);
  assert.equal(h.toString("hex"), "8000000000000000ffffffff");
});

test("RFC 3711 §3.3.1 rollover counter follows the sequence numbers", () => {
  const roc = new RolloverCounter();
  assert.equal(roc.next(65530), 0);
  assert.equal(roc.next(65535), 0);
  assert.equal(roc.next(2), 1, "a forward step across the wrap increments the ROC");
  assert.equal(roc.next(65534), 0, "a late packet from before the wrap keeps the old ROC");
  assert.equal(roc.next(3), 1, "and does not move the state");
  assert.equal(roc.next(1), 1, "a late packet after the wrap keeps the current ROC");
  for (let s = 4; s < 65536; s += 1000) roc.next(s);
  assert.equal(roc.next(10), 2);
});

test("werift's SRTP receiver decrypts what the lean path protects, across a sequence wrap", () => {
  const { local, remote } = weriftSrtpPair();
  const cipher = local.localContext.cipher;
  const protector = new SrtpGcmProtector(cipher.srtpSessionKey, cipher.srtpSessionSalt);
  const roc = new RolloverCounter();
  const ssrc = 0x1234abcd;
  let seq = 65000;
  for (let i = 0; i < 1500; i++) {
    const payload = randomBytes(20 + (i % 200));
    const timestamp = (0xfffff000 + i * 960) >>> 0;
    const packet = protector.protect(i % 7 === 0, 111, seq, timestamp, ssrc, roc.next(seq), payload);
    assert.equal(packet.length, RTP_HEADER_BYTES + payload.length + GCM_TAG_BYTES);
    const rtp = RtpPacket.deSerialize(remote.decrypt(packet));
    assert.equal(rtp.header.sequenceNumber, seq);
    assert.equal(rtp.header.timestamp, timestamp);
    assert.equal(rtp.header.ssrc, ssrc);
    assert.equal(rtp.header.payloadType, 111);
    assert.equal(rtp.header.marker, i % 7 === 0);
    assert.deepEqual(rtp.payload, payload);
    seq = (seq + 1) & 0xffff;
  }
});

test("one flipped bit anywhere fails authentication", () => {
  const { local, remote } = weriftSrtpPair();
  const cipher = local.localContext.cipher;
  const protector = new SrtpGcmProtector(cipher.srtpSessionKey, cipher.srtpSessionSalt);
  const payload = randomBytes(80);
  const good = protector.protect(false, 111, 100, 4800, 42, 0, payload);
  // werift tracks rollover state per receive context: use a fresh one for every attempt.
  for (const bit of [0, 8 * 2 + 3, 8 * 11, 8 * 12 + 5, 8 * (good.length - 1)]) {
    const bad = Buffer.from(good);
    bad[bit >> 3]! ^= 1 << (bit & 7);
    const fresh = new SrtpSession({ ...remote.config });
    assert.throws(() => fresh.decrypt(bad), Error, `bit ${bit} flipped`);
  }
  assert.deepEqual(RtpPacket.deSerialize(new SrtpSession({ ...remote.config }).decrypt(good)).payload, payload);
});

test("RFC 3550 §4 NTP timestamps", () => {
  assert.equal(ntpTimestamp(0), 2_208_988_800n << 32n);
  assert.equal(ntpTimestamp(1500), ((2_208_988_800n + 1n) << 32n) | 0x8000_0000n);
  assert.equal(ntpTimestamp(1_700_000_000_250) & 0xffff_ffffn, 0x4000_0000n);
});

test("RFC 7714 §9: werift's SRTCP receiver decrypts what protectSrtcp protects; one flipped bit fails", () => {
  const a = { key: randomBytes(16), salt: randomBytes(12) };
  const b = { key: randomBytes(16), salt: randomBytes(12) };
  const keys = (x: typeof a, y: typeof a) => ({ localMasterKey: x.key, localMasterSalt: x.salt, remoteMasterKey: y.key, remoteMasterSalt: y.salt });
  const local = new SrtcpSession({ keys: keys(a, b), profile: ProtectionProfileAeadAes128Gcm });
  const remote = new SrtcpSession({ keys: keys(b, a), profile: ProtectionProfileAeadAes128Gcm });
  const cipher = local.localContext.cipher as unknown as { srtcpSessionKey: Buffer; srtcpSessionSalt: Buffer };
  const sr = (ssrc: number, packets: number): Buffer =>
    new RtcpSrPacket({ ssrc, senderInfo: new RtcpSenderInfo({ ntpTimestamp: ntpTimestamp(Date.now()), rtpTimestamp: 1234, packetCount: packets, octetCount: packets * 100 }) }).serialize();
  for (const index of [1, 2, 77, 0x7fffffff]) {
    const compound = Buffer.concat([sr(0xdeadbeef, index & 0xffff), sr(0x01020304, 9)]);
    const packet = protectSrtcp(cipher.srtcpSessionKey, cipher.srtcpSessionSalt, compound, index);
    assert.equal(packet.length, compound.length + 16 + 4);
    assert.deepEqual(packet.subarray(0, 8), compound.subarray(0, 8), "header and sender SSRC in the clear");
    assert.equal(packet.readUInt32BE(packet.length - 4), (0x80000000 | index) >>> 0, "E flag and index");
    assert.deepEqual(remote.decrypt(packet), compound, `index ${index} decrypts`);
    // The same compound and key under werift's own protection at that index: the same bytes.
    const state = local.localContext.getSrtcpSsrcState(0xdeadbeef);
    state.srtcpIndex = index - 1;
    assert.deepEqual(local.encrypt(compound), packet, "byte for byte werift's SRTCP");
    const flipped = Buffer.from(packet);
    flipped[randomInt(8, packet.length - 4)]! ^= 1 << randomInt(8);
    assert.throws(() => remote.decrypt(flipped), Error, "a flipped bit fails authentication");
  }
});

