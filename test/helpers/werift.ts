/**
 * Two werift PeerConnections on 127.0.0.1, as the relay and a participant: the offer/answer steps
 * that tests of the DTLS layer share.
 */
import { RTCPeerConnection, type RTCDtlsTransport } from "werift";
import { buildPeerConfig, keepCandidates } from "../../src/media/rtc-config.js";

/**
 * A relay end (max-bundle, offering one audio m-line per direction in `directions`) and a client
 * end that holds the offer as its remote description, both on 127.0.0.1. `relayDtls` and
 * `clientDtls` run on each end's DTLS transports before the answer (guards, early starts).
 * Continue with answerAndConnect; close both ends when done.
 */
export async function offeredPair(
  directions: ("recvonly" | "sendonly" | "sendrecv")[],
  hooks: { relayDtls?: (t: RTCDtlsTransport) => void; clientDtls?: (t: RTCDtlsTransport) => void } = {},
): Promise<{ relay: RTCPeerConnection; client: RTCPeerConnection }> {
  const config = buildPeerConfig({ bindAddress: "127.0.0.1" });
  const relay = new RTCPeerConnection({ ...config, bundlePolicy: "max-bundle" });
  const client = new RTCPeerConnection(config);
  for (const direction of directions) relay.addTransceiver("audio", { direction });
  await relay.setLocalDescription(await relay.createOffer());
  if (hooks.relayDtls) for (const t of relay.dtlsTransports) hooks.relayDtls(t);
  await client.setRemoteDescription({ type: "offer", sdp: keepCandidates(relay.localDescription!.sdp, "127.0.0.1") });
  if (hooks.clientDtls) for (const t of client.dtlsTransports) hooks.clientDtls(t);
  return { relay, client };
}

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
