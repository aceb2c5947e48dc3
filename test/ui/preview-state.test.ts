/** The video preview in the view model: whom it shows (speaker, pinned, cycling), stats, layout. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { reduce, initialView, SPEAKER_HOLD_MS, type CallView, type PollSample, type PreviewPicture } from "../../src/cli/ui/state.js";
import { participantColumns, previewArea, screenLayout } from "../../src/cli/ui/layout.js";
import { apply, baseView, ev, peerJoined, T0 } from "./fixtures.js";

const VIDEO = { fps: 15, width: 320, height: 240, keyframes: 3 };

function withPreview(peer?: string): CallView {
  const base = baseView();
  const view = initialView({ room: base.room, relay: base.relay, name: "tester", suite: 4, peerId: "self", now: T0, joinedAt: T0, preview: { visible: true, ...(peer ? { peer } : {}) } });
  return apply(view, peerJoined("p-ann", "ann", 1), peerJoined("p-bob", "bob", 2), peerJoined("p-cat", "cat", 3));
}

/** A poll where ann and cat publish video (bob does not) and `speaking` speak. */
function poll(now: number, speaking: string[] = []): { type: "poll"; sample: PollSample } {
  const peer = (id: string, video: boolean) => ({ speaking: speaking.includes(id), video: video ? VIDEO : null });
  return { type: "poll", sample: { now, peers: { "p-ann": peer("p-ann", true), "p-bob": peer("p-bob", false), "p-cat": peer("p-cat", true) } } };
}

function picture(peerId: string, width = 8, height = 6): PreviewPicture {
  return { peerId, rgb: new Uint8Array(width * height * 3).fill(200), width, height, at: T0 };
}

test("off by default; --show-video follows the first publisher, then the speaker after the hold time, keeping the last one in silence", () => {
  assert.equal(apply(baseView(), peerJoined("p1", "x", 1)).preview.visible, false);
  let view = reduce(withPreview(), poll(T0 + 100));
  assert.equal(view.preview.visible, true);
  assert.equal(view.preview.shown, "p-ann", "nobody speaks: the first publisher");
  // bob speaks but sends no video: nothing changes.
  view = reduce(view, poll(T0 + 200, ["p-bob"]));
  assert.equal(view.preview.shown, "p-ann");
  // cat speaks, but ann was chosen less than SPEAKER_HOLD_MS ago: held.
  view = reduce(view, poll(T0 + 300, ["p-cat"]));
  assert.equal(view.preview.shown, "p-ann");
  view = reduce(view, poll(T0 + 100 + SPEAKER_HOLD_MS, ["p-cat"]));
  assert.equal(view.preview.shown, "p-cat");
  // silence: cat stays.
  view = reduce(view, poll(T0 + 10_000));
  assert.equal(view.preview.shown, "p-cat");
  // a picture of cat is kept; one of someone else is ignored
  view = reduce(view, { type: "preview-picture", picture: picture("p-ann") });
  assert.equal(view.preview.picture, null);
  view = reduce(view, { type: "preview-picture", picture: picture("p-cat") });
  assert.equal(view.preview.picture?.peerId, "p-cat");
  // cat leaves: the picture goes, ann is shown
  view = reduce(view, ev({ type: "peer-left", peerId: "p-cat", name: "cat", reason: "left" }));
  assert.equal(view.preview.shown, "p-ann");
  assert.equal(view.preview.picture, null);
});

test("--show-video PEER pins a member by name, name prefix or id prefix, also when they join later", () => {
  assert.equal(reduce(withPreview("CAT"), poll(T0 + 100)).preview.shown, "p-cat");
  assert.equal(reduce(withPreview("ca"), poll(T0 + 100)).preview.shown, "p-cat");
  assert.equal(reduce(withPreview("p-an"), poll(T0 + 100)).preview.shown, "p-ann");
  // pinned stays pinned while someone else speaks
  assert.equal(reduce(withPreview("cat"), poll(T0 + 60_000, ["p-ann"])).preview.shown, "p-cat");
  // bob sends no video: nothing shown, but still pinned
  const bob = reduce(withPreview("bob"), poll(T0 + 100, ["p-ann"]));
  assert.equal(bob.preview.pinned, "p-bob");
  assert.equal(bob.preview.shown, null);
  // nobody matches yet: wait, then pin the newcomer
  let later = reduce(withPreview("dan"), poll(T0 + 100, ["p-ann"]));
  assert.equal(later.preview.query, "dan");
  assert.equal(later.preview.shown, null);
  later = apply(later, peerJoined("p-dan", "dan", 4), { type: "poll", sample: { now: T0 + 200, peers: { "p-dan": { video: VIDEO } } } });
  assert.equal(later.preview.query, null);
  assert.equal(later.preview.shown, "p-dan");
});

test("n cycles speaker → each publisher → speaker; p hides and shows", () => {
  let view = reduce(withPreview(), poll(T0 + 100));
  const seq: (string | null)[] = [];
  for (let i = 0; i < 3; i++) {
    view = reduce(view, { type: "preview-next" });
    seq.push(view.preview.pinned);
  }
  assert.deepEqual(seq, ["p-ann", "p-cat", null]);
  view = reduce(view, { type: "preview-toggle" });
  assert.equal(view.preview.visible, false);
  assert.equal(reduce(view, { type: "preview-picture", picture: picture("p-ann") }).preview.picture, null, "hidden: no pictures kept");
  view = reduce(view, { type: "preview-toggle" });
  assert.equal(view.preview.visible, true);
  // n on a hidden preview shows it
  view = reduce(reduce(view, { type: "preview-toggle" }), { type: "preview-next" });
  assert.equal(view.preview.visible, true);
});

test("video stats come from polls and stats events; the participant list gets a video column when someone sends video", () => {
  let view = reduce(withPreview(), poll(T0 + 100));
  assert.deepEqual(view.peers.find((p) => p.name === "ann")!.video, VIDEO);
  assert.equal(view.peers.find((p) => p.name === "bob")!.video, null);
  view = reduce(
    view,
    ev({
      type: "stats",
      peers: [
        {
          peerId: "p-bob",
          name: "bob",
          packetsReceived: 1,
          packetsLost: 0,
          lossPct: 0,
          jitterMs: 0,
          bitrateKbps: 0,
          decryptFailures: 0,
          levelDbfs: null,
          speaking: false,
          video: { fps: 10, width: 640, height: 360, frames: 50, keyframes: 5, packetsLost: 0, bitrateKbps: 300 },
        },
      ],
      sent: { packets: 0, bytes: 0 },
      decryptFailures: 0,
      unknownKey: 0,
      rejected: 0,
    }),
  );
  assert.deepEqual(view.peers.find((p) => p.name === "bob")!.video, { fps: 10, width: 640, height: 360, keyframes: 5 });
  assert.equal(participantColumns(100, true).video, 21);
  assert.equal(participantColumns(100, false).video, 0);
  assert.equal(participantColumns(50, true).video, 0, "narrow: the video column is dropped");
});

test("layout: the preview pane sits between participants and chat and never pushes the frame past the terminal", () => {
  for (const [width, height] of [[60, 15], [100, 30], [200, 50]] as const) {
    const area = previewArea(width, height);
    assert.ok(area.cols <= width && area.cols <= 120 && area.rows >= 1);
    for (const chatLines of [0, 5, 50]) {
      const l = screenLayout({ width, height, warnings: 1, peers: 3, chatLines, chatOpen: false, preview: { rows: area.rows } });
      const used = 2 + l.warnings + 1 + l.peerRows + (l.previewRows > 0 ? 1 + l.previewRows : 0) + (l.showChat ? 1 + l.chatRows : 0) + 2;
      assert.ok(used <= height - 1, `${width}x${height} chat ${chatLines}: ${used} lines`);
      assert.ok(l.previewRows >= 1, `${width}x${height}: the pane is shown`);
      assert.equal(l.peerRows, 3);
    }
  }
  // 100x30 with nothing else: the whole picture fits
  const big = screenLayout({ width: 100, height: 30, warnings: 0, peers: 2, chatLines: 0, chatOpen: false, preview: { rows: previewArea(100, 30).rows } });
  assert.equal(big.previewRows, previewArea(100, 30).rows);
  // no preview requested: no pane
  assert.equal(screenLayout({ width: 100, height: 30, warnings: 0, peers: 2, chatLines: 0, chatOpen: false }).previewRows, 0);
});
