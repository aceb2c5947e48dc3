import { afterEach, test } from "node:test";
import assert from "node:assert/strict";
import { render, cleanup } from "ink-testing-library";
import { CallApp, ConnectedCallApp, type UiActions } from "../../src/cli/ui/App.js";
import { CallStore, reduce, type CallView } from "../../src/cli/ui/state.js";
import { displayWidth } from "../../src/cli/ui/text.js";
import { apply, baseView, busyView, ev, peerJoined, T0 } from "./fixtures.js";
import { lineWith, stripAnsi, waitFor } from "./helpers.js";

afterEach(() => cleanup());

interface Calls {
  muted: boolean[];
  chats: string[];
  leaves: number;
  verified: [string, boolean][];
}

function fakeActions(): { actions: UiActions; calls: Calls } {
  const calls: Calls = { muted: [], chats: [], leaves: 0, verified: [] };
  return {
    calls,
    actions: {
      setMuted: (m) => void calls.muted.push(m),
      sendChat: (t) => void calls.chats.push(t),
      leave: () => void calls.leaves++,
      setVerified: (id, v) => void calls.verified.push([id, v]),
    },
  };
}

function mount(view: CallView, opts: { width?: number; height?: number; ascii?: boolean } = {}) {
  const { actions, calls } = fakeActions();
  const props = { actions, ascii: opts.ascii ?? false, width: opts.width ?? 100, height: opts.height ?? 24 };
  const r = render(<CallApp view={view} {...props} />);
  const frame = (): string => stripAnsi(r.lastFrame() ?? "");
  const rerender = (next: CallView): void => r.rerender(<CallApp view={next} {...props} />);
  // useInput subscribes in an effect: keys sent before that are lost.
  const ready = (): Promise<unknown> => waitFor(() => r.stdin.listenerCount("readable") > 0, "input to be wired");
  const press = async (keys: string): Promise<void> => {
    await ready();
    r.stdin.write(keys);
  };
  return { r, frame, rerender, press, calls };
}

const BLOCKS = /[\u2580-\u259f\u25a0-\u25ff\u2500-\u257f]/u;
// eslint-disable-next-line no-control-regex
const NON_ASCII = /[^\u0000-\u007f]/u;

test("participants appear and leave", async () => {
  let view = baseView();
  const ui = mount(view);
  assert.match(ui.frame(), /waiting for others to join/);
  view = apply(view, peerJoined("p1", "alice", 1), peerJoined("p2", "bob", 2));
  ui.rerender(view);
  await waitFor(() => ui.frame().includes("bob"), "bob to appear", 2000, ui.frame);
  assert.match(ui.frame(), /Participants \(2\)/);
  assert.ok(lineWith(ui.frame(), "alice"));
  view = reduce(view, ev({ type: "peer-left", peerId: "p1", name: "alice", reason: "left" }));
  ui.rerender(view);
  await waitFor(() => !ui.frame().includes("alice"), "alice to leave", 2000, ui.frame);
  assert.match(ui.frame(), /Participants \(1\)/);
});

test("speaking indicator follows the view model (tone starts and stops)", async () => {
  const store = new CallStore(apply(baseView(), peerJoined("p1", "tonebot", 1)));
  const { actions } = fakeActions();
  const r = render(<ConnectedCallApp store={store} actions={actions} ascii={false} width={100} height={24} />);
  const frame = (): string => stripAnsi(r.lastFrame() ?? "");
  const botLine = (): string => lineWith(frame(), "tonebot") ?? "";
  assert.doesNotMatch(botLine(), /speaking/);
  const poll = (speaking: boolean, t: number): void =>
    store.dispatch({ type: "poll", sample: { now: T0 + t, peers: { p1: { speaking, levelDbfs: speaking ? -9 : -80, packetsReceived: t } } } });
  poll(true, 100);
  await waitFor(() => /● tonebot.*speaking/.test(botLine()), "speaking marker", 2000, frame);
  assert.match(botLine(), /█/, "level meter fills");
  poll(false, 200);
  await waitFor(() => !botLine().includes("speaking"), "speaking to stop", 2000, frame);
  assert.match(botLine(), /○ tonebot/);
  store.close();
});

test("mute state renders for you and for others", async () => {
  let view = apply(baseView(), peerJoined("p1", "alice", 1), ev({ type: "muted", peerId: "p1", name: "alice", muted: true }));
  const ui = mount(view);
  assert.match(lineWith(ui.frame(), "alice") ?? "", /× alice.*muted/);
  assert.match(ui.frame(), /live/);
  assert.match(ui.frame(), /m mute/);
  view = reduce(view, { type: "poll", sample: { now: T0 + 10, muted: true } });
  ui.rerender(view);
  await waitFor(() => ui.frame().includes("MUTED"), "MUTED", 2000, ui.frame);
  assert.match(ui.frame(), /m unmute/);
});

test("header shows suite, key generation and the last rotation", () => {
  const ui = mount(busyView());
  const [first, second] = ui.frame().split("\n");
  assert.match(first!, /Conclave\s+room r7Qk2m…H7\s+1:05/);
  assert.match(first!, /rtt 14ms/);
  assert.match(first!, /relay 127\.0\.0\.1:4433/);
  assert.match(second!, /E2EE AES_128_GCM_SHA256_128/);
  assert.match(second!, /key generation 3/);
  assert.match(second!, /rotated \d\d:\d\d:\d\d \(join, 12ms\)/);
  const v5 = { ...busyView(), e2ee: { ...busyView().e2ee, suite: 5 as const, suiteName: "AES_256_GCM_SHA512_128" } };
  assert.match(mount(v5).frame(), /AES_256_GCM_SHA512_128/);
});

test("warnings stay visible while the call goes on", async () => {
  let view = apply(busyView(), ev({ type: "intruder", peerId: "evil-peer-1", reason: "no valid hello" }));
  view = reduce(view, { type: "trust", peerId: "peer-bob", verified: false, nameCheck: "changed" });
  const ui = mount(view);
  for (let i = 0; i < 30; i++) {
    view = apply(view, { type: "chat-sent", text: `message ${i}`, at: T0 + i }, { type: "poll", sample: { now: T0 + 70_000 + i * 100 } });
  }
  view = apply(view, peerJoined("p9", "zed", 9), ev({ type: "key-rotated", reason: "join", generation: 4, tookMs: 3, at: new Date(T0).toISOString() }));
  ui.rerender(view);
  await waitFor(() => ui.frame().includes("zed"), "zed", 2000, ui.frame);
  const frame = ui.frame();
  assert.match(frame, /⚠ rejected a peer that is not a room member/);
  assert.match(frame, /⚠ "bob" joined with a different identity key/);
  assert.match(frame, /^○ bob .*!new key/m);
  assert.match(frame, /message 29/);
});

test("chat renders with sender and time, long messages wrap", () => {
  const long = "this is a long message that certainly does not fit in sixty columns of terminal width at all";
  const view = apply(busyView(), { type: "chat-sent", text: long, at: T0 + 61_000 });
  const ui = mount(view, { width: 60, height: 20 });
  const frame = ui.frame();
  assert.match(frame, /\d\d:\d\d alice: hello there/);
  assert.match(frame, /\d\d:\d\d tester: this is a long message/);
  assert.match(frame, /terminal width at all/);
});

function assertFits(frame: string, width: number, height: number): void {
  const lines = frame.split("\n");
  assert.ok(lines.length <= height - 1, `${lines.length} lines in a ${height}-row terminal`);
  for (const line of lines) assert.ok(displayWidth(line) <= width, `line wider than ${width}: "${line}"`);
}

test("60x15: narrow layout drops columns, truncates names and fits", () => {
  let view = apply(busyView(), peerJoined("p3", "a-very-long-participant-name-that-goes-on", 3), ev({ type: "intruder", peerId: "x", reason: "no valid hello" }));
  for (let i = 0; i < 12; i++) view = reduce(view, peerJoined(`extra${i}`, `member${i}`, 10 + i));
  const ui = mount(view, { width: 60, height: 15 });
  const frame = ui.frame();
  assertFits(frame, 60, 15);
  assert.doesNotMatch(frame, /fingerprint/);
  assert.match(frame, /^○ a-very-long-partici… /m);
  assert.match(frame, /\+\d+ more/);
  assert.match(frame, /AES_128_GCM_SHA256_128/);
});

test("ascii mode: no Unicode blocks, box drawing or other non-ASCII symbols", () => {
  const view = apply(
    busyView(),
    ev({ type: "intruder", peerId: "evil", reason: "no valid hello" }),
    ev({ type: "recording", by: [{ peerId: "peer-alice", name: "alice" }], declined: [] }),
    { type: "trust", peerId: "peer-alice", verified: true },
  );
  for (const [width, height] of [[60, 15], [100, 30], [200, 50]] as const) {
    const ui = mount(view, { width, height, ascii: true });
    const frame = ui.frame();
    assertFits(frame, width, height);
    assert.doesNotMatch(frame, BLOCKS, frame);
    assert.doesNotMatch(frame, NON_ASCII, frame);
    assert.match(lineWith(frame, "alice: hello") ?? "", /alice/);
    assert.match(frame, /^\* alice .*\+(verified|ok)/m);
  }
  // The same view in Unicode at 60 columns: blocks only in the level meters.
  const uni = mount(view, { width: 60, height: 15 }).frame();
  assertFits(uni, 60, 15);
  assert.match(uni, /^● alice +████· speaking/m);
});

test("keys: m calls mute, q leaves, c opens chat and Enter sends", async () => {
  const ui = mount(busyView());
  await ui.press("m");
  await waitFor(() => ui.calls.muted.length === 1, "mute callback");
  assert.deepEqual(ui.calls.muted, [true]);

  await ui.press("c");
  await waitFor(() => ui.frame().includes("Enter send"), "chat input", 2000, ui.frame);
  await ui.press("hi");
  await ui.press(" there");
  await waitFor(() => ui.frame().includes("> hi there"), "typed text", 2000, ui.frame);
  await ui.press("\r");
  await waitFor(() => ui.calls.chats.length === 1, "send", 2000, ui.frame);
  assert.deepEqual(ui.calls.chats, ["hi there"]);
  await waitFor(() => !ui.frame().includes("Enter send"), "chat input closed", 2000, ui.frame);

  // Esc cancels without sending; q typed in the chat is text, not leave.
  await ui.press("/");
  await waitFor(() => ui.frame().includes("Enter send"), "chat input", 2000, ui.frame);
  await ui.press("q");
  await waitFor(() => ui.frame().includes("> q"), "q typed", 2000, ui.frame);
  await ui.press("\u001b");
  await waitFor(() => !ui.frame().includes("Enter send"), "chat cancelled", 2000, ui.frame);
  assert.equal(ui.calls.chats.length, 1);
  assert.equal(ui.calls.leaves, 0);

  await ui.press("q");
  await waitFor(() => ui.calls.leaves === 1, "leave", 2000, ui.frame);
  await waitFor(() => ui.frame().includes("leaving the call"), "leaving notice", 2000, ui.frame);
});

test("Ctrl-C leaves from any mode", async () => {
  const ui = mount(busyView());
  await ui.press("?");
  await waitFor(() => ui.frame().includes("Keys"), "help", 2000, ui.frame);
  assert.match(ui.frame(), /q, Ctrl-C\s+leave the call/);
  await ui.press("\u0003");
  await waitFor(() => ui.calls.leaves === 1, "leave on Ctrl-C", 2000, ui.frame);
});

test("v shows safety numbers and Enter marks the selected member verified", async () => {
  const ui = mount(busyView(), { width: 100, height: 30 });
  await ui.press("v");
  await waitFor(() => ui.frame().includes("Safety number with alice"), "verification view", 2000, ui.frame);
  assert.match(ui.frame(), /12345 67890 11111 22222 33333 44444/);
  await ui.press("\r");
  await waitFor(() => ui.calls.verified.length === 1, "verify callback", 2000, ui.frame);
  assert.deepEqual(ui.calls.verified, [["peer-alice", true]]);
  await ui.press("j");
  await waitFor(() => ui.frame().includes("Safety number with bob"), "selection moves", 2000, ui.frame);
  await ui.press("\u001b");
  await waitFor(() => ui.frame().includes("Participants (2)"), "back to the call", 2000, ui.frame);
});

test("d lists devices and Enter switches the input", async () => {
  const chosen: string[] = [];
  const { actions } = fakeActions();
  actions.listDevices = async () => ({
    inputs: [
      { id: "device:default", label: "ALSA default input" },
      { id: "tone:440", label: "test tone" },
      { id: "none", label: "none" },
    ],
    outputs: [{ id: "off", label: "off" }],
  });
  actions.selectInput = async (spec) => void chosen.push(spec);
  const r = render(<CallApp view={busyView()} actions={actions} ascii={false} width={100} height={24} />);
  const frame = (): string => stripAnsi(r.lastFrame() ?? "");
  await waitFor(() => r.stdin.listenerCount("readable") > 0, "input");
  r.stdin.write("d");
  await waitFor(() => frame().includes("ALSA default input"), "device list", 2000, frame);
  // The current input (tone:440) is preselected; Up and Enter in one chunk (as a fast typist or
  // tmux sends them) must act on the moved selection, not on the one last rendered.
  assert.match(frame(), /› .*tone:440/);
  r.stdin.write("\u001b[A\r");
  await waitFor(() => chosen.length === 1, "selectInput", 2000, frame);
  assert.deepEqual(chosen, ["device:default"]);
  await waitFor(() => frame().includes("Participants (2)"), "back to the call", 2000, frame);
});

test("keys arriving in one chunk act one by one; pasted text never runs commands", async () => {
  const ui = mount(busyView());
  await ui.press("chi\r");
  await waitFor(() => ui.calls.chats.length === 1, "chunked chat send", 2000, ui.frame);
  assert.deepEqual(ui.calls.chats, ["hi"]);
  // A bracketed paste with q and a newline in it: goes to the chat input, nothing is sent or left.
  await ui.press("\u001b[200~q and m\nsecond line\u001b[201~");
  await waitFor(() => ui.frame().includes("> q and m second line"), "paste in the chat input", 2000, ui.frame);
  assert.equal(ui.calls.leaves, 0);
  assert.deepEqual(ui.calls.muted, []);
  assert.equal(ui.calls.chats.length, 1);
});
