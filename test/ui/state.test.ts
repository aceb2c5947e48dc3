import { test } from "node:test";
import assert from "node:assert/strict";
import { CallStore, reduce, rateLink, SUITE_NAMES, initialView, MAX_CHAT_LINES, type TrustLookup } from "../../src/cli/ui/state.js";
import { participantColumns, screenLayout, wrapText } from "../../src/cli/ui/layout.js";
import { sanitize, displayWidth, fit, localeSupportsUnicode, formatElapsed } from "../../src/cli/ui/text.js";
import { apply, baseView, busyView, ev, key, peerJoined, T0 } from "./fixtures.js";
import { waitFor } from "./helpers.js";

test("peer-joined adds a member, peer-left removes it", () => {
  let view = apply(baseView(), peerJoined("p1", "alice", 1), peerJoined("p2", "bob", 2));
  assert.deepEqual(view.peers.map((p) => p.name), ["alice", "bob"]);
  assert.equal(view.peers[0]!.shortFingerprint, "1111 abcd");
  assert.equal(view.peers[0]!.identityKey, key(1));
  view = reduce(view, ev({ type: "peer-left", peerId: "p1", name: "alice", reason: "left" }));
  assert.deepEqual(view.peers.map((p) => p.name), ["bob"]);
});

test("a repeated peer-joined updates instead of duplicating", () => {
  const view = apply(baseView(), peerJoined("p1", "alice", 1), peerJoined("p1", "alice2", 1, { role: "recorder" }));
  assert.equal(view.peers.length, 1);
  assert.equal(view.peers[0]!.name, "alice2");
  assert.equal(view.peers[0]!.recorder, true);
});

test("polls drive speaking, level and link quality; muted members never show speaking", () => {
  let view = apply(baseView(), peerJoined("p1", "alice", 1));
  view = reduce(view, { type: "poll", sample: { now: T0 + 1000, rttMs: 20, peers: { p1: { speaking: true, levelDbfs: -10, lossRate: 0.02, jitterMs: 5, packetsReceived: 10 } } } });
  const p = view.peers[0]!;
  assert.equal(p.speaking, true);
  assert.equal(p.levelDbfs, -10);
  assert.equal(p.heard, true);
  assert.equal(p.link.lossPct, 2);
  assert.equal(p.link.rttMs, 20);
  assert.equal(p.link.quality, "fair");
  assert.equal(view.elapsedMs, 1000);
  view = reduce(view, { type: "poll", sample: { now: T0 + 1100, peers: { p1: { speaking: false } } } });
  assert.equal(view.peers[0]!.speaking, false);
  view = reduce(view, ev({ type: "muted", peerId: "p1", name: "alice", muted: true }));
  view = reduce(view, { type: "poll", sample: { now: T0 + 1200, peers: { p1: { speaking: true } } } });
  assert.equal(view.peers[0]!.muted, true);
  assert.equal(view.peers[0]!.speaking, false);
});

test("an unchanged poll keeps the same peer objects (cheap re-render)", () => {
  let view = apply(baseView(), peerJoined("p1", "alice", 1));
  view = reduce(view, { type: "poll", sample: { now: T0 + 1, peers: { p1: { speaking: true, lossRate: 0, jitterMs: 1 } } } });
  const before = view.peers[0];
  view = reduce(view, { type: "poll", sample: { now: T0 + 2, peers: { p1: { speaking: true, lossRate: 0, jitterMs: 1 } } } });
  assert.equal(view.peers[0], before);
});

test("poll membership reconciles members whose events were missed", () => {
  let view = apply(baseView(), peerJoined("gone", "ghost", 9));
  view = reduce(view, {
    type: "poll",
    sample: {
      now: T0,
      members: [{ peerId: "p1", name: "alice", role: "member", noRecord: true, muted: true, fingerprint: "aaaa bbbb cccc", shortFingerprint: "aaaa bbbb", safetyNumber: "1 2 3", identityKey: key(1) }],
    },
  });
  assert.deepEqual(view.peers.map((p) => [p.peerId, p.muted, p.declinedRecording, p.safetyNumber]), [["p1", true, true, "1 2 3"]]);
});

test("header state: suite name, generation, last rotation and why", () => {
  assert.equal(SUITE_NAMES[4], "AES_128_GCM_SHA256_128");
  assert.equal(SUITE_NAMES[5], "AES_256_GCM_SHA512_128");
  const v5 = initialView({ room: "r", relay: "http://x", name: "n", suite: 5 });
  assert.equal(v5.e2ee.suiteName, "AES_256_GCM_SHA512_128");
  assert.equal(v5.status, "connecting");
  const at = new Date(T0 + 42_000).toISOString();
  const view = reduce(baseView(), ev({ type: "key-rotated", reason: "leave", generation: 7, tookMs: 230, at }));
  assert.equal(view.e2ee.generation, 7);
  assert.deepEqual(view.e2ee.lastRotation, { reason: "leave", generation: 7, at: T0 + 42_000, tookMs: 230 });
});

test("warnings are sticky and deduplicated; chat is kept and bounded", () => {
  let view = reduce(baseView(), ev({ type: "intruder", peerId: "evil1", reason: "no valid hello" }));
  view = reduce(view, ev({ type: "intruder", peerId: "evil1", reason: "no valid hello" }));
  for (let i = 0; i < MAX_CHAT_LINES + 10; i++) view = reduce(view, { type: "chat-sent", text: `m${i}`, at: T0 + i });
  view = apply(view, peerJoined("p1", "alice", 1), ev({ type: "peer-left", peerId: "p1", name: "alice", reason: "left" }));
  assert.equal(view.warnings.length, 1);
  assert.match(view.warnings[0]!.text, /not a room member/);
  assert.equal(view.chat.length, MAX_CHAT_LINES);
  assert.equal(view.chat.at(-1)!.text, `m${MAX_CHAT_LINES + 9}`);
  assert.equal(view.chat.at(-1)!.self, true);
});

test("recording marks recorders and members who declined", () => {
  const view = apply(
    busyView(),
    peerJoined("rec", "recorder", 5, { role: "recorder" }),
    ev({ type: "recording", by: [{ peerId: "rec", name: "recorder" }], declined: [{ peerId: "peer-bob", name: "bob" }] }),
  );
  assert.deepEqual(view.recording, { by: ["recorder"], declined: ["bob"] });
  assert.equal(view.peers.find((p) => p.peerId === "rec")!.recorder, true);
  assert.equal(view.peers.find((p) => p.peerId === "peer-bob")!.declinedRecording, true);
});

test("untrusted names and chat lose control characters and bidi overrides", () => {
  const view = apply(
    baseView(),
    peerJoined("p1", "ev\u001b[2Jil\u202e", 1),
    ev({ type: "chat", from: "p1", name: "ev\u001b]0;pwned\u0007il", text: "hi\r\nthere\u0007", sentAt: new Date(T0).toISOString() }),
  );
  assert.equal(view.peers[0]!.name, "ev [2Jil");
  assert.equal(view.chat[0]!.text, "hi there");
  assert.doesNotMatch(view.chat[0]!.name, /[\u0000-\u001f]/);
  assert.equal(sanitize("a\u200b\u2066b"), "a b");
});

test("identity-changed event and trust-store name change both raise a sticky warning", () => {
  let view = apply(busyView(), ev({ type: "identity-changed", peerId: "peer-alice", name: "alice", fingerprint: "9999 8888 7777", previous: "1111 abcd ef01" }));
  assert.equal(view.warnings.length, 1);
  assert.equal(view.peers[0]!.identityChanged, true);
  view = reduce(view, { type: "trust", peerId: "peer-bob", verified: false, nameCheck: "changed" });
  assert.equal(view.warnings.length, 2);
  assert.match(view.warnings[1]!.text, /"bob" joined with a different identity key/);
});

test("rateLink thresholds", () => {
  assert.equal(rateLink(null, null, 10), "unknown");
  assert.equal(rateLink(0, 5, 20), "good");
  assert.equal(rateLink(1.5, 5, 20), "fair");
  assert.equal(rateLink(0, 5, 450), "poor");
  assert.equal(rateLink(8, 0, 0), "poor");
});

class MemoryTrust implements TrustLookup {
  verified = new Set<string>();
  names = new Map<string, string>();
  isVerified(k: string): boolean {
    return this.verified.has(k);
  }
  checkName(name: string, k: string): "new" | "same" | "changed" {
    const known = this.names.get(name);
    return known === undefined ? "new" : known === k ? "same" : "changed";
  }
  remember(name: string, k: string): void {
    this.names.set(name, k);
  }
}

test("CallStore consults the trust store once per member and flags a known name with a new key", () => {
  const trust = new MemoryTrust();
  trust.verified.add(key(1));
  trust.names.set("bob", key(7));
  const store = new CallStore(baseView(), { trust });
  store.dispatch(peerJoined("p1", "alice", 1));
  store.dispatch(peerJoined("p2", "bob", 2));
  const view = store.latest;
  assert.equal(view.peers[0]!.verified, true);
  assert.equal(view.peers[1]!.verified, false);
  assert.equal(view.peers[1]!.identityChanged, true);
  assert.equal(view.warnings.length, 1);
  assert.equal(trust.names.get("alice"), key(1));
  assert.equal(trust.names.get("bob"), key(2));
  store.close();
});

test("CallStore publishes at most once per tick however many events arrive", async () => {
  const store = new CallStore(baseView(), { maxRateHz: 10 });
  let published = 0;
  store.subscribe(() => published++);
  const started = Date.now();
  for (let i = 0; i < 100; i++) store.dispatch({ type: "chat-sent", text: `x${i}`, at: T0 });
  await waitFor(() => published >= 1, "first publish");
  for (let i = 0; i < 100; i++) store.dispatch({ type: "chat-sent", text: `y${i}`, at: T0 });
  await waitFor(() => published >= 2, "second publish");
  const elapsed = Date.now() - started;
  assert.equal(store.getSnapshot().chat.length, 200);
  // Two publishes for 200 events, and the second waited for the next tick.
  assert.equal(published, 2);
  assert.ok(elapsed >= 90, `second publish came after ${elapsed} ms`);
  store.close();
});

test("layout: columns drop on narrow terminals, the frame stays shorter than the terminal", () => {
  const narrow = participantColumns(60);
  const wide = participantColumns(160);
  assert.equal(narrow.fingerprint, 0);
  assert.ok(narrow.name >= 10);
  assert.equal(wide.fingerprint, 12);
  assert.equal(wide.link, "full");
  for (const w of [40, 60, 61, 80, 100, 250]) {
    const c = participantColumns(w);
    assert.ok(c.mark + c.name + c.meter + c.state + c.fingerprint + c.linkWidth + c.flags <= Math.max(40, w), `row fits ${w}`);
  }
  for (const [height, peers, warnings, chat] of [[15, 3, 1, 5], [15, 30, 6, 40], [10, 1, 0, 0], [50, 4, 2, 3]] as const) {
    const l = screenLayout({ width: 60, height, peers, warnings, chatLines: chat, chatOpen: true });
    const body = 1 + l.peerRows + (l.showChat ? 1 + l.chatRows : 0);
    const total = 2 + l.warnings + body + l.chatInput + 2;
    assert.ok(total <= height - 1, `frame of ${total} lines for a ${height}-row terminal`);
    assert.ok(l.peerRows >= 1);
  }
});

test("text helpers: width, fitting, wrapping, locale detection, elapsed time", () => {
  assert.equal(displayWidth("漢字ab"), 6);
  assert.equal(fit("abcdefgh", 5, true), "abcd~");
  assert.equal(fit("abcdefgh", 5, false), "abcd…");
  assert.equal(fit("ab", 4, false), "ab  ");
  assert.deepEqual(wrapText("hello big world", 9, displayWidth), ["hello big", "world"]);
  assert.deepEqual(wrapText("abcdefghij", 4, displayWidth), ["abcd", "efgh", "ij"]);
  assert.equal(localeSupportsUnicode({ LANG: "en_US.UTF-8" }), true);
  assert.equal(localeSupportsUnicode({ LANG: "C" }), false);
  assert.equal(localeSupportsUnicode({ LC_ALL: "C", LANG: "en_US.UTF-8" }), false);
  assert.equal(localeSupportsUnicode({}), false);
  assert.equal(formatElapsed(65_000), "1:05");
  assert.equal(formatElapsed(3_725_000), "1:02:05");
});

test("reconnecting and reconnected show in the status and as a notice", () => {
  let view = reduce(baseView(), ev({ type: "reconnecting", reason: "relay-closed-1006" }, T0 + 1000));
  assert.equal(view.status, "reconnecting");
  assert.match(view.notice!.text, /connection lost \(relay-closed-1006\); reconnecting/);
  view = reduce(view, ev({ type: "reconnected", downtimeMs: 1500, attempts: 2, peerId: "new-self-id" }, T0 + 2500));
  assert.equal(view.status, "joined");
  assert.equal(view.self.peerId, "new-self-id");
  assert.match(view.notice!.text, /reconnected after 1\.5 s/);
});
