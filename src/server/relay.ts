/**
 * The relay: an HTTP server with a WebSocket signalling endpoint (`/ws`) and an SFU that forwards
 * every participant's media to every other participant in the same room. It forwards SFrame
 * ciphertext it cannot read; it never holds a key (docs/security.md).
 *
 * Threads: the main thread does HTTP, signalling, admission and placement; media runs in media
 * engines (./media-engine.ts), one worker thread per core by default (./engine-pool.ts). Each
 * participant's PeerConnection lives on one engine; a room may span engines (./placement.ts).
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse, type Server } from "node:http";
import { setFlagsFromString } from "node:v8";
import { createServer as createHttpsServer } from "node:https";
import { EventEmitter } from "node:events";
import { randomBytes } from "node:crypto";
import { availableParallelism } from "node:os";
import type { AddressInfo } from "node:net";
import { WebSocketServer, type WebSocket, type RawData } from "ws";
import type { RtpPacket } from "werift";
import { parseClientMessage, ProtocolError, encodeMessage, PROTOCOL_VERSION, type ClientMessage, type ServerMessage } from "../protocol/index.js";
import type { RtcNetworkOptions } from "../media/rtc-config.js";
import type { VideoCodecName } from "../media/index.js";
import { nullLogger, type Logger } from "../log.js";
import { sodiumReady, verifyJoinToken } from "../crypto/index.js";
import { ConclaveError, ExitCode } from "../errors.js";
import { defaultLimits, type RelayLimits } from "./limits.js";
import { EnginePool } from "./engine-pool.js";
import type { EngineEvent, EngineStats } from "./engine-protocol.js";
import type { ForwardingMode } from "./peer.js";
import { DEFAULT_VIDEO_PACKETS_PER_SECOND, PLACEMENT_SLACK_PPS, PUBLISHER_GRACE_MS, VideoRate, choosePlacement, joinCost, roomCost, spreadPlacement, streamCost } from "./placement.js";

export type { ForwardingMode } from "./peer.js";

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
  /**
   * Media worker threads. Default: one per core (at most 8) when there are two or more cores,
   * otherwise 0. 0 runs media in the main thread.
   */
  workers?: number;
  /**
   * Forwarding path: "lean" (default) rewrites the RTP header and SRTP-protects and sends each
   * packet in one call; "generic" goes through werift's RTCRtpSender.sendRtp (for comparisons).
   */
  forwarding?: ForwardingMode;
  /**
   * Video repair (default true): keep the last second of each forwarded video stream and resend
   * packets subscribers NACK (RFC 4585 §6.2.1), within per-subscriber bounds. Lean forwarding only;
   * false leaves NACKs unanswered (for comparisons).
   */
  videoRepair?: boolean;
  /**
   * Lean audio uploads (default true): with lean forwarding, a publisher's audio goes from the socket
   * through the relay's own SRTP check (with a replay list) straight to the forwarder, skipping
   * werift's receive path; false keeps werift's path (for comparisons). Off with `onForward`.
   */
  leanUploads?: boolean;
  /**
   * Native send path (default true): with lean forwarding, protect and send each forwarded packet
   * with the native module (OpenSSL GCM and one sendto per datagram, src/media/native.ts) when it is
   * built; false, or a machine without it, uses the JavaScript protector and dgram (same bytes).
   */
  nativeSend?: boolean;
  /**
   * Where participants' media goes: "room" (default) keeps a room on one engine until that engine
   * carries more than its share, then spreads it; "spread" puts every participant on the least
   * loaded engine (every room crosses engines; for tests and measurements).
   */
  placement?: "room" | "spread";
  /**
   * Require signed join tokens (`conclave serve --auth FILE`): a join without a valid token for its
   * room, signed by one of these operator keys, is refused before any media.
   */
  auth?: { operatorPublicKeys: Uint8Array[] };
  /**
   * Keep V8's memory reducer (default false: start() turns it off for every thread started from
   * then on, the media engines among them). The reducer takes a thread that allocates little for
   * idle and runs full garbage collections to shrink its heap. The relay's main thread and idle
   * engines look idle that way while the busy engine forwards: measured at 10 participants, its
   * collections took a fifth of the relay's CPU in the seconds they ran. V8 reads the flag when a
   * thread starts, so the main thread is covered only by starting node with --no-memory-reducer,
   * as bin/conclave does (docs/operations.md, "Memory reducer").
   */
  memoryReducer?: boolean;
}

export interface RelayEvents {
  "peer-joined": [{ room: string; peerId: string }];
  "peer-left": [{ room: string; peerId: string; reason: string }];
  refused: [{ room: string; code: string }];
  closed: [];
}

interface Member {
  id: string;
  roomId: string;
  socket: WebSocket;
  engine: number;
  /** Joined with `video: true`: publishes video besides audio. */
  video: boolean;
  /** The codec of that video. */
  videoCodec: VideoCodecName;
  /** Video codecs it can receive (its join's `videoReceive`; vp8 only when absent). */
  videoReceive: Set<VideoCodecName>;
  /** Has sent audio (engines report it); see isPublisher. */
  published: boolean;
  /** Its measured video upload rate (engines report it; with `video` only); see videoRateOf. */
  videoRate: VideoRate;
  joinedAt: number;
  closed: boolean;
}

interface Room {
  id: string;
  members: Map<string, Member>;
  /** Engines told to link this room, as last sent. */
  engines: Set<number>;
}

export interface RelayStats {
  rooms: number;
  participants: number;
  /** RTP packets handed to the network for subscribers (engines report every second). */
  forwardedPackets: number;
  refusedJoins: number;
  protocolErrors: number;
  /** Media engines (worker threads, or 1 in the main thread). */
  engines: number;
  /**
   * Admission estimate, in audio-packet equivalents per second (the unit of
   * `limits.maxForwardedPacketsPerSecond`): Σ over rooms of Σ per member of (50 if it publishes audio
   * + its video packets/s × `limits.videoPacketCost`) × (members − 1) (./placement.ts).
   */
  estimatedPacketsPerSecond: number;
  /** The video part of that estimate in video packets per second (not weighted): Σ video packets/s × (members − 1). */
  estimatedVideoPacketsPerSecond: number;
  /** Upload packets received, and missing by sequence number, across engines. */
  receivedPackets: number;
  uploadLost: number;
  uploadExpected: number;
  /** Video repair: subscribers' NACKs, packets resent in answer, resends refused by the bounds. */
  nacksReceived: number;
  retransmittedPackets: number;
  retransmitsRefused: number;
  /** Keyframe requests (PLI, FIR) from subscribers, before the per-publisher rate limit. */
  keyframeRequests: number;
  /** Late video uploads forwarded after the publisher answered the relay's NACK. */
  uploadRepaired: number;
}

/** Default media worker count: one per core, at most 8, none on a single core. */
export function defaultWorkerCount(): number {
  const cores = availableParallelism();
  return cores >= 2 ? Math.min(cores, 8) : 0;
}

export class Relay extends EventEmitter<RelayEvents> {
  private readonly options: RelayOptions;
  readonly limits: RelayLimits;
  /** Whether lean forwarding keeps recent video to answer NACKs (RelayOptions.videoRepair, default true). */
  readonly videoRepair: boolean;
  private readonly log: Logger;
  private readonly network: RtcNetworkOptions;
  private readonly rooms = new Map<string, Room>();
  private readonly members = new Map<string, Member>();
  private pool: EnginePool | undefined;
  private server: Server | undefined;
  private wss: WebSocketServer | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private closing = false;
  private participants = 0;
  readonly stats: RelayStats = {
    rooms: 0,
    participants: 0,
    forwardedPackets: 0,
    refusedJoins: 0,
    protocolErrors: 0,
    engines: 0,
    estimatedPacketsPerSecond: 0,
    estimatedVideoPacketsPerSecond: 0,
    receivedPackets: 0,
    uploadLost: 0,
    uploadExpected: 0,
    nacksReceived: 0,
    retransmittedPackets: 0,
    retransmitsRefused: 0,
    keyframeRequests: 0,
    uploadRepaired: 0,
  };
  url = "";

  constructor(options: RelayOptions = {}) {
    super();
    this.options = options;
    this.limits = { ...defaultLimits, ...options.limits };
    this.videoRepair = options.videoRepair ?? true;
    this.log = options.logger ?? nullLogger;
    const host = options.host ?? "127.0.0.1";
    this.network = {
      bindAddress: host,
      ...(options.publicIp ? { announceAddress: options.publicIp } : {}),
      ...(options.rtcPorts ? { portRange: options.rtcPorts } : {}),
    };
  }

  /** Start the media engines and listen; resolves with the relay's base URL. */
  async start(): Promise<string> {
    if (this.options.auth) await sodiumReady();
    // Before the engines start, so their isolates are created without it too.
    if (this.options.memoryReducer !== true) setFlagsFromString("--no-memory-reducer");
    const host = this.options.host ?? "127.0.0.1";
    const port = this.options.port ?? 8443;
    try {
      this.pool = await EnginePool.start({
        workers: this.options.workers ?? defaultWorkerCount(),
        engine: {
          network: this.network,
          forwarding: this.options.forwarding ?? "lean",
          answerTimeoutMs: this.limits.answerTimeoutMs,
          tap: this.options.onForward !== undefined,
          videoRepair: this.videoRepair,
          leanUploads: this.options.leanUploads ?? true,
          nativeSend: this.options.nativeSend ?? true,
        },
        log: this.log,
        onEvent: (engine, event) => this.handleEngineEvent(engine, event),
        ...(this.options.onForward ? { onTap: this.options.onForward } : {}),
      });
    } catch (err) {
      throw new ConclaveError("engine-failed", `cannot start the media engines: ${(err as Error).message}`, ExitCode.internal, { cause: err });
    }
    this.stats.engines = this.pool.size;
    const handler = (req: IncomingMessage, res: ServerResponse): void => this.handleHttp(req, res);
    const server = this.options.tls ? createHttpsServer(this.options.tls, handler) : createHttpServer(handler);
    this.server = server;
    this.wss = new WebSocketServer({ server, path: "/ws", maxPayload: this.limits.maxMessageBytes });
    this.wss.on("connection", (socket) => this.handleSocket(socket));
    try {
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
    } catch (err) {
      await this.pool.close();
      throw err;
    }
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
    let member: Member | undefined;
    // Token bucket, burst 2×. A message costs one token per recipient (a broadcast envelope costs
    // one per other member), and the allowance grows with the room, because end-to-end key
    // distribution is pairwise (limits.ts): the bucket bounds the relay's work per connection.
    let tokens = this.limits.messagesPerSecond * 2;
    let lastRefill = Date.now();
    const others = (): number => (member ? Math.max(0, (this.rooms.get(member.roomId)?.members.size ?? 1) - 1) : 0);
    const rate = (): number => this.limits.messagesPerSecond + this.limits.messagesPerSecondPerPeer * others();
    // After a refusal the socket is closing: messages already buffered are ignored, not refused again.
    let refused = false;
    const rateLimited = (): void => {
      if (refused) return;
      refused = true;
      this.stats.protocolErrors++;
      this.refuse(socket, member?.roomId ?? "", "rate-limited", "too many signalling messages; connection closed");
    };
    const handshake = setTimeout(() => {
      if (!member) this.refuse(socket, "", "handshake-timeout", "no join message in time");
    }, this.limits.handshakeTimeoutMs);
    (socket as WebSocket & { isAlive?: boolean }).isAlive = true;
    socket.on("pong", () => {
      (socket as WebSocket & { isAlive?: boolean }).isAlive = true;
    });
    socket.on("error", (err) => this.log.debug("socket error", { error: err.message }));
    socket.on("close", () => {
      clearTimeout(handshake);
      if (member) this.removeMember(member, "disconnected");
    });
    socket.on("message", (raw: RawData, isBinary: boolean) => {
      if (refused) return;
      const now = Date.now();
      const perSecond = rate();
      tokens = Math.min(perSecond * 2, tokens + ((now - lastRefill) / 1000) * perSecond);
      lastRefill = now;
      if (--tokens < 0) {
        rateLimited();
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
      if (!member) {
        if (message.type !== "join") {
          this.sendError(socket, "not-joined", "send join first", false);
          return;
        }
        clearTimeout(handshake);
        if (this.options.auth) {
          const verdict = verifyJoinToken(message.token, { operatorPublicKeys: this.options.auth.operatorPublicKeys, room: message.room });
          if (!verdict.ok) {
            refused = true;
            this.refuse(socket, message.room, verdict.code, verdict.message);
            return;
          }
          this.log.debug("join token accepted", { key: verdict.claims.keyId });
        }
        member = this.admit(socket, message.room, message.video === true, message.videoCodec ?? "vp8", receivable(message.videoReceive));
        return;
      }
      if (message.type === "relay" && message.to === undefined) {
        tokens -= Math.max(0, others() - 1);
        if (tokens < 0) {
          rateLimited();
          return;
        }
      }
      this.handleMemberMessage(member, message);
    });
  }

  private handleMemberMessage(member: Member, message: ClientMessage): void {
    switch (message.type) {
      case "join":
        this.send(member, { type: "error", code: "already-joined", message: "this connection has already joined", fatal: false });
        return;
      case "answer":
        this.pool?.send(member.engine, { op: "answer", peerId: member.id, sdp: message.sdp });
        return;
      case "relay": {
        const room = this.rooms.get(member.roomId);
        if (!room) return;
        if (message.to !== undefined) {
          const target = room.members.get(message.to);
          if (target) this.send(target, { type: "relay", from: member.id, data: message.data });
        } else {
          for (const other of room.members.values()) {
            if (other !== member) this.send(other, { type: "relay", from: member.id, data: message.data });
          }
        }
        return;
      }
      case "leave":
        this.removeMember(member, "left");
        member.socket.close(1000, "left");
        return;
      case "ping":
        this.send(member, { type: "pong", id: message.id });
        return;
    }
  }

  private handleEngineEvent(engine: number, event: EngineEvent): void {
    switch (event.ev) {
      case "signal": {
        const member = this.members.get(event.peerId);
        if (member && member.engine === engine) this.send(member, event.message);
        return;
      }
      case "load":
        for (const id of event.publishing) {
          const member = this.members.get(id);
          if (member && member.engine === engine) member.published = true;
        }
        for (const { peerId, packetsPerSecond } of event.video) {
          const member = this.members.get(peerId);
          if (member && member.engine === engine) member.videoRate.report(packetsPerSecond);
        }
        this.updateStats();
        this.absorb(this.pool?.loads ?? []);
        return;
      case "keyframe": {
        const publisher = this.members.get(event.publisherId);
        if (publisher && publisher.engine !== engine) this.pool?.send(publisher.engine, { op: "keyframe", peerId: publisher.id });
        return;
      }
      case "peer-failed": {
        const member = this.members.get(event.peerId);
        if (!member || member.engine !== engine) return;
        if (event.reason === "answer-timeout") member.socket.close(4008, "answer timeout");
        this.removeMember(member, event.reason);
        return;
      }
      default:
        return;
    }
  }

  /** A member counts as a publisher once it has sent audio, and during its first seconds (placement.ts). */
  private isPublisher(m: Member, now = Date.now()): boolean {
    return m.published || now - m.joinedAt < PUBLISHER_GRACE_MS;
  }

  /**
   * Video packets/s a member counts for: none without `video`; during its grace period the default
   * estimate until measured; after it, its measured rate once it has sent video (placement.ts).
   */
  private videoRateOf(m: Member, now = Date.now()): number {
    if (!m.video) return 0;
    if (m.videoRate.started || now - m.joinedAt < PUBLISHER_GRACE_MS) return m.videoRate.estimate();
    return 0;
  }

  /** What a member's uploads cost each subscriber, in audio-packet equivalents per second (placement.ts). */
  private costOf(m: Member, now = Date.now()): number {
    return streamCost({ audio: this.isPublisher(m, now), videoPacketsPerSecond: this.videoRateOf(m, now) }, this.limits.videoPacketCost);
  }

  private costsIn(room: Room | undefined, now = Date.now()): number[] {
    const costs: number[] = [];
    for (const m of room?.members.values() ?? []) costs.push(this.costOf(m, now));
    return costs;
  }

  /** Why a new participant in `room`, publishing video or not, cannot be admitted now, or undefined. */
  private overloadReason(room: Room | undefined, video: boolean): string | undefined {
    if (this.participants >= this.limits.maxParticipants) {
      return `the relay is at capacity (${this.limits.maxParticipants} participants); try again later`;
    }
    // A newcomer receives the room's streams and, as a publisher itself (with its video at the
    // default estimate), is sent to everyone.
    this.updateStats();
    const newcomer = streamCost({ audio: true, videoPacketsPerSecond: video ? DEFAULT_VIDEO_PACKETS_PER_SECOND : 0 }, this.limits.videoPacketCost);
    const after = this.stats.estimatedPacketsPerSecond + joinCost(this.costsIn(room), newcomer);
    if (after > this.limits.maxForwardedPacketsPerSecond) {
      return `the relay is at capacity (${this.limits.maxForwardedPacketsPerSecond} forwarded packets/s); try again later`;
    }
    if (this.limits.maxEngineLoad < 1) {
      const busiest = Math.max(0, ...(this.pool?.loads ?? []).map((s) => s?.load ?? 0));
      if (busiest > this.limits.maxEngineLoad) return "the relay is too busy to take another participant; try again later";
    }
    return undefined;
  }

  private admit(socket: WebSocket, roomId: string, video: boolean, videoCodec: VideoCodecName, videoReceive: Set<VideoCodecName>): Member | undefined {
    if (this.closing || !this.pool) {
      this.refuse(socket, roomId, "relay-shutdown", "the relay is shutting down");
      return undefined;
    }
    let room = this.rooms.get(roomId);
    if (!room && this.rooms.size >= this.limits.maxRooms) {
      this.refuse(socket, roomId, "too-many-rooms", `the relay is at its limit of ${this.limits.maxRooms} rooms`);
      return undefined;
    }
    const overloaded = this.overloadReason(room, video);
    if (overloaded) {
      this.refuse(socket, roomId, "overloaded", overloaded);
      return undefined;
    }
    if (room && room.members.size >= this.limits.maxParticipantsPerRoom) {
      this.refuse(socket, roomId, "room-full", `the room is full (${this.limits.maxParticipantsPerRoom} participants)`);
      return undefined;
    }
    const mismatch = room ? codecMismatch(room, video, videoCodec, videoReceive) : undefined;
    if (mismatch) {
      this.refuse(socket, roomId, "codec-unsupported", mismatch);
      return undefined;
    }
    if (!room) {
      room = { id: roomId, members: new Map(), engines: new Set() };
      this.rooms.set(roomId, room);
    }
    const existing = [...room.members.values()];
    const engine = this.place(existing, roomCost([...this.costsIn(room), streamCost({ audio: true, videoPacketsPerSecond: video ? DEFAULT_VIDEO_PACKETS_PER_SECOND : 0 }, this.limits.videoPacketCost)]));
    const member: Member = {
      id: randomBytes(9).toString("base64url"),
      roomId,
      socket,
      engine,
      video,
      videoCodec,
      videoReceive,
      published: false,
      videoRate: new VideoRate(),
      joinedAt: Date.now(),
      closed: false,
    };
    room.members.set(member.id, member);
    this.members.set(member.id, member);
    this.participants++;
    this.updateStats();
    this.send(member, { type: "welcome", v: PROTOCOL_VERSION, peerId: member.id, room: roomId, peers: existing.map((p) => p.id) });
    this.updateRoomLinks(room);
    this.pool.send(engine, {
      op: "add-peer",
      peerId: member.id,
      roomId,
      video,
      videoCodec,
      publishers: existing.map((p) => ({ id: p.id, video: p.video, videoCodec: p.videoCodec })),
    });
    for (const other of existing) {
      this.pool.send(other.engine, { op: "add-publisher", peerId: other.id, publisherId: member.id, video, videoCodec });
      this.send(other, { type: "peer-joined", peerId: member.id });
    }
    this.log.info("peer joined", { room: roomId.slice(0, 6), peer: member.id, engine });
    this.emit("peer-joined", { room: roomId, peerId: member.id });
    return member;
  }

  /** `cost`: the room's estimated cost with the newcomer (placement.ts). */
  private place(existing: Member[], cost: number): number {
    const size = this.pool?.size ?? 1;
    const counts = new Array<number>(size).fill(0);
    for (const m of existing) counts[m.engine]!++;
    const loads = this.engineRates().map((packetsPerSecond, i) => ({ packetsPerSecond, roomMembers: counts[i]! }));
    return this.options.placement === "spread" ? spreadPlacement(loads) : choosePlacement(loads, PLACEMENT_SLACK_PPS, cost);
  }

  /** Estimated cost (audio-packet equivalents/s) of what the members each engine hosts receive. */
  private engineRates(): number[] {
    const rates = new Array<number>(this.pool?.size ?? 1).fill(0);
    const now = Date.now();
    for (const room of this.rooms.values()) {
      const members = [...room.members.values()];
      const costs = members.map((m) => this.costOf(m, now));
      const total = costs.reduce((a, b) => a + b, 0);
      members.forEach((m, i) => (rates[m.engine]! += total - costs[i]!));
    }
    return rates;
  }

  /** Tell every engine hosting members of `room` which other engines need its uploads. */
  private updateRoomLinks(room: Room): void {
    if (!this.pool || this.pool.size < 2) return;
    const now = new Set([...room.members.values()].map((m) => m.engine));
    const same = now.size === room.engines.size && [...now].every((e) => room.engines.has(e));
    if (same) return;
    const touched = new Set([...now, ...room.engines]);
    for (const e of touched) {
      this.pool.send(e, { op: "room-links", roomId: room.id, engines: now.has(e) ? [...now].filter((x) => x !== e) : [] });
    }
    room.engines = now;
  }

  private removeMember(member: Member, reason: string): void {
    if (member.closed) return;
    member.closed = true;
    this.members.delete(member.id);
    const room = this.rooms.get(member.roomId);
    if (room?.members.get(member.id) === member) {
      room.members.delete(member.id);
      this.participants--;
      for (const other of room.members.values()) {
        this.pool?.send(other.engine, { op: "remove-publisher", peerId: other.id, publisherId: member.id });
        this.send(other, { type: "peer-left", peerId: member.id, reason });
      }
      this.updateRoomLinks(room);
      if (room.members.size === 0) this.rooms.delete(room.id);
      this.updateStats();
      this.emit("peer-left", { room: member.roomId, peerId: member.id, reason });
      this.log.info("peer left", { room: member.roomId.slice(0, 6), peer: member.id, reason });
    }
    this.pool?.send(member.engine, { op: "remove-peer", peerId: member.id });
    if (member.socket.readyState === member.socket.OPEN) member.socket.close(1000, reason);
  }

  private send(member: Member, message: ServerMessage): void {
    if (member.socket.readyState !== member.socket.OPEN) return;
    member.socket.send(encodeMessage(message));
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
    this.absorb(this.pool?.loads ?? []);
  }

  private updateStats(): void {
    this.stats.rooms = this.rooms.size;
    this.stats.participants = this.participants;
    let rate = 0;
    let video = 0;
    const now = Date.now();
    for (const room of this.rooms.values()) {
      rate += roomCost(this.costsIn(room, now));
      for (const m of room.members.values()) video += this.videoRateOf(m, now) * (room.members.size - 1);
    }
    this.stats.estimatedPacketsPerSecond = rate;
    this.stats.estimatedVideoPacketsPerSecond = video;
  }

  private absorb(engines: (EngineStats | undefined)[]): void {
    let forwarded = 0;
    let received = 0;
    let lost = 0;
    let expected = 0;
    let nacks = 0;
    let retransmitted = 0;
    let refused = 0;
    let keyframes = 0;
    let repaired = 0;
    for (const s of engines) {
      if (!s) continue;
      nacks += s.nacksReceived;
      retransmitted += s.retransmittedPackets;
      refused += s.retransmitsRefused;
      keyframes += s.keyframeRequests;
      repaired += s.uploadRepaired;
      forwarded += s.forwardedPackets;
      received += s.receivedPackets;
      lost += s.uploadLost;
      expected += s.uploadExpected;
    }
    // Counters only grow; an engine that did not answer keeps its last figures.
    this.stats.forwardedPackets = Math.max(this.stats.forwardedPackets, forwarded);
    this.stats.receivedPackets = Math.max(this.stats.receivedPackets, received);
    this.stats.uploadLost = lost;
    this.stats.uploadExpected = Math.max(this.stats.uploadExpected, expected);
    this.stats.nacksReceived = Math.max(this.stats.nacksReceived, nacks);
    this.stats.retransmittedPackets = Math.max(this.stats.retransmittedPackets, retransmitted);
    this.stats.retransmitsRefused = Math.max(this.stats.retransmitsRefused, refused);
    this.stats.keyframeRequests = Math.max(this.stats.keyframeRequests, keyframes);
    this.stats.uploadRepaired = Math.max(this.stats.uploadRepaired, repaired);
  }

  /** Fresh counters from every media engine (`stats` otherwise lags up to a second). */
  async collectStats(): Promise<RelayStats & { perEngine: EngineStats[] }> {
    const perEngine = this.pool ? await this.pool.stats() : [];
    this.absorb(perEngine);
    return { ...this.stats, perEngine };
  }

  /** Room and participant counts (no names: the relay has none). */
  snapshot(): { rooms: { id: string; participants: number }[] } {
    return { rooms: [...this.rooms.values()].map((r) => ({ id: r.id, participants: r.members.size })) };
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearInterval(this.heartbeat);
    const members = [...this.members.values()];
    for (const member of members) {
      this.send(member, { type: "error", code: "relay-shutdown", message: "the relay is shutting down", fatal: true });
    }
    if (this.pool) await this.collectStats().catch(() => undefined);
    for (const member of members) this.removeMember(member, "relay-shutdown");
    await this.pool?.close();
    for (const socket of this.wss?.clients ?? []) socket.terminate();
    await new Promise<void>((resolve) => (this.wss ? this.wss.close(() => resolve()) : resolve()));
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server?.closeAllConnections?.();
    this.emit("closed");
  }
}

const CODEC_LABEL: Record<VideoCodecName, string> = { vp8: "VP8", h264: "H.264" };

/** The known codec names of a join's `videoReceive`; VP8 alone when it has none (older clients). */
function receivable(names: string[] | undefined): Set<VideoCodecName> {
  if (names === undefined) return new Set(["vp8"]);
  return new Set(names.filter((n): n is VideoCodecName => n === "vp8" || n === "h264"));
}

/**
 * "Where both ends support it": the relay never transcodes, so it admits no one whose video some
 * member could not receive, and no one who could not receive some member's video. The refusal
 * names the codec so the newcomer can act on it (publish VP8, or update the client).
 */
function codecMismatch(room: Room, video: boolean, videoCodec: VideoCodecName, videoReceive: Set<VideoCodecName>): string | undefined {
  if (video && [...room.members.values()].some((m) => !m.videoReceive.has(videoCodec))) {
    return `a member of this room cannot receive ${CODEC_LABEL[videoCodec]} video; publish ${videoCodec === "vp8" ? "without video" : "VP8 (--video-codec vp8)"} instead`;
  }
  const other = [...room.members.values()].find((m) => m.video && !videoReceive.has(m.videoCodec));
  if (other) return `this room has ${CODEC_LABEL[other.videoCodec]} video, which this client cannot receive; update it`;
  return undefined;
}
