/**
 * The participant's end of the signalling socket. Every frame from the relay is validated
 * (`parseServerMessage`) before anything acts on it; invalid frames are counted and dropped.
 */
import { EventEmitter } from "node:events";
import WebSocket from "ws";
import {
  encodeMessage,
  parseServerMessage,
  MAX_MESSAGE_BYTES,
  type ClientMessage,
  type ServerMessage,
} from "../protocol/index.js";
import { ConnectionError } from "../errors.js";
import type { Logger } from "../log.js";

export interface SignallingEvents {
  message: [ServerMessage];
  invalid: [string];
  close: [{ code: number; reason: string }];
}

export class SignallingClient extends EventEmitter<SignallingEvents> {
  private socket: WebSocket | undefined;
  private closedByUs = false;
  invalidMessages = 0;

  constructor(
    readonly url: string,
    private readonly log: Logger,
    /** Extra CA certificates to trust for wss (a relay with a private or self-signed certificate). */
    private readonly ca?: string | Buffer,
  ) {
    super();
  }

  /** Open the socket; rejects with a ConnectionError a user can act on. */
  async connect(timeoutMs = 5000): Promise<void> {
    const socket = new WebSocket(this.url, {
      maxPayload: MAX_MESSAGE_BYTES * 4,
      handshakeTimeout: timeoutMs,
      ...(this.ca ? { ca: this.ca } : {}),
    });
    this.socket = socket;
    await new Promise<void>((resolve, reject) => {
      const fail = (err: Error & { code?: string }): void => {
        socket.removeAllListeners("open");
        const why =
          err.code === "ECONNREFUSED"
            ? "connection refused"
            : err.code === "ENOTFOUND"
              ? "host not found"
              : err.code === "DEPTH_ZERO_SELF_SIGNED_CERT" || err.code === "SELF_SIGNED_CERT_IN_CHAIN" || err.code === "UNABLE_TO_VERIFY_LEAF_SIGNATURE"
                ? "its TLS certificate is not trusted; pass its CA with --ca FILE"
                : err.message;
        reject(
          new ConnectionError(
            `cannot reach the relay at ${this.url.replace(/\/ws$/, "")} (${why}); check that \`conclave serve\` runs there`,
            "relay-unreachable",
            { cause: err },
          ),
        );
      };
      socket.once("error", fail);
      socket.once("unexpected-response", (_req, res) => {
        fail(new Error(`the server answered HTTP ${res.statusCode}, it is not a Conclave relay`));
      });
      socket.once("open", () => {
        socket.off("error", fail);
        resolve();
      });
    });
    socket.on("error", (err) => this.log.debug("signalling socket error", { error: err.message }));
    socket.on("message", (raw, isBinary) => {
      if (isBinary) {
        this.invalidMessages++;
        this.emit("invalid", "binary frame");
        return;
      }
      let message: ServerMessage;
      try {
        message = parseServerMessage(raw.toString());
      } catch (err) {
        this.invalidMessages++;
        this.emit("invalid", (err as Error).message);
        return;
      }
      this.emit("message", message);
    });
    socket.on("close", (code, reason) => {
      this.emit("close", { code, reason: reason.toString() });
    });
  }

  send(message: ClientMessage): void {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return;
    this.socket.send(encodeMessage(message));
  }

  get open(): boolean {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  get wasClosedByUs(): boolean {
    return this.closedByUs;
  }

  async close(): Promise<void> {
    this.closedByUs = true;
    const socket = this.socket;
    if (!socket || socket.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        socket.terminate();
        resolve();
      }, 1000);
      socket.once("close", () => {
        clearTimeout(timer);
        resolve();
      });
      socket.close(1000, "bye");
    });
  }
}
