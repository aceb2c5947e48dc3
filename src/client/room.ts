/**
 * Creating a room happens on the client: the room id and the invite secret are drawn here, and the
 * secret goes only into the link's fragment. The relay is only asked whether it is up.
 */
import { get as httpGet } from "node:http";
import { get as httpsGet } from "node:https";
import { newRoomId, newRoomSecret, encodeRoomSecret, wipe } from "../crypto/index.js";
import { formatInvite } from "../protocol/index.js";
import { ConnectionError, UsageError } from "../errors.js";

export function newInvite(server: string): string {
  const base = normaliseServer(server);
  const secret = newRoomSecret();
  const invite = formatInvite(base, newRoomId(), encodeRoomSecret(secret));
  wipe(secret);
  return invite;
}

export function normaliseServer(server: string): string {
  let url: URL;
  try {
    url = new URL(server.includes("://") ? server : `http://${server}`);
  } catch {
    throw new UsageError(`--server must be a URL like http://127.0.0.1:8443, got ${JSON.stringify(server.slice(0, 80))}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new UsageError("--server must be an http or https URL");
  return `${url.protocol}//${url.host}`;
}

/** Ask the relay's health endpoint; throws a ConnectionError when it is not a reachable relay. */
export async function checkRelay(server: string, options: { timeoutMs?: number; ca?: string | Buffer } = {}): Promise<void> {
  const base = normaliseServer(server);
  const url = new URL("/healthz", base);
  const get = url.protocol === "https:" ? httpsGet : httpGet;
  const body = await new Promise<string>((resolve, reject) => {
    const req = get(url, { timeout: options.timeoutMs ?? 3000, ...(options.ca ? { ca: options.ca } : {}) }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        if (text.length < 4096) text += chunk;
      });
      res.on("end", () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
  }).catch((err: NodeJS.ErrnoException) => {
    const why = err.code === "ECONNREFUSED" ? "connection refused" : (err.code ?? err.message);
    throw new ConnectionError(`cannot reach the relay at ${base} (${why}); check that conclave serve runs there`, "relay-unreachable");
  });
  let service: unknown;
  try {
    service = (JSON.parse(body) as { service?: unknown }).service;
  } catch {
    service = undefined;
  }
  if (service !== "conclave-relay") throw new ConnectionError(`${base} answered but is not a Conclave relay`, "not-a-relay");
}
