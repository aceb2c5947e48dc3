/**
 * The end-to-end encryption session of one participant: membership (signed, sealed hellos that prove
 * knowledge of the invite secret), per-sender SFrame keys, the ratchet on join, fresh keys on leave,
 * recording consent enforced by key distribution, and end-to-end metadata (names, roles, mute, chat).
 *
 * Everything it sends goes through the relay as opaque envelopes (src/crypto/envelope.ts); the relay
 * can drop or delay them but cannot read, forge or usefully replay them. docs/security.md describes
 * the protocol message by message; the rules this file enforces, in short:
 *
 *  - an envelope must open under the room key, carry a valid invite-secret proof and an Ed25519
 *    signature, be bound to this room, to the relay-stamped sender and to us (or to everyone), be
 *    no older than MAX_CLOCK_SKEW_MS, and carry a sequence number not seen before from that member
 *    (a per-member window, so reordering is harmless and replays are not);
 *  - a peer id that left never comes back: its envelopes are dropped, so a replayed hello cannot
 *    resurrect a departed member;
 *  - a key we hand to a member we have not keyed before has never encrypted a frame (we ratchet
 *    first), so no one ever receives a key that protected audio sent before it was admitted;
 *  - a member that never acknowledges the key we gave it (a replayed hello: its key-exchange secret
 *    is gone) is reported and dropped;
 *  - a frame decrypts only under a KID in the key id space of the member the relay says it came from.
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
  boxSharedKey,
  boxWith,
  openBoxWith,
  kidFor,
  splitKid,
  newKeyspace,
  newSenderKey,
  ratchetSenderKey,
  senderKeyLength,
  safetyNumber,
  equalBytes,
  wipe,
  CryptoError,
  type IdentityKeyPair,
  type RoomKeys,
  type KxKeyPair,
  type SenderKeySuite,
  type OpenedEnvelope,
} from "../crypto/index.js";
import { SFrameSender, SFrameReceiver, decodeHeader } from "../crypto/sframe/index.js";
import { KeyError } from "../errors.js";
import { nullLogger, type Logger } from "../log.js";
import type { ConclaveEvent } from "./events.js";
import { useNativeSframe } from "./native-crypto.js";

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
  /** Our pairwise box key with this member (boxSharedKey), wiped when it leaves. */
  boxKey: Uint8Array;
  keyspace: number;
  /** Envelope sequence numbers seen from this member (replay window). */
  seqs: SeqWindow;
  /** Sequence number of the newest state (mute) we applied, so a reordered older one cannot undo it. */
  stateSeq: bigint;
  /** Latest key generation we hold for this sender, and its base key (for lazy ratcheting). */
  latestGeneration: number;
  latestKey: Uint8Array | undefined;
  /** Every base key of this sender we still hold, by generation (at most LAZY_RATCHET_LIMIT back). */
  keys: Map<number, Uint8Array>;
  decryptFailures: number;
  /** Newest and first generation of ours this member was given (-1: none yet). */
  keyedGeneration: number;
  firstKeyedGeneration: number;
  /** Did this member ever acknowledge a key of ours? */
  confirmed: boolean;
  confirmTimer: NodeJS.Timeout | undefined;
  lastRekeyRequestAt: number;
  lastRekeyAnswerAt: number;
  /**
   * The SFrame header's config byte and KID bytes (RFC 9605 §4.3) of this member's last frame that
   * decrypted: a frame that starts with the same bytes is under the same KID, already checked to be
   * this member's and held, so it goes straight to the receiver (no KID decoding per frame).
   */
  lastKidPrefix: Buffer | undefined;
}

/** Length of the config byte and KID bytes at the start of an SFrame header (RFC 9605 §4.3), or 0. */
function kidPrefixLength(frame: Uint8Array): number {
  if (frame.length === 0) return 0;
  const config = frame[0]!;
  // Config byte |X|K K K|Y|C C C|: with X set, K + 1 KID bytes follow it; otherwise the KID is K itself.
  return config & 0x80 ? 2 + ((config >> 4) & 0x07) : 1;
}

function startsWith(frame: Uint8Array, prefix: Buffer): boolean {
  if (frame.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (frame[i] !== prefix[i]) return false;
  return true;
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
  /** Longest wait for key acks before switching to a fresh key on leave (default 800 ms; ≤ 1 s end to end). */
  switchTimeoutMs?: number;
  /** Time a peer the relay announced has to send a valid hello before members report it (default 5 s). */
  helloTimeoutMs?: number;
  /** Time a member has to acknowledge the first key we give it before it is reported and dropped (default 15 s). */
  confirmTimeoutMs?: number;
}

export interface E2eeEvents {
  send: [{ to?: string; data: Uint8Array }];
  member: [MemberInfo];
  event: [ConclaveEvent];
}

export interface E2eeStats {
  /** Frames with a known key that failed authentication, replays and malformed frames. */
  decryptFailures: number;
  /** Frames for which we hold no key (yet), or whose KID is not in the sender's own key id space. */
  unknownKey: number;
  /** Envelopes rejected: not sealed with the room key, bad proof or signature, misbound, replayed, stale. */
  rejected: number;
  rotations: number;
  /** Key requests we sent because a member's frames used a key we never received. */
  rekeyRequests: number;
}

/** Keys a participant holds for receiving, exported by exportReceiveKeysForTest(). */
export interface ExportedReceiveKey {
  peerId: string;
  keyspace: number;
  generation: number;
  kid: bigint;
  key: Uint8Array;
}

const MAX_CLOCK_SKEW_MS = 10 * 60 * 1000;
/** A receiver follows a sender's ratchet at most this many steps ahead, and keeps this many old keys. */
const LAZY_RATCHET_LIMIT = 16;
/** Envelope sequence window per member. */
const SEQ_WINDOW = 1024;
/** Envelopes from a valid sender whose hello has not arrived yet (reordering), per sender and in all. */
const STASH_PER_PEER = 32;
const STASH_PEERS = 64;
/** A receiver asks a sender for its key at most this often; a sender answers at most this often. */
const REKEY_REQUEST_INTERVAL_MS = 1000;
const REKEY_ANSWER_INTERVAL_MS = 500;
/** Grace after admission before frames under an unknown KID make us ask for the key. */
const REKEY_GRACE_MS = 1000;
/** A failed lazy-ratchet candidate is not retried for this long (bounds work per bogus frame). */
const FAILED_CANDIDATE_BACKOFF_MS = 250;
/**
 * A member's safety number (5200 SHA-512 rounds for a key not seen before, ~8 ms) is computed this
 * long after it joined, one per turn of the event loop, and then announced (`safety-number`), so a
 * newcomer's first second (keys, answer, first audio from every member) does not wait for 19 of
 * them. Reading `safetyNumber` earlier computes it on the spot.
 */
const SAFETY_NUMBER_DELAY_MS = 1000;
const NO_RECORDING = "none";

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

/** Accepts each 64-bit sequence number once, within SEQ_WINDOW below the highest seen. */
class SeqWindow {
  private top = -1n;
  private readonly seen = new Set<bigint>();

  accept(seq: bigint): boolean {
    if (seq <= this.top - BigInt(SEQ_WINDOW) || this.seen.has(seq)) return false;
    this.seen.add(seq);
    if (seq > this.top) {
      this.top = seq;
      const floor = this.top - BigInt(SEQ_WINDOW);
      if (this.seen.size > SEQ_WINDOW * 2) for (const s of this.seen) if (s <= floor) this.seen.delete(s);
    }
    return true;
  }
}

export class E2eeSession extends EventEmitter<E2eeEvents> {
  readonly members = new Map<string, Member>();
  readonly stats: E2eeStats = { decryptFailures: 0, unknownKey: 0, rejected: 0, rotations: 0, rekeyRequests: 0 };
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
  /** Frames encrypted under the current key: a key that protected a frame is never given to a newcomer. */
  private framesUnderKey = 0;
  private selfId = "";
  private seq = 0n;
  private muted = false;
  /** Peers the relay announced that have not proved membership yet. */
  private readonly pending = new Map<string, NodeJS.Timeout>();
  /** Valid envelopes that arrived before their sender's hello (the relay may reorder). */
  private readonly stash = new Map<string, OpenedEnvelope[]>();
  /** Peer ids that left (bye, relay's peer-left, or dropped): never members again in this session. */
  private readonly departed = new Set<string>();
  private readonly reported = new Set<string>();
  private readonly keyspaceOwner = new Map<number, string>();
  /**
   * A pending switch to a fresh key (leave): waits for acks or the deadline. `freshGeneration` is
   * the generation of the fresh random key; joins during the wait ratchet it on to `generation`, and
   * a member holding any key of that chain can derive the rest (lazy ratchet), so its ack counts.
   */
  private pendingSwitch:
    | {
        generation: number;
        freshGeneration: number;
        key: Uint8Array;
        waiting: Set<string>;
        timer: NodeJS.Timeout;
        startedAt: number;
        reason: "leave";
      }
    | undefined;
  private readonly failedCandidates = new Map<bigint, number>();
  /** Members whose safety number is still to be announced (see SAFETY_NUMBER_DELAY_MS). */
  private readonly safetyQueue: Member[] = [];
  private safetyTimer: NodeJS.Timeout | undefined;
  private lastRecording = NO_RECORDING;
  private initialised = false;
  private closed = false;

  constructor(options: E2eeOptions) {
    super();
    useNativeSframe();
    this.options = options;
    this.log = options.logger ?? nullLogger;
  }

  async init(): Promise<void> {
    if (this.initialised) return;
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
    this.initialised = true;
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

  /** Our key id space: the upper 32 bits of every KID we send (public; the relay sees it too). */
  get keyspaceId(): number {
    return this.keyspace;
  }

  get suite(): SenderKeySuite {
    return this.options.suite;
  }

  /** Is a switch to a fresh key (after a leave) waiting for acks? */
  get rekeyPending(): boolean {
    return this.pendingSwitch !== undefined;
  }

  /** Called once the relay has admitted us: announce ourselves to everyone already there. */
  start(selfId: string, existingPeers: string[]): void {
    this.selfId = selfId;
    for (const peerId of existingPeers) this.expectHello(peerId);
    this.sendHello(undefined, false);
    this.announceRecording();
  }

  /** The relay says someone joined: they must prove membership with a hello. */
  onPeerJoined(peerId: string): void {
    this.expectHello(peerId);
  }

  private expectHello(peerId: string): void {
    if (this.closed || peerId === this.selfId || this.members.has(peerId) || this.pending.has(peerId)) return;
    if (this.departed.has(peerId)) {
      // The relay announces a peer id that already left: it can only be a replay.
      this.reportIntruder(peerId, "announced again after it left");
      return;
    }
    const timer = setTimeout(() => {
      this.pending.delete(peerId);
      const stashed = this.stash.get(peerId);
      if (stashed) {
        this.stats.rejected += stashed.length;
        this.stash.delete(peerId);
      }
      if (!this.members.has(peerId)) this.reportIntruder(peerId, "no valid hello");
    }, this.options.helloTimeoutMs ?? 5000);
    timer.unref();
    this.pending.set(peerId, timer);
  }

  /** The relay says someone left. Returns whether it was a verified member. */
  onPeerLeft(peerId: string): boolean {
    this.clearPending(peerId);
    // Even a peer that never proved membership: a hello the relay held back cannot bring it in later.
    if (peerId !== this.selfId && this.departed.size < 100_000) this.departed.add(peerId);
    const member = this.members.get(peerId);
    if (!member) return false;
    this.removeMember(member);
    this.rotateForLeave();
    return true;
  }

  private clearPending(peerId: string): void {
    const timer = this.pending.get(peerId);
    if (timer) clearTimeout(timer);
    this.pending.delete(peerId);
    const stashed = this.stash.get(peerId);
    if (stashed) this.stats.rejected += stashed.length;
    this.stash.delete(peerId);
  }

  private removeMember(member: Member): void {
    this.members.delete(member.peerId);
    this.departed.add(member.peerId);
    this.keyspaceOwner.delete(member.keyspace);
    clearTimeout(member.confirmTimer);
    for (const [generation, key] of member.keys) {
      this.receiver.removeKey(kidFor(member.keyspace, generation));
      wipe(key);
    }
    member.keys.clear();
    member.latestKey = undefined;
    wipe(member.boxKey);
    for (const kid of this.failedCandidates.keys()) if (splitKid(kid).keyspace === member.keyspace) this.failedCandidates.delete(kid);
    // No switch here: a pending fresh key went to this member too; every caller draws a new one
    // (rotateForLeave), which replaces it and keeps the pending deadline.
    this.pendingSwitch?.waiting.delete(member.peerId);
    if (member.role === "recorder") this.announceRecording();
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
    if (!this.mayKey(member) || !this.members.has(member.peerId)) return;
    const plaintext = Buffer.alloc(8 + key.length);
    plaintext.writeUInt32BE(this.keyspace, 0);
    plaintext.writeUInt32BE(generation, 4);
    plaintext.set(key, 8);
    const boxed = boxWith({ sharedKey: member.boxKey, plaintext });
    wipe(plaintext);
    member.keyedGeneration = Math.max(member.keyedGeneration, generation);
    if (member.firstKeyedGeneration < 0) member.firstKeyedGeneration = generation;
    if (!member.confirmed && !member.confirmTimer) {
      // A member that cannot acknowledge a key (its hello was a replay; the key-exchange secret it
      // named is gone) is a ghost: report and drop it.
      member.confirmTimer = setTimeout(() => this.unconfirmed(member), this.options.confirmTimeoutMs ?? 15_000);
      member.confirmTimer.unref();
    }
    this.sendEnvelope(EnvelopeType.key, boxed, member.peerId);
  }

  private unconfirmed(member: Member): void {
    member.confirmTimer = undefined;
    if (member.confirmed || this.members.get(member.peerId) !== member || this.closed) return;
    this.reportIntruder(member.peerId, "never acknowledged a key (replayed hello?)");
    this.removeMember(member);
    this.emit("event", { type: "peer-left", peerId: member.peerId, name: member.name, reason: "unconfirmed" });
    this.rotateForLeave();
  }

  // ---- receiving envelopes -----------------------------------------------------------------------

  onEnvelope(from: string, data: Uint8Array): void {
    if (this.closed || !this.initialised) return;
    if (from === this.selfId || this.departed.has(from)) {
      // Our own envelopes reflected back, or anything from a peer id that already left: a replay.
      this.stats.rejected++;
      return;
    }
    let opened: OpenedEnvelope;
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
    if (opened.type === EnvelopeType.hello) {
      this.handleHello(from, opened);
      return;
    }
    const member = this.members.get(from);
    if (!member) {
      // Sealed by someone holding the secret, but its hello has not arrived (reordered): keep it a
      // little while; it is processed once the hello verifies, and counted as rejected otherwise.
      this.stashEnvelope(from, opened);
      return;
    }
    this.handleMemberEnvelope(member, opened);
  }

  private stashEnvelope(from: string, opened: OpenedEnvelope): void {
    let list = this.stash.get(from);
    if (!list) {
      if (this.stash.size >= STASH_PEERS) {
        this.stats.rejected++;
        return;
      }
      list = [];
      this.stash.set(from, list);
      this.expectHello(from);
    }
    if (list.length >= STASH_PER_PEER) {
      this.stats.rejected++;
      return;
    }
    list.push(opened);
  }

  private handleMemberEnvelope(member: Member, opened: OpenedEnvelope): void {
    if (!equalBytes(member.identityKey, opened.identityKey) || !member.seqs.accept(opened.seq)) {
      // Another identity under a member's peer id, or a replay: dropped.
      this.stats.rejected++;
      return;
    }
    try {
      switch (opened.type) {
        case EnvelopeType.key:
          this.handleKey(member, opened.body);
          return;
        case EnvelopeType.ack:
          this.handleAck(member, opened.body);
          return;
        case EnvelopeType.state:
          this.handleState(member, opened.body, opened.seq);
          return;
        case EnvelopeType.chat:
          this.handleChat(member, opened.body, opened.timeMs);
          return;
        case EnvelopeType.rekeyRequest:
          this.handleRekeyRequest(member);
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
      // Only a code: a parser's message may quote the (decrypted) body.
      this.log.debug("dropped a malformed envelope body", { from: member.peerId, code: err instanceof CryptoError ? err.code : (err as Error).name });
    }
  }

  private handleHello(from: string, opened: OpenedEnvelope): void {
    const { identityKey, seq } = opened;
    let body: HelloBody;
    try {
      body = parseHello(opened.body);
    } catch {
      this.stats.rejected++;
      if (!this.members.has(from)) this.reportIntruder(from, "malformed hello");
      return;
    }
    const existing = this.members.get(from);
    if (existing) {
      // A repeated hello (reply) from a member we know: accept only from the same identity, once.
      if (!equalBytes(existing.identityKey, identityKey) || !existing.seqs.accept(seq)) this.stats.rejected++;
      return;
    }
    if (body.suite !== this.options.suite) {
      this.stats.rejected++;
      this.reportIntruder(from, `cipher suite ${body.suite} does not match this room's ${this.options.suite}`);
      return;
    }
    const owner = this.keyspaceOwner.get(body.keyspace);
    if ((owner !== undefined && owner !== from) || body.keyspace === this.keyspace) {
      this.stats.rejected++;
      this.reportIntruder(from, "reused a key id space");
      return;
    }
    const kxPublicKey = new Uint8Array(Buffer.from(body.kx, "base64url"));
    let boxKey: Uint8Array;
    try {
      boxKey = boxSharedKey({ publicKey: kxPublicKey, secretKey: this.kx.secretKey });
    } catch {
      this.stats.rejected++;
      this.reportIntruder(from, "unusable key-exchange key");
      return;
    }
    const timer = this.pending.get(from);
    if (timer) clearTimeout(timer);
    this.pending.delete(from);
    const seqs = new SeqWindow();
    seqs.accept(seq);
    const ownKey = this.identity.publicKey;
    let safety: string | undefined;
    const member: Member = {
      peerId: from,
      name: body.name,
      role: body.role,
      noRecord: body.noRecord,
      muted: body.muted,
      identityKey,
      fingerprint: fingerprint(identityKey),
      shortFingerprint: shortFingerprint(identityKey),
      get safetyNumber(): string {
        return (safety ??= safetyNumber(ownKey, identityKey));
      },
      joinedAt: Date.now(),
      kxPublicKey,
      boxKey,
      keyspace: body.keyspace,
      seqs,
      stateSeq: seq,
      latestGeneration: -1,
      latestKey: undefined,
      keys: new Map(),
      decryptFailures: 0,
      keyedGeneration: -1,
      firstKeyedGeneration: -1,
      confirmed: false,
      confirmTimer: undefined,
      lastRekeyRequestAt: 0,
      lastRekeyAnswerAt: 0,
      lastKidPrefix: undefined,
    };
    this.members.set(from, member);
    this.keyspaceOwner.set(body.keyspace, from);
    this.emit("member", publicInfo(member));
    this.queueSafetyNumber(member);
    if (!body.reply) {
      // A newcomer: tell it who we are, then ratchet our key one step and give it only the new key
      // (it never sees a key we used before it joined).
      this.sendHello(from, true);
      this.ratchetForJoin(member);
    } else {
      // A member that was here before us answered our hello: it has no key of ours yet. It may have
      // the current one only if that key has not encrypted anything yet; otherwise we ratchet first.
      // (`reply` is the sender's claim; this rule keeps a newcomer that lies about it from getting a
      // key that protected earlier audio.)
      // While a fresh key waits for acks, it gets (a ratchet of) that one only.
      if (this.framesUnderKey > 0 || this.pendingSwitch) this.ratchetForJoin(member);
      else this.sendKeyTo(member, this.generation, this.sendKey);
    }
    this.announceRecording();
    const stashed = this.stash.get(from);
    if (stashed) {
      this.stash.delete(from);
      for (const envelope of stashed) {
        const current = this.members.get(from);
        if (!current) {
          this.stats.rejected++;
          continue;
        }
        this.handleMemberEnvelope(current, envelope);
      }
    }
  }

  private queueSafetyNumber(member: Member): void {
    this.safetyQueue.push(member);
    this.pumpSafetyNumbers();
  }

  /** Announce queued safety numbers, each SAFETY_NUMBER_DELAY_MS after its member joined, one per timer turn. */
  private pumpSafetyNumbers(): void {
    if (this.safetyTimer || this.closed) return;
    const next = this.safetyQueue[0];
    if (!next) return;
    this.safetyTimer = setTimeout(
      () => {
        this.safetyTimer = undefined;
        const m = this.safetyQueue.shift();
        if (m && this.members.get(m.peerId) === m && !this.closed) {
          this.emit("event", { type: "safety-number", peerId: m.peerId, name: m.name, safetyNumber: m.safetyNumber });
        }
        this.pumpSafetyNumbers();
      },
      Math.max(0, next.joinedAt + SAFETY_NUMBER_DELAY_MS - Date.now()),
    );
    this.safetyTimer.unref();
  }

  private ratchetForJoin(newcomer: Member): void {
    const started = Date.now();
    // If a fresh key is waiting for acks, the ratchet goes on from that one; the current key (which
    // the newcomer must not get) stays in use until the switch.
    if (this.pendingSwitch) {
      const p = this.pendingSwitch;
      const ratcheted = ratchetSenderKey(p.key, this.options.suite);
      p.generation += 1;
      wipe(p.key);
      p.key = ratcheted;
      // The newcomer first: its audio waits for this key. The others hold a key of this chain
      // (rotateForLeave sent it) and follow the ratchet lazily; only a member that would fall too
      // far behind (a long burst of joins) gets the new one.
      this.sendKeyTo(newcomer, p.generation, p.key);
      for (const m of this.members.values()) {
        if (m !== newcomer && p.generation - m.keyedGeneration > LAZY_RATCHET_LIMIT / 2) this.sendKeyTo(m, p.generation, p.key);
      }
      // The switch does not wait for the newcomer's ack: it cannot decrypt anything before the switch.
      return;
    }
    const next = ratchetSenderKey(this.sendKey, this.options.suite);
    wipe(this.sendKey);
    this.sendKey = next;
    this.generation += 1;
    this.sender.setKey(kidFor(this.keyspace, this.generation), this.sendKey);
    this.framesUnderKey = 0;
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

  /**
   * Someone left: draw a fresh random key, give it to every remaining member, switch once all have
   * acknowledged it or at the deadline (switchTimeoutMs after the first leave of a burst, ≤ 1 s).
   */
  private rotateForLeave(): void {
    if (this.closed || !this.initialised) return;
    const now = Date.now();
    const previous = this.pendingSwitch;
    if (previous) wipe(previous.key);
    const generation = (previous?.generation ?? this.generation) + 1;
    const key = newSenderKey(this.options.suite);
    const waiting = new Set<string>();
    // Set the pending switch before sending, so a key sent to a member is the one we switch to.
    let timer = previous?.timer;
    if (!timer) {
      timer = setTimeout(() => this.switchNow(), this.options.switchTimeoutMs ?? 800);
      timer.unref();
    }
    this.pendingSwitch = { generation, freshGeneration: generation, key, waiting, timer, startedAt: previous?.startedAt ?? now, reason: "leave" };
    for (const member of this.members.values()) {
      if (!this.mayKey(member)) continue;
      this.sendKeyTo(member, generation, key);
      waiting.add(member.peerId);
    }
    this.maybeSwitch();
  }

  private maybeSwitch(): void {
    if (this.pendingSwitch && this.pendingSwitch.waiting.size === 0) this.switchNow();
  }

  private switchNow(): void {
    const p = this.pendingSwitch;
    if (!p || this.closed) return;
    clearTimeout(p.timer);
    this.pendingSwitch = undefined;
    wipe(this.sendKey);
    this.sendKey = p.key;
    this.generation = p.generation;
    this.sender.setKey(kidFor(this.keyspace, this.generation), this.sendKey);
    this.framesUnderKey = 0;
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
    const plaintext = openBoxWith({ sharedKey: member.boxKey, data: boxed });
    try {
      if (plaintext.length !== 8 + senderKeyLength(this.options.suite)) throw new CryptoError("malformed", "bad key message length");
      const view = Buffer.from(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength);
      const keyspace = view.readUInt32BE(0);
      const generation = view.readUInt32BE(4);
      if (keyspace !== member.keyspace) throw new CryptoError("malformed", "key for another key id space");
      const ack = Buffer.alloc(4);
      ack.writeUInt32BE(generation, 0);
      if (generation >= member.latestGeneration - LAZY_RATCHET_LIMIT && !member.keys.has(generation)) {
        this.installKey(member, generation, new Uint8Array(plaintext.subarray(8)));
      }
      this.sendEnvelope(EnvelopeType.ack, ack, member.peerId);
    } finally {
      wipe(plaintext);
    }
  }

  /** Hold `key` as `member`'s key for `generation`; forget keys more than LAZY_RATCHET_LIMIT behind. */
  private installKey(member: Member, generation: number, key: Uint8Array): void {
    const kid = kidFor(member.keyspace, generation);
    this.receiver.addKey(kid, key);
    this.failedCandidates.delete(kid);
    member.keys.set(generation, key);
    if (generation > member.latestGeneration) {
      member.latestGeneration = generation;
      member.latestKey = key;
    }
    for (const [g, k] of member.keys) {
      if (g < member.latestGeneration - LAZY_RATCHET_LIMIT) {
        this.receiver.removeKey(kidFor(member.keyspace, g));
        wipe(k);
        member.keys.delete(g);
      }
    }
  }

  private handleAck(member: Member, body: Uint8Array): void {
    if (body.length !== 4) throw new CryptoError("malformed", "bad ack");
    const generation = Buffer.from(body).readUInt32BE(0);
    if (generation > member.keyedGeneration) return; // an ack for a key we never sent
    if (!member.confirmed) {
      member.confirmed = true;
      clearTimeout(member.confirmTimer);
      member.confirmTimer = undefined;
    }
    if (this.pendingSwitch && generation >= this.pendingSwitch.freshGeneration && generation <= this.pendingSwitch.generation) {
      this.pendingSwitch.waiting.delete(member.peerId);
      this.maybeSwitch();
    }
  }

  /** A member saw our frames under a key it does not hold (a key message was lost): send it again. */
  private handleRekeyRequest(member: Member): void {
    const now = Date.now();
    if (!this.mayKey(member) || now - member.lastRekeyAnswerAt < REKEY_ANSWER_INTERVAL_MS) return;
    member.lastRekeyAnswerAt = now;
    // Only keys from the first one the member was given on: never one used before it was admitted.
    if (member.firstKeyedGeneration >= 0 && this.generation >= member.firstKeyedGeneration) {
      this.sendKeyTo(member, this.generation, this.sendKey);
    }
    if (this.pendingSwitch) this.sendKeyTo(member, this.pendingSwitch.generation, this.pendingSwitch.key);
  }

  private handleState(member: Member, body: Uint8Array, seq: bigint): void {
    const state = JSON.parse(Buffer.from(body).toString("utf8")) as { muted?: unknown } | null;
    if (typeof state !== "object" || state === null) throw new CryptoError("malformed", "bad state");
    if (seq < member.stateSeq) return; // an older state delivered late
    member.stateSeq = seq;
    if (typeof state.muted === "boolean" && state.muted !== member.muted) {
      member.muted = state.muted;
      this.emit("event", { type: "muted", peerId: member.peerId, name: member.name, muted: member.muted });
    }
  }

  private handleChat(member: Member, boxed: Uint8Array, timeMs: number): void {
    const plaintext = openBoxWith({ sharedKey: member.boxKey, data: boxed });
    const text = Buffer.from(plaintext).toString("utf8").slice(0, 4000);
    this.emit("event", { type: "chat", from: member.peerId, name: member.name, text, sentAt: new Date(timeMs).toISOString() });
  }

  private reportIntruder(peerId: string, reason: string): void {
    if (this.closed || this.reported.has(peerId)) return;
    if (this.reported.size < 10_000) this.reported.add(peerId);
    this.log.info("a peer failed to prove membership", { peerId, reason });
    this.emit("event", { type: "intruder", peerId, reason });
  }

  /** Tell our user who records and who declined, whenever that changes. */
  private announceRecording(): void {
    if (!this.selfId || this.closed) return;
    const recorders = [...this.members.values()].filter((m) => m.role === "recorder");
    const by = recorders.map((m) => ({ peerId: m.peerId, name: m.name }));
    if (this.options.role === "recorder") by.unshift({ peerId: this.selfId, name: this.options.name });
    const declined = [...this.members.values()].filter((m) => m.noRecord).map((m) => ({ peerId: m.peerId, name: m.name }));
    if (this.options.noRecord) declined.unshift({ peerId: this.selfId, name: this.options.name });
    // Nothing to say while no one records; otherwise every change, including "no one any more".
    const summary = by.length === 0 ? NO_RECORDING : JSON.stringify({ by, declined });
    if (summary === this.lastRecording) return;
    this.lastRecording = summary;
    this.emit("event", { type: "recording", by, declined });
  }

  // ---- media -------------------------------------------------------------------------------------

  /** Encrypt one media payload as one SFrame message. */
  encrypt(payload: Uint8Array): Buffer {
    const out = this.sender.encrypt(payload);
    this.framesUnderKey++;
    return out;
  }

  /**
   * Decrypt one media payload that the relay says comes from `peerId`; null (and counted) when it
   * cannot be authenticated as that member's. Never throws, never returns the input.
   */
  decrypt(peerId: string, payload: Uint8Array): Buffer | null {
    if (this.closed || !this.initialised) return null;
    const member = this.members.get(peerId);
    const known = member?.lastKidPrefix;
    if (known !== undefined && startsWith(payload, known)) {
      try {
        return this.receiver.decrypt(payload).plaintext;
      } catch {
        // The key went, or the frame is bad: the full path below decides and counts.
      }
    }
    let kid: bigint;
    try {
      kid = decodeHeader(payload).kid;
    } catch {
      this.countFailure(member);
      return null;
    }
    if (!member || splitKid(kid).keyspace !== member.keyspace) {
      // No member by that id, or a frame under another sender's KID (the relay relabelled it).
      this.stats.unknownKey++;
      return null;
    }
    // A KID we hold no key for is common around joins and leaves (a key on its way, a ratchet to
    // follow): handle it without the receiver throwing (an Error per frame, stack trace included).
    if (!this.receiver.hasKey(kid)) return this.unknownKid(member, kid, payload);
    try {
      const plaintext = this.receiver.decrypt(payload).plaintext;
      member.lastKidPrefix = Buffer.from(payload.subarray(0, kidPrefixLength(payload)));
      return plaintext;
    } catch (err) {
      if (err instanceof CryptoError && err.code === "sframe-unknown-kid") return this.unknownKid(member, kid, payload);
      this.countFailure(member);
      return null;
    }
  }

  /** A frame under a KID of `member`'s key id space that we hold no key for: ratchet, or ask. */
  private unknownKid(member: Member, kid: bigint, payload: Uint8Array): Buffer | null {
    let recovered: Buffer | null = null;
    try {
      recovered = this.tryLazyRatchet(member, kid, payload);
    } catch (e) {
      this.log.debug("lazy ratchet failed", { peerId: member.peerId, error: (e as Error).name });
    }
    if (recovered) return recovered;
    this.stats.unknownKey++;
    this.maybeRequestKey(member, kid);
    return null;
  }

  private countFailure(member: Member | undefined): void {
    this.stats.decryptFailures++;
    if (member) member.decryptFailures++;
  }

  /** Frames under a generation newer than any key we hold that no ratchet explains: ask for the key. */
  private maybeRequestKey(member: Member, kid: bigint): void {
    const { generation } = splitKid(kid);
    const now = Date.now();
    if (generation <= member.latestGeneration) return;
    if (this.options.role === "recorder" && member.noRecord) return; // it declined: asking is pointless
    if (now - member.joinedAt < REKEY_GRACE_MS || now - member.lastRekeyRequestAt < REKEY_REQUEST_INTERVAL_MS) return;
    member.lastRekeyRequestAt = now;
    this.stats.rekeyRequests++;
    const body = Buffer.alloc(4);
    body.writeUInt32BE(generation, 0);
    this.sendEnvelope(EnvelopeType.rekeyRequest, body, member.peerId);
  }

  /**
   * A frame under a KID we hold no key for: if it is a later generation of a sender we know, derive
   * the ratchet chain forward (a join we have not processed yet) and try it. A fresh key (leave)
   * cannot be derived, so the attempt fails and waits for the boxed key.
   */
  private tryLazyRatchet(member: Member, kid: bigint, payload: Uint8Array): Buffer | null {
    if (!member.latestKey) return null;
    const { generation } = splitKid(kid);
    const steps = generation - member.latestGeneration;
    if (steps <= 0 || steps > LAZY_RATCHET_LIMIT) return null;
    const failedAt = this.failedCandidates.get(kid);
    if (failedAt !== undefined && Date.now() - failedAt < FAILED_CANDIDATE_BACKOFF_MS) return null;
    let key = member.latestKey;
    for (let i = 0; i < steps; i++) {
      const next = ratchetSenderKey(key, this.options.suite);
      if (key !== member.latestKey) wipe(key);
      key = next;
    }
    this.receiver.addKey(kid, key);
    try {
      const result = this.receiver.decrypt(payload);
      this.installKey(member, generation, key);
      return result.plaintext;
    } catch {
      this.receiver.removeKey(kid);
      wipe(key);
      if (this.failedCandidates.size > 1024) this.failedCandidates.clear();
      this.failedCandidates.set(kid, Date.now());
      return null;
    }
  }

  peerDecryptFailures(peerId: string): number {
    return this.members.get(peerId)?.decryptFailures ?? 0;
  }

  /**
   * TEST ONLY: copies of every receive key this session holds (what a member could still use after
   * it leaves). Refuses to run outside the test suite (CONCLAVE_TEST=1), so no production path can
   * export key material. The caller must wipe the copies.
   */
  exportReceiveKeysForTest(): ExportedReceiveKey[] {
    if (process.env.CONCLAVE_TEST !== "1") throw new Error("exportReceiveKeysForTest is for the test suite only");
    const out: ExportedReceiveKey[] = [];
    for (const m of this.members.values()) {
      for (const [generation, key] of m.keys) {
        out.push({ peerId: m.peerId, keyspace: m.keyspace, generation, kid: kidFor(m.keyspace, generation), key: new Uint8Array(key) });
      }
    }
    return out;
  }

  // ---- metadata ----------------------------------------------------------------------------------

  setMuted(muted: boolean): void {
    this.muted = muted;
    this.sendEnvelope(EnvelopeType.state, Buffer.from(JSON.stringify({ muted })));
  }

  sendChat(text: string): void {
    if (this.closed || !this.initialised) return;
    const bytes = Buffer.from(text.slice(0, 4000), "utf8");
    for (const member of this.members.values()) {
      const boxed = boxWith({ sharedKey: member.boxKey, plaintext: bytes });
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

  /** Wipe every key and stop all timers. Idempotent; decrypt() returns null afterwards. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.pending.values()) clearTimeout(timer);
    this.pending.clear();
    this.stash.clear();
    clearTimeout(this.safetyTimer);
    this.safetyQueue.length = 0;
    if (this.pendingSwitch) {
      clearTimeout(this.pendingSwitch.timer);
      wipe(this.pendingSwitch.key);
      this.pendingSwitch = undefined;
    }
    for (const m of this.members.values()) {
      clearTimeout(m.confirmTimer);
      for (const key of m.keys.values()) wipe(key);
      m.keys.clear();
      m.latestKey = undefined;
      wipe(m.boxKey);
    }
    if (!this.initialised) return;
    wipe(this.sendKey);
    this.sender.close();
    this.receiver.close();
    wipe(this.kx.secretKey);
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
    get safetyNumber(): string {
      return m.safetyNumber;
    },
    joinedAt: m.joinedAt,
  };
}

function parseHello(bytes: Uint8Array): HelloBody {
  const raw = JSON.parse(Buffer.from(bytes).toString("utf8")) as Partial<HelloBody> | null;
  if (typeof raw !== "object" || raw === null) throw new CryptoError("malformed", "bad hello");
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
