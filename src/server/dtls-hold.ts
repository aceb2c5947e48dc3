/**
 * DTLS records that reach the relay before werift has created its DTLS server are kept, not lost.
 */
import type { RTCDtlsTransport } from "werift";

/** DTLS records (RFC 9147 §4.1: content types 20–63 demultiplex as DTLS, RFC 7983 §7). */
const isDtlsRecord = (buf: Buffer): boolean => buf.length > 0 && buf[0]! >= 20 && buf[0]! <= 63;
/** At most this many early DTLS records are held per transport (a ClientHello is one or two). */
const EARLY_DTLS_RECORDS = 8;
const heldTransports = new WeakSet<RTCDtlsTransport>();

/**
 * A participant sends its DTLS ClientHello as soon as its end of ICE connects
 * (src/client/dtls-start.ts), which can be a moment before ours does, and werift
 * drops DTLS records that arrive before its DTLS server exists: the client would then retransmit
 * only after 500 ms. Hold such records and hand them to the server as soon as it is created.
 */
export function holdEarlyDtls(transport: RTCDtlsTransport): void {
  if (transport.state !== "new" || heldTransports.has(transport)) return;
  heldTransports.add(transport);
  const connection = transport.iceTransport.connection;
  const held: Buffer[] = [];
  const hold = connection.onData.subscribe((buf) => {
    if (transport.state === "new" && held.length < EARLY_DTLS_RECORDS && isDtlsRecord(buf)) held.push(buf);
  });
  const watch = transport.onStateChange.subscribe((state) => {
    if (state === "new") return;
    watch.unSubscribe();
    hold.unSubscribe();
    if (state !== "connecting") return;
    // werift creates the DTLS server right after announcing "connecting", in the same synchronous run.
    queueMicrotask(() => {
      for (const buf of held.splice(0)) connection.onData.execute(buf);
    });
  });
}
