/**
 * A lossy network path on loopback, for fault-injection tests: a signalling proxy that rewrites the
 * ICE candidates in offers and answers so that every media packet between one client and the relay
 * goes through a UDP proxy, which drops a share of the packets and delays the rest by a random
 * 0..jitterMs (so they also arrive out of order). Everything stays on 127.0.0.1.
 */
import { createSocket, type Socket } from "node:dgram";
import type { AddressInfo } from "node:net";
import { WebSocketServer, WebSocket } from "ws";

export interface LossyPathOptions {
  /** Real relay base URL, e.g. http://127.0.0.1:1234. */
  relay: string;
  loss: number;
  jitterMs: number;
  /** Seeded so a run is repeatable. */
  seed?: number;
  /** Impair from the first packet (default), or only after impair() is called. */
  impairHandshake?: boolean;
}

export interface LossyPathStats {
  forwarded: number;
  dropped: number;
}

export class LossyPath {
  readonly stats: LossyPathStats = { forwarded: 0, dropped: 0 };
  private wss: WebSocketServer | undefined;
  private readonly sockets: Socket[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private rng: () => number;
  private impairing: boolean;
  url = "";

  constructor(private readonly options: LossyPathOptions) {
    this.impairing = options.impairHandshake ?? true;
    let state = options.seed ?? 12345;
    this.rng = () => {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      return state / 0x100000000;
    };
  }

  async start(): Promise<string> {
    this.wss = new WebSocketServer({ host: "127.0.0.1", port: 0, path: "/ws" });
    await new Promise<void>((resolve) => this.wss!.once("listening", () => resolve()));
    const port = (this.wss.address() as AddressInfo).port;
    this.url = `http://127.0.0.1:${port}`;
    this.wss.on("connection", (client) => void this.bridge(client));
    return this.url;
  }

  /** One client: a WebSocket to the relay, and a pair of UDP sockets carrying its media. */
  private async bridge(client: WebSocket): Promise<void> {
    const upstream = new WebSocket(this.options.relay.replace(/^http/, "ws") + "/ws");
    const toRelay = createSocket("udp4"); // faces the relay: the relay sees this as the client
    const toClient = createSocket("udp4"); // faces the client: the client sees this as the relay
    this.sockets.push(toRelay, toClient);
    await Promise.all([
      new Promise<void>((r) => toRelay.bind(0, "127.0.0.1", () => r())),
      new Promise<void>((r) => toClient.bind(0, "127.0.0.1", () => r())),
    ]);
    let relayAddr: { address: string; port: number } | undefined;
    let clientAddr: { address: string; port: number } | undefined;
    const forward = (sock: Socket, data: Buffer, to: { address: string; port: number } | undefined): void => {
      if (!to) return;
      if (!this.impairing) {
        this.stats.forwarded++;
        sock.send(data, to.port, to.address);
        return;
      }
      if (this.rng() < this.options.loss) {
        this.stats.dropped++;
        return;
      }
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.stats.forwarded++;
        sock.send(data, to.port, to.address);
      }, this.rng() * this.options.jitterMs);
      this.timers.add(timer);
    };
    toClient.on("message", (data, rinfo) => {
      clientAddr = { address: rinfo.address, port: rinfo.port };
      forward(toRelay, data, relayAddr);
    });
    toRelay.on("message", (data) => forward(toClient, data, clientAddr));
    const rewrite = (sdp: string, via: Socket, remember: (a: { address: string; port: number }) => void): string => {
      const port = (via.address() as AddressInfo).port;
      let kept = false;
      return sdp
        .split("\r\n")
        .filter((line) => {
          if (!line.startsWith("a=candidate:")) return true;
          const parts = line.split(" ");
          if (parts[2]?.toLowerCase() !== "udp" || !parts[4]?.startsWith("127.") || kept) return false;
          remember({ address: parts[4], port: Number(parts[5]) });
          kept = true;
          return true;
        })
        .map((line) => {
          if (!line.startsWith("a=candidate:")) return line;
          const parts = line.split(" ");
          parts[5] = String(port);
          return parts.join(" ");
        })
        .join("\r\n");
    };
    const pending: string[] = [];
    upstream.on("open", () => {
      for (const m of pending.splice(0)) upstream.send(m);
    });
    client.on("message", (raw) => {
      let text = raw.toString();
      const msg = JSON.parse(text) as { type: string; sdp?: string };
      if (msg.type === "answer" && msg.sdp) {
        msg.sdp = rewrite(msg.sdp, toRelay, (a) => (clientAddr ??= a));
        text = JSON.stringify(msg);
      }
      if (upstream.readyState === WebSocket.OPEN) upstream.send(text);
      else pending.push(text);
    });
    upstream.on("message", (raw) => {
      let text = raw.toString();
      const msg = JSON.parse(text) as { type: string; sdp?: string };
      if (msg.type === "offer" && msg.sdp) {
        msg.sdp = rewrite(msg.sdp, toClient, (a) => (relayAddr = a));
        text = JSON.stringify(msg);
      }
      if (client.readyState === WebSocket.OPEN) client.send(text);
    });
    const close = (): void => {
      client.close();
      upstream.close();
    };
    client.on("close", close);
    upstream.on("close", close);
    client.on("error", close);
    upstream.on("error", close);
  }

  /** Start dropping and delaying packets. */
  impair(): void {
    this.impairing = true;
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const s of this.sockets) s.close();
    this.sockets.length = 0;
    for (const c of this.wss?.clients ?? []) c.terminate();
    await new Promise<void>((r) => (this.wss ? this.wss.close(() => r()) : r()));
  }
}
