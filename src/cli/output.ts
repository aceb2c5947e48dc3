/**
 * Headless output: with --json, one JSON object per line on stdout, tagged by `type`, each with an ISO
 * `time`. Without --json, the same events as short human-readable lines. Secrets never reach here.
 */
import type { ConclaveEvent } from "../client/index.js";

export type Stamped = Record<string, unknown> & { type: string; time?: string };

export interface Output {
  json: boolean;
  event(event: Stamped | (ConclaveEvent & { time?: string })): void;
  line(text: string): void;
}

export function createOutput(json: boolean, write: (text: string) => void = (t) => process.stdout.write(t)): Output {
  return {
    json,
    event(event) {
      const stamped = { ...event, time: (event as { time?: string }).time ?? new Date().toISOString() };
      if (json) {
        write(JSON.stringify(stamped) + "\n");
        return;
      }
      const text = describe(stamped as Stamped);
      if (text) write(text + "\n");
    },
    line(text) {
      if (!json) write(text + "\n");
    },
  };
}

function describe(e: Stamped): string | undefined {
  const at = typeof e.time === "string" ? e.time.slice(11, 19) : "";
  const s = (k: string): string => String(e[k] ?? "");
  switch (e.type) {
    case "listening":
      return `relay listening on ${s("url")}`;
    case "connecting":
      return `${at} connecting to ${s("server")}`;
    case "joined":
      return `${at} joined room ${s("room")} as ${s("peerId")} in ${s("joinMs")} ms (you: ${s("fingerprint")})`;
    case "peer-joined":
      return `${at} + ${s("name")} (${s("fingerprint")})${e.role === "recorder" ? " [RECORDER]" : ""}`;
    case "peer-left":
      return `${at} - ${s("name") || s("peerId")} left (${s("reason")})`;
    case "publishing":
      return `${at} publishing ${s("source")}`;
    case "first-audio":
      return `${at} hearing ${s("name") || s("peerId")}`;
    case "key-rotated":
      return `${at} key rotated (${s("reason")}), generation ${s("generation")}, took ${s("tookMs")} ms`;
    case "intruder":
      return `${at} WARNING: rejected a peer that is not a member (${s("reason")})`;
    case "recording": {
      const by = (e.by as { name: string }[] | undefined)?.map((b) => b.name).join(", ") ?? "";
      const declined = (e.declined as { name: string }[] | undefined)?.map((b) => b.name).join(", ");
      return `${at} RECORDING by ${by}${declined ? `; declined: ${declined}` : ""}`;
    }
    case "chat":
      return `${at} <${s("name")}> ${s("text")}`;
    case "muted":
      return `${at} ${s("name")} ${e.muted ? "muted" : "unmuted"}`;
    case "stats": {
      const peers = (e.peers as { name: string | null; packetsReceived: number; lossPct: number; jitterMs: number }[]) ?? [];
      if (peers.length === 0) return undefined;
      return `${at} stats: ` + peers.map((p) => `${p.name ?? "?"} ${p.packetsReceived} pkts ${p.lossPct}% loss ${p.jitterMs} ms jitter`).join("; ");
    }
    case "reconnecting":
      return `${at} connection lost (${s("reason")}); reconnecting`;
    case "reconnected":
      return `${at} reconnected after ${s("downtimeMs")} ms`;
    case "left":
      return `${at} left (${s("reason")})`;
    case "error":
      return `${at} error: ${s("message")}`;
    case "safety-number":
      return undefined;
    default:
      return undefined;
  }
}
