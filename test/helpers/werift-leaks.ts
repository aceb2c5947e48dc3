/**
 * werift leaves the UDP sockets of ICE gatherings open when a PeerConnection closes while a
 * renegotiation's gathering is superseded (seen from the relay's RelayPeer.negotiate); they keep a
 * test process alive after every participant and the relay have closed. Call this last in `after`:
 * it unrefs the UDP sockets still open so the process can exit. It closes nothing.
 */
import dgram from "node:dgram";

export function releaseLeakedUdpSockets(): number {
  const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
  let n = 0;
  for (const h of handles) {
    if (h instanceof dgram.Socket) {
      h.unref();
      n++;
    }
  }
  return n;
}
