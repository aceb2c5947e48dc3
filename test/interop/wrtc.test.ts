/**
 * A second WebRTC stack: libwebrtc (@roamhq/wrtc) peers connect to the relay beside werift members.
 * Checked: ICE, DTLS and SRTP come up with libwebrtc; RTP flows both ways; RTCP flows both ways
 * (libwebrtc sees the relay's receiver and sender reports); and when a libwebrtc peer misbehaves (never
 * answers an offer, vanishes) the werift members' call goes on below 1% loss.
 *
 * The libwebrtc peer is not an E2EE member (no invite secret, no SFrame): members report it as an
 * intruder and cannot decrypt its plain Opus. That is expected; this file tests transport interop.
 * Each test prints one JSON line: {"test",...,"faultsInjected","callsSurvived","packetsLost"}.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { Relay, newInvite, parseInvite, type ConclaveEvent, type RelayOptions } from "../../src/index.js";
import { waitFor } from "../helpers/util.js";
import { assertCallHealthy, lossMeter, printSummary, startCall } from "./call.js";
import { closeAllWrtcPeers, WrtcPeer } from "./wrtc-peer.js";

const cleanups: (() => Promise<void> | void)[] = [];

after(async () => {
  await closeAllWrtcPeers();
  for (const c of cleanups.reverse()) await c();
});

let shared: { relay: Relay; url: string } | undefined;

/** A fresh room; on a relay of its own when `options` are given, else on one shared relay. */
async function setup(options?: RelayOptions): Promise<{ relay: Relay; invite: string; ws: string; room: string }> {
  let target = options ? undefined : shared;
  if (!target) {
    const relay = new Relay({ host: "127.0.0.1", port: 0, ...options });
    const url = await relay.start();
    cleanups.push(() => relay.close());
    target = { relay, url };
    if (!options) shared = target;
  }
  const { relay, url } = target;
  const invite = newInvite(url);
  const parsed = parseInvite(invite);
  return { relay, invite, ws: parsed.signalling, room: parsed.room };
}

test("libwebrtc beside werift: ICE, DTLS, SRTP and RTCP work both ways through the relay", async () => {
  const { relay, invite, ws, room } = await setup();
  const members = await startCall(invite, ["alice", "bob"], cleanups);
  const [alice, bob] = members as [(typeof members)[0], (typeof members)[0]];
  const intruders: string[] = [];
  alice.on("event", (e: ConclaveEvent) => {
    if (e.type === "intruder") intruders.push(e.peerId);
  });
  const meter = lossMeter(members);
  const forwardedBefore = (await relay.collectStats()).forwardedPackets;

  const lib = await WrtcPeer.join(ws, room, { toneHz: 600 });
  await lib.connected();
  // libwebrtc receives both werift members' RTP on the m-lines the relay mapped to them.
  await waitFor(() => lib.answers > 0, 5000, "libwebrtc to answer");
  let fromAlice = 0;
  let fromBob = 0;
  await waitFor(
    () => {
      void lib.packetsFrom(alice.peerId).then((n) => (fromAlice = n));
      void lib.packetsFrom(bob.peerId).then((n) => (fromBob = n));
      return fromAlice >= 100 && fromBob >= 100;
    },
    10_000,
    "libwebrtc to receive 100 packets from each werift member",
  );
  // The relay forwards libwebrtc's Opus to both werift members (who cannot decrypt it: not a member).
  await waitFor(
    () => (alice.receiveStatsOf(lib.peerId)?.packetsReceived ?? 0) >= 100 && (bob.receiveStatsOf(lib.peerId)?.packetsReceived ?? 0) >= 100,
    10_000,
    "the werift members to receive 100 packets from libwebrtc",
  );
  // RTCP both ways: receiver reports from the relay about libwebrtc's stream (remote-inbound-rtp) and
  // sender reports from the relay about the streams libwebrtc receives (remote-outbound-rtp).
  let stats = await lib.stats();
  await waitFor(
    () => {
      void lib.stats().then((s) => (stats = s));
      return stats.remoteInbound.count > 0 && stats.remoteOutbound.reportsSent > 0;
    },
    10_000,
    "RTCP reports from the relay to show up in libwebrtc's stats",
  );
  await meter.waitForPackets(100, 10_000);
  const report = meter.stop();
  const forwarded = (await relay.collectStats()).forwardedPackets - forwardedBefore;
  const fromLibAtAlice = alice.receiveStatsOf(lib.peerId)!;
  printSummary("wrtc-interop", 0, report, {
    wrtc: {
      connectionState: stats.connectionState,
      transport: stats.transport,
      received: { fromAlice, fromBob },
      sent: stats.outboundPackets,
      remoteInboundRtp: stats.remoteInbound,
      remoteOutboundRtp: stats.remoteOutbound,
    },
    atAlice: { packets: fromLibAtAlice.packetsReceived, lossRate: fromLibAtAlice.lossRate, jitterMs: Math.round(fromLibAtAlice.jitterMs * 100) / 100 },
    relayForwarded: forwarded,
    intrudersReportedByAlice: intruders.includes(lib.peerId),
  });
  assert.equal(stats.transport.dtlsState, "connected");
  assert.ok(stats.transport.srtpCipher, "an SRTP profile was negotiated");
  assert.ok(stats.outboundPackets >= 100, `libwebrtc sent ${stats.outboundPackets} packets`);
  assert.ok(fromLibAtAlice.lossRate < 0.01, `alice lost ${fromLibAtAlice.lossRate * 100}% of libwebrtc's packets`);
  assert.ok(forwarded > 0, "the relay forwarded");
  assert.deepEqual(lib.errors, []);
  assertCallHealthy(report, "with a libwebrtc peer in the room");
  lib.close();
});

test("a libwebrtc peer that never answers is dropped after answerTimeoutMs; the werift call goes on", async () => {
  const { relay, invite, ws, room } = await setup({ limits: { answerTimeoutMs: 1000 } });
  const members = await startCall(invite, ["carol", "dave"], cleanups);
  const meter = lossMeter(members);
  const mute = await WrtcPeer.join(ws, room, { answer: false, toneHz: 0 });
  await waitFor(() => mute.offers > 0, 5000, "an offer to the mute peer");
  const closed = await mute.signalling.waitClosed(5000, "the relay to drop the peer that never answers");
  await waitFor(() => relay.stats.participants === members.length, 3000, "the relay to forget the mute peer");
  await meter.waitForPackets(100, 10_000);
  const report = meter.stop();
  printSummary("wrtc-never-answers", 1, report, { closeCode: closed.code, offersIgnored: mute.offers });
  assert.equal(closed.code, 4008);
  assertCallHealthy(report, "after a peer that never answered");
  mute.close();
});

for (const how of ["pc-then-socket", "socket-only", "pc-only"] as const) {
  test(`a libwebrtc peer that vanishes (${how}): the others keep hearing each other`, async () => {
    // A fresh room each time: werift members do not hear peers that join after someone left (see report).
    const { relay, invite, ws, room } = await setup();
    const members = await startCall(invite, ["erin", "frank"], cleanups);
    const [erin] = members as [(typeof members)[0]];
    const lib = await WrtcPeer.join(ws, room, { toneHz: 700 });
    await lib.connected();
    await waitFor(() => (erin.receiveStatsOf(lib.peerId)?.packetsReceived ?? 0) >= 25, 10_000, "erin to receive the libwebrtc peer");
    const meter = lossMeter(members);
    const startedAt = Date.now();
    if (how === "pc-then-socket") lib.close();
    if (how === "socket-only") lib.signalling.terminate();
    if (how === "pc-only") lib.pc.close();
    let droppedAfterMs: number | null = null;
    const inRoom = (): number => relay.snapshot().rooms.find((r) => r.id === room)?.participants ?? 0;
    if (how !== "pc-only") {
      await waitFor(() => inRoom() === members.length, 5000, `the relay to drop the vanished peer (${how})`);
      droppedAfterMs = Date.now() - startedAt;
    }
    await meter.waitForPackets(75, 10_000);
    const report = meter.stop();
    // With only the PeerConnection gone the signalling socket still answers pings: the relay keeps the
    // peer until ICE consent fails or the socket goes; what matters is that the call is unaffected.
    printSummary(`wrtc-vanishes-${how}`, 1, report, { droppedAfterMs, participantsInRoom: inRoom() });
    assertCallHealthy(report, `after a libwebrtc peer vanished (${how})`);
    lib.close();
    await waitFor(() => inRoom() === members.length, 5000, "the relay to forget the peer");
    for (const m of members) await m.close();
  });
}
