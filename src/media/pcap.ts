/**
 * A pcap file (libpcap format, LINKTYPE_RAW = 101: each record is a bare IPv4 packet) holding RTP
 * packets as the relay forwards them. Each record gets a synthetic IPv4/UDP header from 127.0.0.1:5004
 * to 127.0.0.2:5004 so Wireshark decodes it as RTP ("Decode As… RTP" on UDP 5004).
 * Written synchronously per packet so an audit capture is complete up to the moment the relay stops.
 */
import { openSync, writeSync, closeSync } from "node:fs";

const LINKTYPE_RAW = 101;

export class PcapWriter {
  private fd: number | undefined;
  packets = 0;

  private constructor(fd: number) {
    this.fd = fd;
    // Global header: magic, version 2.4, thiszone 0, sigfigs 0, snaplen 65535, network.
    const header = Buffer.alloc(24);
    header.writeUInt32LE(0xa1b2c3d4, 0);
    header.writeUInt16LE(2, 4);
    header.writeUInt16LE(4, 6);
    header.writeInt32LE(0, 8);
    header.writeUInt32LE(0, 12);
    header.writeUInt32LE(65535, 16);
    header.writeUInt32LE(LINKTYPE_RAW, 20);
    writeSync(fd, header);
  }

  static open(path: string): PcapWriter {
    return new PcapWriter(openSync(path, "w", 0o600));
  }

  /** Append one RTP packet (header and payload as sent on the wire, before SRTP). */
  write(rtp: Uint8Array, at = Date.now()): void {
    if (this.fd === undefined) return;
    const udpLength = 8 + rtp.length;
    const ipLength = 20 + udpLength;
    const record = Buffer.alloc(16 + ipLength);
    record.writeUInt32LE(Math.floor(at / 1000), 0);
    record.writeUInt32LE((at % 1000) * 1000, 4);
    record.writeUInt32LE(ipLength, 8);
    record.writeUInt32LE(ipLength, 12);
    const ip = record.subarray(16);
    ip[0] = 0x45; // IPv4, IHL 5
    ip.writeUInt16BE(ipLength, 2);
    ip[8] = 64; // TTL
    ip[9] = 17; // UDP
    ip.set([127, 0, 0, 1], 12);
    ip.set([127, 0, 0, 2], 16);
    let sum = 0;
    for (let i = 0; i < 20; i += 2) sum += ip.readUInt16BE(i);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    ip.writeUInt16BE(~sum & 0xffff, 10);
    ip.writeUInt16BE(5004, 20);
    ip.writeUInt16BE(5004, 22);
    ip.writeUInt16BE(udpLength, 24);
    ip.set(rtp, 28);
    writeSync(this.fd, record);
    this.packets++;
  }

  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}

/** Read back the RTP payloads of a pcap written by PcapWriter (for audits and tests). */
export function readPcapRtp(data: Buffer): { header: Buffer; payload: Buffer }[] {
  const out: { header: Buffer; payload: Buffer }[] = [];
  let off = 24;
  while (off + 16 <= data.length) {
    const len = data.readUInt32LE(off + 8);
    const ip = data.subarray(off + 16, off + 16 + len);
    off += 16 + len;
    if (ip.length < 28 + 12) continue;
    const rtp = ip.subarray(28);
    const cc = rtp[0]! & 0x0f;
    const hasExt = (rtp[0]! & 0x10) !== 0;
    let hlen = 12 + cc * 4;
    if (hasExt && rtp.length >= hlen + 4) hlen += 4 + rtp.readUInt16BE(hlen + 2) * 4;
    out.push({ header: rtp.subarray(0, hlen), payload: rtp.subarray(hlen) });
  }
  return out;
}
