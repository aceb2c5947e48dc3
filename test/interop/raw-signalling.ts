/**
 * A bare Conclave signalling client for tests: JSON text frames over a `ws` WebSocket at
 * `ws://HOST:PORT/ws`, with nothing validated or filtered, so a test can send what a hostile or
 * foreign client would (junk, forged fields, floods) and see exactly what the relay sends back.
 */
import WebSocket from "ws";
import { waitFor } from "../helpers/util.js";

export type Frame = Record<string, unknown> & { type?: unknown };

export class RawSignalling {
  readonly received: Frame[] = [];
  closeInfo: { code: number; reason: string } | undefined;
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Frames that were not JSON (the relay only sends JSON, so this should stay 0). */
  nonJson = 0;
  sent = 0;

  private constructor(readonly socket: WebSocket) {
    this.closed = new Promise((resolve) => {
      socket.on("close", (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        resolve(this.closeInfo);
      });
    });
    socket.on("error", () => {
      // A refused or reset connection shows up as a close; nothing else to do.
    });
    socket.on("message", (raw) => {
      try {
        this.received.push(JSON.parse(raw.toString()) as Frame);
      } catch {
        this.nonJson++;
      }
    });
  }

  /** Opens a socket to a relay's signalling URL (`ws://127.0.0.1:PORT/ws`). */
  static async open(url: string, timeoutMs = 5000): Promise<RawSignalling> {
    const socket = new WebSocket(url, { handshakeTimeout: timeoutMs, maxPayload: 16 * 1024 * 1024 });
    const client = new RawSignalling(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once("open", () => resolve());
      socket.once("error", reject);
    });
    return client;
  }

  get open(): boolean {
    return this.socket.readyState === WebSocket.OPEN;
  }

  /** Sends an object as JSON, a string as a text frame, a Buffer as a binary frame. Never throws. */
  send(frame: object | string | Buffer): void {
    if (!this.open) return;
    const data = Buffer.isBuffer(frame) ? frame : typeof frame === "string" ? frame : JSON.stringify(frame);
    this.sent++;
    this.socket.send(data, { binary: Buffer.isBuffer(frame) }, () => {});
  }

  /** The first received frame that matches, waiting up to `timeoutMs`. */
  async waitFor(match: (f: Frame) => boolean, timeoutMs: number, what: string): Promise<Frame> {
    await waitFor(() => this.received.some(match), timeoutMs, what);
    return this.received.find(match)!;
  }

  /** Sends `join` and resolves with the welcome, or rejects with the relay's error code. */
  async join(room: string, token?: string, timeoutMs = 5000): Promise<{ peerId: string; peers: string[] }> {
    this.send({ type: "join", v: 1, room, ...(token !== undefined ? { token } : {}) });
    const reply = await this.waitFor((f) => f.type === "welcome" || (f.type === "error" && f.fatal === true), timeoutMs, "welcome");
    if (reply.type !== "welcome") throw Object.assign(new Error(`join refused: ${String(reply.code)}`), { code: reply.code });
    return { peerId: String(reply.peerId), peers: reply.peers as string[] };
  }

  async waitClosed(timeoutMs: number, what: string): Promise<{ code: number; reason: string }> {
    await waitFor(() => this.closeInfo !== undefined, timeoutMs, what);
    return this.closeInfo!;
  }

  /** Drops the TCP connection without a closing handshake. */
  terminate(): void {
    this.socket.terminate();
  }
}
