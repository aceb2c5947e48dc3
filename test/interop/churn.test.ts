/**
 * Churn: a peer leaves, its m-line goes inactive at every other member (the relay sets the
 * transceiver inactive and renegotiates), and later a new peer joins. Members must hear the newcomer.
 *
 * Written after the hostile tests found that werift members stopped receiving peers that joined after
 * a completed leave renegotiation (the same sequence worked with a libwebrtc listener). The relay's
 * renegotiation now waits until the participant's end of the transport is up (src/server/peer.ts),
 * and this test keeps it that way.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import type { RTCPeerConnection } from "werift";
import { Participant, Relay, newInvite, parseAudioSource } from "../../src/index.js";
import { waitFor } from "../helpers/util.js";
import { ffmpegPath, startCall } from "./call.js";

const cleanups: (() => Promise<void> | void)[] = [];

after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** The leave has been renegotiated: an m-line went inactive and no offer is outstanding. */
function leaveRenegotiated(p: Participant): boolean {
  const pc = (p as unknown as { pc: RTCPeerConnection }).pc;
  return pc.signalingState === "stable" && pc.getTransceivers().some((t) => t.currentDirection === "inactive");
}

test("members hear a peer that joins after another peer has left and the leave was renegotiated", async () => {
  const relay = new Relay({ host: "127.0.0.1", port: 0 });
  const url = await relay.start();
  cleanups.push(() => relay.close());
  const invite = newInvite(url);
  const [alice, bob] = (await startCall(invite, ["alice", "bob"], cleanups)) as [Participant, Participant];

  const first = await Participant.join(invite, { name: "first", ffmpeg: ffmpegPath, statsIntervalMs: 0 });
  cleanups.push(() => first.close());
  await first.publish(parseAudioSource("tone:800"));
  await waitFor(() => alice.heard.includes(first.peerId) && bob.heard.includes(first.peerId), 10_000, "both members to hear the first newcomer");
  await first.close();
  await waitFor(() => relay.stats.participants === 2 && leaveRenegotiated(alice) && leaveRenegotiated(bob), 5000, "the leave to be renegotiated");

  const second = await Participant.join(invite, { name: "second", ffmpeg: ffmpegPath, statsIntervalMs: 0 });
  cleanups.push(() => second.close());
  await second.publish(parseAudioSource("tone:900"));
  await waitFor(() => second.heard.includes(alice.peerId), 10_000, "the second newcomer to hear alice");
  let heard = true;
  const flowing = (p: Participant): boolean => p.heard.includes(second.peerId) && (p.receiveStatsOf(second.peerId)?.packetsReceived ?? 0) >= 25;
  await waitFor(() => flowing(alice) && flowing(bob), 5000, "both members to hear the second newcomer").catch(() => (heard = false));
  console.log(
    JSON.stringify({
      test: "churn-join-after-leave",
      aliceHearsSecond: alice.heard.includes(second.peerId),
      bobHearsSecond: bob.heard.includes(second.peerId),
      alicePacketsFromSecond: alice.receiveStatsOf(second.peerId)?.packetsReceived ?? 0,
    }),
  );
  assert.ok(heard, "members did not hear a peer that joined after another left");
});
