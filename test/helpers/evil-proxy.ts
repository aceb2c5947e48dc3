/**
 * A deliberately malicious relay for tests: a WebSocket man-in-the-middle between participants and
 * the real relay's `/ws`. Participants connect to the proxy (an invite whose host:port is the
 * proxy's); every signalling message passes through it, and it can
 *   - record every `relay` envelope in both directions,
 *   - inject any server message into a participant's stream (fake `peer-joined`, forged hellos),
 *   - replay captured envelopes later, to anyone, under any sender id,
 *   - drop relay→participant messages by a predicate,
 *   - reorder relay→participant envelopes (hold them in a window and release them reversed).
 * Media does not go through it: the SDP the relay offers names the relay's own ICE candidates, so
 * werift connects straight to the relay. Listens on 127.0.0.1 only.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import WebSocket, { WebSocketServer } from "ws";
import type { ServerMessage, ClientMessage } from "../../src/protocol/index.js";

export interface CapturedEnvelope {
  /** Sender peer id as the relay stamped it. */
  from: string;
  /** The participant it was delivered to (relay→client), or the `to` the client asked for (client→relay, "" = all). */
  to: string;
  data: string;
  at: number;
}

export class ProxiedConnection {
  peerId: string | undefined;
  /** Envelopes the relay sent to this participant (as received from the relay). */
  readonly received: CapturedEnvelope[] = [];
  /** Envelopes this participant sent (client→relay). */
  readonly sent: CapturedEnvelope[] = [];
  /** Every signalling frame in both directions, as text. */
  readonly frames: string[] = [];
  private held: string[] = [];
  private holdTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly client: WebSocket,
    readonly upstream: WebSocket,
    private readonly proxy: EvilProxy,
  ) {}

  /** Deliver a message to the participant as if the relay had sent it. */
  inject(message: ServerMessage): void {
    if (this.client.readyState === WebSocket.OPEN) this.client.send(JSON.stringify(message));
  }

  /** From the relay: record, then drop, hold (reorder) or pass on. */
  fromRelay(text: string): void {
    this.frames.push(text);
    let message: ServerMessage;
    try {
      message = JSON.parse(text) as ServerMessage;
    } catch {
      if (this.client.readyState === WebSocket.OPEN) this.client.send(text);
      return;
    }
    if (message.type === "welcome") this.peerId = message.peerId;
    if (message.type === "relay") this.received.push({ from: message.from, to: this.peerId ?? "", data: message.data, at: Date.now() });
    if (this.proxy.drop?.(this, message)) return;
    const windowMs = this.proxy.reorderWindowMs;
    if (message.type === "relay" && windowMs > 0) {
      this.held.push(text);
      this.holdTimer ??= setTimeout(() => this.release(), windowMs);
      return;
    }
    if (this.client.readyState === WebSocket.OPEN) this.client.send(text);
  }

  /** Release held envelopes, newest first. */
  release(): void {
    clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
    const batch = this.held.reverse();
    this.held = [];
    if (batch.length > 1) this.proxy.reordered += batch.length;
    for (const text of batch) if (this.client.readyState === WebSocket.OPEN) this.client.send(text);
  }

  fromClient(text: string): void {
    this.frames.push(text);
    try {
      const message = JSON.parse(text) as ClientMessage;
      if (message.type === "relay") this.sent.push({ from: this.peerId ?? "", to: message.to ?? "", data: message.data, at: Date.now() });
    } catch {
      // pass it on; the relay refuses it
    }
    if (this.upstream.readyState === WebSocket.OPEN) this.upstream.send(text);
  }

  close(): void {
    clearTimeout(this.holdTimer);
    this.client.terminate();
    this.upstream.terminate();
  }
}

export class EvilProxy {
  readonly connections: ProxiedConnection[] = [];
  /** Hold relay→client envelopes this long and release them in reverse order (0: off). */
  reorderWindowMs = 0;
  /** Envelopes delivered out of order so far. */
  reordered = 0;
  /** Drop a relay→client message when this returns true. */
  drop: ((conn: ProxiedConnection, message: ServerMessage) => boolean) | undefined;
  url = "";
  private server: Server | undefined;
  private wss: WebSocketServer | undefined;

  private constructor(private readonly upstreamUrl: string) {}

  /** Proxy to the relay at `relayUrl` (http://HOST:PORT). */
  static async start(relayUrl: string): Promise<EvilProxy> {
    const proxy = new EvilProxy(relayUrl.replace(/^http/, "ws").replace(/\/+$/, "") + "/ws");
    await proxy.listen();
    return proxy;
  }

  private async listen(): Promise<void> {
    const server = createServer((_req, res) => {
      res.writeHead(404);
      res.end();
    });
    this.server = server;
    this.wss = new WebSocketServer({ server, path: "/ws" });
    this.wss.on("connection", (client) => this.accept(client));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  private accept(client: WebSocket): void {
    const upstream = new WebSocket(this.upstreamUrl);
    const conn = new ProxiedConnection(client, upstream, this);
    this.connections.push(conn);
    const early: string[] = [];
    client.on("message", (raw) => {
      const text = raw.toString();
      if (upstream.readyState === WebSocket.CONNECTING) early.push(text);
      else conn.fromClient(text);
    });
    upstream.on("open", () => {
      for (const text of early.splice(0)) conn.fromClient(text);
    });
    upstream.on("message", (raw) => conn.fromRelay(raw.toString()));
    upstream.on("close", (code, reason) => {
      conn.release();
      if (client.readyState === WebSocket.OPEN) client.close(code === 1005 || code === 1006 ? 1000 : code, reason);
    });
    client.on("close", () => upstream.close());
    upstream.on("error", () => client.terminate());
    client.on("error", () => upstream.terminate());
  }

  /** The same invite, pointing at the proxy instead of the relay (room and secret unchanged). */
  inviteFor(invite: string): string {
    const url = new URL(invite);
    const proxy = new URL(this.url);
    url.host = proxy.host;
    return url.toString();
  }

  byPeer(peerId: string): ProxiedConnection {
    const conn = this.connections.find((c) => c.peerId === peerId);
    if (!conn) throw new Error(`no proxied connection for ${peerId}`);
    return conn;
  }

  /** Every envelope any participant sent, in order. */
  get allSent(): CapturedEnvelope[] {
    return this.connections.flatMap((c) => c.sent).sort((x, y) => x.at - y.at);
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.close();
    await new Promise<void>((resolve) => (this.wss ? this.wss.close(() => resolve()) : resolve()));
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server?.closeAllConnections?.();
  }
}
