/**
 * The E2EE session layer (src/client/e2ee.ts) with sessions paired in memory through a scripted relay
 * that can drop, replay, reorder and inject envelopes. The same properties are checked end to end
 * over a real relay in test/e2e/e2ee.test.ts and test/e2e/evil-relay.test.ts.
 */
import { describe, it, before, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { E2eeSession, type E2eeOptions } from "../../src/client/e2ee.js";
import type { ConclaveEvent } from "../../src/client/events.js";
import {
  sodiumReady,
  deriveRoomKeys,
  decodeRoomSecret,
  encodeRoomSecret,
  newRoomSecret,
  newRoomId,
  openEnvelope,
  sealEnvelope,
  generateIdentity,
  generateKxKeyPair,
  openBox,
  EnvelopeType,
  kidFor,
  splitKid,
  type RoomKeys,
} from "../../src/crypto/index.js";
import { decodeHeader } from "../../src/crypto/sframe/index.js";
import { keyRingFrom, ringDecrypts } from "../helpers/leaked-keys.js";

interface Wire {
  from: string;
  to: string;
  data: Uint8Array;
  type: number;
  /** Directed (`to` set by the sender) or a copy of a broadcast. */
  directed: boolean;
}

type Tap = (wire: Wire) => "deliver" | "drop";

/** A relay in memory: assigns peer ids, stamps `from`, fans out broadcasts, delivers on flush(). */
class MemoryRoom {
  readonly roomId = newRoomId();
  readonly secret = encodeRoomSecret(newRoomSecret());
  readonly keys: RoomKeys;
  readonly sessions = new Map<string, E2eeSession>();
  readonly events = new Map<string, ConclaveEvent[]>();
  readonly log: Wire[] = [];
  queue: Wire[] = [];
  tap: Tap = () => "deliver";
  /** Reorder what is queued before each delivery round (e.g. reverse it). */
  reorder: ((queue: Wire[]) => Wire[]) | undefined;
  private nextId = 1;

  constructor() {
    this.keys = deriveRoomKeys(decodeRoomSecret(this.secret), this.roomId);
  }

  /** The envelope type, read with the room key (only a test that knows the secret can do this). */
  typeOf(from: string, to: string, data: Uint8Array): number {
    try {
      return openEnvelope({ keys: this.keys, roomId: this.roomId, from, to, data }).type;
    } catch {
      return -1;
    }
  }

  async join(name: string, options: Partial<E2eeOptions> = {}, secret = this.secret): Promise<{ id: string; s: E2eeSession }> {
    const s = new E2eeSession({
      secret,
      roomId: this.roomId,
      name,
      role: "member",
      noRecord: false,
      suite: 4,
      switchTimeoutMs: 800,
      ...options,
    });
    await s.init();
    const id = `peer${this.nextId++}`;
    const events: ConclaveEvent[] = [];
    this.events.set(id, events);
    s.on("event", (e) => events.push(e));
    s.on("send", ({ to, data }) => {
      const targets = to ? [to] : [...this.sessions.keys()].filter((p) => p !== id);
      for (const t of targets) this.queue.push({ from: id, to: t, data, type: this.typeOf(id, t, data), directed: Boolean(to) });
    });
    const existing = [...this.sessions.keys()];
    this.sessions.set(id, s);
    s.start(id, existing);
    for (const p of existing) this.sessions.get(p)!.onPeerJoined(id);
    return { id, s };
  }

  /** The relay's view of a leave (after an optional bye). */
  leave(id: string, bye = true): void {
    const s = this.sessions.get(id)!;
    if (bye) s.sayGoodbye();
    this.sessions.delete(id);
    this.queue = this.queue.filter((w) => w.to !== id);
    for (const other of this.sessions.values()) other.onPeerLeft(id);
    s.close();
  }

  /** Deliver until nothing is in flight. */
  flush(): void {
    for (let round = 0; round < 1000 && this.queue.length > 0; round++) {
      let batch = this.queue;
      this.queue = [];
      if (this.reorder) batch = this.reorder(batch);
      for (const w of batch) {
        this.log.push(w);
        if (this.tap(w) === "drop") continue;
        this.sessions.get(w.to)?.onEnvelope(w.from, w.data);
      }
    }
  }

  /** Inject an envelope as if the relay forwarded it from `from`. */
  inject(to: string, from: string, data: Uint8Array): void {
    this.sessions.get(to)!.onEnvelope(from, data);
  }

  eventsOf(id: string, type: ConclaveEvent["type"]): ConclaveEvent[] {
    return (this.events.get(id) ?? []).filter((e) => e.type === type);
  }
}

const opus = (i: number): Uint8Array => {
  const b = Buffer.alloc(60);
  b.writeUInt32BE(i, 0);
  b.fill(0x5a, 4);
  return new Uint8Array(b);
};

/** Every session decrypts a fresh frame from every other one. */
function assertAllHear(room: MemoryRoom, except: (from: string, to: string) => boolean = () => false): void {
  for (const [from, sender] of room.sessions) {
    const frame = sender.encrypt(opus(1));
    for (const [to, receiver] of room.sessions) {
      if (to === from || except(from, to)) continue;
      const pt = receiver.decrypt(from, frame);
      assert.ok(pt, `${to} decrypts ${from}`);
      assert.deepEqual(new Uint8Array(pt), opus(1));
    }
  }
}

/**
 * From now on the test's setTimeout and Date run on a virtual clock that only `advance` moves, so
 * deadlines are tested exactly, however busy the machine is. Timers set before stay real.
 */
function virtualClock(t: TestContext): { advance(ms: number): Promise<void> } {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: Date.now() });
  return {
    advance: async (ms) => {
      t.mock.timers.tick(ms);
      // Let promise callbacks started by the timers run (setImmediate stays real).
      await new Promise((r) => setImmediate(r));
    },
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

before(async () => {
  await sodiumReady();
});

describe("E2EE session: membership and keys", () => {
  it("three members converge on each other's keys; every sender ratchets once per newcomer", async () => {
    const room = new MemoryRoom();
    const a = await room.join("a");
    room.flush();
    const b = await room.join("b");
    room.flush();
    const c = await room.join("c");
    room.flush();
    assertAllHear(room);
    // a saw two joins, b one; c none.
    assert.equal(room.eventsOf(a.id, "key-rotated").length, 2);
    assert.equal(room.eventsOf(b.id, "key-rotated").length, 1);
    assert.equal(room.eventsOf(c.id, "key-rotated").length, 0);
    for (const e of room.eventsOf(a.id, "key-rotated")) assert.equal((e as { reason: string }).reason, "join");
    for (const s of room.sessions.values()) {
      assert.equal(s.stats.decryptFailures, 0);
      assert.equal(s.stats.rejected, 0);
    }
  });

  it("receivers follow a join ratchet lazily, without a key message", async () => {
    const room = new MemoryRoom();
    const a = await room.join("a");
    const b = await room.join("b");
    room.flush();
    const before = a.s.currentGeneration;
    // c joins but b never sees anything of it: a ratchets, and b must follow from a's frames alone.
    room.tap = (w) => (w.to === b.id || w.from === b.id ? "drop" : "deliver");
    const c = await room.join("c");
    room.flush();
    assert.equal(a.s.currentGeneration, before + 1);
    const frame = a.s.encrypt(opus(7));
    assert.equal(splitKid(decodeHeader(frame).kid).generation, before + 1);
    assert.ok(b.s.decrypt(a.id, frame), "b derives a's next key");
    assert.ok(c.s.decrypt(a.id, a.s.encrypt(opus(8))));
    assert.equal(b.s.stats.decryptFailures, 0);
  });

  it("P6: a newcomer cannot decrypt frames sent before it joined", async () => {
    const room = new MemoryRoom();
    const a = await room.join("a");
    const b = await room.join("b");
    room.flush();
    const early = [a.s.encrypt(opus(1)), a.s.encrypt(opus(2)), b.s.encrypt(opus(3))];
    const n = await room.join("n");
    room.flush();
    const late = [a.s.encrypt(opus(4)), b.s.encrypt(opus(5))];
    const ring = keyRingFrom(n.s.exportReceiveKeysForTest(), 4);
    for (const f of early) assert.equal(ringDecrypts(ring, 4, f, true), false, "an early frame opened with the newcomer's keys");
    for (const f of late) assert.equal(ringDecrypts(ring, 4, f), true);
  });

  it("P6: a newcomer that claims to be an existing member (reply: true) still gets only an unused key", async () => {
    const room = new MemoryRoom();
    const a = await room.join("a");
    room.flush();
    const used = a.s.encrypt(opus(1)); // a's current key has protected a frame
    // A member with the secret sends a directed hello to a that lies: reply = true.
    const evilId = "evil";
    const identity = generateIdentity();
    const kx = generateKxKeyPair();
    const hello = sealEnvelope({
      keys: room.keys,
      identity,
      type: EnvelopeType.hello,
      roomId: room.roomId,
      from: evilId,
      to: a.id,
      seq: 1n,
      timeMs: Date.now(),
      body: Buffer.from(
        JSON.stringify({ kx: Buffer.from(kx.publicKey).toString("base64url"), keyspace: 77, name: "evil", role: "member", noRecord: false, muted: false, suite: 4, reply: true }),
      ),
    });
    room.inject(a.id, evilId, hello);
    const keyMsg = room.queue.find((w) => w.from === a.id && w.to === evilId && w.type === EnvelopeType.key);
    assert.ok(keyMsg, "a keys the (lying but valid) member");
    const opened = openEnvelope({ keys: room.keys, roomId: room.roomId, from: a.id, to: evilId, data: keyMsg.data });
    // The box is sealed with a's per-session X25519 key (its public half travels in a's hellos).
    const aKx = (a.s as unknown as { kx: { publicKey: Uint8Array } }).kx;
    const key = openBox({ senderPublicKey: aKx.publicKey, recipientSecretKey: kx.secretKey, data: opened.body });
    const generation = Buffer.from(key).readUInt32BE(4);
    assert.ok(generation > splitKid(decodeHeader(used).kid).generation, "the key given is newer than the one in use");
    const ring = keyRingFrom([{ peerId: a.id, keyspace: a.s.keyspaceId, generation, kid: kidFor(a.s.keyspaceId, generation), key: key.subarray(8) }], 4);
    assert.equal(ringDecrypts(ring, 4, used), false, "the lying newcomer cannot open a frame sent before it came");
  });

  it("P5: on a leave every sender switches to a fresh key after acks, within 1 s; the leaver's keys open nothing after", async () => {
    const room = new MemoryRoom();
    const a = await room.join("a");
    const b = await room.join("b");
    const c = await room.join("c");
    room.flush();
    assertAllHear(room);
    const before = [a.s.encrypt(opus(1)), b.s.encrypt(opus(2))];
    const leaked = keyRingFrom(c.s.exportReceiveKeysForTest(), 4);
    for (const f of before) assert.equal(ringDecrypts(leaked, 4, f), true, "the leaver could read frames while it was a member");
    room.leave(c.id);
    room.flush();
    for (const p of [a, b]) {
      const rotated = room.eventsOf(p.id, "key-rotated").filter((e) => (e as { reason: string }).reason === "leave");
      assert.equal(rotated.length, 1, "one leave rotation");
      assert.ok((rotated[0] as { tookMs: number }).tookMs <= 1000);
    }
    const after = [a.s.encrypt(opus(3)), b.s.encrypt(opus(4))];
    for (const f of after) assert.equal(ringDecrypts(leaked, 4, f, true), false, "the leaver opened a frame sent after the switch");
    assertAllHear(room);
  });

  it("P5: a switch whose acks never come happens at the deadline, even with a second leave in between", async (t) => {
    const room = new MemoryRoom();
    const a = await room.join("a", { switchTimeoutMs: 400 });
    const b = await room.join("b");
    const c = await room.join("c");
    const d = await room.join("d");
    room.flush();
    room.tap = (w) => (w.type === EnvelopeType.ack ? "drop" : "deliver");
    const clock = virtualClock(t);
    room.leave(d.id);
    room.flush();
    await clock.advance(300);
    room.leave(c.id); // the second leave must not push the deadline back (to 300 + 400 ms)
    room.flush();
    const leaveSwitches = (): unknown[] => room.eventsOf(a.id, "key-rotated").filter((e) => (e as { reason: string }).reason === "leave");
    await clock.advance(99);
    assert.equal(leaveSwitches().length, 0, "no switch before the deadline (acks never come)");
    await clock.advance(1);
    const rotated = leaveSwitches();
    assert.equal(rotated.length, 1, "one switch for the burst, at the first leave's deadline");
    assert.equal((rotated[0] as { tookMs: number }).tookMs, 400);
    await clock.advance(1000);
    assert.equal(leaveSwitches().length, 1, "no second switch for the second leave");
    room.tap = () => "deliver";
    assert.ok(b.s.decrypt(a.id, a.s.encrypt(opus(1))), "b got the key of the second leave");
  });

  it("P5: a leave while a switch waits only on the leaver's ack never switches to a key the leaver holds", async () => {
    const room = new MemoryRoom();
    const a = await room.join("a");
    await room.join("b");
    const c = await room.join("c");
    const d = await room.join("d");
    room.flush();
    // c takes a's fresh key (after d leaves) but its ack never arrives: a waits on c alone.
    room.tap = (w) => (w.from === c.id && w.type === EnvelopeType.ack ? "drop" : "deliver");
    room.leave(d.id);
    room.flush();
    const leakedByC = keyRingFrom(c.s.exportReceiveKeysForTest(), 4);
    assert.equal(room.eventsOf(a.id, "key-rotated").filter((e) => (e as { reason: string }).reason === "leave").length, 0);
    room.leave(c.id);
    room.flush();
    const rotated = room.eventsOf(a.id, "key-rotated").filter((e) => (e as { reason: string }).reason === "leave");
    assert.equal(rotated.length, 1, "one switch, to a key c never had");
    assert.equal(ringDecrypts(leakedByC, 4, a.s.encrypt(opus(1)), true), false);
    assertAllHear(room);
  });

  it("a newcomer during a leave switch: the switch waits for the members' acks only, who follow the ratchet without a second key", async () => {
    const room = new MemoryRoom();
    const a = await room.join("a", { switchTimeoutMs: 5000 });
    const b = await room.join("b");
    const c = await room.join("c");
    const d = await room.join("d");
    room.flush();
    room.leave(d.id); // a's fresh key to b and c is queued, not delivered yet
    const early = a.s.encrypt(opus(1)); // still under the key d held
    assert.ok(a.s.rekeyPending);
    // n joins while a waits; n's acks never reach a.
    room.tap = (w) => (w.from === n.id && w.type === EnvelopeType.ack ? "drop" : "deliver");
    const n = await room.join("n");
    const logged = room.log.length;
    room.flush();
    const keysFromA = room.log.slice(logged).filter((w) => w.from === a.id && w.type === EnvelopeType.key);
    assert.deepEqual(keysFromA.map((w) => w.to).sort(), [b.id, c.id, n.id].sort(), "one key each from a: the fresh one to b and c, its ratchet to n");
    const switched = room.eventsOf(a.id, "key-rotated").filter((e) => (e as { reason: string }).reason === "leave");
    assert.equal(switched.length, 1, "a switched on b's and c's acks of the fresh key, without n's");
    assert.equal(a.s.rekeyPending, false);
    for (const p of [b, c, n]) assert.ok(p.s.decrypt(a.id, a.s.encrypt(opus(2))), "every member decrypts a after the switch");
    assert.equal(ringDecrypts(keyRingFrom(n.s.exportReceiveKeysForTest(), 4), 4, early, true), false, "n opened a frame sent before it joined");
    for (const p of [b, c, n]) assert.equal(p.s.stats.decryptFailures, 0);
  });

  it("a lost key message is recovered with a key request", async (t) => {
    const room = new MemoryRoom();
    const a = await room.join("a", { switchTimeoutMs: 50 });
    const b = await room.join("b");
    const c = await room.join("c");
    room.flush();
    // The relay drops a's fresh key to b on c's leave.
    room.tap = (w) => (w.from === a.id && w.to === b.id && w.type === EnvelopeType.key ? "drop" : "deliver");
    const clock = virtualClock(t);
    room.leave(c.id);
    room.flush();
    await clock.advance(50); // a switches at its deadline without b's ack
    room.tap = () => "deliver";
    const frame = a.s.encrypt(opus(1));
    assert.equal(b.s.decrypt(a.id, frame), null);
    // Past the grace period b asks a for the key; a answers.
    b.s.members.get(a.id)!.joinedAt -= 5000;
    assert.equal(b.s.decrypt(a.id, a.s.encrypt(opus(2))), null);
    assert.equal(b.s.stats.rekeyRequests, 1);
    room.flush();
    assert.ok(b.s.decrypt(a.id, a.s.encrypt(opus(3))), "b recovered a's key");
    assert.equal(b.s.stats.decryptFailures, 0);
  });

  it("a member that declined recording never keys a recorder; everyone is told who records and who declined", async (t) => {
    const room = new MemoryRoom();
    const a = await room.join("a");
    const shy = await room.join("shy", { noRecord: true });
    room.flush();
    const rec = await room.join("rec", { role: "recorder" });
    room.flush();
    assertAllHear(room, (from, to) => from === shy.id && to === rec.id);
    assert.equal(rec.s.decrypt(shy.id, shy.s.encrypt(opus(1))), null, "the recorder cannot decrypt the member who declined");
    assert.ok(rec.s.decrypt(a.id, a.s.encrypt(opus(1))));
    assert.ok(!room.log.some((w) => w.from === shy.id && w.to === rec.id && w.type === EnvelopeType.key), "no key message to the recorder");
    for (const id of [a.id, shy.id, rec.id]) {
      const last = room.eventsOf(id, "recording").at(-1) as { by: { name: string }[]; declined: { name: string }[] } | undefined;
      assert.ok(last, `${id} was told about the recording`);
      assert.deepEqual(last.by.map((x) => x.name), ["rec"]);
      assert.deepEqual(last.declined.map((x) => x.name), ["shy"]);
    }
    // A leave: the fresh key still skips the recorder.
    const other = await room.join("other");
    room.flush();
    const clock = virtualClock(t);
    room.leave(other.id);
    room.flush();
    await clock.advance(800); // the switch deadline: the fresh key is in use
    assert.equal(rec.s.decrypt(shy.id, shy.s.encrypt(opus(2))), null);
    // The recorder leaves: every member hears that no one records any more.
    room.leave(rec.id);
    room.flush();
    const last = room.eventsOf(a.id, "recording").at(-1) as { by: unknown[] };
    assert.deepEqual(last.by, []);
  });
});

describe("E2EE session: bad input is dropped and counted, never thrown, never plaintext", () => {
  it("RFC 9605 §4.4.4 / §9.3 at the session: flipped bit, replay, unknown KID, another sender's KID, garbage", async () => {
    const room = new MemoryRoom();
    const a = await room.join("a");
    const b = await room.join("b");
    const c = await room.join("c");
    room.flush();
    const frame = a.s.encrypt(opus(1));
    assert.ok(b.s.decrypt(a.id, frame));
    const stats0 = { ...b.s.stats };

    // one flipped bit in the ciphertext, and in the tag
    for (const at of [frame.length - 20, frame.length - 1]) {
      const f = Buffer.from(a.s.encrypt(opus(2)));
      f[at]! ^= 0x01;
      assert.equal(b.s.decrypt(a.id, f), null);
    }
    assert.equal(b.s.stats.decryptFailures, stats0.decryptFailures + 2);
    // a replayed frame
    assert.equal(b.s.decrypt(a.id, frame), null);
    assert.equal(b.s.stats.decryptFailures, stats0.decryptFailures + 3);
    assert.equal(b.s.peerDecryptFailures(a.id), 3);
    // unknown KID: a keyspace no member owns
    const hdr = Buffer.alloc(9);
    hdr[0] = 0x80 | (7 << 4); // RFC 9605 §4.3: X=1, K=7 (8 KID bytes), CTR 0 in the config byte
    hdr.writeBigUInt64BE(kidFor(0x0badf00d, 0), 1);
    const unknownKid = Buffer.concat([hdr, Buffer.from(frame).subarray(decodeHeader(frame).length)]);
    assert.equal(b.s.decrypt(a.id, unknownKid), null);
    // a's frame relabelled by the relay as c's
    assert.equal(b.s.decrypt(c.id, a.s.encrypt(opus(3))), null);
    // a frame from a peer that is no member
    assert.equal(b.s.decrypt("nobody", a.s.encrypt(opus(4))), null);
    assert.equal(b.s.stats.unknownKey, stats0.unknownKey + 3);
    // garbage and empty input
    for (const junk of [new Uint8Array(0), Uint8Array.of(0xff), randomBytes(3), randomBytes(200)]) {
      assert.doesNotThrow(() => assert.equal(b.s.decrypt(a.id, junk), null));
    }
    // the call goes on
    assert.ok(b.s.decrypt(a.id, a.s.encrypt(opus(5))));
    // With both senders' frames decrypting (each on the fast path of its own KID), a frame
    // relabelled from one to the other still falls to the full check and is refused.
    assert.ok(b.s.decrypt(c.id, c.s.encrypt(opus(6))));
    assert.ok(b.s.decrypt(c.id, c.s.encrypt(opus(7))));
    const before = b.s.stats.unknownKey;
    assert.equal(b.s.decrypt(c.id, a.s.encrypt(opus(8))), null);
    assert.equal(b.s.decrypt(a.id, c.s.encrypt(opus(9))), null);
    assert.equal(b.s.stats.unknownKey, before + 2);
    const failures = b.s.stats.decryptFailures;
    const tampered = Buffer.from(a.s.encrypt(opus(10)));
    tampered[tampered.length - 1]! ^= 0x01;
    assert.equal(b.s.decrypt(a.id, tampered), null);
    assert.equal(b.s.stats.decryptFailures, failures + 1, "a bad frame on the fast path is counted once");
    assert.ok(b.s.decrypt(a.id, a.s.encrypt(opus(11))));
  });

  it("P3: a peer with the room id but not the secret is reported by every member and gets nothing", async () => {
    const room = new MemoryRoom();
    const a = await room.join("a");
    const b = await room.join("b");
    room.flush();
    const x = await room.join("x", {}, encodeRoomSecret(newRoomSecret()));
    room.flush();
    for (const p of [a, b]) {
      const intruders = room.eventsOf(p.id, "intruder");
      assert.equal(intruders.length, 1, "reported once");
      assert.equal((intruders[0] as { peerId: string }).peerId, x.id);
      assert.ok(!p.s.members.has(x.id));
    }
    assert.ok(!room.log.some((w) => w.to === x.id && w.from !== x.id && w.directed), "no member sent anything to it");
    assert.equal(x.s.members.size, 0);
    assert.equal(x.s.decrypt(a.id, a.s.encrypt(opus(1))), null);
    assert.deepEqual(x.s.exportReceiveKeysForTest(), []);
    assert.ok(a.s.stats.rejected >= 1);
  });

  it("P3: a genuine hello replayed under another peer id is misbound: intruder, no keys", async () => {
    const room = new MemoryRoom();
    const a = await room.join("a");
    const b = await room.join("b");
    room.flush();
    const bHello = room.log.find((w) => w.from === b.id && w.type === EnvelopeType.hello)!;
    a.s.onPeerJoined("ghost");
    room.inject(a.id, "ghost", bHello.data);
    assert.equal((room.eventsOf(a.id, "intruder")[0] as { peerId: string }).peerId, "ghost");
    assert.ok(!room.queue.some((w) => w.to === "ghost"));
  });

  it("replayed envelopes change nothing: old key updates, hellos after a leave, a departed peer announced again", async () => {
    const room = new MemoryRoom();
    const a = await room.join("a");
    await room.join("b");
    const c = await room.join("c");
    room.flush();
    const captured = [...room.log];
    room.leave(c.id);
    room.flush();
    await sleep(10);
    const snapshot = (): string =>
      JSON.stringify(a.s.exportReceiveKeysForTest().map((k) => [k.peerId, k.generation, Buffer.from(k.key).toString("hex")]));
    const keysBefore = snapshot();
    const genBefore = a.s.currentGeneration;
    const rejectedBefore = a.s.stats.rejected;
    // Replay everything ever sent to a, including c's hello and key messages, and b's.
    const toA = captured.filter((w) => w.to === a.id);
    for (const w of toA) room.inject(a.id, w.from, w.data);
    // The relay announces c again and replays its hello.
    a.s.onPeerJoined(c.id);
    room.flush();
    assert.equal(a.s.stats.rejected, rejectedBefore + toA.length);
    assert.equal(a.s.currentGeneration, genBefore);
    assert.equal(snapshot(), keysBefore);
    assert.ok(!a.s.members.has(c.id), "the departed member did not come back");
    assert.ok(room.eventsOf(a.id, "intruder").some((e) => (e as { peerId: string }).peerId === c.id));
    assert.equal(a.s.stats.decryptFailures, 0);
    assertAllHear(room);
  });

  it("a replayed hello of a member a newcomer never met is dropped when it never acknowledges a key", async (t) => {
    const room = new MemoryRoom();
    await room.join("a");
    const gone = await room.join("gone");
    room.flush();
    const goneHello = room.log.find((w) => w.from === gone.id && w.type === EnvelopeType.hello && !w.directed)!;
    room.leave(gone.id);
    room.flush();
    // n never saw `gone`; the relay replays gone's broadcast hello to it.
    const n = await room.join("n", { confirmTimeoutMs: 100 });
    room.flush();
    const clock = virtualClock(t);
    n.s.onPeerJoined(gone.id);
    room.inject(n.id, gone.id, goneHello.data);
    room.flush(); // n's reply and key go to a session that no longer exists
    assert.ok(n.s.members.has(gone.id));
    await clock.advance(99);
    assert.ok(n.s.members.has(gone.id), "not before the confirmation deadline");
    await clock.advance(1);
    assert.ok(!n.s.members.has(gone.id), "the ghost was dropped");
    assert.ok(room.eventsOf(n.id, "intruder").some((e) => (e as { peerId: string }).peerId === gone.id));
    room.flush();
    assertAllHear(room);
  });

  it("envelopes delivered in reverse order still converge; an older mute state does not undo a newer one", async () => {
    const room = new MemoryRoom();
    room.reorder = (q) => q.reverse();
    const a = await room.join("a");
    const b = await room.join("b");
    await room.join("c");
    room.flush();
    assertAllHear(room);
    a.s.setMuted(true);
    a.s.setMuted(false);
    room.flush();
    assert.equal(b.s.members.get(a.id)!.muted, false);
    room.leave(b.id);
    room.flush();
    assertAllHear(room);
    for (const s of room.sessions.values()) assert.equal(s.stats.decryptFailures, 0);
  });

  it("envelopes that arrive before their sender's hello are held, then used", async () => {
    const room = new MemoryRoom();
    const b = await room.join("b");
    room.flush();
    // a joins; b answers with a hello and its key, and the relay delivers the key first.
    const held: Wire[] = [];
    let aId = "";
    room.tap = (w) => (w.to === aId && w.type === EnvelopeType.hello ? (held.push(w), "drop") : "deliver");
    const a = await room.join("a"); // nothing is delivered before flush()
    aId = a.id;
    room.flush();
    assert.ok(room.log.some((w) => w.to === a.id && w.type === EnvelopeType.key), "b's key reached a before b's hello");
    assert.ok(!a.s.members.has(b.id));
    room.tap = () => "deliver";
    for (const w of held) room.inject(a.id, w.from, w.data);
    room.flush();
    assert.ok(a.s.members.has(b.id));
    assertAllHear(room);
    assert.equal(a.s.stats.rejected, 0);
  });

  it("a valid hello with another cipher suite or a key id space already taken is refused, counted and reported", async () => {
    const room = new MemoryRoom();
    const a = await room.join("a");
    room.flush();
    const hello = (from: string, suite: number, keyspace: number): Uint8Array =>
      sealEnvelope({
        keys: room.keys,
        identity: generateIdentity(),
        type: EnvelopeType.hello,
        roomId: room.roomId,
        from,
        seq: 1n,
        timeMs: Date.now(),
        body: Buffer.from(
          JSON.stringify({ kx: Buffer.from(generateKxKeyPair().publicKey).toString("base64url"), keyspace, name: from, role: "member", noRecord: false, muted: false, suite, reply: false }),
        ),
      });
    const rejected = a.s.stats.rejected;
    room.inject(a.id, "suite5", hello("suite5", 5, 1234));
    room.inject(a.id, "thief", hello("thief", 4, a.s.keyspaceId));
    assert.equal(a.s.stats.rejected, rejected + 2);
    assert.deepEqual(room.eventsOf(a.id, "intruder").map((e) => (e as { peerId: string }).peerId), ["suite5", "thief"]);
    assert.equal(a.s.members.size, 0);
    assert.ok(!room.queue.some((w) => w.to === "suite5" || w.to === "thief"));
  });

  it("a hello the relay held back until its sender left does not bring it in", async () => {
    const room = new MemoryRoom();
    const a = await room.join("a");
    room.flush();
    const held: Wire[] = [];
    room.tap = (w) => (w.to === a.id ? (held.push(w), "drop") : "deliver");
    const b = await room.join("b");
    room.flush();
    room.tap = () => "deliver";
    room.leave(b.id, false);
    for (const w of held) room.inject(a.id, w.from, w.data);
    room.flush();
    assert.ok(!a.s.members.has(b.id));
    assert.equal(a.s.stats.rejected, held.length);
  });

  it("a closed session drops everything quietly", async () => {
    const room = new MemoryRoom();
    const a = await room.join("a");
    const b = await room.join("b");
    room.flush();
    const frame = a.s.encrypt(opus(1));
    b.s.close();
    assert.equal(b.s.decrypt(a.id, frame), null);
    assert.doesNotThrow(() => b.s.onEnvelope(a.id, randomBytes(100)));
    assert.equal(b.s.stats.decryptFailures, 0);
  });
});
