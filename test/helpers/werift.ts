/**
 * Two werift PeerConnections on 127.0.0.1, as the relay and a participant: the offer/answer steps
 * that tests of the DTLS layer share.
 */
import type { RTCPeerConnection } from "werift";
import { keepCandidates } from "../../src/media/rtc-config.js";

/** How `pc` ends up: "connected", "failed", or "timeout" after `timeoutMs`. */
export function connectionOutcome(pc: RTCPeerConnection, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve("timeout"), timeoutMs);
    pc.connectionStateChange.subscribe((s) => {
      if (s === "connected" || s === "failed") {
        clearTimeout(timer);
        resolve(s);
      }
    });
  });
}

/**
 * The client answers the offer it holds (already set as its remote description) and the relay
 * takes the answer; resolves with both ends' outcomes, relay first.
 */
export async function answerAndConnect(relay: RTCPeerConnection, client: RTCPeerConnection): Promise<string[]> {
  const both = Promise.all([connectionOutcome(relay), connectionOutcome(client)]);
  await client.setLocalDescription(await client.createAnswer());
  await relay.setRemoteDescription({ type: "answer", sdp: keepCandidates(client.localDescription!.sdp, "127.0.0.1") });
  return both;
}
