/**
 * The relay's media engines, seen from the main thread: one per worker thread (one per core by
 * default), or a single engine in the main thread. Commands go out, events come back through one
 * callback, and the pool wires a MessagePort between every pair of worker engines for media.
 */
import { MessageChannel, Worker } from "node:worker_threads";
import { RtpPacket } from "werift";
import type { Logger } from "../log.js";
import type { EngineCommand, EngineEvent, EngineOptions, EngineStats } from "./engine-protocol.js";
import { MediaEngine } from "./media-engine.js";
import { prepareCertificate } from "./certificate.js";

export type EngineEventHandler = (engine: number, event: EngineEvent) => void;

export interface EnginePoolOptions {
  /** Worker threads; 0 runs one engine in the main thread. */
  workers: number;
  engine: Omit<EngineOptions, "index">;
  log: Logger;
  onEvent: EngineEventHandler;
  /** Upload packets (with `engine.tap`). */
  onTap?: (peerId: string, rtp: RtpPacket) => void;
}

/** Time a worker has to load werift and make its certificate. */
const WORKER_START_TIMEOUT_MS = 20_000;
/** Time an engine has to close its PeerConnections before its worker is terminated. */
const ENGINE_CLOSE_TIMEOUT_MS = 5_000;

interface Slot {
  send(command: EngineCommand): void;
  stop(): Promise<void>;
  /** Latest load report. */
  stats: EngineStats | undefined;
}

export class EnginePool {
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<number, (event: EngineEvent) => void>();
  private nextRequest = 1;
  private stopped = false;
  private closing: Promise<void> | undefined;

  private constructor(private readonly options: EnginePoolOptions) {}

  static async start(options: EnginePoolOptions): Promise<EnginePool> {
    const pool = new EnginePool(options);
    try {
      if (options.workers <= 0) await pool.startLocal();
      else await pool.startWorkers(options.workers);
    } catch (err) {
      await pool.close();
      throw err;
    }
    return pool;
  }

  get size(): number {
    return this.slots.length;
  }

  /** Latest load report of each engine (undefined until its first report). */
  get loads(): (EngineStats | undefined)[] {
    return this.slots.map((s) => s.stats);
  }

  send(engine: number, command: EngineCommand): void {
    if (this.stopped) return;
    this.slots[engine]?.send(command);
  }

  private onEvent(engine: number, event: EngineEvent): void {
    if (event.ev === "load") {
      const slot = this.slots[engine];
      if (slot) slot.stats = event.stats;
      this.options.onEvent(engine, event);
      return;
    }
    if (event.ev === "stats" || event.ev === "closed") {
      const resolve = this.pending.get(event.requestId);
      this.pending.delete(event.requestId);
      if (event.ev === "stats" && this.slots[engine]) this.slots[engine]!.stats = event.stats;
      resolve?.(event);
      return;
    }
    if (event.ev === "log") {
      this.options.log[event.level](event.message, event.fields);
      return;
    }
    if (event.ev === "tap") {
      const onTap = this.options.onTap;
      if (!onTap) return;
      for (let i = 0; i < event.peerIds.length; i++) {
        onTap(event.peerIds[i]!, RtpPacket.deSerialize(Buffer.from(event.packets[i]!)));
      }
      return;
    }
    this.options.onEvent(engine, event);
  }

  private request(engine: number, make: (requestId: number) => EngineCommand, timeoutMs: number): Promise<EngineEvent | undefined> {
    const requestId = this.nextRequest++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        resolve(undefined);
      }, timeoutMs);
      this.pending.set(requestId, (event) => {
        clearTimeout(timer);
        resolve(event);
      });
      this.slots[engine]?.send(make(requestId));
    });
  }

  /** Fresh counters from every engine (the latest known ones for an engine that does not answer). */
  async stats(timeoutMs = 2000): Promise<EngineStats[]> {
    const answers = await Promise.all(this.slots.map((_, i) => this.request(i, (requestId) => ({ op: "stats", requestId }), timeoutMs)));
    const out: EngineStats[] = [];
    answers.forEach((a, i) => {
      const s = a?.ev === "stats" ? a.stats : this.slots[i]?.stats;
      if (s) out.push(s);
    });
    return out;
  }

  private async startLocal(): Promise<void> {
    await prepareCertificate();
    const engine = new MediaEngine(
      { ...this.options.engine, index: 0 },
      {
        emit: (event) => this.onEvent(0, event),
        log: this.options.log.child("engine-0"),
        ...(this.options.engine.tap && this.options.onTap ? { tap: this.options.onTap } : {}),
      },
    );
    this.slots.push({
      send: (command) => engine.handle(command),
      stop: () => engine.close(),
      stats: undefined,
    });
  }

  private async startWorkers(count: number): Promise<void> {
    const url = new URL("./media-worker.js", import.meta.url);
    const starts: Promise<void>[] = [];
    for (let index = 0; index < count; index++) {
      const engine: EngineOptions = { ...this.options.engine, index };
      const worker = new Worker(url, { workerData: engine });
      let exited = false;
      let stopping = false;
      const started = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`media worker ${index} did not start in time`)), WORKER_START_TIMEOUT_MS);
        worker.on("message", (event: EngineEvent) => {
          if (event.ev === "ready") {
            clearTimeout(timer);
            resolve();
            return;
          }
          this.onEvent(index, event);
        });
        worker.once("error", (err) => {
          clearTimeout(timer);
          reject(err);
          if (!stopping) this.options.log.error("media worker failed", { engine: index, error: err.message });
        });
        worker.once("exit", (code) => {
          exited = true;
          clearTimeout(timer);
          reject(new Error(`media worker ${index} exited with code ${code}`));
          if (!stopping) this.options.log.error("media worker exited", { engine: index, code });
        });
      });
      this.slots.push({
        send: (command) => {
          if (exited) return;
          if (command.op === "link") worker.postMessage(command, [command.port]);
          else worker.postMessage(command);
        },
        stop: async () => {
          if (exited) return;
          stopping = true;
          await this.request(index, (requestId) => ({ op: "close", requestId }), ENGINE_CLOSE_TIMEOUT_MS);
          await worker.terminate();
        },
        stats: undefined,
      });
      starts.push(started);
    }
    await Promise.all(starts);
    for (let a = 0; a < count; a++) {
      for (let b = a + 1; b < count; b++) {
        const { port1, port2 } = new MessageChannel();
        this.slots[a]!.send({ op: "link", engine: b, port: port1 });
        this.slots[b]!.send({ op: "link", engine: a, port: port2 });
      }
    }
  }

  /** Close every engine (its PeerConnections first), then stop the workers. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.all(this.slots.map((s) => s.stop().catch(() => {})));
      this.stopped = true;
    })();
    return this.closing;
  }
}
