/**
 * The relay: an HTTP server with a WebSocket signalling endpoint (`/ws`) and a werift SFU that
 * forwards every participant's media to every other participant in the same room. It forwards
 * SFrame ciphertext it cannot read; it never holds a key (docs/security.md).
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { EventEmitter } from "node:events";
import type { AddressInfo } from "node:net";
import { WebSocketServer, type WebSocket, type RawData } from "ws";
import type { RtpPacket } from "werift";
import { parseClientMessage, ProtocolError, encodeMessage, PROTOCOL_VERSION, type ClientMessage } from "../protocol/index.js";
import { buildPeerConfig, type PeerConfig } from "../media/rtc-config.js";
import { nullLogger, type Logger } from "../log.js";
import { ConclaveError, ExitCode } from "../errors.js";
import { defaultLimits, type RelayLimits } from "./limits.js";
import { RelayPeer } from "./peer.js";

export interface RelayOptions {
  host?: string;
  port?: number;
  /** Address advertised in ICE candidates besides the bound one. */
  publicIp?: string;
  /** UDP port range for media. */
  rtcPorts?: [number, number];
  limits?: Partial<RelayLimits>;
  tls?: { cert: string | Buffer; key: string | Buffer };
  logger?: Logger;
  /** Called for every RTP packet the relay forwards (after SRTP, i.e. the SFrame payload): `--pcap`. */
  onForward?: (peerId: string, rtp: RtpPacket) => void;
}

export interface RelayEvents {
  "peer-joined": [{ room: string; peerId: string }];
  "peer-left": [{ room: string; peerId: string; reason: string }];
  refused: [{ room: string; code: string }];
  closed: [];
}

interface Room {
  id: string;
  peers: Map<string, RelayPeer>;
}

export interface RelayStats {
  rooms: number;
  participants: number;
  forwardedPackets: number;
  refusedJoins: number;
  protocolErrors: number;
}

export class Relay extends EventEmitter<RelayEvents> {
  private readonly options: RelayOptions;
  readonly limits: RelayLimits;
  private readonly log: Logger;
  private readonly peerConfig: PeerConfig;
  private readonly rooms = new Map<string, Room>();
  private server: Server | undefined;
  private wss: WebSocketServer | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private closing = false;
  private participants = 0;
  readonly stats: RelayStats = { rooms: 0, participants: 0, forwardedPackets: 0, refusedJoins: 0, protocolErrors: 0 };
  url = "";

  constructor(options: RelayOptions = {}) {
    super();
    this.options = options;
    this.limits = { ...defaultLimits, ...options.limits };
    this.log = options.logger ?? nullLogger;
    const host = options.host ?? "127.0.0.1";
    this.peerConfig = buildPeerConfig({
      bindAddress: host,
      ...(options.publicIp ? { announceAddress: options.publicIp } : {}),
      ...(options.rtcPorts ? { portRange: options.rtcPorts } : {}),
    });
  }

  /** Listen; resolves with the relay's base URL. */
  async start(): Promise<string> {
    const host = this.options.host ?? "127.0.0.1";
    const port = this.options.port ?? 8443;
    const handler = (req: IncomingMessage, res: ServerResponse): void => this.handleHttp(req, res);
    const server = this.options.tls ? createHttpsServer(this.options.tls, handler) : createHttpServer(handler);
    this.server = server;
    this.wss = new WebSocketServer({ server, path: "/ws", maxPayload: this.limits.maxMessageBytes });
    this.wss.on("connection", (socket) => this.handleSocket(socket));
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        reject(
          new ConclaveError(
            "listen-failed",
            err.code === "EADDRINUSE"
              ? `port ${port} on ${host} is in use; pick another with --port`
              : `cannot listen on ${host}:${port}: ${err.message}`,
            ExitCode.usage,
          ),
        );
      };
      server.once("error", onError);
      server.listen(port, host, () => {
        server.off("error", onError);
        resolve();
      });
    });
    const address = server.address() as AddressInfo;
    const shownHost = address.family === "IPv6" ? `[${address.address}]` : address.address;
    this.url = `${this.options.tls ? "https" : "http"}://${shownHost}:${address.port}`;
    this.heartbeat = setInterval(() => this.checkHeartbeats(), this.limits.pingIntervalMs);
    this.heartbeat.unref();
    return this.url;
  }

  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  private handleHttp(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    if (path === "/healthz") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ ok: true, service: "conclave-relay", protocol: PROTOCOL_VERSION }));
      return;
    }
    if (/^\/r\/[A-Za-z0-9_-]+\/?$/.test(path)) {
      res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
      res.end("This is a Conclave room. Join it from a terminal with: conclave join '<the full invite link>'\n");
      return;
    }
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("not found\n");
  }

  private handleSocket(socket: WebSocket): void {
    if (this.closing) {
      socket.close(1001, "relay shutting down");
      return;
    }
    let peer: RelayPeer | undefined;
    let joining = false;
    let tokens = this.limits.messagesPerSecond * 2;
    let lastRefill = Date.now();
    const handshake = setTimeout(() => {
      if (!peer) this.refuse(socket, "", "handshake-timeout", "no join message in time");
    }, this.limits.handshakeTimeoutMs);
    (socket as WebSocket & { isAlive?: boolean }).isAlive = true;
    socket.on("pong", () => {
      (socket as WebSocket & { isAlive?: boolean }).isAlive = true;
    });
    socket.on("error", (err) => this.log.debug("socket error", { error: err.message }));
    socket.on("close", () => {
      clearTimeout(handshake);
      if (peer) void this.removePeer(peer, "disconnected");
    });
    socket.on("message", (raw: RawData, isBinary: boolean) => {
      const now = Date.now();
      tokens = Math.min(this.limits.messagesPerSecond * 2, tokens + ((now - lastRefill) / 1000) * this.limits.messagesPerSecond);
      lastRefill = now;
      if (--tokens < 0) {
        this.stats.protocolErrors++;
        this.refuse(socket, peer?.roomId ?? "", "rate-limited", "too many signalling messages; connection closed");
        return;
      }
      let message: ClientMessage;
      try {
        if (isBinary) throw new ProtocolError("bad-frame", "signalling frames must be text");
        message = parseClientMessage(raw.toString());
      } catch (err) {
        this.stats.protocolErrors++;
        const e = err as ProtocolError;
        this.sendError(socket, e.code ?? "bad-message", e.message, false);
        return;
      }
      if (!peer) {
        if (message.type !== "join") {
          this.sendError(socket, "not-joined", "send join first", false);
          return;
        }
        if (joining) return;
        joining = true;
        clearTimeout(handshake);
        peer = this.admit(socket, message.room);
        joining = false;
        return;
      }
      void this.handlePeerMessage(peer, message);
    });
  }

  private async handlePeerMessage(peer: RelayPeer, message: ClientMessage): Promise<void> {
    switch (message.type) {
      case "join":
        peer.send({ type: "error", code: "already-joined", message: "this connection has already joined", fatal: false });
        return;
      case "answer":
        try {
          await peer.handleAnswer(message.sdp);
        } catch (err) {
          this.stats.protocolErrors++;
          peer.send({ type: "error", code: "bad-answer", message: `answer rejected: ${(err as Error).message}`.slice(0, 500), fatal: false });
        }
        return;
      case "relay": {
        const room = this.rooms.get(peer.roomId);
        if (!room) return;
        if (message.to !== undefined) {
          const target = room.peers.get(message.to);
          target?.send({ type: "relay", from: peer.id, data: message.data });
        } else {
          for (const other of room.peers.values()) {
            if (other !== peer) other.send({ type: "relay", from: peer.id, data: message.data });
          }
        }
        return;
      }
      case "leave":
        await this.removePeer(peer, "left");
        peer.socket.close(1000, "left");
        return;
      case "ping":
        peer.send({ type: "pong", id: message.id });
        return;
    }
  }

  private admit(socket: WebSocket, roomId: string): RelayPeer | undefined {
    let room = this.rooms.get(roomId);
    if (!room && this.rooms.size >= this.limits.maxRooms) {
      this.refuse(socket, roomId, "too-many-rooms", `the relay is at its limit of ${this.limits.maxRooms} rooms`);
      return undefined;
    }
    if (this.participants >= this.limits.maxParticipants) {
      this.refuse(socket, roomId, "overloaded", `the relay is at capacity (${this.limits.maxParticipants} participants); try again later`);
      return undefined;
    }
    if (room && room.peers.size >= this.limits.maxParticipantsPerRoom) {
      this.refuse(socket, roomId, "room-full", `the room is full (${this.limits.maxParticipantsPerRoom} participants)`);
      return undefined;
    }
    if (!room) {
      room = { id: roomId, peers: new Map() };
      this.rooms.set(roomId, room);
    }
    const peer = new RelayPeer(
      socket,
      roomId,
      this.peerConfig,
      this.log.child("peer"),
      this.limits.answerTimeoutMs,
      (from, rtp) => this.forward(from, rtp),
      (p, reason) => void this.removePeer(p, reason),
    );
    this.participants++;
    const existing = [...room.peers.values()];
    room.peers.set(peer.id, peer);
    this.updateStats();
    peer.send({ type: "welcome", v: PROTOCOL_VERSION, peerId: peer.id, room: roomId, peers: existing.map((p) => p.id) });
    for (const other of existing) {
      peer.addPublisher(other.id);
      other.addPublisher(peer.id);
      other.send({ type: "peer-joined", peerId: peer.id });
    }
    // With no one else in the room the first offer still has to go out (upload only).
    if (existing.length === 0) void peer.negotiate();
    this.log.info("peer joined", { room: roomId.slice(0, 6), peer: peer.id });
    this.emit("peer-joined", { room: roomId, peerId: peer.id });
    return peer;
  }

  private forward(from: RelayPeer, rtp: RtpPacket): void {
    const room = this.rooms.get(from.roomId);
    if (!room) return;
    this.options.onForward?.(from.id, rtp);
    for (const other of room.peers.values()) {
      if (other === from) continue;
      const sender = other.senders.get(from.id);
      if (!sender) continue;
      // sendRtp rewrites the header in place: every subscriber gets its own copy.
      void sender.sendRtp(rtp.clone()).catch(() => {});
      this.stats.forwardedPackets++;
    }
  }

  private async removePeer(peer: RelayPeer, reason: string): Promise<void> {
    if (peer.closed) return;
    const room = this.rooms.get(peer.roomId);
    if (room?.peers.get(peer.id) === peer) {
      room.peers.delete(peer.id);
      this.participants--;
      for (const other of room.peers.values()) {
        other.removePublisher(peer.id);
        other.send({ type: "peer-left", peerId: peer.id, reason });
      }
      if (room.peers.size === 0) this.rooms.delete(room.id);
      this.updateStats();
      this.emit("peer-left", { room: peer.roomId, peerId: peer.id, reason });
      this.log.info("peer left", { room: peer.roomId.slice(0, 6), peer: peer.id, reason });
    }
    await peer.close();
    if (peer.socket.readyState === peer.socket.OPEN) peer.socket.close(1000, reason);
  }

  private refuse(socket: WebSocket, roomId: string, code: string, message: string): void {
    this.stats.refusedJoins += code === "rate-limited" ? 0 : 1;
    this.sendError(socket, code, message, true);
    socket.close(4000, code);
    this.emit("refused", { room: roomId, code });
  }

  private sendError(socket: WebSocket, code: string, message: string, fatal: boolean): void {
    if (socket.readyState !== socket.OPEN) return;
    socket.send(encodeMessage({ type: "error", code, message, fatal }));
  }

  private checkHeartbeats(): void {
    if (!this.wss) return;
    for (const socket of this.wss.clients) {
      const s = socket as WebSocket & { isAlive?: boolean; missed?: number };
      if (s.isAlive === false) {
        s.missed = (s.missed ?? 0) + 1;
        if (s.missed >= 2) {
          s.terminate();
          continue;
        }
      } else {
        s.missed = 0;
      }
      s.isAlive = false;
      try {
        s.ping();
      } catch {
        // socket already gone
      }
    }
  }

  private updateStats(): void {
    this.stats.rooms = this.rooms.size;
    this.stats.participants = this.participants;
  }

  /** Room and participant counts (no names: the relay has none). */
  snapshot(): { rooms: { id: string; participants: number }[] } {
    return { rooms: [...this.rooms.values()].map((r) => ({ id: r.id, participants: r.peers.size })) };
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearInterval(this.heartbeat);
    const peers = [...this.rooms.values()].flatMap((r) => [...r.peers.values()]);
    for (const peer of peers) {
      peer.send({ type: "error", code: "relay-shutdown", message: "the relay is shutting down", fatal: true });
    }
    await Promise.all(peers.map((p) => this.removePeer(p, "relay-shutdown")));
    for (const socket of this.wss?.clients ?? []) socket.terminate();
    await new Promise<void>((resolve) => (this.wss ? this.wss.close(() => resolve()) : resolve()));
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server?.closeAllConnections?.();
    this.emit("closed");
  }
}
