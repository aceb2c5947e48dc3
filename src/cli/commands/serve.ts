import { InvalidArgumentError, Option, type Command } from "commander";
import { Relay } from "../../server/index.js";
import { createOutput } from "../output.js";
import { makeLogger, parsePort, parsePortRange, parsePositiveInt, readPem, waitForStop } from "../common.js";
import { UsageError } from "../../errors.js";
import { readOperatorPublicKeys } from "../../client/operator-key.js";
import type { CliContext } from "../commands.js";
import { PcapWriter } from "../../media/index.js";

export function registerServe(program: Command, ctx: CliContext): void {
  program
    .command("serve")
    .description("run a relay: WebSocket signalling and an SFU that forwards media it cannot read")
    .option("--host <address>", "address to listen on", "127.0.0.1")
    .option("--port <port>", "TCP port for signalling (0 picks a free one)", parsePort, 8443)
    .option("--public-ip <ip>", "address to advertise in ICE candidates besides the bound one")
    .option("--rtc-ports <min-max>", "UDP port range for media", parsePortRange)
    .option("--max-participants <n>", "participants across the relay before new joins are refused", parsePositiveInt("--max-participants"))
    .option("--max-rooms <n>", "rooms open at once", parsePositiveInt("--max-rooms"))
    .option("--max-room-size <n>", "participants in one room", parsePositiveInt("--max-room-size"))
    .option("--max-packet-rate <n>", "forwarded packets per second admitted before new joins are refused", parsePositiveInt("--max-packet-rate", 10_000_000))
    .option("--max-load <fraction>", "refuse joins while the busiest media worker is busier than this (0-1)", parseFraction)
    .option("--workers <n>", "media worker threads (default: one per core; 0 runs media in the main thread)", parseCount)
    .option("--video-packet-cost <n>", "what one forwarded video packet counts for in --max-packet-rate, in audio packets (default 3)", parsePacketCost)
    .option("--no-video-repair", "do not keep recent video to resend what subscribers report lost (NACK)")
    .option("--tls-cert <file>", "serve https/wss with this certificate (PEM); invite links then use https")
    .option("--tls-key <file>", "private key (PEM) for --tls-cert")
    .option("--auth <file>", "require signed join tokens from these operator keys (conclave token keygen)")
    .option("--pcap <file>", "write every forwarded RTP packet (SFrame ciphertext) to a pcap file, for audits")
    .addOption(new Option("--json", "write JSON lines"))
    .action(async (opts: {
      host: string;
      port: number;
      publicIp?: string;
      rtcPorts?: [number, number];
      maxParticipants?: number;
      maxRooms?: number;
      maxRoomSize?: number;
      pcap?: string;
      json?: boolean;
      tlsCert?: string;
      tlsKey?: string;
      auth?: string;
      maxPacketRate?: number;
      maxLoad?: number;
      workers?: number;
      videoPacketCost?: number;
      videoRepair: boolean;
    }) => {
      if (Boolean(opts.tlsCert) !== Boolean(opts.tlsKey)) throw new UsageError("--tls-cert and --tls-key go together");
      const out = createOutput(Boolean(opts.json));
      ctx.setOutput(out);
      const log = makeLogger(ctx.debug);
      const pcap = opts.pcap ? PcapWriter.open(opts.pcap) : undefined;
      const relay = new Relay({
        host: opts.host,
        port: opts.port,
        ...(opts.publicIp ? { publicIp: opts.publicIp } : {}),
        ...(opts.rtcPorts ? { rtcPorts: opts.rtcPorts } : {}),
        limits: {
          ...(opts.maxParticipants ? { maxParticipants: opts.maxParticipants } : {}),
          ...(opts.maxRooms ? { maxRooms: opts.maxRooms } : {}),
          ...(opts.maxRoomSize ? { maxParticipantsPerRoom: opts.maxRoomSize } : {}),
          ...(opts.maxPacketRate ? { maxForwardedPacketsPerSecond: opts.maxPacketRate } : {}),
          ...(opts.maxLoad !== undefined ? { maxEngineLoad: opts.maxLoad } : {}),
          ...(opts.videoPacketCost !== undefined ? { videoPacketCost: opts.videoPacketCost } : {}),
        },
        videoRepair: opts.videoRepair,
        logger: log.child("relay"),
        ...(opts.workers !== undefined ? { workers: opts.workers } : {}),
        ...(opts.auth ? { auth: { operatorPublicKeys: readOperatorPublicKeys(opts.auth) } } : {}),
        ...(opts.tlsCert && opts.tlsKey ? { tls: { cert: readPem(opts.tlsCert, "TLS certificate"), key: readPem(opts.tlsKey, "TLS key") } } : {}),
        ...(pcap ? { onForward: (_peer: string, rtp: { serialize(): Buffer }) => pcap.write(rtp.serialize()) } : {}),
      });
      relay.on("peer-joined", (e) => out.event({ type: "peer-joined", room: e.room, peerId: e.peerId }));
      relay.on("peer-left", (e) => out.event({ type: "peer-left", room: e.room, peerId: e.peerId, reason: e.reason }));
      relay.on("refused", (e) => out.event({ type: "refused", room: e.room, code: e.code }));
      const url = await relay.start();
      if (opts.json) {
        // What the relay admits, as it will enforce it (defaults filled in).
        const l = relay.limits;
        out.event({
          type: "listening",
          url,
          admission: { maxParticipants: l.maxParticipants, maxRooms: l.maxRooms, maxRoomSize: l.maxParticipantsPerRoom, maxPacketRate: l.maxForwardedPacketsPerSecond, videoPacketCost: l.videoPacketCost, maxLoad: l.maxEngineLoad },
          videoRepair: relay.videoRepair,
        });
      }
      else process.stdout.write(`conclave relay listening on ${url} (create a room: conclave room new --server ${url})\n`);
      await waitForStop(undefined);
      await relay.close();
      pcap?.close();
      out.event({ type: "stopped", forwardedPackets: relay.stats.forwardedPackets });
    });
}

function parseFraction(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 1) throw new InvalidArgumentError("must be a number above 0 and at most 1");
  return n;
}

function parsePacketCost(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0.1 || n > 100) throw new InvalidArgumentError("must be a number from 0.1 to 100");
  return n;
}

function parseCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 64) throw new InvalidArgumentError("must be a whole number from 0 to 64");
  return n;
}
