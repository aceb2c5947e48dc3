/**
 * The end-to-end encryption session of one participant: membership (signed, sealed hellos that prove
 * knowledge of the invite secret), per-sender SFrame keys, the ratchet on join, fresh keys on leave,
 * recording consent enforced by key distribution, and end-to-end metadata (names, roles, mute, chat).
 *
 * Everything it sends goes through the relay as opaque envelopes (src/crypto/envelope.ts); the relay
 * can drop or delay them but cannot read, forge or usefully replay them. docs/security.md describes
 * the protocol message by message.
 */
import { EventEmitter } from "node:events";
import {
  sodiumReady,
  generateIdentity,
  fingerprint,
  shortFingerprint,
  decodeRoomSecret,
  deriveRoomKeys,
  EnvelopeType,
  sealEnvelope,
  openEnvelope,
  generateKxKeyPair,
  boxTo,
  openBox,
  kidFor,
  splitKid,
  newKeyspace,
  newSenderKey,
  ratchetSenderKey,
  safetyNumber,
  equalBytes,
  wipe,
  CryptoError,
  type IdentityKeyPair,
  type RoomKeys,
  type KxKeyPair,
  type SenderKeySuite,
} from "../crypto/index.js";
import { SFrameSender, SFrameReceiver, decodeHeader } from "../crypto/sframe/index.js";
import { KeyError } from "../errors.js";
import { nullLogger, type Logger } from "../log.js";
import type { ConclaveEvent } from "./events.js";

export interface MemberInfo {
  peerId: string;
  name: string;
  role: string;
  noRecord: boolean;
  muted: boolean;
  identityKey: Uint8Array;
  fingerprint: string;
  shortFingerprint: string;
  safetyNumber: string;
  joinedAt: number;
}

interface Member extends MemberInfo {
  kxPublicKey: Uint8Array;
  keyspace: number;
  lastSeq: bigint;
  /** Latest key generation we hold for this sender, and its base key (for lazy ratcheting). */
  latestGeneration: number;
  latestKey: Uint8Array | undefined;
  decryptFailures: number;
  /** Did we send our current key to this member? */
  keyedGeneration: number;
}

export interface E2eeOptions {
  /** Invite secret, base64url (the part after '#'). */
  secret: string;
  roomId: string;
  name: string;
  role: string;
  noRecord: boolean;
  suite: SenderKeySuite;
  identity?: IdentityKeyPair;
  logger?: Logger;
  /** Longest wait for key acks before switching to a fresh key on leave. */
  switchTimeoutMs?: number;
  /** Time a peer the relay announced has to send a valid hello before members report it. */
  helloTimeoutMs?: number;
}

export interface E2eeEvents {
  send: [{ to?: string; data: Uint8Array }];
  member: [MemberInfo];
  event: [ConclaveEvent];
}

export interface E2eeStats {
  /** Frames with a known key that failed authentication, replays and malformed frames. */
  decryptFailures: number;
  /** Frames for which we hold no key (yet). */
  unknownKey: number;
  /** Envelopes rejected: not sealed with the room key, bad proof or signature, misbound, replayed. */
  rejected: number;
  rotations: number;
}

const MAX_CLOCK_SKEW_MS = 10 * 60 * 1000;
const LAZY_RATCHET_LIMIT = 16;

interface HelloBody {
  kx: string;
  keyspace: number;
  name: string;
  role: string;
  noRecord: boolean;
  muted: boolean;
  suite: number;
  reply: boolean;
}

export class E2eeSession extends EventEmitter<E2eeEvents> {
  readonly members = new Map<string, Member>();
  readonly stats: E2eeStats = { decryptFailures: 0, unknownKey: 0, rejected: 0, rotations: 0 };
  private readonly options: E2eeOptions;
  private readonly log: Logger;
  private identity!: IdentityKeyPair;
  private kx!: KxKeyPair;
  private roomKeys!: RoomKeys;
  private readonly keyspace = newKeyspace();
  private generation = 0;
  private sendKey!: Uint8Array;
  private sender!: SFrameSender;
  private receiver!: SFrameReceiver;
  private selfId = "";
  private seq = 0n;
  private muted = false;
  /** Peers the relay announced that have not proved membership yet. */
  private readonly pending = new Map<string, NodeJS.Timeout>();
  private readonly keyspaceOwner = new Map<number, string>();
  /** A pending switch to a fresh key (leave): waits for acks or a timeout. */
  private pendingSwitch:
    | { generation: number; key: Uint8Array; waiting: Set<string>; timer: NodeJS.Timeout; startedAt: number; reason: "leave" }
    | undefined;
  private readonly failedCandidates = new Map<bigint, number>();
  private closed = false;

  constructor(options: E2eeOptions) {
    super();
    this.options = options;
    this.log = options.logger ?? nullLogger;
  }

  async init(): Promise<void> {
    await sodiumReady();
    let secret: Uint8Array;
    try {
      secret = decodeRoomSecret(this.options.secret);
    } catch {
      throw new KeyError("the invite secret is malformed; ask for the full invite link again", "invite-bad-secret");
    }
    this.roomKeys = deriveRoomKeys(secret, this.options.roomId);
    wipe(secret);
    this.identity = this.options.identity ?? generateIdentity();
    this.kx = generateKxKeyPair();
    this.sendKey = newSenderKey(this.options.suite);
    this.sender = new SFrameSender({ suite: this.options.suite, kid: kidFor(this.keyspace, 0), baseKey: this.sendKey });
    this.receiver = new SFrameReceiver({ suite: this.options.suite, replayWindow: 256 });
  }

  get fingerprint(): string {
    return fingerprint(this.identity.publicKey);
  }

  get identityKey(): Uint8Array {
    return this.identity.publicKey;
  }

  get currentGeneration(): number {
    return this.generation;
  }

  get suite(): SenderKeySuite {
    return this.options.suite;
  }

  /** Called once the relay has admitted us: announce ourselves to everyone already there. */
  start(selfId: string, existingPeers: string[]): void {
    this.selfId = selfId;
    for (const peerId of existingPeers) this.expectHello(peerId);
    this.sendHello(undefined, false);
  }

  /** The relay says someone joined: they must prove membership with a hello. */
  onPeerJoined(peerId: string): void {
    this.expectHello(peerId);
  }

  private expectHello(peerId: string): void {
    if (this.members.has(peerId) || this.pending.has(peerId)) return;
    const timer = setTimeout(() => {
      this.pending.delete(peerId);
      if (!this.members.has(peerId)) this.reportIntruder(peerId, "no valid hello");
    }, this.options.helloTimeoutMs ?? 5000);
    timer.unref();
    this.pending.set(peerId, timer);
  }

  /** The relay says someone left. Returns whether it was a verified member. */
  onPeerLeft(peerId: string): boolean {
    const timer = this.pending.get(peerId);
    if (timer) {
      clearTimeout(timer);
      this.pending.delete(peerId);
    }
    const member = this.members.get(peerId);
    if (!member) return false;
    this.removeMember(member);
    this.rotateForLeave();
    return true;
  }

  private removeMember(member: Member): void {
    this.members.delete(member.peerId);
    this.keyspaceOwner.delete(member.keyspace);
    for (let g = Math.max(0, member.latestGeneration - LAZY_RATCHET_LIMIT); g <= member.latestGeneration + LAZY_RATCHET_LIMIT; g++) {
      this.receiver.removeKey(kidFor(member.keyspace, g));
    }
    wipe(member.latestKey);
    member.latestKey = undefined;
    if (this.pendingSwitch?.waiting.delete(member.peerId)) this.maybeSwitch();
  }

  // ---- sending envelopes -------------------------------------------------------------------------

  private seal(type: number, body: Uint8Array, to?: string): Uint8Array {
    this.seq += 1n;
    return sealEnvelope({
      keys: this.roomKeys,
      identity: this.identity,
      type,
      roomId: this.options.roomId,
      from: this.selfId,
      ...(to ? { to } : {}),
      seq: this.seq,
      timeMs: Date.now(),
      body,
    });
  }

  private sendEnvelope(type: number, body: Uint8Array, to?: string): void {
    if (this.closed || !this.selfId) return;
    this.emit("send", { ...(to ? { to } : {}), data: this.seal(type, body, to) });
  }

  private sendHello(to: string | undefined, reply: boolean): void {
    const body: HelloBody = {
      kx: Buffer.from(this.kx.publicKey).toString("base64url"),
      keyspace: this.keyspace,
      name: this.options.name,
      role: this.options.role,
      noRecord: this.options.noRecord,
      muted: this.muted,
      suite: this.options.suite,
      reply,
    };
    this.sendEnvelope(EnvelopeType.hello, Buffer.from(JSON.stringify(body)), to);
  }

  /** May this member receive our sender keys? A member who declined recording never keys a recorder. */
  private mayKey(member: Member): boolean {
    return !(this.options.noRecord && member.role === "recorder");
  }

  private sendKeyTo(member: Member, generation: number, key: Uint8Array): void {
    if (!this.mayKey(member)) return;
    const plaintext = Buffer.alloc(8 + key.length);
    plaintext.writeUInt32BE(this.keyspace, 0);
    plaintext.writeUInt32BE(generation, 4);
    plaintext.set(key, 8);
    const boxed = boxTo({ recipientPublicKey: member.kxPublicKey, senderSecretKey: this.kx.secretKey, plaintext });
    wipe(plaintext);
    member.keyedGeneration = generation;
    this.sendEnvelope(EnvelopeType.key, boxed, member.peerId);
  }

  // ---- receiving envelopes -----------------------------------------------------------------------

  onEnvelope(from: string, data: Uint8Array): void {
    if (this.closed) return;
    let opened;
    try {
      opened = openEnvelope({ keys: this.roomKeys, roomId: this.options.roomId, from, to: this.selfId, data });
    } catch (err) {
      this.stats.rejected++;
      const code = err instanceof CryptoError ? err.code : "invalid";
      this.log.debug("rejected an envelope", { from, code });
      // A peer that is not (yet) a member and cannot seal with the room key is an intruder.
      if (!this.members.has(from)) this.reportIntruder(from, code);
      return;
    }
    if (Math.abs(Date.now() - opened.timeMs) > MAX_CLOCK_SKEW_MS) {
      this.stats.rejected++;
      return;
    }
    const member = this.members.get(from);
    if (opened.type === EnvelopeType.hello) {
      this.handleHello(from, opened.identityKey, opened.seq, opened.body);
      return;
    }
    if (!member) {
      this.stats.rejected++;
      return;
    }
    if (!equalBytes(member.identityKey, opened.identityKey) || opened.seq <= member.lastSeq) {
      // Another identity under a member's peer id, or a replay: dropped.
      this.stats.rejected++;
      return;
    }
    member.lastSeq = opened.seq;
    try {
      switch (opened.type) {
        case EnvelopeType.key:
          this.handleKey(member, opened.body);
          return;
        case EnvelopeType.ack:
          this.handleAck(member, opened.body);
          return;
        case EnvelopeType.state:
          this.handleState(member, opened.body);
          return;
        case EnvelopeType.chat:
          this.handleChat(member, opened.body, opened.timeMs);
          return;
        case EnvelopeType.bye:
          this.removeMember(member);
          this.emit("event", { type: "peer-left", peerId: member.peerId, name: member.name, reason: "left" });
          this.rotateForLeave();
          return;
        default:
          this.stats.rejected++;
      }
    } catch (err) {
      this.stats.rejected++;
      this.log.debug("dropped a malformed envelope body", { from, error: (err as Error).message });
    }
  }

  private handleHello(from: string, identityKey: Uint8Array, seq: bigint, bodyBytes: Uint8Array): void {
    let body: HelloBody;
    try {
      body = parseHello(bodyBytes);
    } catch {
      this.stats.rejected++;
      return;
    }
    const existing = this.members.get(from);
    if (existing) {
      // A repeated hello (reply) from a member we know: accept only from the same identity, in order.
      if (!equalBytes(existing.identityKey, identityKey) || seq <= existing.lastSeq) this.stats.rejected++;
      else existing.lastSeq = seq;
      return;
    }
    if (body.suite !== this.options.suite) {
      this.reportIntruder(from, `cipher suite ${body.suite} does not match this room's ${this.options.suite}`);
      return;
    }
    const owner = this.keyspaceOwner.get(body.keyspace);
    if ((owner !== undefined && owner !== from) || body.keyspace === this.keyspace) {
      this.reportIntruder(from, "reused a key id space");
      return;
    }
    const timer = this.pending.get(from);
    if (timer) clearTimeout(timer);
    this.pending.delete(from);
    const member: Member = {
      peerId: from,
      name: body.name,
      role: body.role,
      noRecord: body.noRecord,
      muted: body.muted,
      identityKey,
      fingerprint: fingerprint(identityKey),
      shortFingerprint: shortFingerprint(identityKey),
      safetyNumber: safetyNumber(this.identity.publicKey, identityKey),
      joinedAt: Date.now(),
      kxPublicKey: new Uint8Array(Buffer.from(body.kx, "base64url")),
      keyspace: body.keyspace,
      lastSeq: seq,
      latestGeneration: -1,
      latestKey: undefined,
      decryptFailures: 0,
      keyedGeneration: -1,
    };
    this.members.set(from, member);
    this.keyspaceOwner.set(body.keyspace, from);
    this.emit("member", publicInfo(member));
    if (!body.reply) {
      // A newcomer: tell it who we are, then ratchet our key one step and give it only the new key
      // (it never sees a key we used before it joined).
      this.sendHello(from, true);
      this.ratchetForJoin(member);
    } else {
      // An existing member answered our hello: it has no key of ours yet.
      this.sendKeyTo(member, this.generation, this.sendKey);
    }
    this.announceRecording();
  }

  private ratchetForJoin(newcomer: Member): void {
    const started = Date.now();
    const next = ratchetSenderKey(this.sendKey, this.options.suite);
    // If a fresh key is waiting for acks, the ratchet goes on from that one.
    if (this.pendingSwitch) {
      const p = this.pendingSwitch;
      const ratcheted = ratchetSenderKey(p.key, this.options.suite);
      p.generation += 1;
      wipe(p.key);
      p.key = ratcheted;
      for (const m of this.members.values()) if (m !== newcomer) this.sendKeyTo(m, p.generation, p.key);
      this.sendKeyTo(newcomer, p.generation, p.key);
      p.waiting.add(newcomer.peerId);
      wipe(next);
      return;
    }
    wipe(this.sendKey);
    this.sendKey = next;
    this.generation += 1;
    this.sender.setKey(kidFor(this.keyspace, this.generation), this.sendKey);
    this.sendKeyTo(newcomer, this.generation, this.sendKey);
    this.stats.rotations++;
    this.emit("event", {
      type: "key-rotated",
      reason: "join",
      generation: this.generation,
      tookMs: Date.now() - started,
      at: new Date().toISOString(),
    });
  }

  /** Someone left: draw a fresh random key, give it to every remaining member, switch on acks (≤ 1 s). */
  private rotateForLeave(): void {
    if (this.closed) return;
    const startedAt = Date.now();
    if (this.pendingSwitch) {
      clearTimeout(this.pendingSwitch.timer);
      wipe(this.pendingSwitch.key);
    }
    const generation = (this.pendingSwitch?.generation ?? this.generation) + 1;
    const key = newSenderKey(this.options.suite);
    const waiting = new Set<string>();
    for (const member of this.members.values()) {
      if (!this.mayKey(member)) continue;
      this.sendKeyTo(member, generation, key);
      waiting.add(member.peerId);
    }
    const timer = setTimeout(() => this.switchNow(), this.options.switchTimeoutMs ?? 800);
    timer.unref();
    this.pendingSwitch = {
      generation,
      key,
      waiting,
      timer,
      startedAt: this.pendingSwitch?.startedAt ?? startedAt,
      reason: "leave",
    };
    this.maybeSwitch();
  }

  private maybeSwitch(): void {
    if (this.pendingSwitch && this.pendingSwitch.waiting.size === 0) this.switchNow();
  }

  private switchNow(): void {
    const p = this.pendingSwitch;
    if (!p) return;
    clearTimeout(p.timer);
    this.pendingSwitch = undefined;
    wipe(this.sendKey);
    this.sendKey = p.key;
    this.generation = p.generation;
    this.sender.setKey(kidFor(this.keyspace, this.generation), this.sendKey);
    this.stats.rotations++;
    this.emit("event", {
      type: "key-rotated",
      reason: p.reason,
      generation: this.generation,
      tookMs: Date.now() - p.startedAt,
      at: new Date().toISOString(),
    });
  }

  private handleKey(member: Member, boxed: Uint8Array): void {
    const plaintext = openBox({ senderPublicKey: member.kxPublicKey, recipientSecretKey: this.kx.secretKey, data: boxed });
    if (plaintext.length < 8 + 16) throw new CryptoError("malformed", "short key message");
    const view = Buffer.from(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength);
    const keyspace = view.readUInt32BE(0);
    const generation = view.readUInt32BE(4);
    if (keyspace !== member.keyspace) throw new CryptoError("malformed", "key for another key id space");
    const key = new Uint8Array(plaintext.subarray(8));
    wipe(plaintext);
    if (generation < member.latestGeneration - LAZY_RATCHET_LIMIT) return;
    this.receiver.addKey(kidFor(keyspace, generation), key);
    this.failedCandidates.delete(kidFor(keyspace, generation));
    if (generation >= member.latestGeneration) {
      wipe(member.latestKey);
      member.latestGeneration = generation;
      member.latestKey = key;
    }
    // Drop keys far behind: frames that old are no longer useful.
    const stale = generation - LAZY_RATCHET_LIMIT - 1;
    if (stale >= 0) this.receiver.removeKey(kidFor(keyspace, stale));
    const ack = Buffer.alloc(4);
    ack.writeUInt32BE(generation, 0);
    this.sendEnvelope(EnvelopeType.ack, ack, member.peerId);
  }

  private handleAck(member: Member, body: Uint8Array): void {
    if (body.length !== 4) throw new CryptoError("malformed", "bad ack");
    const generation = Buffer.from(body).readUInt32BE(0);
    if (this.pendingSwitch && generation === this.pendingSwitch.generation) {
      this.pendingSwitch.waiting.delete(member.peerId);
      this.maybeSwitch();
    }
  }

  private handleState(member: Member, body: Uint8Array): void {
    const state = JSON.parse(Buffer.from(body).toString("utf8")) as { muted?: unknown };
    if (typeof state.muted === "boolean" && state.muted !== member.muted) {
      member.muted = state.muted;
      this.emit("event", { type: "muted", peerId: member.peerId, name: member.name, muted: member.muted });
    }
  }

  private handleChat(member: Member, boxed: Uint8Array, timeMs: number): void {
    const plaintext = openBox({ senderPublicKey: member.kxPublicKey, recipientSecretKey: this.kx.secretKey, data: boxed });
    const text = Buffer.from(plaintext).toString("utf8").slice(0, 4000);
    this.emit("event", { type: "chat", from: member.peerId, name: member.name, text, sentAt: new Date(timeMs).toISOString() });
  }

  private reportIntruder(peerId: string, reason: string): void {
    this.emit("event", { type: "intruder", peerId, reason });
  }

  private announceRecording(): void {
    const recorders = [...this.members.values()].filter((m) => m.role === "recorder");
    if (recorders.length === 0 && this.options.role !== "recorder") return;
    const by = recorders.map((m) => ({ peerId: m.peerId, name: m.name }));
    if (this.options.role === "recorder") by.unshift({ peerId: this.selfId, name: this.options.name });
    const declined = [...this.members.values()].filter((m) => m.noRecord).map((m) => ({ peerId: m.peerId, name: m.name }));
    if (this.options.noRecord) declined.unshift({ peerId: this.selfId, name: this.options.name });
    this.emit("event", { type: "recording", by, declined });
  }

  // ---- media -------------------------------------------------------------------------------------

  /** Encrypt one media payload as one SFrame message. */
  encrypt(payload: Uint8Array): Buffer {
    return this.sender.encrypt(payload);
  }

  /** Decrypt one media payload from `peerId`; null (and counted) when it cannot be authenticated. */
  decrypt(peerId: string, payload: Uint8Array): Buffer | null {
    const member = this.members.get(peerId);
    try {
      return this.receiver.decrypt(payload).plaintext;
    } catch (err) {
      const code = err instanceof CryptoError ? err.code : "";
      if (code === "sframe-unknown-kid") {
        const recovered = member ? this.tryLazyRatchet(member, payload) : null;
        if (recovered) return recovered;
        this.stats.unknownKey++;
        return null;
      }
      this.stats.decryptFailures++;
      if (member) member.decryptFailures++;
      return null;
    }
  }

  /**
   * A frame under a KID we hold no key for: if it is a later generation of a sender we know, derive
   * the ratchet chain forward (a join we have not processed yet) and try it. A fresh key (leave)
   * cannot be derived, so the attempt fails and waits for the boxed key.
   */
  private tryLazyRatchet(member: Member, payload: Uint8Array): Buffer | null {
    if (!member.latestKey) return null;
    let kid: bigint;
    try {
      kid = peekKid(payload);
    } catch {
      return null;
    }
    const { keyspace, generation } = splitKid(kid);
    if (keyspace !== member.keyspace) return null;
    const steps = generation - member.latestGeneration;
    if (steps <= 0 || steps > LAZY_RATCHET_LIMIT) return null;
    const failedAt = this.failedCandidates.get(kid);
    if (failedAt !== undefined && Date.now() - failedAt < 250) return null;
    let key = member.latestKey;
    for (let i = 0; i < steps; i++) {
      const next = ratchetSenderKey(key, this.options.suite);
      if (key !== member.latestKey) wipe(key);
      key = next;
    }
    this.receiver.addKey(kid, key);
    try {
      const result = this.receiver.decrypt(payload);
      wipe(member.latestKey);
      member.latestKey = key;
      member.latestGeneration = generation;
      this.failedCandidates.delete(kid);
      return result.plaintext;
    } catch {
      this.receiver.removeKey(kid);
      wipe(key);
      this.failedCandidates.set(kid, Date.now());
      return null;
    }
  }

  peerDecryptFailures(peerId: string): number {
    return this.members.get(peerId)?.decryptFailures ?? 0;
  }

  // ---- metadata ----------------------------------------------------------------------------------

  setMuted(muted: boolean): void {
    this.muted = muted;
    this.sendEnvelope(EnvelopeType.state, Buffer.from(JSON.stringify({ muted })));
  }

  sendChat(text: string): void {
    const bytes = Buffer.from(text.slice(0, 4000), "utf8");
    for (const member of this.members.values()) {
      const boxed = boxTo({ recipientPublicKey: member.kxPublicKey, senderSecretKey: this.kx.secretKey, plaintext: bytes });
      this.sendEnvelope(EnvelopeType.chat, boxed, member.peerId);
    }
  }

  sayGoodbye(): void {
    this.sendEnvelope(EnvelopeType.bye, new Uint8Array(0));
  }

  memberInfo(peerId: string): MemberInfo | undefined {
    const m = this.members.get(peerId);
    return m ? publicInfo(m) : undefined;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.pending.values()) clearTimeout(timer);
    this.pending.clear();
    if (this.pendingSwitch) {
      clearTimeout(this.pendingSwitch.timer);
      wipe(this.pendingSwitch.key);
      this.pendingSwitch = undefined;
    }
    for (const m of this.members.values()) wipe(m.latestKey);
    if (this.sendKey) wipe(this.sendKey);
    if (this.kx) wipe(this.kx.secretKey);
  }
}

function publicInfo(m: Member): MemberInfo {
  return {
    peerId: m.peerId,
    name: m.name,
    role: m.role,
    noRecord: m.noRecord,
    muted: m.muted,
    identityKey: m.identityKey,
    fingerprint: m.fingerprint,
    shortFingerprint: m.shortFingerprint,
    safetyNumber: m.safetyNumber,
    joinedAt: m.joinedAt,
  };
}

function parseHello(bytes: Uint8Array): HelloBody {
  const raw = JSON.parse(Buffer.from(bytes).toString("utf8")) as Partial<HelloBody>;
  const kx = typeof raw.kx === "string" ? Buffer.from(raw.kx, "base64url") : undefined;
  if (
    !kx ||
    kx.length !== 32 ||
    typeof raw.keyspace !== "number" ||
    !Number.isInteger(raw.keyspace) ||
    raw.keyspace <= 0 ||
    raw.keyspace > 0xffffffff ||
    typeof raw.name !== "string" ||
    raw.name.length > 64 ||
    typeof raw.role !== "string" ||
    raw.role.length > 16 ||
    typeof raw.noRecord !== "boolean" ||
    typeof raw.muted !== "boolean" ||
    typeof raw.suite !== "number" ||
    typeof raw.reply !== "boolean"
  ) {
    throw new CryptoError("malformed", "bad hello");
  }
  return raw as HelloBody;
}

/** The KID of an SFrame message, without decrypting it (RFC 9605 §4.3). */
function peekKid(payload: Uint8Array): bigint {
  return decodeHeader(payload).kid;
}
