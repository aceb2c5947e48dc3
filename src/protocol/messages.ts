/**
 * Signalling messages between a participant and the relay, as JSON text frames on one WebSocket.
 *
 * The relay sees only what it needs to route: an opaque room id, opaque peer ids it assigns itself,
 * SDP for its own PeerConnection with each participant, and sealed E2EE envelopes (`data`, base64url)
 * that it passes along without being able to read them. Display names, roles, mute state, chat and
 * keys all travel inside those envelopes (see docs/security.md).
 *
 * Every message that enters a process is validated here first (`parseClientMessage`,
 * `parseServerMessage`); anything else is refused with a `ProtocolError`.
 */
import { z } from "zod";

export const PROTOCOL_VERSION = 1;
/** Largest text frame either side accepts. SDP for a 40-person room is about 40 KiB. */
export const MAX_MESSAGE_BYTES = 256 * 1024;
/** Largest sealed envelope a client may relay (base64url characters). */
export const MAX_ENVELOPE_CHARS = 64 * 1024;

const id = z.string().min(1).max(64).regex(/^[A-Za-z0-9_-]+$/, "ids are base64url characters");
const sdp = z.string().min(1).max(MAX_MESSAGE_BYTES);
const envelope = z.string().min(1).max(MAX_ENVELOPE_CHARS).regex(/^[A-Za-z0-9_-]+$/, "envelopes are base64url");

/** Video codecs by name (src/media: VideoCodecName). */
export const VideoCodec = z.enum(["vp8", "h264"]);
export type VideoCodec = z.infer<typeof VideoCodec>;

/** Client → relay. */
export const ClientMessage = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("join"),
    v: z.literal(PROTOCOL_VERSION),
    room: id,
    /** Signed join token, when the relay requires one (`conclave serve --auth`). */
    token: z.string().max(4096).optional(),
    /** The participant will publish video: the relay offers it a video upload m-line. */
    video: z.boolean().optional(),
    /** The codec of the video it publishes (with `video`); absent: "vp8". */
    videoCodec: VideoCodec.optional(),
    /**
     * Video codecs it can receive; absent: ["vp8"] (clients from before H.264). Names the relay does
     * not know are ignored. The relay admits no one whose video a member could not receive.
     */
    videoReceive: z.array(z.string().min(1).max(16)).max(8).optional(),
  }),
  z.object({ type: z.literal("answer"), sdp }),
  /** An opaque sealed envelope for one peer (`to`) or for every other member (no `to`). */
  z.object({ type: z.literal("relay"), to: id.optional(), data: envelope }),
  z.object({ type: z.literal("leave") }),
  z.object({ type: z.literal("ping"), id: z.number().int().nonnegative() }),
]);
export type ClientMessage = z.infer<typeof ClientMessage>;

/** Which remote publisher an m-line of the relay's offer carries. */
export const TrackMapping = z.object({ mid: z.string().min(1).max(16), peerId: id, kind: z.enum(["audio", "video"]) });
export type TrackMapping = z.infer<typeof TrackMapping>;

/** Relay → client. */
export const ServerMessage = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("welcome"),
    v: z.literal(PROTOCOL_VERSION),
    peerId: id,
    room: id,
    peers: z.array(id).max(10_000),
  }),
  z.object({ type: z.literal("peer-joined"), peerId: id }),
  z.object({ type: z.literal("peer-left"), peerId: id, reason: z.string().max(64) }),
  /** The relay is always the offerer, so there is never offer glare. */
  z.object({ type: z.literal("offer"), sdp, tracks: z.array(TrackMapping).max(10_000) }),
  z.object({ type: z.literal("relay"), from: id, data: envelope }),
  z.object({ type: z.literal("pong"), id: z.number().int().nonnegative() }),
  z.object({
    type: z.literal("error"),
    code: z.string().max(64),
    message: z.string().max(1024),
    /** When true the relay closes the connection after this message. */
    fatal: z.boolean(),
  }),
]);
export type ServerMessage = z.infer<typeof ServerMessage>;

export class ProtocolError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = "ProtocolError";
    this.code = code;
  }
}

function parseWith<T>(schema: z.ZodType<T>, raw: unknown): T {
  const text = typeof raw === "string" ? raw : Buffer.isBuffer(raw) ? raw.toString("utf8") : undefined;
  if (text === undefined) throw new ProtocolError("bad-frame", "signalling frames must be text");
  if (Buffer.byteLength(text, "utf8") > MAX_MESSAGE_BYTES) {
    throw new ProtocolError("too-large", `signalling message exceeds ${MAX_MESSAGE_BYTES} bytes`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ProtocolError("bad-json", "signalling message is not JSON");
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue && issue.path.length > 0 ? ` at ${issue.path.join(".")}` : "";
    throw new ProtocolError("bad-message", `invalid signalling message${where}: ${issue?.message ?? "unknown"}`);
  }
  return result.data;
}

export function parseClientMessage(raw: unknown): ClientMessage {
  return parseWith(ClientMessage, raw);
}

export function parseServerMessage(raw: unknown): ServerMessage {
  return parseWith(ServerMessage, raw);
}

export function encodeMessage(message: ClientMessage | ServerMessage): string {
  return JSON.stringify(message);
}
