/**
 * The participant's lean audio receive path (src/client/lean-receive.ts) over 127.0.0.1 with the
 * real relay, real werift peers, real ffmpeg and real libsodium: a participant on it hears and
 * decrypts the others exactly as one on werift's receive path (`leanReceive: false`) does, the
 * receiver reports of its lean streams come from the lean path (werift's loops for them are paused,
 * the other participant's run on; test/e2e/receiver-reports.test.ts checks the reports), and
 * replayed, forged and malformed datagrams sent to its UDP port are dropped and counted while the
 * call goes on.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { randomBytes } from "node:crypto";
import { Participant, newInvite, resolveFfmpeg, parseAudioSource, type ConclaveEvent, type JoinOptions } from "../../src/index.js";
import { sharedRelay } from "../helpers/relay-fixture.js";
import { udpTransportOf } from "../../src/media/werift-udp.js";
import { waitFor } from "../helpers/util.js";
import { releaseLeakedUdpSockets } from "../helpers/werift-leaks.js";

type Stamped = ConclaveEvent & { time: string };

const ffmpeg = resolveFfmpeg().path;
const shared = sharedRelay({}, releaseLeakedUdpSockets);

async function joinRoom(invite: string, name: string, tone: number, options: JoinOptions = {}): Promise<{ p: Participant; events: Stamped[] }> {
  const events: Stamped[] = [];
  const p = await Participant.join(invite, { name, ffmpeg, statsIntervalMs: 0, levels: true, onEvent: (e) => events.push(e), ...options });
  shared.defer(() => p.close());
  await p.publish(parseAudioSource(`tone:${tone}`));
  return { p, events };
}

/** werift's PeerConnection of a participant (test-only peek). */
function pcOf(p: Participant): { dtlsTransports: { iceTransport: { connection: { nominated?: unknown } } }[]; getTransceivers(): { receiver: unknown }[] } {
  return (p as unknown as { pc: ReturnType<typeof pcOf> }).pc;
}

/** Whether werift's receiver-report loop runs, for each audio receiver that has received a stream. */
function weriftReportLoops(p: Participant): boolean[] {
  return pcOf(p)
    .getTransceivers()
    .map((t) => t.receiver as { rtcpRunning?: boolean; remoteStreams?: Record<string, unknown>; kind?: string })
    .filter((r) => r.kind === "audio" && Object.keys(r.remoteStreams ?? {}).length > 0)
    .map((r) => r.rtcpRunning === true);
}

test("a participant on the lean receive path and one on werift's hear and decrypt each other; each stream has one receiver-report source", async () => {
  const invite = newInvite(shared.url);
  const lean = await joinRoom(invite, "lean", 440);
  const werift = await joinRoom(invite, "werift", 660, { leanReceive: false });
  await waitFor(() => lean.p.heard.includes(werift.p.peerId) && werift.p.heard.includes(lean.p.peerId), 10_000, "both to hear each other");
  // Decrypted audio decodes to the tone: the level meter runs on the decrypted Opus frames.
  await waitFor(() => (lean.p.levelOf(werift.p.peerId)?.levelDbfs ?? -100) > -30, 5_000, "the lean receiver to measure the tone's level");
  await waitFor(() => (werift.p.levelOf(lean.p.peerId)?.levelDbfs ?? -100) > -30, 5_000, "the werift receiver to measure the tone's level");
  const before = lean.p.receiveStatsOf(werift.p.peerId)!.packetsReceived;
  await waitFor(() => lean.p.receiveStatsOf(werift.p.peerId)!.packetsReceived >= before + 50, 5_000, "50 more packets on the lean path");

  const l = lean.p.leanReceiveStats;
  assert.equal(l.enabled, true);
  const stats = lean.p.receiveStatsOf(werift.p.peerId)!;
  // Every packet but each stream's first came through the lean path.
  assert.ok(l.packets >= stats.packetsReceived - 2 && l.packets > 50, `lean packets ${l.packets}, received ${stats.packetsReceived}`);
  assert.equal(l.replayed + l.rejected + l.malformed, 0);
  assert.equal(werift.p.leanReceiveStats.enabled, false);
  assert.equal(werift.p.leanReceiveStats.packets, 0);
  assert.ok(werift.p.receiveStatsOf(lean.p.peerId)!.packetsReceived > 50);
  // The lean path reports on its streams (src/client/lean-receive.ts): werift's loops for them are
  // paused. werift's path keeps its own loops.
  assert.deepEqual(weriftReportLoops(lean.p), [false]);
  assert.deepEqual(weriftReportLoops(werift.p), [true]);
  for (const p of [lean.p, werift.p]) {
    const e = p.statsEvent();
    assert.equal(e.type, "stats");
    if (e.type !== "stats") return;
    assert.equal(e.decryptFailures, 0);
    assert.equal(e.srtpDropped, p === lean.p ? 0 : undefined);
  }
});

test("replayed, forged and malformed datagrams sent to a lean receiver's port are dropped and counted; the call goes on", async () => {
  const invite = newInvite(shared.url);
  const target = await joinRoom(invite, "target", 440);
  const other = await joinRoom(invite, "other", 660);
  await waitFor(() => target.p.heard.includes(other.p.peerId), 10_000, "the target to hear the other");
  const transport = udpTransportOf(pcOf(target.p).dtlsTransports[0]!.iceTransport.connection.nominated as never);
  assert.ok(transport?.socket, "the target's selected pair is on a UDP socket");
  const port = transport.socket.address().port;

  // Copy the audio SRTP datagrams the relay sends the target (an on-path attacker's recording).
  const captured: Buffer[] = [];
  const inner = transport.onData;
  transport.onData = (data, addr) => {
    if (captured.length < 20 && data.length > 40 && data[0]! >> 6 === 2 && (data[1]! < 192 || data[1]! > 223)) captured.push(Buffer.from(data));
    inner(data, addr);
  };
  shared.defer(() => void (transport.onData = inner));
  await waitFor(() => captured.length >= 20, 5_000, "20 SRTP packets to capture");
  transport.onData = inner;

  const attacker = createSocket("udp4");
  shared.defer(() => new Promise<void>((r) => attacker.close(() => r())));
  await new Promise<void>((r) => attacker.bind(0, "127.0.0.1", () => r()));
  const send = (b: Buffer): Promise<void> => new Promise((resolve, reject) => attacker.send(b, port, "127.0.0.1", (err) => (err ? reject(err) : resolve())));
  const start = target.p.leanReceiveStats;
  // Replays of packets already received.
  for (const p of captured) await send(p);
  // Forgeries: a flipped payload bit, a flipped tag bit, a sequence number moved ahead (the
  // header is authenticated too), and a random body under the stream's SSRC.
  for (const p of captured.slice(0, 5)) {
    const body = Buffer.from(p);
    body[body.length - 20]! ^= 0x01;
    body.writeUInt16BE((body.readUInt16BE(2) + 1000) & 0xffff, 2);
    await send(body);
    const tag = Buffer.from(p);
    tag[tag.length - 1]! ^= 0x80;
    tag.writeUInt16BE((tag.readUInt16BE(2) + 2000) & 0xffff, 2);
    await send(tag);
    const noise = Buffer.concat([p.subarray(0, 12), randomBytes(80)]);
    noise.writeUInt16BE((noise.readUInt16BE(2) + 3000) & 0xffff, 2);
    await send(noise);
  }
  // Malformed: too short, a header extension longer than the datagram, random bytes (left to werift).
  await send(captured[0]!.subarray(0, 20));
  const ext = Buffer.from(captured[0]!);
  ext[0] = 0x90;
  ext.writeUInt16BE(0xffff, 14);
  await send(ext);
  for (let i = 0; i < 20; i++) await send(randomBytes(1 + i * 7));

  await waitFor(() => target.p.leanReceiveStats.replayed - start.replayed >= 20 && target.p.leanReceiveStats.rejected - start.rejected >= 15, 5_000, "the lean path to drop the replays and forgeries");
  const afterAttack = target.p.receiveStatsOf(other.p.peerId)!.packetsReceived;
  await waitFor(() => target.p.receiveStatsOf(other.p.peerId)!.packetsReceived >= afterAttack + 25, 5_000, "audio to keep flowing");
  const e = target.p.statsEvent();
  assert.equal(e.type, "stats");
  if (e.type !== "stats") return;
  assert.equal(e.decryptFailures, 0, "nothing forged reached SFrame decryption");
  assert.ok((e.srtpDropped ?? 0) >= 35, `srtpDropped ${e.srtpDropped}`);
  assert.equal(target.p.e2ee.peerDecryptFailures(other.p.peerId), 0);
});
