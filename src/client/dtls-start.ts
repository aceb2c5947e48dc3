/**
 * Our end of DTLS-SRTP (RFC 5764) with the relay starts as soon as ICE connects, and once it is
 * up it takes only authenticated DTLS records (../media/dtls-guard.ts).
 */
import { DtlsClient, type RTCDtlsTransport } from "werift";
import { guardDtlsRecords } from "../media/dtls-guard.js";

const dtlsHooked = new WeakSet<RTCDtlsTransport>();

/**
 * werift's DTLS client (our end: the relay is ICE-controlling, so it is the DTLS server) waits a
 * fixed 100 ms after ICE connects before it sends its ClientHello; on loopback that is most of the
 * time from answer to media. Send it as soon as the transport starts instead. werift's own call
 * 100 ms later then gets the same handshake (a second ClientHello would fail it). The relay holds a
 * ClientHello that arrives before its DTLS server exists and hands it over once it does
 * (src/server/dtls-hold.ts), so sending early never costs a 500 ms retransmission.
 */
export function startDtlsEarly(transport: RTCDtlsTransport): void {
  // A forged record would otherwise end the session, and werift's senders then send nothing.
  guardDtlsRecords(transport);
  if (dtlsHooked.has(transport) || transport.state !== "new") return;
  dtlsHooked.add(transport);
  const sub = transport.onStateChange.subscribe((state) => {
    if (state !== "connecting") return;
    sub.unSubscribe();
    // werift builds the DtlsClient right after announcing "connecting", in the same synchronous run.
    queueMicrotask(() => {
      const client = transport.dtls;
      if (!(client instanceof DtlsClient) || transport.state !== "connecting") return;
      const handshake = client.connect();
      handshake.catch(() => {}); // werift's own call below reports a failure
      client.connect = () => handshake;
    });
  });
}
