/**
 * Worker-thread entry of a media engine (./media-engine.ts). The main thread starts one per core
 * (./engine-pool.ts) with the engine's options as `workerData`.
 *
 * Channels:
 * - parentPort, in:  EngineCommand (./engine-protocol.ts)
 * - parentPort, out: EngineEvent, including log records (a Logger cannot cross threads)
 * - one MessagePort per other engine (`link` command): packet batches both ways (./packet-batch.ts)
 */
import { parentPort, workerData, type MessagePort } from "node:worker_threads";
import type { RtpPacket } from "werift";
import type { Logger } from "../log.js";
import type { EngineCommand, EngineEvent, EngineOptions } from "./engine-protocol.js";
import { MediaEngine } from "./media-engine.js";
import { prepareCertificate } from "./certificate.js";

if (!parentPort) throw new Error("media-worker.js runs as a worker thread");
const port: MessagePort = parentPort;
const options = workerData as EngineOptions;

const post = (event: EngineEvent): void => port.postMessage(event);

function workerLogger(scope: string): Logger {
  const at =
    (level: "debug" | "info" | "warn" | "error") =>
    (message: string, fields?: Record<string, unknown>): void =>
      post({ ev: "log", level, message: `${scope}: ${message}`, ...(fields ? { fields } : {}) });
  return {
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    child: (s) => workerLogger(`${scope}:${s}`),
  };
}

/** Upload packets for `onForward`, sent to the main thread once per turn of the event loop. */
let tapIds: string[] = [];
let tapPackets: Uint8Array[] = [];
function tap(peerId: string, rtp: RtpPacket): void {
  if (tapIds.length === 0) {
    setImmediate(() => {
      post({ ev: "tap", peerIds: tapIds, packets: tapPackets });
      tapIds = [];
      tapPackets = [];
    });
  }
  tapIds.push(peerId);
  tapPackets.push(new Uint8Array(rtp.serialize()));
}

const engine = new MediaEngine(options, {
  emit: post,
  log: workerLogger(`engine-${options.index}`),
  ...(options.tap ? { tap } : {}),
});

port.on("message", (command: EngineCommand) => {
  if (command.op === "link") {
    const link = command.port;
    engine.addLink(command.engine, (batch) => link.postMessage(batch, [batch.buffer as ArrayBuffer]));
    link.on("message", (batch: Uint8Array) => engine.receiveBatch(batch));
    return;
  }
  engine.handle(command);
});

await prepareCertificate();
post({ ev: "ready", index: options.index });
