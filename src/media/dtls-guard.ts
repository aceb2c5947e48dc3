/**
 * After the DTLS handshake, only authenticated DTLS records reach werift.
 *
 * werift's DTLS layer takes a record it reads as an alert as the end of the session, and reads
 * every record of a content type it does not know (24–63) as an alert. It decrypts an alert only
 * when the plaintext bytes do not already name a known alert, so a plaintext `close_notify` works,
 * and it accepts these records from any source address. It also resets its DTLS server on any
 * ClientHello that arrives after the handshake. So one forged datagram from anywhere moves the
 * RTCDtlsTransport to "closed" (a ClientHello: "failed") while ICE and SRTP carry on. From then on werift's RTCRtpSender
 * sends nothing, and the relay's lean forwarder (src/server/srtp-output.ts) drops the subscriber's
 * downlinks at its next renegotiation. Nothing reports the failure.
 *
 * Once the handshake is done, a genuine peer protects every DTLS record under the negotiated
 * epoch (RFC 6347 §4.1, RFC 5246 §6.2.3.3 AEAD: a forged or altered record fails authentication).
 * What it still sends in the clear (epoch 0) is a retransmission of its handshake flight, and werift
 * ignores that once connected. So from "connected" on, a record reaches werift only if its epoch is
 * 1 or more and it authenticates under the session's cipher. An authenticated close_notify still
 * ends the session.
 */
import type { RTCDtlsTransport } from "werift";

/** RFC 6347 §4.1: DTLS record header length (type, version, epoch, sequence number, length). */
const RECORD_HEADER_BYTES = 13;

/**
 * One DTLS 1.2 record header (RFC 6347 §4.1):
 *
 *   0        1        2        3        4        5 ... 10                   11       12
 *  +--------+--------+--------+--------+--------+----------------------+--------+--------+
 *  |  type  |    version      |      epoch      |  sequence number (48) |     length      |
 *  +--------+--------+--------+--------+--------+----------------------+--------+--------+
 */
export interface DtlsRecordHeader {
  contentType: number;
  protocolVersion: { major: number; minor: number };
  epoch: number;
  sequenceNumber: number;
  contentLen: number;
}

export interface DtlsRecord {
  recordLayerHeader: DtlsRecordHeader;
  fragment: Buffer;
}

/**
 * The records of `datagram` that `authentic` accepts, in order: `datagram` itself when it keeps
 * them all, a new buffer when it keeps some, undefined when it keeps none. A truncated last record is
 * dropped (werift would skip it too).
 */
export function authenticRecords(datagram: Buffer, authentic: (record: DtlsRecord) => boolean): Buffer | undefined {
  const kept: Buffer[] = [];
  let all = true;
  for (let start = 0; start < datagram.length; ) {
    if (datagram.length - start < RECORD_HEADER_BYTES) {
      all = false;
      break;
    }
    const contentLen = datagram.readUInt16BE(start + 11);
    const end = start + RECORD_HEADER_BYTES + contentLen;
    if (end > datagram.length) {
      all = false;
      break;
    }
    const record: DtlsRecord = {
      recordLayerHeader: {
        contentType: datagram[start]!,
        protocolVersion: { major: datagram[start + 1]!, minor: datagram[start + 2]! },
        epoch: datagram.readUInt16BE(start + 3),
        sequenceNumber: datagram.readUIntBE(start + 5, 6),
        contentLen,
      },
      fragment: datagram.subarray(start + RECORD_HEADER_BYTES, end),
    };
    if (record.recordLayerHeader.epoch > 0 && authentic(record)) kept.push(datagram.subarray(start, end));
    else all = false;
    start = end;
  }
  if (all) return datagram;
  return kept.length > 0 ? Buffer.concat(kept) : undefined;
}

/** The parts of werift's DtlsSocket this guard uses (not in werift's typings). */
interface WeriftDtlsSocket {
  /** The session's record protection; werift replaces it if it restarts the handshake. */
  cipher?: { decryptPacket(record: DtlsRecord): Buffer };
  /** Where werift's DTLS layer takes each datagram from ICE (DtlsSocket.udpOnMessage). */
  transport?: { socket?: { onData?: (data: Buffer) => void } };
}

const guarded = new WeakSet<RTCDtlsTransport>();

/**
 * From the moment `transport` is connected, pass werift only the DTLS records that authenticate
 * (see the module comment). Safe to call more than once, and in any state.
 */
export function guardDtlsRecords(transport: RTCDtlsTransport): void {
  if (guarded.has(transport)) return;
  guarded.add(transport);
  if (transport.state === "connected") {
    install(transport);
    return;
  }
  const watch = transport.onStateChange.subscribe((state) => {
    if (state === "connected") install(transport);
    if (state === "connected" || state === "closed" || state === "failed") watch.unSubscribe();
  });
}

function install(transport: RTCDtlsTransport): void {
  const dtls = transport.dtls as unknown as WeriftDtlsSocket | undefined;
  const socket = dtls?.transport?.socket;
  const deliver = socket?.onData;
  if (!dtls || !socket || typeof deliver !== "function") return;
  const authentic = (record: DtlsRecord): boolean => {
    try {
      // AES-GCM (werift offers only GCM suites): a forged or altered record throws here.
      return dtls.cipher?.decryptPacket(record) !== undefined;
    } catch {
      return false;
    }
  };
  socket.onData = (data: Buffer) => {
    const passed = authenticRecords(data, authentic);
    if (passed) deliver(passed);
  };
}
