/**
 * The DTLS record guard (src/media/dtls-guard.ts): after the handshake, only records that
 * authenticate under the session reach werift. The record filter is checked alone with a stand-in
 * for authentication. Then two real werift peers connect over 127.0.0.1: forged records
 * (plaintext alerts, unknown content types, a ClientHello) would each end werift's DTLS session,
 * and must not. Records protected with the peer's real session keys must still get through.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { RTCDtlsTransport } from "werift";
import { authenticRecords, guardDtlsRecords, type DtlsRecord } from "../../src/media/dtls-guard.js";
import { startDtlsEarly } from "../../src/client/dtls-start.js";
import { answerAndConnect, offeredPair } from "../helpers/werift.js";

/** RFC 6347 §4.1 record: type | version 254.253 | epoch | 48-bit sequence number | length | fragment. */
function record(contentType: number, epoch: number, sequenceNumber: number, fragment: Buffer): Buffer {
  const header = Buffer.alloc(13);
  header[0] = contentType;
  header[1] = 254;
  header[2] = 253;
  header.writeUInt16BE(epoch, 3);
  header.writeUIntBE(sequenceNumber, 5, 6);
  header.writeUInt16BE(fragment.length, 11);
  return Buffer.concat([header, fragment]);
}

test("the record filter keeps authenticated records of epoch 1 or more, in order, and nothing else", () => {
  const good = (r: DtlsRecord): boolean => r.fragment[0] === 0x60;
  const a = record(23, 1, 7, Buffer.from([0x60, 1, 2]));
  const b = record(21, 1, 8, Buffer.from([0x60, 0]));
  const forged = record(21, 1, 9, Buffer.from([1, 0]));
  const clear = record(21, 0, 10, Buffer.from([0x60, 0]));
  const whole = Buffer.concat([a, b]);
  assert.equal(authenticRecords(whole, good), whole, "a datagram of good records passes as it is");
  assert.deepEqual(authenticRecords(Buffer.concat([forged, a, clear, b]), good), whole, "bad records are cut out, the rest keeps its order");
  assert.equal(authenticRecords(forged, good), undefined);
  assert.equal(authenticRecords(clear, good), undefined, "epoch 0 (in the clear) never passes once connected");
  assert.deepEqual(authenticRecords(Buffer.concat([a, b.subarray(0, b.length - 1)]), good), a, "a truncated record is dropped");
  assert.equal(authenticRecords(Buffer.concat([a, Buffer.from([23, 254, 253])]), good)?.length, a.length, "so is a stub of a header");
  const parsed: DtlsRecord[] = [];
  authenticRecords(record(23, 2, 2 ** 40 + 5, Buffer.from([9])), (r) => (parsed.push(r), false));
  assert.deepEqual(parsed[0]!.recordLayerHeader, { contentType: 23, protocolVersion: { major: 254, minor: 253 }, epoch: 2, sequenceNumber: 2 ** 40 + 5, contentLen: 1 });
});

test("two real werift peers: forged DTLS records no longer end the session, records under its keys still arrive", async () => {
  const { relay, client } = await offeredPair(["recvonly"], { relayDtls: guardDtlsRecords, clientDtls: startDtlsEarly });
  try {
    assert.deepEqual(await answerAndConnect(relay, client), ["connected", "connected"]);
    const server = relay.dtlsTransports[0]!;
    const ours = client.dtlsTransports[0]!;
    const fromIce = (transport: RTCDtlsTransport, datagram: Buffer): void => transport.iceTransport.connection.onData.execute(datagram);

    // Each of these, unguarded, moves werift's transport to "closed" (the relay's and the client's alike).
    // RFC 6347 §4.2.2 handshake header (type 1, length 42, message_seq 0, offset 0, fragment 42), then
    // RFC 5246 §7.4.1.2 ClientHello: version, random, no session id, no cookie, one suite, no compression.
    const helloBody = Buffer.concat([Buffer.from([254, 253]), randomBytes(32), Buffer.from([0, 0, 0, 2, 0xc0, 0x2b, 1, 0])]);
    const clientHello = Buffer.concat([Buffer.from([1, 0, 0, helloBody.length, 0, 0, 0, 0, 0, 0, 0, helloBody.length]), helloBody]);
    const forgeries = [
      record(21, 0, 1, Buffer.from([1, 0])), // warning close_notify in the clear (RFC 5246 §7.2.1)
      record(21, 1, 2, Buffer.from([1, 0])), // the same claiming epoch 1
      record(21, 1, 3, Buffer.from([2, 40])), // a fatal alert
      record(30, 0, 4, Buffer.alloc(0)), // content types werift does not know: read as alerts
      record(63, 1, 5, randomBytes(40)),
      record(22, 0, 6, clientHello), // a ClientHello after the handshake: werift resets its server
    ];
    for (const forged of forgeries) {
      fromIce(server, forged);
      fromIce(ours, forged);
    }
    await new Promise((r) => setImmediate(r));
    assert.equal(server.state, "connected", "the relay's end survives forged records");
    assert.equal(ours.state, "connected", "the client's end survives forged records");
    assert.equal(relay.connectionState, "connected");

    // Application data under the client's session keys reaches werift's data receiver on the relay.
    const cipher = (ours.dtls as unknown as { cipher: { encryptPacket(r: DtlsRecord): DtlsRecord } }).cipher;
    const protect = (contentType: number, sequenceNumber: number, plain: Buffer): Buffer => {
      const r = cipher.encryptPacket({
        recordLayerHeader: { contentType, protocolVersion: { major: 254, minor: 253 }, epoch: 1, sequenceNumber, contentLen: plain.length },
        fragment: plain,
      });
      return record(contentType, 1, sequenceNumber, r.fragment);
    };
    const received: Buffer[] = [];
    server.dataReceiver = (buf) => received.push(buf);
    fromIce(server, Buffer.concat([record(21, 0, 7, Buffer.from([1, 0])), protect(23, 1000, Buffer.from("hello"))]));
    assert.deepEqual(received.map(String), ["hello"], "an authenticated record beside a forged one gets through");

    // An authenticated close_notify still ends the session.
    const closeNotify = protect(21, 1001, Buffer.from([1, 0]));
    fromIce(server, closeNotify);
    assert.equal(server.state, "closed", "a genuine close_notify still closes the session");
  } finally {
    await client.close().catch(() => {});
    await relay.close().catch(() => {});
  }
});
