/**
 * DTLS start on the join path: the participant sends its ClientHello as soon as its DTLS transport
 * starts (werift would wait a fixed 100 ms), and the relay keeps DTLS records that arrive before its
 * DTLS server exists and hands them over once it does (werift would drop them, and the client would
 * retransmit only after 500 ms). Real werift peers over 127.0.0.1; the hold is also checked alone
 * on a transport stand-in whose events are werift's own Event class. The DTLS certificate's
 * fingerprint, computed once, is the one werift computes from the certificate.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { DtlsClient, Event, RTCDtlsTransport } from "werift";
import { startDtlsEarly } from "../../src/client/dtls-start.js";
import { answerAndConnect, offeredPair } from "../helpers/werift.js";
import { holdEarlyDtls } from "../../src/server/dtls-hold.js";
import { prepareDtlsCertificate } from "../../src/media/dtls-certificate.js";

test("the relay hands DTLS records that came before its DTLS server to the server once it exists, once, and nothing else", async () => {
  const onData = new Event<[Buffer]>();
  const onStateChange = new Event<[string]>();
  const stand = { state: "new", iceTransport: { connection: { onData } }, onStateChange };
  holdEarlyDtls(stand as unknown as RTCDtlsTransport);
  const clientHello = Buffer.from([22, 0xfe, 0xfd, 0, 0, 1]);
  const second = Buffer.from([22, 0xfe, 0xfd, 0, 0, 2]);
  const rtp = Buffer.from([0x80, 111, 0, 1]);
  onData.execute(clientHello);
  onData.execute(rtp);
  onData.execute(second);
  // werift announces "connecting", then creates its DTLS server, which subscribes to the ICE data.
  const seen: Buffer[] = [];
  stand.state = "connecting";
  onStateChange.execute("connecting");
  onData.subscribe((buf) => seen.push(buf));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(seen, [clientHello, second], "the server gets the early DTLS records, in order, and no other data");
  const later = Buffer.from([22, 0xfe, 0xfd, 0, 0, 3]);
  onData.execute(later);
  assert.deepEqual(seen, [clientHello, second, later], "records after the start are not held or repeated");
});

test("a participant's ClientHello leaves as its DTLS transport starts, and the handshake with the relay's end completes", async () => {
  const { relay, client } = await offeredPair(["recvonly", "sendonly"], { relayDtls: holdEarlyDtls, clientDtls: startDtlsEarly });
  try {
    const transport = client.dtlsTransports[0]!;
    // One turn of the event loop after the transport starts, the first flight is out.
    const flightAtStart = new Promise<number>((resolve) => {
      const sub = transport.onStateChange.subscribe((state) => {
        if (state !== "connecting") return;
        sub.unSubscribe();
        setImmediate(() => resolve(transport.dtls instanceof DtlsClient ? transport.dtls.dtls.flight : -1));
      });
    });
    const both = answerAndConnect(relay, client);
    assert.ok((await flightAtStart) >= 1, "the ClientHello (flight 1) was sent without werift's 100 ms wait");
    assert.deepEqual(await both, ["connected", "connected"]);
    assert.equal(relay.dtlsTransports[0]!.srtpStarted && transport.srtpStarted, true, "DTLS-SRTP keys on both ends");
  } finally {
    await client.close().catch(() => {});
    await relay.close().catch(() => {});
  }
});

test("the process's DTLS certificate keeps the fingerprint werift computes from it", async () => {
  const certificate = await RTCDtlsTransport.SetupCertificate();
  const computed = certificate.getFingerprints();
  await prepareDtlsCertificate();
  await prepareDtlsCertificate();
  assert.deepEqual(certificate.getFingerprints(), computed);
  assert.match(computed[0]!.value, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/i);
  assert.notEqual(certificate.getFingerprints(), certificate.getFingerprints(), "each caller gets its own array");
});
