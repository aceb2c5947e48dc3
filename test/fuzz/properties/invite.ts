/**
 * The invite parser (src/protocol/invite.ts) on hostile text: it returns a consistent Invite or throws
 * an InviteParseError with a known code, and no error message ever repeats the secret part.
 */
import * as fc from "fast-check";
import { formatInvite, InviteParseError, parseInvite, type Invite } from "../../../src/protocol/index.js";
import { check, expectCoded, fuzzProperty, note, type FuzzProperty } from "./harness.js";

const INVITE_CODES = ["invite-invalid", "invite-no-secret", "invite-bad-secret"] as const;
const ROOM_RE = /^[A-Za-z0-9_-]{8,64}$/;
const SECRET_RE = /^[A-Za-z0-9_-]{43}$/;

const room = fc.stringMatching(/^[A-Za-z0-9_-]{8,64}$/);
const secret = fc.stringMatching(/^[A-Za-z0-9_-]{43}$/);
const host = fc.oneof(
  fc.constantFrom("127.0.0.1", "localhost", "[::1]", "relay.example.org"),
  fc.domain(),
  fc.ipV4(),
  fc.ipV6().map((a) => `[${a}]`),
);
const port = fc.option(fc.integer({ min: 0, max: 70000 }).map((p) => `:${p}`), { nil: "" });
const scheme = fc.constantFrom("http://", "https://", "conclave://", "HTTPS://", "ws://", "ftp://", "javascript:", "", "//");

/** Link-shaped text assembled from good and bad parts. */
const linkish = fc
  .record({
    scheme,
    host,
    port,
    path: fc.oneof(room.map((r) => `/r/${r}`), fc.webPath(), fc.constantFrom("/r/", "/r//", "/x/abcdefgh", "/r/abcdefgh/extra")),
    query: fc.option(fc.webQueryParameters().map((q) => `?${q}`), { nil: "" }),
    fragment: fc.oneof(secret, fc.string({ maxLength: 60 }), fc.webFragments(), fc.constant("")),
    hash: fc.boolean(),
    pad: fc.constantFrom("", " ", "\n", "\t "),
  })
  .map((p) => ({
    text: `${p.pad}${p.scheme}${p.host}${p.port}${p.path}${p.query}${p.hash ? "#" : ""}${p.fragment}${p.pad}`,
    fragment: p.hash ? p.fragment : "",
  }));

function consistent(inv: Invite): void {
  note("accepted");
  check(ROOM_RE.test(inv.room), "room id shape");
  check(SECRET_RE.test(inv.secret), "secret shape");
  check(/^https?:\/\/[^/]+$/.test(inv.server), `server ${inv.server}`);
  const expectedWs = inv.server.startsWith("https:") ? inv.server.replace(/^https/, "wss") : inv.server.replace(/^http/, "ws");
  check(inv.signalling === `${expectedWs}/ws`, "signalling url follows the server");
}

export const inviteProperties: FuzzProperty[] = [
  fuzzProperty(
    "invite: formatInvite → parseInvite round trip",
    500,
    fc.tuple(fc.constantFrom("http://127.0.0.1:8443", "https://relay.example.org", "http://[::1]:9000"), room, secret),
    ([server, r, s]) => {
      const inv = parseInvite(formatInvite(server, r, s));
      check(inv.server === server && inv.room === r && inv.secret === s, "round trip");
      consistent(inv);
    },
  ),
  fuzzProperty("invite: parseInvite on arbitrary text returns a consistent invite or a coded InviteParseError", 2000, fc.string({ unit: "binary", maxLength: 300 }), (text) => {
    let inv: Invite;
    try {
      inv = parseInvite(text);
    } catch (err) {
      expectCoded(err, InviteParseError, INVITE_CODES, "parseInvite");
      return;
    }
    consistent(inv);
  }),
  fuzzProperty("invite: link-shaped text parses consistently, and errors never repeat the secret", 2000, linkish, ({ text, fragment }) => {
    let inv: Invite;
    try {
      inv = parseInvite(text);
    } catch (err) {
      expectCoded(err, InviteParseError, INVITE_CODES, "parseInvite");
      const secretLike = fragment.trim();
      if (secretLike.length >= 6) check(!(err as Error).message.includes(secretLike), "an error message repeats the fragment");
      return;
    }
    consistent(inv);
    if (SECRET_RE.test(fragment)) check(inv.secret === fragment, "the secret is the fragment");
  }),
];
