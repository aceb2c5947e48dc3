/**
 * One participant session: the signalling socket, one werift PeerConnection to the relay, the
 * end-to-end encryption session (src/client/e2ee.ts) and the audio it publishes and receives.
 *
 * Media path, send:    AudioSource (Opus frames) → SFrame encrypt → RTP → werift sender
 * Media path, receive: werift track → RTP → SFrame decrypt → 'audio' listeners (recorder, player, meter)
 *   (audio after each stream's first packet: UDP socket → SRTP decrypt (lean-receive.ts) → the same handler)
 */
import { EventEmitter } from "node:events";
import { randomInt } from "node:crypto";
import { RTCPeerConnection, RtpHeader, RtpPacket, type RTCRtpTransceiver } from "werift";
import { parseInvite, InviteParseError, type Invite, type ServerMessage, type TrackMapping } from "../protocol/index.js";
import { buildPeerConfig, bindAddressFor, enlargeReceiveBuffers, keepCandidates, videoCodecName, OPUS_PAYLOAD_TYPE, VP8_PAYLOAD_TYPE, H264_PAYLOAD_TYPE } from "../media/rtc-config.js";
import {
  AudioSource,
  OpusLevelMeter,
  VideoSource,
  VideoStreamStats,
  Vp8Depacketizer,
  packetizeVp8,
  isVp8Keyframe,
  describeVideoSource,
  VP8_MAX_PICTURE_ID,
  H264Depacketizer,
  packetizeH264,
  parseH264AccessUnit,
  VIDEO_CODECS,
  type VideoCodecName,
  type AudioSourceSpec,
  type VideoSourceSpec,
  type VideoSourceOptions,
  type VideoFrame,
} from "../media/index.js";
import { ConnectionError, DeniedError, InviteError, ConclaveError, ExitCode } from "../errors.js";
import { nullLogger, type Logger } from "../log.js";
import { SignallingClient } from "./signalling.js";
import { startDtlsEarly } from "./dtls-start.js";
import { prepareDtlsCertificate } from "../media/dtls-certificate.js";
import { signallingTurns } from "./turn-queue.js";
import { ReceiveStats } from "./receive-stats.js";
import { LeanAudioReceive } from "./lean-receive.js";
import { E2eeSession, type MemberInfo } from "./e2ee.js";
import { sodiumReady, generateIdentity, type IdentityKeyPair } from "../crypto/index.js";
import { stamp, type ConclaveEvent, type PeerStats } from "./events.js";

export type Role = "member" | "recorder" | "bot";

export interface JoinOptions {
  name?: string;
  /** Identity key pair; a fresh one per session when absent (bots, tests). */
  identity?: IdentityKeyPair;
  role?: Role;
  /** Never give this member's sender keys to a recorder. */
  noRecord?: boolean;
  /** SFrame cipher suite: 4 (AES_128_GCM_SHA256_128, default) or 5 (AES_256_GCM_SHA512_128). */
  suite?: 4 | 5;
  /** Path to ffmpeg (sources that need one). */
  ffmpeg?: string;
  logger?: Logger;
  /** Interval of `stats` events; 0 disables them. */
  statsIntervalMs?: number;
  /** Compute decrypted audio levels (speaking indicators). */
  levels?: boolean;
  /** Milliseconds to wait for the relay to admit and connect us. */
  timeoutMs?: number;
  /** Publish video (the relay then offers a video upload m-line); see publishVideo(). */
  video?: boolean;
  /**
   * The codec of the video we publish: "vp8" (default) or "h264". Announced at join; the relay
   * refuses the join if a member of the room cannot receive it. We receive both.
   */
  videoCodec?: VideoCodecName;
  /** Extra CA certificate(s) to trust for a wss relay (PEM). */
  ca?: string | Buffer;
  /** Signed join token, when the relay requires one (`conclave serve --auth`). */
  token?: string;
  /** Reconnect when the relay restarts or the path breaks (default true). */
  reconnect?: boolean;
  /** Give up reconnecting after this long (default 120 s). */
  reconnectWindowMs?: number;
  /**
   * Receive remote audio through the lean SRTP path (src/client/lean-receive.ts) instead of
   * werift's receive path, after each stream's first packet (default true). Same audio, same
   * statistics and events; about a third of the CPU per received packet.
   */
  leanReceive?: boolean;
  /** Listener attached before joining, so it also sees the events emitted while joining. */
  onEvent?: (event: ConclaveEvent & { time: string }) => void;
}

export interface ReceivedAudio {
  peerId: string;
  payload: Buffer;
  timestamp: number;
  sequenceNumber: number;
}

export interface ReceivedVideo {
  peerId: string;
  /** One whole, decrypted frame: a VP8 frame, or an H.264 access unit in Annex B form. */
  frame: Buffer;
  codec: VideoCodecName;
  keyframe: boolean;
  /** RTP timestamp, 90 kHz. */
  timestamp: number;
}

export interface ParticipantEvents {
  event: [ConclaveEvent & { time: string }];
  audio: [ReceivedAudio];
  video: [ReceivedVideo];
  closed: [];
}

interface RemoteVideo {
  codec: VideoCodecName;
  /** Vp8Depacketizer, or H264Depacketizer (its subclass) for H.264. */
  depacketizer: Vp8Depacketizer;
  stats: VideoStreamStats;
  receive: ReceiveStats;
  lastPliAt: number;
  /** A `first-video` event went out for this member. */
  firstFrame?: boolean;
}

interface RemotePeer {
  peerId: string;
  video?: RemoteVideo;
  stats: ReceiveStats;
  meter: OpusLevelMeter | undefined;
  meterRequested?: boolean;
  firstAudio: boolean;
}

export class Participant extends EventEmitter<ParticipantEvents> {
  readonly invite: Invite;
  e2ee: E2eeSession;
  peerId = "";
  private readonly log: Logger;
  private readonly options: JoinOptions;
  private signalling: SignallingClient;
  private pc: RTCPeerConnection | undefined;
  private upload: RTCRtpTransceiver | undefined;
  private uploadVideo: RTCRtpTransceiver | undefined;
  private videoSource: VideoSource | undefined;
  private ownsVideoSource = false;
  private videoListener: ((frame: VideoFrame) => void) | undefined;
  private videoSequence = randomInt(0, 0xffff);
  private readonly videoTimestampBase = randomInt(0, 0x7fffffff);
  private readonly videoSsrc = randomInt(1, 0xffffffff);
  private pictureId = randomInt(0, VP8_MAX_PICTURE_ID);
  private sentVideoFrames = 0;
  private readonly midToPeer = new Map<string, string>();
  private readonly videoPublishers = new Set<string>();
  /** Publisher → the codec the relay negotiated for its video m-line. */
  private readonly publisherCodecs = new Map<string, VideoCodecName>();
  private readonly subscribed = new WeakSet<object>();
  private readonly remotes = new Map<string, RemotePeer>();
  /** The lean audio receive path (undefined with `leanReceive: false`); kept across reconnects for its counters. */
  private readonly lean: LeanAudioReceive | undefined;
  private source: AudioSource | undefined;
  private ownsSource = false;
  private sourceListener: ((frame: { payload: Buffer; samples: number }) => void) | undefined;
  private sequence = randomInt(0, 0xffff);
  private timestamp = randomInt(0, 0x7fffffff);
  private readonly ssrc = randomInt(1, 0xffffffff);
  private sentPackets = 0;
  private sentBytes = 0;
  private statsTimer: NodeJS.Timeout | undefined;
  private joinedAt = 0;
  private startedAt = 0;
  private closing = false;
  private reconnecting = false;
  private identity: IdentityKeyPair | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private readonly pings = new Map<number, number>();
  private pingId = 0;
  /** Level meter over our own outgoing audio (with `levels`), so a person can see they are heard. */
  localMeter: OpusLevelMeter | undefined;
  /** Round trip to the relay over the signalling socket, ms. */
  rttMs: number | null = null;
  muted = false;

  private constructor(invite: Invite, options: JoinOptions) {
    super();
    this.invite = invite;
    this.options = options;
    this.log = options.logger ?? nullLogger;
    if (options.onEvent) this.on("event", options.onEvent);
    this.signalling = new SignallingClient(invite.signalling, this.log.child("signalling"), options.ca);
    this.e2ee = this.newE2ee();
    this.lean = options.leanReceive === false ? undefined : new LeanAudioReceive();
  }

  private newE2ee(): E2eeSession {
    const options = this.options;
    return new E2eeSession({
      secret: this.invite.secret,
      roomId: this.invite.room,
      name: options.name ?? "anonymous",
      role: options.role ?? "member",
      noRecord: options.noRecord ?? false,
      suite: options.suite ?? 4,
      ...(this.identity ? { identity: this.identity } : {}),
      logger: this.log.child("e2ee"),
    });
  }

  /** Parse the invite, connect, get admitted and wait until media can flow. */
  static async join(invite: string | Invite, options: JoinOptions = {}): Promise<Participant> {
    let parsed: Invite;
    try {
      parsed = typeof invite === "string" ? parseInvite(invite) : invite;
    } catch (err) {
      if (err instanceof InviteParseError) throw new InviteError(err.message, err.code);
      throw err;
    }
    const participant = new Participant(parsed, options);
    try {
      await participant.connect();
    } catch (err) {
      await participant.close("join-failed");
      throw err;
    }
    return participant;
  }

  private emitEvent(event: ConclaveEvent): void {
    this.emit("event", stamp(event));
  }

  private async connect(): Promise<void> {
    this.startedAt = Date.now();
    // One identity for the whole session, kept across reconnects (a fresh one per session when the
    // caller gives none), so members and recordings still know us after a relay restart.
    await sodiumReady();
    this.identity = this.options.identity ?? generateIdentity();
    this.e2ee = this.newE2ee();
    if (this.options.levels) this.localMeter = await OpusLevelMeter.create();
    this.emitEvent({ type: "connecting", server: this.invite.server, room: this.invite.room });
    await this.establish(this.options.timeoutMs ?? 10_000);
    this.joinedAt = Date.now();
    this.emitEvent({
      type: "joined",
      room: this.invite.room,
      peerId: this.peerId,
      server: this.invite.server,
      joinMs: this.joinedAt - this.startedAt,
      fingerprint: this.e2ee.fingerprint,
    });
    this.pingTimer = setInterval(() => {
      const id = ++this.pingId;
      this.pings.set(id, Date.now());
      if (this.pings.size > 10) this.pings.delete(id - 10);
      this.signalling.send({ type: "ping", id });
    }, 2000);
    this.pingTimer.unref();
    const interval = this.options.statsIntervalMs ?? 2000;
    if (interval > 0) {
      this.statsTimer = setInterval(() => this.emitEvent(this.statsEvent()), interval);
      this.statsTimer.unref();
    }
  }

  /** Open signalling, get admitted, answer the relay's offer and wait until media is connected. */
  private async establish(timeoutMs: number): Promise<void> {
    await this.e2ee.init();
    this.wireE2ee();
    // werift makes one DTLS certificate per process, when the first offer is answered (~15 ms):
    // make it now, while the relay admits us and prepares its offer.
    prepareDtlsCertificate().catch(() => {});
    const signalling = new SignallingClient(this.invite.signalling, this.log.child("signalling"), this.options.ca);
    this.signalling = signalling;
    await signalling.connect(Math.min(timeoutMs, 5000));
    const connected = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new ConnectionError(`the relay did not connect media within ${timeoutMs} ms`, "media-timeout")),
        timeoutMs,
      );
      const onMessage = (message: ServerMessage): void => {
        if (message.type === "error" && message.fatal) {
          cleanup();
          reject(new DeniedError(`the relay refused to join: ${message.message}`, message.code));
        }
      };
      const onClose = (): void => {
        cleanup();
        reject(new ConnectionError("the relay closed the connection while joining", "relay-closed"));
      };
      const onConnected = (): void => {
        cleanup();
        resolve();
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        signalling.off("message", onMessage);
        signalling.off("close", onClose);
        this.connectedWaiter = undefined;
      };
      signalling.on("message", onMessage);
      signalling.on("close", onClose);
      this.connectedWaiter = onConnected;
    });
    // In turns with every other participant of this process (turn-queue.ts), in order; a message
    // of a session replaced since (reconnect) or closed is dropped. When the queue is behind,
    // renegotiations (offers after the welcome) skip the queued key exchange: the relay drops a peer
    // that answers late.
    let welcomed = false;
    signalling.on("message", (m) =>
      signallingTurns.push(
        () => {
          if (signalling !== this.signalling || this.closing) return;
          if (m.type === "welcome") welcomed = true;
          void this.handleMessage(m);
        },
        { urgent: m.type === "offer" && welcomed && signallingTurns.behind },
      ),
    );
    signalling.on("invalid", (why) => this.log.warn("dropped an invalid message from the relay", { why }));
    signalling.on("close", ({ code, reason }) => {
      if (signalling === this.signalling && this.joinedAt > 0) this.connectionLost(reason || `relay-closed-${code}`);
    });
    signalling.send({
      type: "join",
      v: 1,
      room: this.invite.room,
      ...(this.options.token ? { token: this.options.token } : {}),
      ...(this.options.video ? { video: true, videoCodec: this.videoCodec } : {}),
      videoReceive: [...VIDEO_CODECS],
    });
    try {
      await connected;
    } catch (err) {
      await signalling.close();
      throw err;
    }
  }

  /** Signalling or media broke: reconnect (the default) or leave. */
  private connectionLost(reason: string): void {
    if (this.closing || this.reconnecting) return;
    if (this.options.reconnect === false) {
      void this.close(reason);
      return;
    }
    void this.reconnect(reason);
  }

  /**
   * Rejoin after the relay restarted or the path broke: back off, rejoin as a new peer, prove
   * membership again and take fresh keys (nothing from the old session is reused), resume media.
   */
  private async reconnect(reason: string): Promise<void> {
    this.reconnecting = true;
    const lostAt = Date.now();
    this.emitEvent({ type: "reconnecting", reason });
    this.resetSession("reconnecting");
    const windowMs = this.options.reconnectWindowMs ?? 120_000;
    let delay = 100;
    let attempts = 0;
    while (!this.closing) {
      attempts++;
      try {
        await this.establish(5000);
        break;
      } catch (err) {
        this.resetSession(undefined);
        if (err instanceof DeniedError || Date.now() - lostAt > windowMs) {
          this.reconnecting = false;
          if (err instanceof DeniedError) this.emitEvent({ type: "error", code: err.code, message: err.message });
          await this.close(err instanceof DeniedError ? "denied" : "relay-lost");
          return;
        }
        this.log.debug("reconnect attempt failed", { attempt: attempts, error: (err as Error).message });
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 1000);
      }
    }
    this.reconnecting = false;
    if (!this.closing) this.emitEvent({ type: "reconnected", downtimeMs: Date.now() - lostAt, attempts, peerId: this.peerId });
  }

  /** Drop everything tied to one relay connection; keep sources, meters, counters and files. */
  private resetSession(reportLeftAs: string | undefined): void {
    const old = this.signalling;
    void old.close();
    if (reportLeftAs) {
      for (const member of this.e2ee.members.values()) {
        this.emitEvent({ type: "peer-left", peerId: member.peerId, name: member.name, reason: reportLeftAs });
      }
    }
    this.e2ee.close();
    this.e2ee.removeAllListeners();
    this.e2ee = this.newE2ee();
    const pc = this.pc;
    this.pc = undefined;
    this.offerChain = Promise.resolve();
    this.upload = undefined;
    this.uploadVideo = undefined;
    this.midToPeer.clear();
    this.videoPublishers.clear();
    this.publisherCodecs.clear();
    for (const remote of this.remotes.values()) remote.meter?.free();
    this.remotes.clear();
    this.lean?.reset();
    if (pc) void pc.close().catch(() => {});
  }

  private connectedWaiter: (() => void) | undefined;
  private offerChain: Promise<void> = Promise.resolve();

  /** Loopback relays are reached from loopback only (P11: no other address is ever used). */
  private get bindAddress(): string | undefined {
    return bindAddressFor(new URL(this.invite.server).hostname);
  }

  private waitConnected(pc: RTCPeerConnection, timeoutMs: number): Promise<void> {
    if (pc.connectionState === "connected") return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      const sub = pc.connectionStateChange.subscribe((state) => {
        if (state === "connected" || state === "failed" || state === "closed") done();
      });
      function done(): void {
        clearTimeout(timer);
        sub.unSubscribe();
        resolve();
      }
    });
  }

  private wireE2ee(): void {
    this.e2ee.on("send", ({ to, data }) => {
      this.signalling.send({ type: "relay", ...(to ? { to } : {}), data: Buffer.from(data).toString("base64url") });
    });
    this.e2ee.on("member", (m: MemberInfo) => {
      this.emitEvent({
        type: "peer-joined",
        peerId: m.peerId,
        name: m.name,
        fingerprint: m.fingerprint,
        identityKey: Buffer.from(m.identityKey).toString("base64url"),
        role: m.role,
        noRecord: m.noRecord,
      });
    });
    this.e2ee.on("event", (event) => this.emitEvent(event));
  }

  private async handleMessage(message: ServerMessage): Promise<void> {
    try {
      switch (message.type) {
        case "welcome":
          this.peerId = message.peerId;
          this.e2ee.start(message.peerId, message.peers);
          return;
        case "offer": {
          // Offers are handled one at a time, in order.
          // ...and only for the session they came in on: not once we are closing (no new
          // PeerConnection), nor after a reconnect replaced the session.
          const pc = this.pc;
          const signalling = this.signalling;
          const current = (): boolean => pc === this.pc && signalling === this.signalling && !this.closing;
          // When the queue is behind, each answer (SDP parsing and building in werift, milliseconds
          // with dozens of m-lines) waits for its own turn, so a room's worth of renegotiations does
          // not run back to back, and goes before queued key exchange (the relay gives us 10 s).
          const next = this.offerChain
            .then(() => (signallingTurns.behind ? signallingTurns.turn(true) : undefined))
            .then(() => (current() ? this.handleOffer(message.sdp, message.tracks) : undefined));
          this.offerChain = next.catch((err: unknown) => {
            this.log.warn("could not answer the relay's offer", { error: (err as Error).message });
          });
          await this.offerChain;
          return;
        }
        case "peer-joined":
          this.e2ee.onPeerJoined(message.peerId);
          return;
        case "peer-left": {
          const name = this.e2ee.members.get(message.peerId)?.name ?? null;
          this.remotes.get(message.peerId)?.meter?.free();
          this.remotes.delete(message.peerId);
          // Packets still in flight on its m-lines must not bring it back.
          for (const [mid, peerId] of this.midToPeer) {
            if (peerId !== message.peerId) continue;
            this.midToPeer.delete(mid);
            this.releaseLean(mid);
          }
          this.videoPublishers.delete(message.peerId);
          this.publisherCodecs.delete(message.peerId);
          const wasMember = this.e2ee.onPeerLeft(message.peerId);
          if (wasMember) this.emitEvent({ type: "peer-left", peerId: message.peerId, name, reason: message.reason });
          return;
        }
        case "relay":
          this.e2ee.onEnvelope(message.from, Buffer.from(message.data, "base64url"));
          return;
        case "error":
          if (!message.fatal) this.log.warn("relay reported an error", { code: message.code, message: message.message });
          if (message.fatal && this.joinedAt > 0) this.emitEvent({ type: "error", code: message.code, message: message.message });
          return;
        case "pong": {
          const sentAt = this.pings.get(message.id);
          if (sentAt !== undefined) {
            this.rttMs = Date.now() - sentAt;
            this.pings.delete(message.id);
          }
          return;
        }
      }
    } catch (err) {
      this.log.warn("failed to handle a relay message", { type: message.type, error: (err as Error).message });
    }
  }

  private ensurePeerConnection(): RTCPeerConnection {
    if (this.pc) return this.pc;
    const bind = this.bindAddress;
    const pc = new RTCPeerConnection(buildPeerConfig(bind ? { bindAddress: bind } : {}));
    // werift fires track events inside setRemoteDescription, and again on every renegotiation:
    // subscribe here, once, and de-duplicate by track.
    pc.onTrack.subscribe((track) => {
      if (this.subscribed.has(track)) return;
      this.subscribed.add(track);
      const transceiver = pc.getTransceivers().find((t) => t.receiver.track === track);
      if (!transceiver || transceiver === this.upload || transceiver === this.uploadVideo) return;
      // A stream the lean path took for another m-line now belongs to this one: werift routes it.
      if (track.ssrc !== undefined && this.lean?.has(track.ssrc)) this.lean.release(track.ssrc);
      if (transceiver.kind === "video") track.onReceiveRtp.subscribe((rtp) => this.handleVideoRtp(transceiver, rtp));
      else track.onReceiveRtp.subscribe((rtp) => this.handleRtp(transceiver, rtp));
    });
    pc.connectionStateChange.subscribe((state) => {
      this.log.debug("media connection state", { state, current: pc === this.pc });
      if (state === "connected" && pc === this.pc) this.connectedWaiter?.();
      if (state === "failed" && !this.closing && pc === this.pc && this.joinedAt > 0) this.connectionLost("media-failed");
    });
    this.pc = pc;
    return pc;
  }

  private async handleOffer(sdp: string, tracks: TrackMapping[]): Promise<void> {
    const renegotiation = this.pc !== undefined;
    const pc = this.ensurePeerConnection();
    if (renegotiation && pc.connectionState !== "connected") {
      // werift loses ICE when a renegotiation lands while the first connection is still being
      // checked: wait for it to connect first (bounded).
      await this.waitConnected(pc, 5000);
    }
    for (const t of tracks) {
      this.midToPeer.set(t.mid, t.peerId);
      if (t.kind === "video") this.videoPublishers.add(t.peerId);
    }
    await pc.setRemoteDescription({ type: "offer", sdp });
    for (const transport of pc.dtlsTransports) startDtlsEarly(transport);
    for (const transceiver of pc.getTransceivers()) {
      const mid = transceiver.mid;
      if (mid === null) continue;
      if (this.midToPeer.has(mid) || transceiver === this.upload || transceiver === this.uploadVideo) continue;
      // The m-lines that carry no other publisher are ours to send on, one per kind.
      if (transceiver.kind === "audio" && !this.upload) {
        this.upload = transceiver;
        transceiver.setDirection("sendonly");
      } else if (transceiver.kind === "video" && !this.uploadVideo) {
        this.uploadVideo = transceiver;
        transceiver.setDirection("sendonly");
      }
    }
    for (const t of tracks) {
      if (t.kind !== "video") continue;
      const codec = videoCodecName(pc.getTransceivers().find((x) => x.mid === t.mid)?.codecs[0]);
      if (codec) this.publisherCodecs.set(t.peerId, codec);
    }
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    // Its sockets exist now: let them absorb a held-up event loop instead of dropping (rtc-config.ts).
    enlargeReceiveBuffers(pc);
    // A retired (inactive) m-line must never be reused for a later publisher: werift would drop its
    // mid while the relay's next offer still lists it ("Transceiver with mid=N not found").
    for (const t of pc.getTransceivers()) if (t.currentDirection === "inactive") t.usedForSender = true;
    this.signalling.send({ type: "answer", sdp: keepCandidates(pc.localDescription!.sdp, this.bindAddress) });
  }

  /**
   * Audio through werift's receive path: the first packet of each stream (and all of them with
   * `leanReceive: false`, or when the lean path cannot run on this session). With `leanReceive`,
   * the stream's later packets come straight from the socket to receiveAudio (lean-receive.ts).
   */
  private handleRtp(transceiver: RTCRtpTransceiver, rtp: RtpPacket): void {
    if (transceiver.mid === null || !this.midToPeer.has(transceiver.mid)) return;
    if (this.lean && !this.closing) {
      const h = rtp.header;
      this.lean.take(transceiver, h.ssrc, h.payloadType, h.sequenceNumber, h.timestamp, (seq, timestamp, payload) => this.receiveAudio(transceiver, seq, timestamp, payload));
    }
    this.receiveAudio(transceiver, rtp.header.sequenceNumber, rtp.header.timestamp, rtp.payload);
  }

  /** Give the lean path's streams of m-line `mid` back to werift (its member left). */
  private releaseLean(mid: string): void {
    if (!this.lean) return;
    const transceiver = this.pc?.getTransceivers().find((t) => t.mid === mid);
    for (const track of transceiver?.receiver.tracks ?? []) if (track.ssrc !== undefined) this.lean.release(track.ssrc);
  }

  /** One received audio packet of a remote member, from either receive path. */
  private receiveAudio(transceiver: RTCRtpTransceiver, sequenceNumber: number, timestamp: number, payload: Buffer): void {
    const peerId = transceiver.mid === null ? undefined : this.midToPeer.get(transceiver.mid);
    if (!peerId) return;
    let remote = this.remotes.get(peerId);
    if (!remote || (this.options.levels && !remote.meter && !remote.meterRequested)) {
      const created: RemotePeer = remote ?? { peerId, stats: new ReceiveStats(), meter: undefined, firstAudio: false };
      created.meterRequested = true;
      remote = created;
      this.remotes.set(peerId, created);
      if (this.options.levels) {
        void OpusLevelMeter.create().then((meter) => {
          if (this.remotes.get(peerId) === created && !this.closing) created.meter = meter;
          else meter.free();
        });
      }
    }
    const now = Date.now();
    remote.stats.record(sequenceNumber, timestamp, payload.length, now);
    const plaintext = this.e2ee.decrypt(peerId, payload);
    if (!plaintext) return;
    if (!remote.firstAudio) {
      remote.firstAudio = true;
      this.emitEvent({
        type: "first-audio",
        peerId,
        name: this.e2ee.members.get(peerId)?.name ?? null,
        afterJoinMs: now - this.startedAt,
      });
    }
    remote.meter?.push(plaintext);
    this.emit("audio", { peerId, payload: plaintext, timestamp, sequenceNumber });
  }

  private remoteFor(peerId: string): RemotePeer {
    let remote = this.remotes.get(peerId);
    if (!remote) {
      remote = { peerId, stats: new ReceiveStats(), meter: undefined, firstAudio: false };
      this.remotes.set(peerId, remote);
    }
    return remote;
  }

  /**
   * Video receive path: RTP → reassemble whole frames (RFC 7741, the descriptor is in the clear) →
   * SFrame decrypt the whole frame → only then is it VP8 a decoder or recorder can use. After a loss
   * the stream waits for the next keyframe and asks the publisher for one (PLI, at most 1/s).
   */
  private handleVideoRtp(transceiver: RTCRtpTransceiver, rtp: RtpPacket): void {
    const peerId = transceiver.mid === null ? undefined : this.midToPeer.get(transceiver.mid);
    if (!peerId) return;
    const remote = this.remoteFor(peerId);
    const codec = videoCodecName(transceiver.codecs.find((c) => c.payloadType === rtp.header.payloadType)) ?? "vp8";
    if (remote.video && remote.video.codec !== codec) remote.video = undefined;
    const video = (remote.video ??= {
      codec,
      // A gap waits up to 4 complete frames (133 ms at 30 fps) for the relay's answer to werift's
      // NACK (RFC 4585 §6.2.1) before the frame is given up and a keyframe is needed.
      depacketizer: codec === "h264" ? new H264Depacketizer({ reorderFrames: 4 }) : new Vp8Depacketizer({ reorderFrames: 4 }),
      stats: new VideoStreamStats(),
      receive: new ReceiveStats(90000),
      lastPliAt: 0,
    });
    const now = Date.now();
    video.receive.record(rtp.header.sequenceNumber, rtp.header.timestamp, rtp.payload.length, now);
    let frames;
    try {
      frames = video.depacketizer.push({
        sequenceNumber: rtp.header.sequenceNumber,
        timestamp: rtp.header.timestamp,
        marker: rtp.header.marker,
        payload: rtp.payload,
      });
    } catch (err) {
      this.log.debug("dropped a malformed video packet", { peerId, error: (err as Error).message });
      return;
    }
    for (const assembled of frames) {
      const plain = this.e2ee.decrypt(peerId, assembled.data);
      if (!plain) continue;
      const h264 = codec === "h264" ? parseH264AccessUnit(plain) : undefined;
      const keyframe = h264 ? h264.keyframe : isVp8Keyframe(plain);
      if (keyframe) video.depacketizer.keyframeReceived();
      else if (video.depacketizer.needsKeyframe) continue;
      if (h264) video.stats.record({ keyframe, width: h264.width, height: h264.height, bytes: plain.length }); // as recordH264, parsed once
      else video.stats.recordVp8(plain);
      if (!video.firstFrame) {
        video.firstFrame = true;
        const { width, height } = video.stats.snapshot();
        this.emitEvent({ type: "first-video", peerId, name: this.e2ee.members.get(peerId)?.name ?? null, afterJoinMs: now - this.startedAt, width, height });
      }
      this.emit("video", { peerId, frame: plain, codec, keyframe, timestamp: assembled.timestamp });
    }
    if (video.depacketizer.needsKeyframe && now - video.lastPliAt > 1000) {
      video.lastPliAt = now;
      void transceiver.receiver.sendRtcpPLI(rtp.header.ssrc).catch(() => {});
    }
  }

  /** Publish video from a source spec (starts its own ffmpeg) or a shared VideoSource. Needs `video: true` at join. */
  async publishVideo(source: VideoSourceSpec | VideoSource, settings: Omit<VideoSourceOptions, "ffmpeg" | "logger"> = {}): Promise<void> {
    await this.unpublishVideo();
    if (!this.options.video) throw new ConclaveError("video-not-negotiated", "join with video enabled to publish video", ExitCode.usage);
    if (source instanceof VideoSource) {
      if (source.codec !== this.videoCodec) {
        throw new ConclaveError("video-codec-mismatch", `the video source encodes ${source.codec}, but this participant joined to publish ${this.videoCodec}`, ExitCode.usage);
      }
      this.videoSource = source;
      this.ownsVideoSource = false;
    } else {
      if (source.kind === "none") return;
      if (!this.options.ffmpeg) throw new ConclaveError("ffmpeg-missing", "publishing video needs ffmpeg", ExitCode.media);
      this.videoSource = await VideoSource.open(source, {
        ffmpeg: this.options.ffmpeg,
        logger: this.log.child("ffmpeg-video"),
        ...settings,
        codec: this.videoCodec,
      });
      this.ownsVideoSource = true;
    }
    this.videoListener = (frame) => this.sendVideoFrame(frame);
    this.videoSource.on("frame", this.videoListener);
    this.emitEvent({ type: "publishing", source: source instanceof VideoSource ? "shared video" : describeVideoSource(source), ssrc: this.videoSsrc });
  }

  async unpublishVideo(): Promise<void> {
    if (this.videoSource && this.videoListener) this.videoSource.off("frame", this.videoListener);
    if (this.videoSource && this.ownsVideoSource) await this.videoSource.close();
    this.videoSource = undefined;
    this.videoListener = undefined;
  }

  /** The codec of the video we publish (JoinOptions.videoCodec). */
  get videoCodec(): VideoCodecName {
    return this.options.videoCodec ?? "vp8";
  }

  /**
   * One frame of our codec (a VP8 frame, or an H.264 access unit): encrypt it whole as one SFrame
   * message, then packetize (RFC 7741, or RFC 6184 as h264-rtp.ts describes) and send.
   */
  sendVideoFrame(frame: { data: Uint8Array; timestamp90k: number }): void {
    if (this.muted || this.closing || !this.uploadVideo) return;
    const ciphertext = this.e2ee.encrypt(frame.data);
    const timestamp = (this.videoTimestampBase + frame.timestamp90k) >>> 0;
    const h264 = this.videoCodec === "h264";
    const payloads = h264 ? packetizeH264(ciphertext, 1100) : packetizeVp8(ciphertext, 1100, { pictureId: this.pictureId });
    if (!h264) this.pictureId = (this.pictureId + 1) % (VP8_MAX_PICTURE_ID + 1);
    payloads.forEach((payload, i) => {
      const header = new RtpHeader({
        payloadType: h264 ? H264_PAYLOAD_TYPE : VP8_PAYLOAD_TYPE,
        sequenceNumber: this.videoSequence,
        timestamp,
        ssrc: this.videoSsrc,
        marker: i === payloads.length - 1,
      });
      this.videoSequence = (this.videoSequence + 1) & 0xffff;
      this.sentBytes += payload.length;
      void this.uploadVideo!.sender.sendRtp(new RtpPacket(header, payload)).catch(() => {});
    });
    this.sentVideoFrames++;
  }

  /** Does this member publish video (the relay offered us a video m-line for it)? */
  publishesVideo(peerId: string): boolean {
    return this.videoPublishers.has(peerId);
  }

  /** The codec of a member's video, once the relay offered us its m-line. */
  videoCodecOf(peerId: string): VideoCodecName | undefined {
    return this.publisherCodecs.get(peerId);
  }

  /** Frame rate, resolution and keyframe count of a member's video, when it publishes video. */
  videoStatsOf(peerId: string): ReturnType<VideoStreamStats["snapshot"]> | undefined {
    return this.remotes.get(peerId)?.video?.stats.snapshot();
  }

  /**
   * A member's video below the frame level: RTP packets received and lost (RFC 3550 §A.1), whole
   * frames reassembled, and incomplete frames given up on (a packet never came).
   */
  videoReceiveOf(
    peerId: string,
  ): { packetsReceived: number; packetsLost: number; bytesReceived: number; lastPacketAt: number; framesAssembled: number; framesDropped: number } | undefined {
    const video = this.remotes.get(peerId)?.video;
    if (!video) return undefined;
    const r = video.receive.snapshot();
    const d = video.depacketizer.stats;
    return {
      packetsReceived: r.packetsReceived,
      packetsLost: r.packetsLost,
      bytesReceived: r.bytesReceived,
      lastPacketAt: r.lastPacketAt,
      framesAssembled: d.framesEmitted,
      framesDropped: d.framesDropped,
    };
  }

  /** Publish audio from a source spec (starts its own ffmpeg) or from a shared AudioSource. */
  async publish(source: AudioSourceSpec | AudioSource): Promise<void> {
    await this.unpublish();
    if (source instanceof AudioSource) {
      this.source = source;
      this.ownsSource = false;
    } else {
      if (source.kind === "none") return;
      if (!this.options.ffmpeg) throw new ConclaveError("ffmpeg-missing", "publishing audio needs ffmpeg", ExitCode.media);
      this.source = await AudioSource.open(source, { ffmpeg: this.options.ffmpeg, logger: this.log.child("ffmpeg") });
      this.ownsSource = true;
    }
    this.sourceListener = (frame) => this.sendFrame(frame.payload, frame.samples);
    this.source.on("frame", this.sourceListener);
    this.emitEvent({ type: "publishing", source: describeSource(source), ssrc: this.ssrc });
  }

  async unpublish(): Promise<void> {
    if (this.source && this.sourceListener) this.source.off("frame", this.sourceListener);
    if (this.source && this.ownsSource) await this.source.close();
    this.source = undefined;
    this.sourceListener = undefined;
  }

  /** Send one Opus frame (already encoded): encrypt with SFrame, wrap in RTP, hand to werift. */
  sendFrame(opus: Uint8Array, samples: number): void {
    const timestamp = this.timestamp;
    this.timestamp = (this.timestamp + samples) >>> 0;
    this.localMeter?.push(opus);
    if (this.muted || this.closing || !this.upload) return;
    const payload = this.e2ee.encrypt(opus);
    const header = new RtpHeader({
      payloadType: OPUS_PAYLOAD_TYPE,
      sequenceNumber: this.sequence,
      timestamp,
      ssrc: this.ssrc,
      marker: false,
    });
    this.sequence = (this.sequence + 1) & 0xffff;
    this.sentPackets++;
    this.sentBytes += payload.length;
    void this.upload.sender.sendRtp(new RtpPacket(header, payload)).catch(() => {});
  }

  setMuted(muted: boolean): void {
    this.muted = muted;
    this.e2ee.setMuted(muted);
  }

  sendChat(text: string): void {
    this.e2ee.sendChat(text);
  }

  statsEvent(): ConclaveEvent {
    const now = Date.now();
    const peers: PeerStats[] = [];
    for (const [peerId, member] of this.e2ee.members) {
      const remote = this.remotes.get(peerId);
      const s = remote?.stats.snapshot(now);
      peers.push({
        peerId,
        name: member.name,
        packetsReceived: s?.packetsReceived ?? 0,
        packetsLost: s?.packetsLost ?? 0,
        lossPct: s ? Math.round(s.lossRate * 10000) / 100 : 0,
        jitterMs: s ? Math.round(s.jitterMs * 100) / 100 : 0,
        bitrateKbps: s ? Math.round(s.bitrateKbps * 10) / 10 : 0,
        decryptFailures: this.e2ee.peerDecryptFailures(peerId),
        levelDbfs: remote?.meter ? Math.round(remote.meter.level * 10) / 10 : null,
        speaking: remote?.meter?.speaking ?? false,
        ...(remote?.video ? { video: videoSummary(remote.video, now) } : {}),
      });
    }
    return {
      type: "stats",
      peers,
      sent: { packets: this.sentPackets, bytes: this.sentBytes },
      decryptFailures: this.e2ee.stats.decryptFailures,
      unknownKey: this.e2ee.stats.unknownKey,
      rejected: this.e2ee.stats.rejected,
      ...(this.lean ? { srtpDropped: this.leanDropped() } : {}),
    };
  }

  /** Decrypted audio level and speaking state of a remote member (with `levels`). */
  levelOf(peerId: string): { levelDbfs: number; speaking: boolean } | undefined {
    const meter = this.remotes.get(peerId)?.meter;
    return meter ? { levelDbfs: meter.level, speaking: meter.speaking } : undefined;
  }

  /**
   * The lean audio receive path: whether it is on (JoinOptions.leanReceive), packets it delivered,
   * and packets it dropped — replays (RFC 3711 §3.3.2), failed authentication (forged or
   * corrupted), malformed — over the whole session.
   */
  get leanReceiveStats(): { enabled: boolean; packets: number; replayed: number; rejected: number; malformed: number } {
    const c = this.lean?.counters ?? { packets: 0, replayed: 0, rejected: 0, malformed: 0 };
    return { enabled: this.lean !== undefined, ...c };
  }

  private leanDropped(): number {
    const c = this.lean?.counters;
    return c ? c.replayed + c.rejected + c.malformed : 0;
  }

  /** Receive statistics of a remote member. */
  receiveStatsOf(peerId: string): ReturnType<ReceiveStats["snapshot"]> | undefined {
    return this.remotes.get(peerId)?.stats.snapshot();
  }

  /** Peer ids of remote members whose audio has been decrypted at least once. */
  get heard(): string[] {
    return [...this.remotes.values()].filter((r) => r.firstAudio).map((r) => r.peerId);
  }

  /** Leave the room: tell the others, stop media, close everything. Idempotent. */
  async close(reason = "left"): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearInterval(this.statsTimer);
    clearInterval(this.pingTimer);
    this.connectedWaiter = undefined;
    await this.unpublish().catch(() => {});
    await this.unpublishVideo().catch(() => {});
    if (this.signalling.open) {
      this.e2ee.sayGoodbye();
      this.signalling.send({ type: "leave" });
    }
    await this.signalling.close();
    for (const remote of this.remotes.values()) remote.meter?.free();
    this.lean?.close();
    this.localMeter?.free();
    this.e2ee.close();
    if (this.pc) await this.pc.close().catch(() => {});
    if (this.joinedAt > 0) this.emitEvent({ type: "left", reason });
    this.emit("closed");
  }
}

function describeSource(source: AudioSourceSpec | AudioSource): string {
  if (source instanceof AudioSource) return "shared";
  switch (source.kind) {
    case "tone":
      return `tone:${source.frequency}`;
    case "file":
      return "file";
    case "device":
      return `device:${source.name}`;
    default:
      return source.kind;
  }
}

function videoSummary(video: RemoteVideo, now: number): NonNullable<PeerStats["video"]> {
  const v = video.stats.snapshot();
  const r = video.receive.snapshot(now);
  return {
    fps: Math.round(v.fps * 10) / 10,
    width: v.width ?? 0,
    height: v.height ?? 0,
    frames: v.frames,
    keyframes: v.keyframes,
    packetsLost: r.packetsLost,
    bitrateKbps: Math.round(r.bitrateKbps * 10) / 10,
  };
}
