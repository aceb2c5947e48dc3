/**
 * werift PeerConnection configuration shared by the relay and by participants.
 *
 * werift's default ICE configuration contacts a public STUN server; Conclave never contacts a host
 * its user did not name (SECURITY-MODEL P11), so `iceServers` is always explicit (empty unless the
 * user configures one) and host candidates are bound to the addresses the user configured.
 * No RTP header extensions are negotiated: in particular no audio-level extension, so the relay
 * never learns who speaks (P2).
 */
import type { Socket } from "node:dgram";
import { RTCRtpCodecParameters, type RTCPeerConnection } from "werift";
import type { VideoCodecName } from "./video/video-source.js";

export type PeerConfig = ConstructorParameters<typeof RTCPeerConnection>[0];

export const OPUS_PAYLOAD_TYPE = 111;
export const VP8_PAYLOAD_TYPE = 96;
export const H264_PAYLOAD_TYPE = 102;

export interface RtcNetworkOptions {
  /** Address host candidates are bound to, e.g. 127.0.0.1. Undefined: every interface. */
  bindAddress?: string;
  /** Extra address to advertise (the relay's public IP). */
  announceAddress?: string;
  /** UDP port range for ICE. */
  portRange?: [number, number];
  /** STUN/TURN servers the user named. Empty by default. */
  iceServers?: { urls: string; username?: string; credential?: string }[];
}

export function opusCodec(): RTCRtpCodecParameters {
  return new RTCRtpCodecParameters({
    mimeType: "audio/opus",
    clockRate: 48000,
    channels: 2,
    payloadType: OPUS_PAYLOAD_TYPE,
    parameters: "minptime=10;useinbandfec=1",
  });
}

export function vp8Codec(): RTCRtpCodecParameters {
  return new RTCRtpCodecParameters({
    mimeType: "video/VP8",
    clockRate: 90000,
    payloadType: VP8_PAYLOAD_TYPE,
    rtcpFeedback: [{ type: "nack" }, { type: "nack", parameter: "pli" }],
  });
}

/**
 * H.264 (RFC 6184) with packetization-mode=1 (single NAL unit packets and FU-A), Constrained
 * Baseline level 3.1 (profile-level-id 42e01f, RFC 6184 §8.1), what every H.264 decoder takes.
 */
export function h264Codec(): RTCRtpCodecParameters {
  return new RTCRtpCodecParameters({
    mimeType: "video/H264",
    clockRate: 90000,
    payloadType: H264_PAYLOAD_TYPE,
    rtcpFeedback: [{ type: "nack" }, { type: "nack", parameter: "pli" }],
    parameters: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
  });
}

/** The codec parameters for a codec name. */
export function videoCodec(name: VideoCodecName): RTCRtpCodecParameters {
  return name === "h264" ? h264Codec() : vp8Codec();
}

/** The codec name of negotiated codec parameters (by MIME type), or undefined for another codec. */
export function videoCodecName(codec: { mimeType: string } | undefined): VideoCodecName | undefined {
  const mime = codec?.mimeType.toLowerCase();
  return mime === "video/h264" ? "h264" : mime === "video/vp8" ? "vp8" : undefined;
}

/**
 * Restricts the m-line of `transceiver` to one video codec before it is first offered (werift
 * otherwise offers every configured codec and sends with the first). The relay does this for every
 * video m-line: the upload carries what the publisher announced, each downlink its publisher's codec.
 */
export function restrictVideoCodec(transceiver: { codecs: RTCRtpCodecParameters[] }, name: VideoCodecName): void {
  transceiver.codecs = [videoCodec(name)];
}

export function buildPeerConfig(net: RtcNetworkOptions = {}): PeerConfig {
  const isIpv6 = net.bindAddress?.includes(":") ?? false;
  const config: PeerConfig = {
    // Both video codecs: which one an m-line carries is the relay's choice (restrictVideoCodec).
    codecs: { audio: [opusCodec()], video: [vp8Codec(), h264Codec()] },
    headerExtensions: { audio: [], video: [] },
    iceServers: net.iceServers ?? [],
    iceUseIpv4: !isIpv6,
    iceUseIpv6: isIpv6,
  };
  if (net.bindAddress && net.bindAddress !== "0.0.0.0" && net.bindAddress !== "::") {
    config.iceInterfaceAddresses = isIpv6 ? { udp6: net.bindAddress } : { udp4: net.bindAddress };
    config.iceAdditionalHostAddresses = [net.bindAddress];
    // werift still lists every interface's address as a host candidate (on a socket bound to the
    // configured address). Never run connectivity checks from or to an address the user did not
    // name: on loopback, only loopback pairs; elsewhere, only our configured local addresses.
    const local = new Set([net.bindAddress, ...(net.announceAddress ? [net.announceAddress] : [])]);
    const loopback = isLoopback(net.bindAddress);
    config.iceFilterCandidatePair = (pair) =>
      local.has(pair.localCandidate.host) && (!loopback || isLoopback(pair.remoteCandidate.host));
  }
  if (net.announceAddress) {
    config.iceAdditionalHostAddresses = [...(config.iceAdditionalHostAddresses ?? []), net.announceAddress];
  }
  if (net.portRange) config.icePortRange = net.portRange;
  return config;
}

/**
 * Receive buffer asked for on every ICE socket (SO_RCVBUF), bytes. The kernel's default (208 KiB,
 * net.core.rmem_default) holds about 250 small datagrams on loopback (each costs ~830 bytes of
 * buffer accounting whatever its size): 2.5 s of a 2-publisher audio downlink, well under a second
 * of video. A process whose event loop is held up longer (dozens of bots in one process handling a
 * burst of joins, or a busy machine) loses whatever overflows. 2 MiB holds ~25 s of such audio and
 * a few seconds of video; memory is charged only for datagrams actually waiting. Linux caps the
 * request at net.core.rmem_max (often 208 KiB too: raise it, see docs/operations.md, docs/loadtest.md).
 */
export const UDP_RECEIVE_BUFFER_BYTES = 2 * 1024 * 1024;

/** What we need of werift's StunProtocol: the UDP transport under one local candidate. */
interface UdpBackedProtocol {
  transport?: { type?: string; socket?: Socket; closed?: boolean };
}

const enlarged = new WeakSet<Socket>();

/**
 * The UDP sockets werift opened for `pc`'s ICE candidates so far (it opens them while gathering,
 * in setLocalDescription). werift creates them itself, without a buffer size option.
 */
export function iceSockets(pc: RTCPeerConnection): Socket[] {
  const sockets: Socket[] = [];
  for (const ice of pc.iceTransports) {
    for (const protocol of (ice.connection as unknown as { protocols: UdpBackedProtocol[] }).protocols) {
      const t = protocol.transport;
      if (t?.type === "udp" && t.socket && !t.closed) sockets.push(t.socket);
    }
  }
  return sockets;
}

/**
 * Ask for a `bytes` receive buffer on every ICE socket of `pc` not done yet; call it after each
 * setLocalDescription (new candidates, new sockets). Never throws: a socket closing under us keeps
 * its size.
 */
export function enlargeReceiveBuffers(pc: RTCPeerConnection, bytes = UDP_RECEIVE_BUFFER_BYTES): void {
  for (const socket of iceSockets(pc)) {
    if (enlarged.has(socket)) continue;
    enlarged.add(socket);
    try {
      if (socket.getRecvBufferSize() < bytes) socket.setRecvBufferSize(bytes);
    } catch {
      // Closed or not yet bound: nothing to enlarge.
    }
  }
}

/** The address a client should bind to for a relay URL host: loopback stays on loopback. */
export function bindAddressFor(host: string): string | undefined {
  const h = host.replace(/^\[|\]$/g, "");
  if (h === "localhost" || h.startsWith("127.")) return "127.0.0.1";
  if (h === "::1") return "::1";
  return undefined;
}

export function isLoopback(address: string): boolean {
  return address.startsWith("127.") || address === "::1" || address === "localhost";
}

/**
 * Remove ICE candidates for addresses we must not announce (werift lists every interface even when
 * bound to one address), so a peer is never invited to send to them.
 */
export function keepCandidates(sdp: string, bindAddress: string | undefined, announceAddress?: string): string {
  if (!bindAddress || bindAddress === "0.0.0.0" || bindAddress === "::") return sdp;
  const allowed = new Set([bindAddress, ...(announceAddress ? [announceAddress] : [])]);
  return sdp
    .split("\r\n")
    .filter((line) => {
      if (!line.startsWith("a=candidate:")) return true;
      const address = line.split(" ")[4];
      return address !== undefined && allowed.has(address);
    })
    .join("\r\n");
}
