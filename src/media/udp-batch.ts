/**
 * Batched reading of a UDP socket werift opened, for the lean receive paths
 * (src/media/srtp-receive.ts): the native module's recvBatch reads every queued datagram with one
 * recvmmsg(2) and makes one callback for the batch, in place of dgram's 'message' event per datagram
 * (a 64 KiB allocation trimmed to size, a Buffer, an address object, a callback scope and a
 * microtask checkpoint each). dgram's own reading is paused meanwhile (its handle's recvStop) and
 * resumed by stop().
 *
 * Datagram views are only valid during the callback: the next batch overwrites the receive area.
 * A consumer that keeps a datagram (werift does) copies it first.
 */
import type { Socket } from "node:dgram";
import { native, socketHandle, socketFd, type NativeBatchReader } from "./native.js";

/** Bytes per datagram slot of the receive area (the native module's RECV_SLOT_BYTES). */
export const BATCH_SLOT_BYTES = 2048;
/** Datagrams read per recvmmsg(2). */
const SLOTS = 16;
/** Words of metadata per datagram (the native module's RECV_META_WORDS). */
const META_WORDS = 8;

/** A datagram's sender, as dgram reports it ([address, port]); only callable during the callback. */
export type DatagramSender = () => [string, number];

/** Receives one datagram of a batch: a view valid only during the call. */
export type DatagramSink = (data: Buffer, sender: DatagramSender) => void;

export class UdpBatchReceive {
  /** Datagrams delivered. */
  datagrams = 0;
  /** Batches (recvmmsg calls that returned datagrams). */
  batches = 0;
  private readonly area = Buffer.alloc(SLOTS * BATCH_SLOT_BYTES);
  private readonly meta = new Uint32Array(SLOTS * META_WORDS);
  private handle: NativeBatchReader | undefined;
  private readonly onClose = (): void => this.stop(false);
  /** The last sender formatted, reused while datagrams keep coming from the same address. */
  private lastSender: [string, number] | undefined;
  private readonly lastKey = new Uint32Array(6);
  private current = -1;
  private readonly sender: DatagramSender = () => this.senderOf(this.current);

  private constructor(
    private readonly socket: Socket,
    private readonly sink: DatagramSink,
  ) {}

  /**
   * Read `socket` in batches from now on, each datagram to `sink`. Undefined (and dgram keeps
   * reading) when the native module is not built or the socket's internals are not as expected.
   */
  static start(socket: Socket | undefined, sink: DatagramSink): UdpBatchReceive | undefined {
    const api = native();
    if (!socket || !api) return undefined;
    const handle = socketHandle(socket);
    const fd = socketFd(socket);
    if (!handle || fd < 0) return undefined;
    const batch = new UdpBatchReceive(socket, sink);
    // dgram stops reading first: no datagram is read by both (the kernel queue is shared).
    if (handle.recvStop() !== 0) return undefined;
    try {
      batch.handle = api.recvBatch(fd, batch.area, batch.meta, (count) => batch.onBatch(count));
    } catch {
      handle.recvStart();
      return undefined;
    }
    socket.once("close", batch.onClose);
    return batch;
  }

  /** Whether batches still come. */
  get running(): boolean {
    return this.handle !== undefined;
  }

  /** Datagrams the native reader dropped as longer than a slot (no WebRTC datagram is). */
  get truncated(): number {
    return this.handle === undefined ? 0 : native()!.recvDropped(this.handle);
  }

  /** Give reading back to dgram (unless the socket is closing). Idempotent. */
  stop(resume = true): void {
    const handle = this.handle;
    if (handle === undefined) return;
    this.handle = undefined;
    native()!.recvStop(handle);
    this.socket.off("close", this.onClose);
    if (resume) socketHandle(this.socket)?.recvStart();
  }

  private onBatch(count: number): void {
    if (count < 0) {
      // The socket reported an error: dgram takes the socket back and reports it its own way.
      this.stop();
      return;
    }
    this.batches++;
    const meta = this.meta;
    for (let i = 0; i < count && this.handle !== undefined; i++) {
      const at = i * META_WORDS;
      this.current = i;
      this.datagrams++;
      this.sink(this.area.subarray(meta[at]!, meta[at]! + meta[at + 1]!), this.sender);
    }
    this.current = -1;
  }

  private senderOf(i: number): [string, number] {
    if (i < 0) throw new Error("a datagram's sender is only known during the batch callback");
    const meta = this.meta;
    const at = i * META_WORDS + 2;
    const key = this.lastKey;
    let same = this.lastSender !== undefined;
    for (let w = 0; w < 6 && same; w++) same = key[w] === meta[at + w];
    if (!same) {
      for (let w = 0; w < 6; w++) key[w] = meta[at + w]!;
      this.lastSender = [native()!.formatAddress(meta, i), meta[at + 1]!];
    }
    // A copy: the receiver may keep or change what it is given.
    return [this.lastSender![0], this.lastSender![1]];
  }
}
