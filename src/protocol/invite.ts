/**
 * Invite links: `http(s)://HOST[:PORT]/r/ROOM#SECRET` (or `conclave://HOST[:PORT]/r/ROOM#SECRET`,
 * which means https). ROOM is an opaque random id; SECRET is 32 random bytes in base64url and lives
 * only in the fragment, which no client ever sends anywhere (see docs/security.md).
 */
export interface Invite {
  /** Base URL of the relay, e.g. `http://127.0.0.1:8443`. */
  server: string;
  room: string;
  /** The invite secret, still base64url-encoded; decoded by the E2EE layer. */
  secret: string;
  /** WebSocket URL for signalling. */
  signalling: string;
}

export class InviteParseError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = "InviteParseError";
    this.code = code;
  }
}

const ROOM_RE = /^[A-Za-z0-9_-]{8,64}$/;
const SECRET_RE = /^[A-Za-z0-9_-]{43}$/;

/** Parse and check an invite. Error messages never repeat the secret. */
export function parseInvite(text: string): Invite {
  if (typeof text !== "string" || text.length === 0 || text.length > 2048) {
    throw new InviteParseError("invite-invalid", "the invite must be a link like http://HOST:PORT/r/ROOM#SECRET");
  }
  const trimmed = text.trim();
  let url: URL;
  try {
    url = new URL(trimmed.replace(/^conclave:\/\//i, "https://"));
  } catch {
    throw new InviteParseError("invite-invalid", "the invite is not a valid link; expected http://HOST:PORT/r/ROOM#SECRET");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new InviteParseError("invite-invalid", `the invite uses ${url.protocol} but must be http, https or conclave`);
  }
  const match = /^\/r\/([^/]+)\/?$/.exec(url.pathname);
  if (!match || !ROOM_RE.test(match[1]!)) {
    throw new InviteParseError("invite-invalid", "the invite has no valid room; expected a path /r/ROOM");
  }
  const fragment = url.hash.startsWith("#") ? url.hash.slice(1) : url.hash;
  if (fragment.length === 0) {
    throw new InviteParseError(
      "invite-no-secret",
      "the invite has no secret after '#'; ask for the full link (the part after # keeps the room end-to-end encrypted)",
    );
  }
  if (!SECRET_RE.test(fragment)) {
    throw new InviteParseError("invite-bad-secret", "the invite's secret (after '#') is malformed; ask for the full link again");
  }
  const server = `${url.protocol}//${url.host}`;
  const signalling = `${url.protocol === "https:" ? "wss" : "ws"}://${url.host}/ws`;
  return { server, room: match[1]!, secret: fragment, signalling };
}

export function formatInvite(server: string, room: string, secret: string): string {
  return `${server.replace(/\/+$/, "")}/r/${room}#${secret}`;
}
