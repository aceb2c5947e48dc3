/**
 * A malicious relay gains nothing (issue 3, security model P3/P7/P8): participants talk to the real
 * relay through test/helpers/evil-proxy.ts, a WebSocket man-in-the-middle that injects fake peers
 * with forged hellos, replays captured key updates (also after a leave), and reorders envelopes.
 * Real werift media, real ffmpeg, 127.0.0.1 only.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Relay, Participant, newInvite, parseInvite, resolveFfmpeg, parseAudioSource, type ConclaveEvent } from "../../src/index.js";
import {
  sodiumReady,
  sealEnvelope,
  deriveRoomKeys,
  decodeRoomSecret,
  newRoomSecret,
  generateIdentity,
  generateKxKeyPair,
  openEnvelope,
  EnvelopeType,
} from "../../src/crypto/index.js";
import { waitFor } from "../helpers/util.js";
import { EvilProxy, type CapturedEnvelope, type ProxiedConnection } from "../helpers/evil-proxy.js";
import { releaseLeakedUdpSockets } from "../helpers/werift-leaks.js";

type Stamped = ConclaveEvent & { time: string };
interface Member {
  p: Participant;
  events: Stamped[];
  conn: ProxiedConnection;
}

const ffmpeg = resolveFfmpeg().path;
let relay: Relay;
let proxy: EvilProxy;
const cleanups: (() => Promise<void> | void)[] = [];

before(async () => {
  await sodiumReady();
  relay = new Relay({ host: "127.0.0.1", port: 0 });
  proxy = await EvilProxy.start(await relay.start());
});

after(async () => {
  for (const c of cleanups.reverse()) await c();
  await proxy.close();
  await relay.close();
  releaseLeakedUdpSockets();
});

/** Join through the evil proxy. */
async function join(invite: string, name: string, tone: number): Promise<Member> {
  const events: Stamped[] = [];
  const p = await Participant.join(proxy.inviteFor(invite), { name, ffmpeg, statsIntervalMs: 0, reconnect: false, onEvent: (e) => events.push(e) });
  cleanups.push(() => p.close());
  await p.publish(parseAudioSource(`tone:${tone}`));
  return { p, events, conn: proxy.byPeer(p.peerId) };
}

async function allHear(members: Member[], what: string): Promise<void> {
  for (const m of members) await waitFor(() => m.p.heard.length === members.length - 1, 15_000, what);
}

/** Resolves once `m` has decrypted `count` more frames from `from`; fails after `timeoutMs`. */
async function decodes(m: Member, from: Member, count: number, what: string, timeoutMs = 5000): Promise<void> {
  let n = 0;
  const on = (audio: { peerId: string }): void => {
    if (audio.peerId === from.p.peerId) n++;
  };
  m.p.on("audio", on);
  try {
    await waitFor(() => n >= count, timeoutMs, `${what} (${count} frames)`);
  } finally {
    m.p.off("audio", on);
  }
}

function keySnapshot(m: Member): string {
  const keys = m.p.e2ee.exportReceiveKeysForTest().map((k) => `${k.peerId}/${k.generation}/${Buffer.from(k.key).toString("hex")}`);
  return JSON.stringify([m.p.e2ee.currentGeneration, keys.sort()]);
}

test("evil relay (a): injected fake participants with forged or replayed hellos get no keys and are reported as intruders", async () => {
  const invite = newInvite(relay.url);
  const a = await join(invite, "a", 300);
  const b = await join(invite, "b", 500);
  await allHear([a, b], "a and b hear each other");
  const { room } = parseInvite(invite);

  // 1. A fake peer whose hello is sealed with a room key the relay made up (it has no secret).
  const wrongKeys = deriveRoomKeys(newRoomSecret(), room);
  const fakeHello = sealEnvelope({
    keys: wrongKeys,
    identity: generateIdentity(),
    type: EnvelopeType.hello,
    roomId: room,
    from: "fakePeer1",
    seq: 1n,
    timeMs: Date.now(),
    body: Buffer.from(
      JSON.stringify({ kx: Buffer.from(generateKxKeyPair().publicKey).toString("base64url"), keyspace: 1234, name: "mallory", role: "member", noRecord: false, muted: false, suite: 4, reply: false }),
    ),
  });
  // 2. a's genuine hello, captured on its way to b, replayed under a new peer id.
  const aHello = b.conn.received.find((e) => e.from === a.p.peerId)!;
  // 3. A fake peer that never says anything.
  for (const m of [a, b]) {
    m.conn.inject({ type: "peer-joined", peerId: "fakePeer1" });
    m.conn.inject({ type: "relay", from: "fakePeer1", data: Buffer.from(fakeHello).toString("base64url") });
    m.conn.inject({ type: "peer-joined", peerId: "fakePeer2" });
    m.conn.inject({ type: "relay", from: "fakePeer2", data: aHello.data });
    m.conn.inject({ type: "peer-joined", peerId: "fakePeer3" });
  }
  for (const m of [a, b]) {
    for (const fake of ["fakePeer1", "fakePeer2", "fakePeer3"]) {
      await waitFor(() => m.events.some((e) => e.type === "intruder" && e.peerId === fake), 8000, `${fake} reported as intruder`);
    }
  }
  for (const m of [a, b]) {
    for (const fake of ["fakePeer1", "fakePeer2", "fakePeer3"]) {
      assert.ok(!m.p.e2ee.members.has(fake), `${fake} is no member`);
      assert.ok(!m.events.some((e) => e.type === "peer-joined" && e.peerId === fake));
    }
  }
  // Nobody sent anything — no hello reply, no key — addressed to a fake peer.
  assert.deepEqual(proxy.allSent.filter((e) => e.to.startsWith("fakePeer")), []);
  await decodes(a, b, 30, "the call goes on");
  for (const m of [a, b]) assert.equal(m.p.e2ee.stats.decryptFailures, 0);
  await Promise.all([a.p.close(), b.p.close()]);
});

test("evil relay (b): replaying captured key updates, even after a leave, changes no key and lets no one decrypt", async () => {
  const invite = newInvite(relay.url);
  const a = await join(invite, "a", 320);
  const b = await join(invite, "b", 540);
  const c = await join(invite, "c", 760);
  await allHear([a, b, c], "all three hear each other");
  const { room, secret } = parseInvite(invite);
  const keys = deriveRoomKeys(decodeRoomSecret(secret), room);
  await c.p.close();
  const leftAt = Date.now();
  for (const m of [a, b]) {
    await waitFor(() => m.events.some((e) => e.type === "key-rotated" && e.reason === "leave"), 5000, "the leave rotation");
  }
  // Everything the relay ever delivered in this room, including c's key updates and the old keys a
  // and b gave each other; the test (knowing the secret) checks that key updates are among them.
  const peers = new Set([a.p.peerId, b.p.peerId, c.p.peerId]);
  const capture = (): CapturedEnvelope[] => proxy.connections.filter((conn) => peers.has(conn.peerId ?? "")).flatMap((conn) => conn.received);
  let captured = capture();
  const isKey = (e: { from: string; to: string; data: string }): boolean => {
    try {
      return openEnvelope({ keys, roomId: room, from: e.from, to: e.to, data: Buffer.from(e.data, "base64url") }).type === EnvelopeType.key;
    } catch {
      return false;
    }
  };
  // The leave's key updates may still be on their way through the proxy.
  await waitFor(() => (captured = capture()).filter((e) => e.at > leftAt && isKey(e)).length >= 2, 5000, "the leave's key updates to pass the proxy");
  assert.ok(captured.filter(isKey).length >= 6, "key updates were captured");
  assert.ok(captured.some((e) => e.from === c.p.peerId && isKey(e)), "including the leaver's");

  const before = new Map([a, b].map((m) => [m.p.peerId, { keys: keySnapshot(m), rejected: m.p.e2ee.stats.rejected, failures: m.p.e2ee.stats.decryptFailures }]));
  for (const m of [a, b]) {
    // The leaver announced again, then every captured envelope — to its own recipient and to the other.
    m.conn.inject({ type: "peer-joined", peerId: c.p.peerId });
    for (const e of captured) m.conn.inject({ type: "relay", from: e.from, data: e.data });
  }
  await waitFor(
    () => [a, b].every((m) => m.p.e2ee.stats.rejected - before.get(m.p.peerId)!.rejected >= captured.length),
    5000,
    "every replay to be rejected",
  );
  await decodes(a, b, 50, "audio continues after the replays");
  for (const m of [a, b]) {
    const was = before.get(m.p.peerId)!;
    assert.equal(m.p.e2ee.stats.rejected - was.rejected, captured.length, "each replayed envelope rejected once");
    assert.equal(keySnapshot(m), was.keys, "no key changed");
    assert.equal(m.p.e2ee.stats.decryptFailures, was.failures, "no decrypt failures");
    assert.ok(!m.p.e2ee.members.has(c.p.peerId), "the leaver did not come back");
    assert.ok(m.events.some((e) => e.type === "intruder" && e.peerId === c.p.peerId), "the replayed leaver is reported");
  }
  // Nothing was addressed to the leaver after it left, replays or not.
  assert.deepEqual(proxy.allSent.filter((e) => e.to === c.p.peerId && e.at > leftAt + 200), []);
  await Promise.all([a.p.close(), b.p.close()]);
});

test("evil relay (c): envelopes delivered in reverse order still converge; everyone hears everyone, across a leave", async () => {
  proxy.reorderWindowMs = 120;
  proxy.reordered = 0;
  try {
    const invite = newInvite(relay.url);
    const a = await join(invite, "a", 340);
    const b = await join(invite, "b", 560);
    const c = await join(invite, "c", 780);
    await allHear([a, b, c], "all three hear each other despite reordering");
    await c.p.close();
    for (const m of [a, b]) {
      await waitFor(() => m.events.some((e) => e.type === "key-rotated" && e.reason === "leave"), 5000, "the leave rotation");
    }
    await Promise.all([decodes(a, b, 30, "a hears b after the leave"), decodes(b, a, 30, "b hears a after the leave")]);
    assert.ok(proxy.reordered > 0, "envelopes were actually reordered");
    for (const m of [a, b, c]) assert.equal(m.p.e2ee.stats.decryptFailures, 0);
    await Promise.all([a.p.close(), b.p.close()]);
  } finally {
    proxy.reorderWindowMs = 0;
  }
});

test("evil relay (d): a dropped key update on a leave is asked for again; the call recovers without a decrypt failure", async () => {
  const invite = newInvite(relay.url);
  const a = await join(invite, "a", 350);
  const b = await join(invite, "b", 570);
  const c = await join(invite, "c", 790);
  await allHear([a, b, c], "all three hear each other");
  const { room, secret } = parseInvite(invite);
  const keys = deriveRoomKeys(decodeRoomSecret(secret), room);
  // Drop the first key update a sends b from now on: a's fresh key after c leaves.
  let dropped = 0;
  proxy.drop = (conn, message) => {
    if (dropped > 0 || conn !== b.conn || message.type !== "relay" || message.from !== a.p.peerId) return false;
    try {
      const type = openEnvelope({ keys, roomId: room, from: message.from, to: b.p.peerId, data: Buffer.from(message.data, "base64url") }).type;
      if (type !== EnvelopeType.key) return false;
    } catch {
      return false;
    }
    dropped++;
    return true;
  };
  try {
    await c.p.close();
    await waitFor(() => a.events.some((e) => e.type === "key-rotated" && e.reason === "leave"), 5000, "a switches (at its deadline: b never acked)");
    await waitFor(() => dropped === 1, 1000, "the relay to drop a's fresh key to b");
    await waitFor(() => b.p.e2ee.stats.rekeyRequests >= 1, 5000, "b to ask a for its key");
    const rotation = a.events.find((e) => e.type === "key-rotated" && e.reason === "leave");
    assert.ok(rotation?.type === "key-rotated" && rotation.tookMs <= 1000, "the switch still happened within 1 s");
    await decodes(b, a, 30, "b hears a again");
    for (const m of [a, b]) assert.equal(m.p.e2ee.stats.decryptFailures, 0);
  } finally {
    proxy.drop = undefined;
  }
  await Promise.all([a.p.close(), b.p.close()]);
});

test("the relay's view (P2): no name, role, chat text or key in any signalling frame it carries", async () => {
  const invite = newInvite(relay.url);
  const names = ["Alice Liddell 7f3a", "Bob Dylan 91c2"];
  const a = await join(invite, names[0]!, 360);
  const b = await join(invite, names[1]!, 580);
  await allHear([a, b], "a and b hear each other");
  const chat = "the launch code is 0451-7f3a";
  const got = new Promise<void>((resolve) => b.p.on("event", (e) => e.type === "chat" && e.text === chat && resolve()));
  a.p.sendChat(chat);
  a.p.setMuted(true);
  await got;
  const leaked = b.p.e2ee.exportReceiveKeysForTest().map((k) => Buffer.from(k.key));
  assert.ok(leaked.length > 0);
  const needles = [...names, chat, "recorder", "member"].map((t) => Buffer.from(t, "utf8"));
  for (const conn of [a.conn, b.conn]) {
    assert.ok(conn.frames.length > 10);
    for (const text of conn.frames) {
      const message = JSON.parse(text) as { data?: string };
      const blobs = [Buffer.from(text, "utf8"), ...(message.data ? [Buffer.from(message.data, "base64url")] : [])];
      for (const blob of blobs) {
        for (const needle of [...needles, ...leaked]) assert.equal(blob.indexOf(needle), -1, "the relay carried metadata or a key in the clear");
      }
    }
  }
  await Promise.all([a.p.close(), b.p.close()]);
});
