/**
 * Creating a room happens on the client: the room id and the invite secret are drawn here, and the
 * secret goes only into the link's fragment. The relay is only asked whether it is up.
 */
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
export async function checkRelay(server: string, timeoutMs = 3000): Promise<void> {
  const base = normaliseServer(server);
  let res: Response;
  try {
    res = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
    throw new ConnectionError(`cannot reach the relay at ${base} (${cause}); check that conclave serve runs there`, "relay-unreachable");
  }
  const body = (await res.json().catch(() => ({}))) as { service?: string };
  if (!res.ok || body.service !== "conclave-relay") {
    throw new ConnectionError(`${base} answered but is not a Conclave relay`, "not-a-relay");
  }
}
