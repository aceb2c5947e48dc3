/**
 * A libwebrtc peer (@roamhq/wrtc, Google's WebRTC stack in Node) that speaks Conclave signalling:
 * join, take the relay's offers, answer them (non-trickle: the answer carries its candidates), and
 * publish a tone through wrtc's nonstandard RTCAudioSource, fed 10 ms PCM frames from a timer.
 *
 * It is not an E2EE member: it has no invite secret and no SFrame, so members see it as an intruder
 * and cannot decrypt its plain Opus. What it exercises is transport interop (ICE, DTLS, SRTP, RTCP)
 * between libwebrtc and the relay's werift.
 *
 * libwebrtc runs its own threads: every peer made here is registered and must be closed
 * (closeAllWrtcPeers in an after hook), or the process does not exit.
 */
import wrtc from "@roamhq/wrtc";
import { waitFor } from "../helpers/util.js";
import { RawSignalling, type Frame } from "./raw-signalling.js";

const open = new Set<WrtcPeer>();

/**
 * node-webrtc crashes (SIGSEGV in N-API environment cleanup) when a process that created an
 * RTCAudioSource track exits normally, even after track.stop() and pc.close() (upstream
 * node-webrtc/node-webrtc#636; reproduced with @roamhq/wrtc 0.10.0 on Node 20). Leaving through
 * process.exit() skips that cleanup, so once the process is exiting anyway (every test has finished
 * and reported; stdout is a pipe, written synchronously on Linux) we exit with the same code.
 */
let exitGuard = false;
function guardExit(): void {
  if (exitGuard) return;
  exitGuard = true;
  process.once("exit", (code) => process.exit(code));
}

/** Closes every wrtc peer still open (idempotent): call it from `after`. */
export async function closeAllWrtcPeers(): Promise<void> {
  for (const peer of [...open]) peer.close();
}

export interface WrtcPeerOptions {
  /** Answer the relay's offers (default true). A peer that does not is "mute" at the signalling level. */
  answer?: boolean;
  /** Publish a tone of this frequency (default 600 Hz); 0 publishes nothing. */
  toneHz?: number;
}

/** What libwebrtc's getStats() reports, summed over streams. */
export interface WrtcStats {
  connectionState: string;
  /** inbound-rtp packetsReceived per mid. */
  inboundByMid: Record<string, number>;
  inboundPackets: number;
  outboundPackets: number;
  /** remote-inbound-rtp: the relay's receiver reports about our stream (RFC 3550 §6.4.2). */
  remoteInbound: { count: number; packetsLost: number; roundTripTime: number | null };
  /** remote-outbound-rtp: the relay's sender reports about the streams we receive (RFC 3550 §6.4.1). */
  remoteOutbound: { count: number; reportsSent: number };
  transport: { dtlsState: string | null; srtpCipher: string | null; dtlsCipher: string | null; tlsVersion: string | null };
}

const SAMPLE_RATE = 48_000;
const FRAME_SAMPLES = 480; // 10 ms

export class WrtcPeer {
  readonly pc: RTCPeerConnection;
  peerId = "";
  offers = 0;
  answers = 0;
  private readonly source = new wrtc.nonstandard.RTCAudioSource();
  private readonly track: MediaStreamTrack;
  private timer: NodeJS.Timeout | undefined;
  private framesSent = 0;
  private startedAt = 0;
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  readonly midToPeer = new Map<string, string>();
  errors: string[] = [];

  private constructor(
    readonly signalling: RawSignalling,
    private readonly options: WrtcPeerOptions,
  ) {
    guardExit();
    this.pc = new wrtc.RTCPeerConnection({ iceServers: [] });
    this.track = this.source.createTrack();
    open.add(this);
    if ((options.toneHz ?? 600) > 0) this.startTone(options.toneHz ?? 600);
  }

  static async join(signallingUrl: string, room: string, options: WrtcPeerOptions = {}): Promise<WrtcPeer> {
    const signalling = await RawSignalling.open(signallingUrl);
    const peer = new WrtcPeer(signalling, options);
    signalling.socket.on("message", (raw) => {
      let frame: Frame;
      try {
        frame = JSON.parse(raw.toString()) as Frame;
      } catch {
        return;
      }
      if (frame.type !== "offer") return;
      peer.offers++;
      if (peer.options.answer === false) return;
      // Offers are answered strictly in order: libwebrtc refuses a new offer while one is half-applied.
      peer.chain = peer.chain.then(() => peer.answer(frame)).catch((err: Error) => void peer.errors.push(err.message));
    });
    try {
      peer.peerId = (await signalling.join(room)).peerId;
    } catch (err) {
      peer.close();
      throw err;
    }
    return peer;
  }

  /** 10 ms frames of a sine tone, paced by the clock (a late timer catches up, at most 10 frames a tick). */
  private startTone(hz: number): void {
    const samples = new Int16Array(FRAME_SAMPLES);
    let phase = 0;
    this.startedAt = Date.now();
    this.timer = setInterval(() => {
      const due = Math.floor((Date.now() - this.startedAt) / 10);
      for (let n = 0; n < 10 && this.framesSent < due; n++) {
        for (let i = 0; i < FRAME_SAMPLES; i++) {
          samples[i] = Math.round(8000 * Math.sin(phase));
          phase += (2 * Math.PI * hz) / SAMPLE_RATE;
        }
        phase %= 2 * Math.PI;
        this.source.onData({ samples, sampleRate: SAMPLE_RATE, bitsPerSample: 16, channelCount: 1, numberOfFrames: FRAME_SAMPLES });
        this.framesSent++;
      }
      if (this.framesSent < due) this.framesSent = due; // too far behind: drop, do not burst
    }, 10);
  }

  private async answer(offer: Frame): Promise<void> {
    if (this.closed) return;
    const tracks = offer.tracks as { mid: string; peerId: string }[];
    for (const t of tracks) this.midToPeer.set(t.mid, t.peerId);
    await this.pc.setRemoteDescription({ type: "offer", sdp: String(offer.sdp) });
    for (const transceiver of this.pc.getTransceivers()) {
      // The one m-line that carries no other publisher is ours to send on (same rule as Participant).
      if (transceiver.mid !== null && !this.midToPeer.has(transceiver.mid) && !transceiver.sender.track && transceiver.direction !== "stopped") {
        transceiver.direction = "sendonly";
        await transceiver.sender.replaceTrack(this.track);
      }
    }
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    await this.gathered(3000);
    if (this.closed) return;
    this.signalling.send({ type: "answer", sdp: loopbackOnly(this.pc.localDescription!.sdp) });
    this.answers++;
  }

  private gathered(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.pc.iceGatheringState === "complete") return resolve();
      const timer = setTimeout(done, timeoutMs);
      const pc = this.pc;
      function done(): void {
        clearTimeout(timer);
        pc.removeEventListener("icegatheringstatechange", check);
        resolve();
      }
      function check(): void {
        if (pc.iceGatheringState === "complete") done();
      }
      pc.addEventListener("icegatheringstatechange", check);
    });
  }

  async connected(timeoutMs = 10_000): Promise<void> {
    await waitFor(() => this.pc.connectionState === "connected", timeoutMs, "the libwebrtc peer to reach connectionState 'connected'");
  }

  async stats(): Promise<WrtcStats> {
    const report = await this.pc.getStats();
    const out: WrtcStats = {
      connectionState: this.pc.connectionState,
      inboundByMid: {},
      inboundPackets: 0,
      outboundPackets: 0,
      remoteInbound: { count: 0, packetsLost: 0, roundTripTime: null },
      remoteOutbound: { count: 0, reportsSent: 0 },
      transport: { dtlsState: null, srtpCipher: null, dtlsCipher: null, tlsVersion: null },
    };
    report.forEach((s: Record<string, unknown>) => {
      switch (s.type) {
        case "inbound-rtp": {
          const n = Number(s.packetsReceived ?? 0);
          out.inboundPackets += n;
          if (typeof s.mid === "string") out.inboundByMid[s.mid] = n;
          break;
        }
        case "outbound-rtp":
          out.outboundPackets += Number(s.packetsSent ?? 0);
          break;
        case "remote-inbound-rtp":
          out.remoteInbound.count++;
          out.remoteInbound.packetsLost += Number(s.packetsLost ?? 0);
          if (typeof s.roundTripTime === "number") out.remoteInbound.roundTripTime = s.roundTripTime;
          break;
        case "remote-outbound-rtp":
          out.remoteOutbound.count++;
          out.remoteOutbound.reportsSent += Number(s.reportsSent ?? 0);
          break;
        case "transport":
          out.transport = {
            dtlsState: (s.dtlsState as string | undefined) ?? null,
            srtpCipher: (s.srtpCipher as string | undefined) ?? null,
            dtlsCipher: (s.dtlsCipher as string | undefined) ?? null,
            tlsVersion: (s.tlsVersion as string | undefined) ?? null,
          };
          break;
      }
    });
    return out;
  }

  /** Packets received on the m-line the relay mapped to `peerId`. */
  async packetsFrom(peerId: string): Promise<number> {
    const s = await this.stats();
    let n = 0;
    for (const [mid, p] of this.midToPeer) if (p === peerId) n += s.inboundByMid[mid] ?? 0;
    return n;
  }

  /** Drops everything at once, the way a crashed browser tab does: no leave, no close frame. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.track.stop();
    this.pc.close();
    this.signalling.terminate();
    open.delete(this);
  }
}

/** Keeps only 127.0.0.1 UDP host candidates: tests use loopback only. */
export function loopbackOnly(sdp: string): string {
  return sdp
    .split("\r\n")
    .filter((line) => !line.startsWith("a=candidate:") || / udp \d+ 127\.0\.0\.1 \d+ typ host/i.test(line))
    .join("\r\n");
}
