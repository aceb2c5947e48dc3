/**
 * Incremental Ogg demultiplexer (RFC 3533): feed it bytes in chunks of any size, get back whole
 * packets. Handles lacing (§5), packets spanning pages (continued flag, §6), and several logical
 * streams (kept apart by serial number). Resynchronises on the "OggS" capture pattern after garbage,
 * and drops pages whose CRC does not match (together with any packet they would have completed);
 * a gap in page sequence numbers drops the packet that was being reassembled across it.
 */
import { oggPageCrc } from "./crc.js";
import { OGG_CAPTURE, OGG_HEADER_SIZE, OggFlag } from "./page.js";

export interface OggPacket {
  data: Buffer;
  /** Granule position of the page on which this packet completes (-1n: none on that page). */
  granule: bigint;
  /** Whether this is the last packet completed on its page (the one `granule` describes exactly). */
  lastOnPage: boolean;
  serial: number;
  pageSequence: number;
  /** The page carrying the end of this packet has the BOS / EOS flag. */
  bos: boolean;
  eos: boolean;
}

export interface OggReaderStats {
  pages: number;
  packets: number;
  /** Pages dropped because their CRC did not match. */
  badPages: number;
  /** Bytes skipped while looking for a page start. */
  skippedBytes: number;
  /** Partially assembled packets dropped (lost or corrupt page in between). */
  droppedPackets: number;
}

export interface OggPacketReaderOptions {
  /** Largest packet to reassemble before giving up on it (default 16 MiB). */
  maxPacketBytes?: number;
}

interface StreamState {
  lastSequence: number;
  partial: Buffer[] | null;
  partialBytes: number;
}

export class OggPacketReader {
  readonly stats: OggReaderStats = { pages: 0, packets: 0, badPages: 0, skippedBytes: 0, droppedPackets: 0 };
  readonly #onPacket: (packet: OggPacket) => void;
  readonly #maxPacketBytes: number;
  readonly #streams = new Map<number, StreamState>();
  #buf: Buffer = Buffer.alloc(0);

  constructor(onPacket: (packet: OggPacket) => void, opts: OggPacketReaderOptions = {}) {
    this.#onPacket = onPacket;
    this.#maxPacketBytes = opts.maxPacketBytes ?? 16 * 1024 * 1024;
  }

  /** Bytes held waiting for the rest of a page. */
  get bufferedBytes(): number {
    return this.#buf.length;
  }

  push(chunk: Uint8Array): void {
    const incoming = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.#buf = this.#buf.length === 0 ? incoming : Buffer.concat([this.#buf, incoming]);
    const buf = this.#buf;
    let pos = 0;
    for (;;) {
      const at = buf.indexOf(OGG_CAPTURE, pos);
      if (at < 0) {
        // Keep up to 3 trailing bytes: they may be the start of a capture pattern.
        const keepFrom = Math.max(pos, buf.length - 3);
        this.stats.skippedBytes += keepFrom - pos;
        pos = keepFrom;
        break;
      }
      this.stats.skippedBytes += at - pos;
      pos = at;
      if (buf.length - pos < OGG_HEADER_SIZE) break;
      if (buf[pos + 4] !== 0) {
        // Unknown stream structure version: not a page we can read; look for the next one.
        pos += 1;
        this.stats.skippedBytes += 1;
        continue;
      }
      const nseg = buf[pos + 26]!;
      if (buf.length - pos < OGG_HEADER_SIZE + nseg) break;
      let bodyLength = 0;
      for (let i = 0; i < nseg; i++) bodyLength += buf[pos + OGG_HEADER_SIZE + i]!;
      const total = OGG_HEADER_SIZE + nseg + bodyLength;
      if (buf.length - pos < total) break;
      const page = buf.subarray(pos, pos + total);
      if (oggPageCrc(page) !== page.readUInt32LE(22)) {
        this.stats.badPages += 1;
        this.stats.skippedBytes += 1;
        pos += 1; // resync: the real next page may start inside this false one
        continue;
      }
      pos += total;
      this.#page(page, nseg);
    }
    // Copy the remainder so the (possibly large) chunk it came from can be freed.
    this.#buf = pos >= buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(pos));
  }

  /** Discards buffered bytes and partial packets (e.g. at end of input). Returns bytes discarded. */
  reset(): number {
    let dropped = this.#buf.length;
    for (const s of this.#streams.values()) {
      if (s.partial) {
        dropped += s.partialBytes;
        this.stats.droppedPackets += 1;
      }
    }
    this.#buf = Buffer.alloc(0);
    this.#streams.clear();
    return dropped;
  }

  #page(page: Buffer, nseg: number): void {
    this.stats.pages += 1;
    const flags = page[5]!;
    const granule = page.readBigInt64LE(6);
    const serial = page.readUInt32LE(14);
    const sequence = page.readUInt32LE(18);
    let state = this.#streams.get(serial);
    if (!state) {
      state = { lastSequence: sequence - 1, partial: null, partialBytes: 0 };
      this.#streams.set(serial, state);
    }
    if (sequence !== ((state.lastSequence + 1) >>> 0) && state.partial) {
      this.#dropPartial(state); // a page went missing in the middle of this packet
    }
    state.lastSequence = sequence;
    if (nseg === 0) return; // an empty page (e.g. a bare EOS page) leaves reassembly as it was

    let cur: Buffer[] | null;
    if (flags & OggFlag.continued) {
      cur = state.partial; // null: continuation of a packet we never saw the start of; skip it
    } else {
      if (state.partial) this.#dropPartial(state);
      cur = [];
    }
    let curBytes = cur ? state.partialBytes : 0;
    state.partial = null;
    state.partialBytes = 0;

    const completed: Buffer[] = [];
    let off = OGG_HEADER_SIZE + nseg;
    let lastLacing = 0;
    for (let i = 0; i < nseg; i++) {
      const lacing = page[OGG_HEADER_SIZE + i]!;
      lastLacing = lacing;
      if (cur) {
        if (curBytes + lacing > this.#maxPacketBytes) {
          this.stats.droppedPackets += 1;
          cur = null;
        } else if (lacing > 0) {
          cur.push(page.subarray(off, off + lacing));
          curBytes += lacing;
        }
      }
      off += lacing;
      if (lacing < 255) {
        if (cur) completed.push(Buffer.concat(cur, curBytes));
        cur = [];
        curBytes = 0;
      }
    }
    if (nseg > 0 && lastLacing === 255 && cur) {
      state.partial = cur;
      state.partialBytes = curBytes;
    }

    for (let i = 0; i < completed.length; i++) {
      this.stats.packets += 1;
      this.#onPacket({
        data: completed[i]!,
        granule,
        lastOnPage: i === completed.length - 1,
        serial,
        pageSequence: sequence,
        bos: (flags & OggFlag.bos) !== 0,
        eos: (flags & OggFlag.eos) !== 0,
      });
    }
  }

  #dropPartial(state: StreamState): void {
    state.partial = null;
    state.partialBytes = 0;
    this.stats.droppedPackets += 1;
  }
}
