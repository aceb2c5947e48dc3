/**
 * ICE sockets get a large receive buffer (rtc-config.ts UDP_RECEIVE_BUFFER_BYTES), on both ends:
 * the relay's, made when its first offer is set, and a participant's, made when it answers. Read
 * back with getRecvBufferSize() over real werift sockets on 127.0.0.1.
 *
 * Linux grants min(asked, net.core.rmem_max) and reports twice that (the kernel doubles SO_RCVBUF
 * for its own bookkeeping); the default is net.core.rmem_default, reported as is. So a socket left
 * alone reads back rmem_default and fails the check below whatever the limits are.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { RTCPeerConnection } from "werift";
import { Relay, Participant, newInvite } from "../../src/index.js";
import type { ServerMessage } from "../../src/protocol/index.js";
import { RelayPeer, type PeerHooks } from "../../src/server/peer.js";
import { buildPeerConfig, iceSockets, UDP_RECEIVE_BUFFER_BYTES } from "../../src/media/rtc-config.js";
import { nullLogger } from "../../src/log.js";
import { waitFor } from "../helpers/util.js";

const cleanups: (() => Promise<unknown> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

function sysctl(name: string): number {
  return Number(readFileSync(`/proc/sys/net/core/${name}`, "utf8").trim());
}

/** What getRecvBufferSize() reads back once UDP_RECEIVE_BUFFER_BYTES was asked for (Linux). */
function expectedSize(): number {
  return 2 * Math.min(UDP_RECEIVE_BUFFER_BYTES, sysctl("rmem_max"));
}

function assertEnlarged(pc: RTCPeerConnection, who: string): void {
  const sockets = iceSockets(pc);
  assert.ok(sockets.length > 0, `${who} has ICE sockets`);
  const want = expectedSize();
  assert.ok(want > sysctl("rmem_default"), "the requested size differs from the kernel default");
  for (const s of sockets) assert.equal(s.getRecvBufferSize(), want, `${who} socket receive buffer`);
}

test("the relay's ICE sockets get the large receive buffer when it makes its first offer", async () => {
  let offer: ServerMessage | undefined;
  const hooks: PeerHooks = {
    signal: (_peer, message) => void (offer = message),
    rtp: () => {},
    upload: () => {},
    keyframeWanted: () => {},
    nack: () => {},
    downlinksChanged: () => {},
    failed: () => {},
  };
  const peer = new RelayPeer({
    id: "p1",
    roomId: "r1",
    config: buildPeerConfig({ bindAddress: "127.0.0.1" }),
    mode: "lean",
    video: false,
    log: nullLogger,
    answerTimeoutMs: 10_000,
    hooks,
  });
  cleanups.push(() => peer.close());
  peer.scheduleNegotiation();
  await waitFor(() => offer?.type === "offer", 10_000, "the relay's offer");
  assertEnlarged(peer.pc, "relay");
});

test("a participant's ICE sockets get the large receive buffer when it answers", async () => {
  const relay = new Relay({ host: "127.0.0.1", port: 0, workers: 0 });
  cleanups.push(() => relay.close());
  const invite = newInvite(await relay.start());
  const p = await Participant.join(invite, { name: "a", statsIntervalMs: 0 });
  cleanups.push(() => p.close());
  assertEnlarged((p as unknown as { pc: RTCPeerConnection }).pc, "participant");
});
