/**
 * Relay benchmarks: SRTP protection cost, forwarding cost and loss, join time and admitted capacity,
 * measured over 127.0.0.1 with real werift peers, real ffmpeg and real libsodium.
 *
 * Processes (so the relay's CPU is measured apart from the bots'):
 * - the relay runs in its own child process and reports process.cpuUsage() (all its threads: main,
 *   media workers, libuv, GC) and its counters over IPC;
 * - the bots run in two child processes, each with ONE shared AudioSource (one ffmpeg per process)
 *   that every bot in it publishes.
 *
 * Bots: at 10, 20 and 40 every bot is a Participant (SRTP, SFrame, end-to-end keys; loss from its
 * receive statistics). RawBots (below) are only the sinks a capacity run adds beyond the room of
 * 40 to find where admission refuses: same signalling, same SRTP, same packet rate as a
 * Participant for the relay, but no end-to-end encryption; they count what they receive by SSRC
 * and sequence number from the cleartext RTP header.
 *
 * Join time at 20 runs twice, every bot on werift's receive path and then on the lean one
 * (`leanReceive`), and reports both with the ratio (`receive` runs only that).
 *
 * `node dist/bench/relay.js [protect,forward,join,capacity,receive]` prints JSON lines; bench/run.ts calls
 * benchRelay(). BENCH_DEBUG=1 logs progress to stderr.
 */
import { fork, type ChildProcess } from "node:child_process";
import { conclaveNodeFlags } from "../src/client/loadtest.js";
import { fileURLToPath, pathToFileURL } from "node:url";
import { ProtectionProfileAeadAes128Gcm, RTCPeerConnection, RtpHeader, RtpPacket, SrtpSession, type RTCRtpTransceiver } from "werift";
import WebSocket from "ws";
import {
  Relay,
  Participant,
  AudioSource,
  parseAudioSource,
  resolveFfmpeg,
  newInvite,
  parseInvite,
  createLogger,
  defaultLimits,
  type ConclaveEvent,
  type JoinOptions,
  type RelayOptions,
  type RelayLimits,
} from "../src/index.js";
import { createCipheriv, randomBytes } from "node:crypto";
import { UploadCounter } from "../src/server/upload-counter.js";
import { buildPeerConfig, bindAddressFor, OPUS_PAYLOAD_TYPE } from "../src/media/rtc-config.js";
import { parseServerMessage } from "../src/protocol/index.js";
import { KeystreamAhead, SrtpGcmProtector, writeRtpHeader } from "../src/server/srtp-protect.js";
import { SrtpReceiver } from "../src/media/srtp-receive.js";
import { native } from "../src/media/native.js";

/** The node flags bin/conclave runs with (`conclave serve` among its commands). */
const CLI_NODE_FLAGS = conclaveNodeFlags();

const SELF = fileURLToPath(import.meta.url);

// ---------------------------------------------------------------------------------------------
// IPC between the driver and its children

interface Request {
  id: number;
  cmd: string;
  args?: unknown;
}
interface Reply {
  id: number;
  ok: boolean;
  value?: unknown;
  error?: string;
}

/** A child process of a bench: `role` runs in `script` (this file by default), driven over IPC. */
export class Child {
  private readonly proc: ChildProcess;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  readonly exited: Promise<void>;

  constructor(role: string, script = SELF) {
    const extra = role === "relay" ? process.env.BENCH_RELAY_NODE_ARGS : process.env.BENCH_BOTS_NODE_ARGS;
    // The relay runs as `conclave serve` does (bin/conclave's node flags); BENCH_RELAY_NODE_ARGS adds to them.
    const execArgv = [...(role === "relay" ? CLI_NODE_FLAGS : []), ...(extra ? extra.split(" ") : [])];
    // BENCH_CHILD_STDOUT=1 shows what the children print (with node flags such as --trace-gc); stdout is the bench's JSON otherwise.
    const stdout = process.env.BENCH_CHILD_STDOUT === "1" ? "inherit" : "ignore";
    this.proc = fork(script, [role], { stdio: ["ignore", stdout, "inherit", "ipc"], serialization: "advanced", execArgv });
    this.proc.on("message", (m: Reply) => {
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (m.ok) w.resolve(m.value);
      else w.reject(new Error(m.error ?? "child failed"));
    });
    this.exited = new Promise((resolve) => {
      this.proc.once("exit", () => {
        for (const w of this.waiting.values()) w.reject(new Error(`${role} process exited`));
        this.waiting.clear();
        resolve();
      });
    });
  }

  get pid(): number {
    return this.proc.pid ?? 0;
  }

  request<T>(cmd: string, args: unknown, timeoutMs: number): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`${cmd} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.proc.send({ id, cmd, args } satisfies Request);
    });
  }

  /** Ask the child to stop; kill it if it does not exit in time. */
  async stop(timeoutMs = 10_000): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const killer = setTimeout(() => this.proc.kill("SIGKILL"), timeoutMs);
    this.request("stop", undefined, timeoutMs).catch(() => {});
    await this.exited;
    clearTimeout(killer);
  }
}

export function serve(handlers: Record<string, (args: never) => Promise<unknown>>): void {
  process.on("message", (m: Request) => {
    const handler = handlers[m.cmd];
    const reply = (r: Omit<Reply, "id">): void => {
      if (process.connected) process.send!({ id: m.id, ...r });
    };
    if (!handler) {
      reply({ ok: false, error: `unknown command ${m.cmd}` });
      return;
    }
    handler(m.args as never).then(
      (value) => reply({ ok: true, value }),
      (err: Error) => reply({ ok: false, error: err.message }),
    );
  });
  process.on("disconnect", () => process.exit(0));
}

export interface Cpu {
  user: number;
  system: number;
}

// ---------------------------------------------------------------------------------------------
// Relay child

export interface RelaySample {
  cpu: Cpu;
  atMs: number;
  forwarded: number;
  received: number;
  uploadLost: number;
  uploadExpected: number;
  participants: number;
  refused: number;
  estimatedPps: number;
  /** The video part of the admission estimate, video packets/s (not weighted). */
  estimatedVideoPps: number;
  engineLoads: number[];
  /** Packets resent in answer to subscribers' NACKs. */
  retransmitted: number;
}

function relayChild(): void {
  let relay: Relay | undefined;
  if (process.env.BENCH_DEBUG) {
    let last = performance.now();
    setInterval(() => {
      const now = performance.now();
      if (now - last > 500) process.stderr.write(`[relay] main thread blocked ${Math.round(now - last)} ms\n`);
      last = now;
    }, 100).unref();
  }
  serve({
    start: async (args: { workers?: number; forwarding?: "lean" | "generic"; limits?: Partial<RelayLimits>; videoRepair?: boolean; leanUploads?: boolean; nativeSend?: boolean }) => {
      const options: RelayOptions = { host: "127.0.0.1", port: 0 };
      if (process.env.BENCH_DEBUG) options.logger = createLogger("info");
      if (args.workers !== undefined) options.workers = args.workers;
      if (args.forwarding) options.forwarding = args.forwarding;
      if (args.limits) options.limits = args.limits;
      if (args.videoRepair !== undefined) options.videoRepair = args.videoRepair;
      if (args.leanUploads !== undefined) options.leanUploads = args.leanUploads;
      if (args.nativeSend !== undefined) options.nativeSend = args.nativeSend;
      relay = new Relay(options);
      const url = await relay.start();
      return { url, engines: relay.stats.engines };
    },
    /** Put the admission limits back to their defaults (capacity runs fill a room first). */
    defaultAdmission: async () => {
      const { maxForwardedPacketsPerSecond, maxEngineLoad, maxParticipantsPerRoom, maxParticipants } = defaultLimits;
      Object.assign(relay!.limits, { maxForwardedPacketsPerSecond, maxEngineLoad, maxParticipantsPerRoom, maxParticipants });
      return { maxForwardedPacketsPerSecond, maxEngineLoad };
    },
    sample: async (): Promise<RelaySample> => {
      const s = await relay!.collectStats();
      return {
        cpu: process.cpuUsage(),
        atMs: performance.now(),
        forwarded: s.forwardedPackets,
        received: s.receivedPackets,
        uploadLost: s.uploadLost,
        uploadExpected: s.uploadExpected,
        participants: s.participants,
        refused: s.refusedJoins,
        estimatedPps: s.estimatedPacketsPerSecond,
        estimatedVideoPps: s.estimatedVideoPacketsPerSecond,
        engineLoads: s.perEngine.map((e) => e.load),
        retransmitted: s.retransmittedPackets,
      };
    },
    /** CPU profile of the relay's main thread for `ms` (use with workers: 0), written to `path`. */
    profile: async (args: { ms: number; path: string }) => {
      const { Session } = await import("node:inspector");
      const { writeFileSync } = await import("node:fs");
      const session = new Session();
      session.connect();
      const post = (method: string, params?: object): Promise<unknown> =>
        new Promise((resolve, reject) => session.post(method, params, (err, res) => (err ? reject(err) : resolve(res))));
      await post("Profiler.enable");
      await post("Profiler.start");
      await new Promise((r) => setTimeout(r, args.ms));
      const { profile } = (await post("Profiler.stop")) as { profile: unknown };
      writeFileSync(args.path, JSON.stringify(profile));
      session.disconnect();
      return args.path;
    },
    stop: async () => {
      await relay?.close();
      setImmediate(() => process.exit(0));
      return true;
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Bots child

/** Per-SSRC RTP counters of a sink bot, read from cleartext RTP headers. */
class Sink {
  readonly streams = new Map<number, UploadCounter>();

  /** Wrap every UDP transport under `pc` so RTP is counted and dropped before werift sees it. */
  static install(pc: RTCPeerConnection): Sink {
    const sink = new Sink();
    for (const dtls of pc.dtlsTransports) {
      const connection = dtls.iceTransport.connection as unknown as { protocols?: { transport?: { onData?: (d: Buffer, a: unknown) => void } }[] };
      for (const protocol of connection.protocols ?? []) {
        const transport = protocol.transport;
        const original = transport?.onData;
        if (!transport || !original) continue;
        transport.onData = (data: Buffer, addr: unknown) => {
          // RFC 5761 §4 / RFC 7983: RTP if the first byte is 128..191 and the second is not an RTCP type.
          const b0 = data[0]!;
          const b1 = data[1]!;
          if (b0 >= 128 && b0 <= 191 && (b1 < 192 || b1 > 223) && data.length >= 12) {
            sink.record(data.readUInt32BE(8), data.readUInt16BE(2));
            return;
          }
          original(data, addr);
        };
      }
    }
    return sink;
  }

  private record(ssrc: number, seq: number): void {
    let c = this.streams.get(ssrc);
    if (!c) this.streams.set(ssrc, (c = new UploadCounter()));
    c.record(seq);
  }
}

/**
 * A signalling-level bot (capacity runs fill the room with these): joins over the WebSocket, answers the relay's offers with its own werift
 * PeerConnection, publishes the shared source's Opus frames without SFrame, and counts what it
 * receives (Sink). No end-to-end encryption, hence no keys, envelopes or safety numbers: the
 * Participants in the same room see it as a member that never said hello and cannot decrypt it.
 * The relay cannot tell it from a Participant: same signalling, same SRTP, same packet rate.
 */
class RawBot {
  readonly pc: RTCPeerConnection;
  private upload: RTCRtpTransceiver | undefined;
  private readonly ws: WebSocket;
  private chain: Promise<void> = Promise.resolve();
  /** Progress, for the error when a join does not complete. */
  private trace: string[] = [];
  private seq = Math.floor(Math.random() * 0xffff);
  private ts = Math.floor(Math.random() * 0x7fffffff);
  private readonly ssrc = 1 + Math.floor(Math.random() * 0xfffffffe);
  sink: Sink | undefined;
  sent = 0;
  peerId = "";

  private constructor(invite: string) {
    const parsed = parseInvite(invite);
    const bind = bindAddressFor(new URL(parsed.server).hostname);
    this.pc = new RTCPeerConnection(buildPeerConfig(bind ? { bindAddress: bind } : {}));
    this.ws = new WebSocket(parsed.signalling);
    this.roomId = parsed.room;
  }

  private readonly roomId: string;

  static async join(invite: string, timeoutMs: number): Promise<RawBot> {
    const bot = new RawBot(invite);
    await bot.connect(timeoutMs).catch(async (err: unknown) => {
      await bot.close();
      throw err;
    });
    return bot;
  }

  private connect(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`raw bot did not connect within ${timeoutMs} ms (${this.trace.join(", ")}; ${this.pc.connectionState})`)),
        timeoutMs,
      );
      this.pc.connectionStateChange.subscribe((state) => {
        if (state === "connected") {
          clearTimeout(timer);
          resolve();
        }
      });
      this.ws.on("open", () => this.ws.send(JSON.stringify({ type: "join", v: 1, room: this.roomId })));
      this.ws.on("error", (err) => reject(err));
      this.ws.on("close", () => reject(new Error("the relay closed the connection while joining")));
      this.ws.on("message", (data) => {
        let m;
        try {
          m = parseServerMessage(String(data));
        } catch {
          return;
        }
        if (m.type !== "relay") this.trace.push(m.type);
        if (m.type === "welcome") this.peerId = m.peerId;
        else if (m.type === "error" && m.fatal) reject(new Error(`the relay refused to join: ${m.message} (${m.code})`));
        else if (m.type === "offer") {
          const { sdp, tracks } = m;
          this.chain = this.chain
            .then(() => this.answer(sdp, new Set(tracks.map((t) => t.mid))))
            .catch((err: Error) => void this.trace.push(`answer failed: ${err.message}`));
        }
      });
    });
  }

  private async answer(sdp: string, downlinks: Set<string>): Promise<void> {
    const renegotiation = this.pc.remoteDescription !== undefined && this.pc.remoteDescription !== null;
    if (renegotiation && this.pc.connectionState !== "connected") {
      // werift corrupts m-line ids if a renegotiation lands before it is connected.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 20_000);
        const sub = this.pc.connectionStateChange.subscribe((state) => {
          if (state === "connected") {
            clearTimeout(timer);
            sub.unSubscribe();
            resolve();
          }
        });
      });
    }
    await this.pc.setRemoteDescription({ type: "offer", sdp });
    if (!this.upload) {
      this.upload = this.pc.getTransceivers().find((t) => t.mid !== null && !downlinks.has(t.mid));
      this.upload?.setDirection("sendonly");
    }
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    if (!this.sink) this.sink = Sink.install(this.pc);
    this.ws.send(JSON.stringify({ type: "answer", sdp: this.pc.localDescription!.sdp }));
    this.trace.push("answered");
  }

  sendFrame(opus: Buffer, samples: number): void {
    if (!this.upload) return;
    const header = new RtpHeader({ payloadType: OPUS_PAYLOAD_TYPE, sequenceNumber: this.seq, timestamp: this.ts, ssrc: this.ssrc, marker: false });
    this.seq = (this.seq + 1) & 0xffff;
    this.ts = (this.ts + samples) >>> 0;
    this.sent++;
    void this.upload.sender.sendRtp(new RtpPacket(header, opus)).catch(() => {});
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: "leave" }));
    this.ws.close();
    await this.pc.close().catch(() => {});
  }
}

interface Bot {
  name: string;
  participant: Participant;
}

interface BotSample {
  cpu: Cpu;
  sent: number;
  /** streams: publishers whose RTP arrives; heard: publishers decrypted (full receivers only). */
  receivers: { sink: boolean; streams: number; heard: number; received: number; lost: number; decryptFailures: number }[];
}

/** Receive statistics of every remote a Participant gets RTP from, members or not (bench-only peek). */
function remoteStats(p: Participant): { received: number; lost: number; streams: number } {
  const remotes = (p as unknown as { remotes?: Map<string, { stats: { snapshot(): { packetsReceived: number; packetsLost: number } } }> }).remotes;
  let received = 0;
  let lost = 0;
  let streams = 0;
  for (const r of remotes?.values() ?? []) {
    const snap = r.stats.snapshot();
    received += snap.packetsReceived;
    lost += snap.packetsLost;
    if (snap.packetsReceived > 0) streams++;
  }
  return { received, lost, streams };
}

function botsChild(): void {
  const bots: Bot[] = [];
  const raws: RawBot[] = [];
  let rawsListening = false;
  if (process.env.BENCH_DEBUG) {
    let last = performance.now();
    setInterval(() => {
      const now = performance.now();
      if (now - last > 1000) process.stderr.write(`[bots ${process.pid}] event loop blocked ${Math.round(now - last)} ms with ${bots.length} bots\n`);
      last = now;
    }, 100).unref();
  }
  let source: AudioSource | undefined;
  const ffmpeg = resolveFfmpeg().path;

  const sourceOnce = async (): Promise<AudioSource> => {
    source ??= await AudioSource.open(parseAudioSource("tone:440"), { ffmpeg });
    return source;
  };

  const debugEvents = (name: string): Partial<JoinOptions> =>
    process.env.BENCH_DEBUG
      ? {
          logger: createLogger("warn", undefined, name),
          onEvent: (e: ConclaveEvent) => {
            if (["error", "reconnecting", "reconnected", "left"].includes(e.type)) process.stderr.write(`[${name}] event ${JSON.stringify(e)}\n`);
          },
        }
      : {};

  serve({
    /** Join `count` Participants, `concurrency` at a time, each publishing the shared source. */
    join: async (args: { invite: string; prefix: string; count: number; concurrency: number; leanReceive?: boolean }) => {
      const src = await sourceOnce();
      let next = 0;
      const lane = async (): Promise<void> => {
        while (next < args.count) {
          const name = `${args.prefix}${next++}`;
          const participant = await Participant.join(args.invite, {
            name,
            statsIntervalMs: 0,
            timeoutMs: 60_000,
            ...(args.leanReceive === false ? { leanReceive: false } : {}),
            ...debugEvents(name),
          });
          bots.push({ name, participant });
          await participant.publish(src);
        }
      };
      await Promise.all(Array.from({ length: Math.max(1, args.concurrency) }, lane));
      return bots.length;
    },
    /** Resolve once no bot is still switching to a fresh key after a leave (at most `timeoutMs`). */
    /**
     * Wait until every bot here has seen `gone` leave (when given: the relay's peer-left can still
     * be on its way when the previous joiner's close returns) and no bot is switching keys.
     */
    settle: async (args: { timeoutMs: number; gone?: string }) => {
      const started = performance.now();
      const busy = (): boolean =>
        bots.some((b) => b.participant.e2ee.rekeyPending || (args.gone !== undefined && b.participant.e2ee.members.has(args.gone)));
      while (busy() && performance.now() - started < args.timeoutMs) {
        await new Promise((r) => setTimeout(r, 20));
      }
      return { ms: Math.round(performance.now() - started), settled: !busy() };
    },
    /** Join one more bot and time it until it has decrypted audio from `publishers` others. */
    timedJoin: async (args: { invite: string; name: string; publishers: number; timeoutMs: number; leanReceive?: boolean }) => {
      const heard = new Set<string>();
      let done: (() => void) | undefined;
      const allHeard = new Promise<void>((resolve) => (done = resolve));
      const t0 = performance.now();
      const trace: string[] = [];
      const participant = await Participant.join(args.invite, {
        name: args.name,
        statsIntervalMs: 0,
        timeoutMs: args.timeoutMs,
        ...(args.leanReceive === false ? { leanReceive: false } : {}),
        onEvent: (e: ConclaveEvent) => {
          if (process.env.BENCH_TRACE) trace.push(`${Math.round(performance.now() - t0)} ${e.type}${"peerId" in e ? ` ${String(e.peerId).slice(0, 4)}` : ""}`);
          if (e.type === "first-audio") {
            heard.add(e.peerId);
            if (heard.size >= args.publishers) done?.();
          }
        },
      });
      if (process.env.BENCH_TRACE) {
        // When each member's keys arrive (diagnostics only).
        const e2ee = participant.e2ee as unknown as { installKey: (m: { peerId: string }, g: number, k: Uint8Array) => void };
        const install = e2ee.installKey.bind(e2ee);
        e2ee.installKey = (m, g, k) => {
          trace.push(`${Math.round(performance.now() - t0)} key ${m.peerId.slice(0, 4)}/${g}`);
          install(m, g, k);
        };
        const x = participant.e2ee as unknown as { unknownKid: (m: { peerId: string }, kid: bigint, p: Uint8Array) => unknown };
        const unknown = x.unknownKid.bind(x);
        const seen = new Map<string, string>();
        x.unknownKid = (m, kid, p) => {
          const r = unknown(m, kid, p);
          const tag = `${m.peerId.slice(0, 4)}/${Number(kid & 0xffffffffn)}${r ? "+" : "-"}`;
          if (seen.get(m.peerId) !== tag) {
            seen.set(m.peerId, tag);
            trace.push(`${Math.round(performance.now() - t0)} unknown ${tag}`);
          }
          return r;
        };
      }
      await participant.publish(await sourceOnce());
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<void>((resolve) => (timer = setTimeout(resolve, args.timeoutMs)));
      await Promise.race([allHeard, timedOut]);
      clearTimeout(timer);
      const ms = heard.size >= args.publishers ? performance.now() - t0 : null;
      const peerId = participant.peerId;
      if (process.env.BENCH_TRACE) trace.push(`e2ee ${JSON.stringify(participant.e2ee.stats)}`);
      await participant.close();
      return { ms, heard: heard.size, peerId, ...(process.env.BENCH_TRACE ? { trace } : {}) };
    },
    sample: async (): Promise<BotSample> => {
      let sent = 0;
      const receivers: BotSample["receivers"] = [];
      const sinkSample = (sink: Sink | undefined): BotSample["receivers"][number] => {
        let received = 0;
        let lost = 0;
        for (const c of sink?.streams.values() ?? []) {
          received += c.received;
          lost += c.lost;
        }
        return { sink: true, streams: sink?.streams.size ?? 0, heard: 0, received, lost, decryptFailures: 0 };
      };
      for (const bot of bots) {
        const stats = bot.participant.statsEvent();
        if (stats.type !== "stats") continue;
        sent += stats.sent.packets;
        receivers.push({ sink: false, ...remoteStats(bot.participant), heard: bot.participant.heard.length, decryptFailures: stats.decryptFailures });
      }
      for (const raw of raws) {
        sent += raw.sent;
        receivers.push(sinkSample(raw.sink));
      }
      return { cpu: process.cpuUsage(), sent, receivers };
    },
    /** Join `count` raw bots (RawBot), one after another, publishing the shared source. */
    joinRaw: async (args: { invite: string; count: number }) => {
      const src = await sourceOnce();
      if (!rawsListening) {
        rawsListening = true;
        src.on("frame", (frame) => raws.forEach((r) => r.sendFrame(frame.payload, frame.samples)));
      }
      for (let i = 0; i < args.count; i++) raws.push(await RawBot.join(args.invite, 60_000));
      return raws.length;
    },
    stop: async () => {
      await Promise.all(bots.map((b) => b.participant.close().catch(() => {})));
      await Promise.all(raws.map((r) => r.close().catch(() => {})));
      await source?.close().catch(() => {});
      setImmediate(() => process.exit(0));
      return true;
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Driver

export const round = (x: number, digits = 2): number => Math.round(x * 10 ** digits) / 10 ** digits;

function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * s.length) - 1;
  return s[Math.min(s.length - 1, Math.max(0, rank))]!;
}

export const cpuMs = (a: Cpu, b: Cpu): number => (b.user - a.user + b.system - a.system) / 1000;

export async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/**
 * Timeouts for benchmark relays: 40 bots and the relay share two cores (with whatever else runs
 * on the machine), and a bot process can stall for seconds while a big room renegotiates, so the
 * default 2 s ping interval (a socket that misses two is dropped) and 10 s answer timeout would
 * drop healthy bots. Forwarding does not depend on either.
 */
const BENCH_PING_INTERVAL_MS = 6000;
const BENCH_ANSWER_TIMEOUT_MS = 30_000;
/** Joins in flight per bot process. */
const JOIN_CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 1);

interface Session {
  relay: Child;
  bots: Child[];
  invite: string;
  engines: number;
}

async function openSession(relayArgs: { limits?: Partial<RelayLimits>; [k: string]: unknown }, botProcesses: number): Promise<Session> {
  relayArgs = { ...relayArgs, limits: { pingIntervalMs: BENCH_PING_INTERVAL_MS, answerTimeoutMs: BENCH_ANSWER_TIMEOUT_MS, ...relayArgs.limits } };
  const relay = new Child("relay");
  const bots = Array.from({ length: botProcesses }, () => new Child("bots"));
  try {
    const { url, engines } = await relay.request<{ url: string; engines: number }>("start", relayArgs, 30_000);
    return { relay, bots, invite: newInvite(url), engines };
  } catch (err) {
    await closeSession({ relay, bots, invite: "", engines: 0 });
    throw err;
  }
}

async function closeSession(s: Session): Promise<void> {
  await Promise.all(s.bots.map((b) => b.stop()));
  await s.relay.stop();
}

export interface ForwardScenario {
  participants: number;
  forwarding: "lean" | "generic";
  /** Lean forwarding with werift's receive path for uploads (RelayOptions.leanUploads false), for comparison. */
  weriftUploads?: boolean;
  /** Lean forwarding with the JavaScript protector and dgram instead of the native module (RelayOptions.nativeSend false). */
  jsSend?: boolean;
  /** RawBots (no end-to-end encryption, count without decrypting); the rest are full Participants. */
  raw: number;
  workers?: number;
  measureMs: number;
  /** After measuring, keep adding participants until the relay refuses one, and measure again. */
  fillToCapacity?: boolean;
}

/** Sum of bot samples; `onlyFull` keeps the decrypting receivers only. */
function totals(samples: BotSample[], onlyFull = false): { received: number; lost: number; decryptFailures: number; sent: number } {
  let received = 0;
  let lost = 0;
  let decryptFailures = 0;
  let sent = 0;
  for (const s of samples) {
    sent += s.sent;
    for (const r of s.receivers) {
      if (onlyFull && r.sink) continue;
      received += r.received;
      lost += r.lost;
      decryptFailures += r.decryptFailures;
    }
  }
  return { received, lost, decryptFailures, sent };
}

async function sampleAll(s: Session): Promise<{ relay: RelaySample; bots: BotSample[] }> {
  const [relay, ...bots] = await Promise.all([
    s.relay.request<RelaySample>("sample", undefined, 20_000),
    ...s.bots.map((b) => b.request<BotSample>("sample", undefined, 20_000)),
  ]);
  return { relay: relay as RelaySample, bots: bots as BotSample[] };
}

/**
 * Join `count` bots, one at a time, taking turns across the bot processes: first the
 * Participants (they meet each other in a small room, cheaply), then `raw` RawBots. One join at a
 * time: on two cores a burst of joins starves the bot processes (and the relay) long enough for
 * werift to drop ICE (consent answers must come within 500 ms) or for a join to time out. A join
 * that fails is tried once more; the result counts the retries.
 */
async function joinBots(s: Session, count: number, raw: number, prefix: string): Promise<{ ms: number; retries: number }> {
  const started = Date.now();
  let retries = 0;
  const full = count - raw;
  for (let i = 0; i < count; i++) {
    const bots = s.bots[i % s.bots.length]!;
    const once = (): Promise<unknown> =>
      i >= full
        ? bots.request("joinRaw", { invite: s.invite, count: 1 }, 90_000)
        : bots.request("join", { invite: s.invite, prefix: `${prefix}${i}-`, count: 1, concurrency: 1 }, 90_000);
    try {
      await once();
    } catch (err) {
      if (/overloaded|room-full/.test((err as Error).message)) throw err;
      retries++;
      await once();
    }
  }
  return { ms: Date.now() - started, retries };
}

/**
 * Wait until every receiver gets `streams` streams, or the time is up; returns the streams still
 * missing (0 when the room is complete). A room with a missing stream is still measured: the relay
 * figures stay valid, and the report says what was missing.
 */
async function waitConnected(s: Session, streams: number, full: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { bots } = await sampleAll(s);
    let missing = 0;
    for (const b of bots) {
      for (const r of b.receivers) {
        missing += Math.max(0, streams - r.streams);
        if (!r.sink) missing += Math.max(0, full - 1 - r.heard);
      }
    }
    if (process.env.BENCH_DEBUG) {
      process.stderr.write(`[bench] streams per receiver ${JSON.stringify(bots.map((b) => b.receivers.map((r) => (r.sink ? r.streams : `${r.streams}/${r.heard}`))))}\n`);
    }
    if (missing === 0 || Date.now() > deadline) return missing;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** Relay CPU, forwarding rate and loss over `ms` of steady state. */
async function measure(s: Session, ms: number): Promise<Record<string, unknown>> {
  const a = await sampleAll(s);
  await new Promise((r) => setTimeout(r, ms));
  const b = await sampleAll(s);
  const seconds = (b.relay.atMs - a.relay.atMs) / 1000;
  const forwarded = b.relay.forwarded - a.relay.forwarded;
  const received = b.relay.received - a.relay.received;
  const relayCpuMs = cpuMs(a.relay.cpu, b.relay.cpu);
  const usPerPacket = (relayCpuMs * 1000) / Math.max(1, forwarded);
  const lossPct = (x: ReturnType<typeof totals>, y: ReturnType<typeof totals>): number => {
    const got = y.received - x.received;
    const lost = Math.max(0, y.lost - x.lost);
    return round((100 * lost) / Math.max(1, got + lost), 3);
  };
  const botCpuMs = b.bots.reduce((sum, x, i) => sum + cpuMs(a.bots[i]!.cpu, x.cpu), 0);
  const n = b.relay.participants;
  return {
    participants: n,
    streams: n * (n - 1),
    seconds: round(seconds, 1),
    forwardedPps: Math.round(forwarded / seconds),
    expectedPps: n * (n - 1) * 50,
    usPerPacket: round(usPerPacket),
    packetsPerSecondPerCore: Math.round(1e6 / usPerPacket),
    relayCores: round(relayCpuMs / 1000 / seconds),
    relayEngineLoad: b.relay.engineLoads,
    // Relay side: uploads missing by sequence number; forwards per upload (n−1 when complete).
    relayUploadLossPct: round((100 * Math.max(0, b.relay.uploadLost - a.relay.uploadLost)) / Math.max(1, b.relay.uploadExpected - a.relay.uploadExpected), 3),
    relayFanout: round(forwarded / Math.max(1, received), 2),
    // Receiver side: every receiver (sinks count sequence gaps without decrypting), and the full ones.
    lossPct: lossPct(totals(a.bots), totals(b.bots)),
    fullReceiverLossPct: lossPct(totals(a.bots, true), totals(b.bots, true)),
    decryptFailures: totals(b.bots).decryptFailures - totals(a.bots).decryptFailures,
    botCores: round(botCpuMs / 1000 / seconds),
  };
}

/**
 * How long a forward run lets the full room run before it measures (BENCH_WARMUP_MS overrides).
 * A relay runs for days; in its first seconds the code that runs a few times a second (reports,
 * consent checks) is not yet optimised and start-up garbage is still being collected.
 */
const FORWARD_WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 5000);

/** Runs of the shipping relay configuration per room size (the median is reported). */
const FORWARD_RUNS = 3;

/** How long the join bench measures the sitting participants' receive CPU before the joins. */
const SITTERS_WINDOW_MS = 4000;

/** Bot processes: two, so the bots' CPU is spread over both cores as the relay's is. */
const BOT_PROCESSES = 2;

export async function runForward(sc: ForwardScenario): Promise<Record<string, unknown>[]> {
  const n = sc.participants;
  const started = Date.now();
  // Admission is off while the room fills (the measured-load guard could refuse joins on a shared
  // machine before the room is complete); a capacity run puts the defaults back afterwards.
  const limits: Partial<RelayLimits> = { maxForwardedPacketsPerSecond: 1e9, maxParticipantsPerRoom: 1000, maxEngineLoad: 1 };
  const session = await openSession(
    { forwarding: sc.forwarding, ...(sc.weriftUploads ? { leanUploads: false } : {}), ...(sc.jsSend ? { nativeSend: false } : {}), ...(sc.workers !== undefined ? { workers: sc.workers } : {}), limits },
    BOT_PROCESSES,
  );
  const out: Record<string, unknown>[] = [];
  try {
    const { ms: joinedMs, retries: joinRetries } = await joinBots(session, n, sc.raw, "b");
    const missing = await waitConnected(session, n - 1, n - sc.raw, 45_000);
    const connectedMs = Date.now() - started;
    await new Promise((r) => setTimeout(r, FORWARD_WARMUP_MS));
    if (process.env.BENCH_PROFILE) {
      await session.relay.request("profile", { ms: 5000, path: process.env.BENCH_PROFILE }, 20_000);
    }
    out.push({
      type: "bench",
      name: "relay-forward",
      forwarding: sc.forwarding,
      uploads: sc.forwarding === "lean" && !sc.weriftUploads ? "lean" : "werift",
      send: sc.forwarding === "generic" ? "werift" : sc.jsSend ? "javascript" : "native",
      engines: session.engines,
      receivers: { participants: n - sc.raw, rawBots: sc.raw },
      ...(await measure(session, sc.measureMs)),
      warmupMs: FORWARD_WARMUP_MS,
      joinAllMs: joinedMs,
      joinRetries,
      connectedMs,
      streamsMissing: missing,
    });
    if (sc.fillToCapacity) out.push(await fill(session, n, n - sc.raw, sc.measureMs));
  } finally {
    await closeSession(session);
  }
  return out;
}

/**
 * Admission: with the relay's default limits, add sink bots to the room one at a time until the
 * relay refuses one with `overloaded`, then measure the calls it carries at that capacity.
 */
async function fill(s: Session, from: number, full: number, measureMs: number): Promise<Record<string, unknown>> {
  const limits = await s.relay.request<{ maxForwardedPacketsPerSecond: number; maxEngineLoad: number }>("defaultAdmission", undefined, 5_000);
  let admitted = from;
  let refusedWith: string | null = null;
  for (let i = 0; i < 20 && refusedWith === null; i++) {
    const bots = s.bots[i % s.bots.length]!;
    try {
      await bots.request("joinRaw", { invite: s.invite, count: 1 }, 60_000);
      admitted++;
    } catch (err) {
      const m = (err as Error).message;
      refusedWith = m;
    }
  }
  const missing = await waitConnected(s, admitted - 1, full, 30_000);
  await new Promise((r) => setTimeout(r, 1000));
  const m = await measure(s, measureMs);
  const relay = (await sampleAll(s)).relay;
  return {
    type: "bench",
    name: "relay-capacity",
    limits,
    refusedWith,
    refusedJoins: relay.refused,
    admittedParticipants: relay.participants,
    admittedEstimatedPps: relay.estimatedPps,
    engines: s.engines,
    ...m,
    streamsMissing: missing,
  };
}

/**
 * Join time at `participants`. `afterLeave`: each join starts as soon as the previous joiner has
 * left (every member is still switching to a fresh key for that leave, and the newcomer's audio
 * waits for that switch, ≤ 1 s); otherwise each join waits until the room has settled from the
 * previous leave (no member switching keys), which is the join the issue's target is about.
 */
export async function runJoinTime(participants: number, samples: number, afterLeave = false, leanReceive = true): Promise<Record<string, unknown>> {
  const session = await openSession({}, BOT_PROCESSES);
  try {
    const [sitters, joiner] = session.bots as [Child, Child];
    const others = participants - 1;
    if (others > 0) {
      await sitters.request("join", { invite: session.invite, prefix: "sit-", count: others, concurrency: JOIN_CONCURRENCY, leanReceive }, 120_000);
      await waitUntil(
        async () => {
          const x = await sitters.request<BotSample>("sample", undefined, 10_000);
          return x.receivers.every((r) => r.streams >= others - 1);
        },
        60_000,
        "the sitting participants to hear each other",
      );
    }
    // The sitters' process receiving the room (others × (others − 1) streams) before the joins: CPU
    // per received packet, and the share of a core it is busy (what the newcomer's answers wait behind).
    let sitters_: { cores: number; usPerPacket: number; packetsPerSecond: number } | null = null;
    if (others > 1) {
      const a = await sitters.request<BotSample>("sample", undefined, 10_000);
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, SITTERS_WINDOW_MS));
      const b = await sitters.request<BotSample>("sample", undefined, 10_000);
      const seconds = (performance.now() - t0) / 1000;
      const received = totals([b]).received - totals([a]).received;
      const cpu = cpuMs(a.cpu, b.cpu);
      sitters_ = { cores: round(cpu / 1000 / seconds), usPerPacket: round((cpu * 1000) / Math.max(1, received)), packetsPerSecond: Math.round(received / seconds) };
    }
    const times: number[] = [];
    let failures = 0;
    let gone: string | undefined;
    for (let i = 0; i < samples; i++) {
      if (!afterLeave && others > 0) await sitters.request("settle", { timeoutMs: 5000, ...(gone ? { gone } : {}) }, 10_000);
      const r = await joiner.request<{ ms: number | null; peerId: string; trace?: string[] }>(
        "timedJoin",
        { invite: session.invite, name: `joiner${i}`, publishers: others, timeoutMs: 15_000, leanReceive },
        40_000,
      );
      gone = r.peerId;
      if (r.ms === null) failures++;
      else times.push(r.ms);
      if (r.trace) process.stderr.write(`[join ${i}] ${Math.round(r.ms ?? -1)} ms: ${r.trace.join(", ")}\n`);
    }
    return {
      type: "bench",
      name: afterLeave ? "join-time-after-leave" : "join-time",
      receivePath: leanReceive ? "lean" : "werift",
      participants,
      samples: times.length,
      failures,
      p50Ms: Math.round(percentile(times, 50)),
      p95Ms: Math.round(percentile(times, 95)),
      maxMs: Math.round(Math.max(...times)),
      // Every sample in join order: the first is the joiner process's cold start.
      samplesMs: times.map((t) => Math.round(t)),
      engines: session.engines,
      sitters: sitters_,
      definition: `Participant.join start to first decrypted audio from every other publisher, ${afterLeave ? "right after the previous joiner left" : "into a room settled from the previous leave"}`,
    };
  } finally {
    await closeSession(session);
  }
}

/**
 * Join time at `participants` with every bot on werift's receive path (`leanReceive: false`), then
 * on the lean one (the default), same run; emits both and returns the comparison.
 */
export async function joinTimeByReceivePath(participants: number, samples: number, emit: (r: Record<string, unknown>) => void): Promise<Record<string, unknown>> {
  const werift = await runJoinTime(participants, samples, false, false);
  emit(werift);
  const lean = await runJoinTime(participants, samples, false, true);
  emit(lean);
  const sitters = (r: Record<string, unknown>): { cores: number; usPerPacket: number } | null => r.sitters as { cores: number; usPerPacket: number } | null;
  return {
    type: "bench",
    name: "join-time-receive-path",
    participants,
    weriftP50Ms: werift.p50Ms,
    weriftP95Ms: werift.p95Ms,
    leanP50Ms: lean.p50Ms,
    leanP95Ms: lean.p95Ms,
    p95Ratio: round((werift.p95Ms as number) / (lean.p95Ms as number)),
    weriftSitterCores: sitters(werift)?.cores ?? null,
    leanSitterCores: sitters(lean)?.cores ?? null,
    weriftSitterUsPerPacket: sitters(werift)?.usPerPacket ?? null,
    leanSitterUsPerPacket: sitters(lean)?.usPerPacket ?? null,
    sitterCpuRatio: sitters(werift) && sitters(lean) ? round(sitters(werift)!.usPerPacket / sitters(lean)!.usPerPacket) : null,
  };
}

/**
 * SRTP protection of one 100-byte audio payload: the lean path's JavaScript AES-GCM (one long-lived
 * ECB context, table GHASH, keystream prepared ahead), the native module's OpenSSL GCM (when built:
 * src/media/native.ts) and a node:crypto GCM context per packet, same run.
 * Both wrap around at 65536 packets with ROC 0: the figures are for timing only.
 */
export function benchSrtpProtect(): Record<string, unknown> {
  const key = randomBytes(16);
  const salt = randomBytes(12);
  const payload = randomBytes(100);
  const lean = new SrtpGcmProtector(key, salt);
  const ahead = new KeystreamAhead();
  const header = Buffer.alloc(12);
  let seq = 0;
  // As the relay forwards: consecutive sequence numbers, keystream prepared ahead.
  const leanOp = (): void => {
    seq = (seq + 1) & 0xffff;
    lean.protect(false, 111, seq, seq * 960, 0x1234, 0, payload, ahead);
  };
  const iv = Buffer.alloc(12);
  const nodeOp = (): void => {
    seq = (seq + 1) & 0xffff;
    writeRtpHeader(header, false, 111, seq, seq * 960, 0x1234);
    iv.writeUInt16BE(seq, 10);
    const c = createCipheriv("aes-128-gcm", key, iv);
    c.setAAD(header);
    const body = c.update(payload);
    c.final();
    Buffer.concat([header, body, c.getAuthTag()]);
  };
  const time = (op: () => void, ms: number): number => {
    let calls = 0;
    const start = process.hrtime.bigint();
    const limit = start + BigInt(ms) * 1_000_000n;
    let now = start;
    while (now < limit) {
      for (let i = 0; i < 256; i++) op();
      calls += 256;
      now = process.hrtime.bigint();
    }
    return Number(now - start) / 1000 / calls;
  };
  const n = native();
  const context = n?.gcmContext(key, salt);
  const out = Buffer.alloc(12 + payload.length + 16);
  const nativeOp = (): void => {
    seq = (seq + 1) & 0xffff;
    n!.seal(context!, 111, seq, seq * 960, 0x1234, 0, payload, out);
  };
  time(leanOp, 200);
  time(nodeOp, 200);
  if (n) time(nativeOp, 200);
  const a: number[] = [];
  const b: number[] = [];
  const c: number[] = [];
  for (let r = 0; r < 7; r++) {
    a.push(time(leanOp, 150));
    b.push(time(nodeOp, 150));
    if (n) c.push(time(nativeOp, 150));
  }
  const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
  return {
    type: "bench",
    name: "srtp-protect",
    payloadBytes: payload.length,
    usPerPacket: round(median(a), 3),
    nodeGcmUsPerPacket: round(median(b), 3),
    ratio: round(median(b) / median(a)),
    // The native module's seal (no send): null when it is not built.
    nativeUsPerPacket: n ? round(median(c), 3) : null,
    nativeRatio: n ? round(median(a) / median(c)) : null,
  };
}

/**
 * The relay's receive path of one audio upload packet (100-byte payload, as participants send them:
 * protected by werift's SRTP context): the lean path (src/media/srtp-receive.ts: demultiplex,
 * replay check, one AES-GCM decryption, on the native module when built and on node:crypto) vs
 * werift's SRTP decrypt and RTP parse, same run. The
 * werift figure is only the part of its receive path that does the same job: in the relay werift
 * also probes for STUN, demultiplexes DTLS, routes the packet and keeps receiver statistics.
 */
export function benchSrtpUnprotect(): Record<string, unknown> {
  const ssrc = 0x1234;
  const key = randomBytes(16);
  const salt = randomBytes(12);
  const other = { key: randomBytes(16), salt: randomBytes(12) };
  const publisher = new SrtpSession({
    keys: { localMasterKey: key, localMasterSalt: salt, remoteMasterKey: other.key, remoteMasterSalt: other.salt },
    profile: ProtectionProfileAeadAes128Gcm,
  });
  const relayConfig = {
    keys: { localMasterKey: other.key, localMasterSalt: other.salt, remoteMasterKey: key, remoteMasterSalt: salt },
    profile: ProtectionProfileAeadAes128Gcm,
  };
  const packets = Array.from({ length: 4096 }, (_, i) =>
    publisher.encrypt(randomBytes(100), new RtpHeader({ payloadType: 111, sequenceNumber: 1000 + i, timestamp: i * 960, ssrc })),
  );
  let sink = 0;
  const leanRound = (useNative: boolean): number => {
    const cipher = new SrtpSession(relayConfig).remoteContext.cipher;
    const input = SrtpReceiver.withKeys({ sessionKey: cipher.srtpSessionKey, sessionSalt: cipher.srtpSessionSalt }, { native: useNative });
    input.add(ssrc, (_m, seq) => (sink += seq));
    const start = process.hrtime.bigint();
    for (const p of packets) input.receive(p);
    return Number(process.hrtime.bigint() - start) / 1000 / packets.length;
  };
  const withNative = native() !== undefined;
  const weriftRound = (): number => {
    const session = new SrtpSession(relayConfig);
    const start = process.hrtime.bigint();
    for (const p of packets) sink += RtpPacket.deSerialize(session.decrypt(p)).header.sequenceNumber;
    return Number(process.hrtime.bigint() - start) / 1000 / packets.length;
  };
  leanRound(withNative);
  leanRound(false);
  weriftRound();
  const a: number[] = [];
  const b: number[] = [];
  const c: number[] = [];
  for (let r = 0; r < 15; r++) {
    a.push(leanRound(withNative));
    b.push(weriftRound());
    c.push(leanRound(false));
  }
  const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
  if (sink === 0) throw new Error("no packet was delivered");
  return {
    type: "bench",
    name: "srtp-unprotect",
    payloadBytes: 100,
    // The lean path as the relay runs it (native GCM when built), the same path on node:crypto, werift.
    gcm: withNative ? "native" : "node:crypto",
    usPerPacket: round(median(a), 3),
    nodeCryptoUsPerPacket: round(median(c), 3),
    weriftUsPerPacket: round(median(b), 3),
    ratio: round(median(b) / median(a)),
    nativeRatio: withNative ? round(median(c) / median(a)) : null,
  };
}

export interface RelayBenchOptions {
  /** Run only these parts. */
  only?: ("protect" | "forward" | "join" | "capacity" | "receive")[];
  measureMs?: number;
}

export async function benchRelay(options: RelayBenchOptions = {}): Promise<Array<Record<string, unknown>>> {
  const only = new Set(options.only ?? ["protect", "forward", "join", "capacity"]);
  const measureMs = options.measureMs ?? 8000;
  const results: Array<Record<string, unknown>> = [];
  const emit = (r: Record<string, unknown>): void => {
    results.push(r);
    if (process.env.BENCH_DEBUG) process.stderr.write(`[bench] ${JSON.stringify(r)}\n`);
  };
  const guarded = async (what: string, run: () => Promise<void>): Promise<void> => {
    try {
      await run();
    } catch (err) {
      emit({ type: "bench-error", name: what, error: (err as Error).message });
    }
  };
  if (only.has("protect")) {
    emit(benchSrtpProtect());
    emit(benchSrtpUnprotect());
  }
  if (only.has("forward")) {
    // Lean vs generic in the same run, same room size, full (decrypting) receivers.
    for (const n of [10, 20]) {
      await guarded(`relay-forward-${n}`, async () => {
        const [generic] = await runForward({ participants: n, forwarding: "generic", raw: 0, measureMs });
        const [leanSend] = await runForward({ participants: n, forwarding: "lean", weriftUploads: true, jsSend: true, raw: 0, measureMs });
        const [leanJs] = await runForward({ participants: n, forwarding: "lean", jsSend: true, raw: 0, measureMs });
        // The relay as it ships, FORWARD_RUNS times: the run with the median figure is reported, with
        // every run's figure beside it (on this VM a run's figure moves by about ±1 µs at 10 participants).
        const runs: Record<string, unknown>[] = [];
        for (let i = 0; i < FORWARD_RUNS; i++) runs.push((await runForward({ participants: n, forwarding: "lean", raw: 0, measureMs }))[0]!);
        runs.sort((a, b) => (a.usPerPacket as number) - (b.usPerPacket as number));
        const lean = { ...runs[Math.floor(runs.length / 2)]!, runsUsPerPacket: runs.map((r) => r.usPerPacket) };
        emit(generic!);
        emit(leanSend!);
        emit(leanJs!);
        emit(lean!);
        const us = (r: Record<string, unknown>): number => r.usPerPacket as number;
        emit({
          type: "bench",
          name: "relay-forward-ratio",
          participants: n,
          genericUsPerPacket: us(generic!),
          leanSendOnlyUsPerPacket: us(leanSend!),
          leanJsUsPerPacket: us(leanJs!),
          leanUsPerPacket: us(lean!),
          ratio: round(us(generic!) / us(lean!)),
          // Lean uploads against werift's receive path, both with the JavaScript send path.
          leanUploadsRatio: round(us(leanSend!) / us(leanJs!)),
          // The native send path against the JavaScript protector and dgram, everything else equal.
          nativeSendRatio: round(us(leanJs!) / us(lean!)),
        });
      });
    }
  }
  if (only.has("forward") || only.has("capacity")) {
    // 40 publishing participants, then filled to the default admission limit.
    await guarded("relay-forward-40", async () => {
      for (const r of await runForward({ participants: 40, forwarding: "lean", raw: 0, measureMs, fillToCapacity: only.has("capacity") })) emit(r);
    });
  }
  if (only.has("join")) {
    await guarded("join-time-2", async () => emit(await runJoinTime(2, 10)));
    await guarded("join-time-20", async () => emit(await joinTimeByReceivePath(20, 8, emit)));
    await guarded("join-time-2-after-leave", async () => emit(await runJoinTime(2, 10, true)));
    await guarded("join-time-20-after-leave", async () => emit(await runJoinTime(20, 8, true)));
  } else if (only.has("receive")) {
    // Only the receive-path comparison of the join at 20.
    await guarded("join-time-20", async () => emit(await joinTimeByReceivePath(20, 8, emit)));
  }
  return results;
}

// ---------------------------------------------------------------------------------------------

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) {
  const role = process.argv[2];
  if (role === "relay") relayChild();
  else if (role === "bots") botsChild();
  else {
    const only = role ? (role.split(",") as RelayBenchOptions["only"]) : undefined;
    for (const r of await benchRelay(only ? { only } : {})) process.stdout.write(`${JSON.stringify(r)}\n`);
  }
}
