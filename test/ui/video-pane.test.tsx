/** The video preview pane rendered by Ink: synthetic pictures in, half blocks (or ASCII) out. */
import { afterEach, test } from "node:test";
import assert from "node:assert/strict";
import { render, cleanup } from "ink-testing-library";
import { CallApp, type UiActions } from "../../src/cli/ui/App.js";
import { initialView, reduce, type CallView, type PreviewPicture } from "../../src/cli/ui/state.js";
import { pictureLines } from "../../src/cli/ui/VideoPane.js";
import { displayWidth } from "../../src/cli/ui/text.js";
import { apply, peerJoined, T0 } from "./fixtures.js";
import { stripAnsi, waitFor } from "./helpers.js";

afterEach(() => cleanup());

/** Even pixel rows: left half red, right half blue; odd rows green; the bottom two pixel rows white. */
function picture(peerId: string, width: number, height: number): PreviewPicture {
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const c = y >= height - 2 ? [255, 255, 255] : y % 2 === 1 ? [0, 255, 0] : x < width / 2 ? [255, 0, 0] : [0, 0, 255];
      rgb.set(c, i);
    }
  }
  return { peerId, rgb, width, height, at: T0 };
}

function videoCall(): CallView {
  const view = initialView({ room: "room", relay: "http://127.0.0.1:1", name: "tester", suite: 4, peerId: "self", now: T0, joinedAt: T0, preview: { visible: true } });
  return apply(view, peerJoined("p-cam", "cam", 1), peerJoined("p-mic", "mic", 2), {
    type: "poll",
    sample: { now: T0 + 100, peers: { "p-cam": { video: { fps: 15, width: 320, height: 240, keyframes: 4 } }, "p-mic": { video: null } } },
  });
}

function actionsLog(): { actions: UiActions; log: string[] } {
  const log: string[] = [];
  return {
    log,
    actions: {
      setMuted: () => {},
      sendChat: () => {},
      leave: () => {},
      setVerified: () => {},
      togglePreview: () => void log.push("toggle"),
      nextPreview: () => void log.push("next"),
      setPreviewArea: (c, r) => void log.push(`area ${c}x${r}`),
    },
  };
}

test("pictureLines: half blocks with the pixels' colours, centred, cropped to the room given", () => {
  const lines = pictureLines(picture("x", 8, 6), 12, 10, false, "truecolor");
  assert.equal(lines.length, 3);
  for (const l of lines.slice(0, 2)) assert.equal(stripAnsi(l), "  ▀▀▀▀▀▀▀▀");
  assert.match(lines[0]!, /\x1b\[38;2;255;0;0m\x1b\[48;2;0;255;0m▀▀▀▀\x1b\[38;2;0;0;255m▀▀▀▀/);
  // two white pixels: a space on a white background
  assert.equal(stripAnsi(lines[2]!), " ".repeat(10));
  assert.match(lines[2]!, /^ {2}\x1b\[48;2;255;255;255m {8}\x1b\[0m$/);
  // the 256-colour palette: red 196, blue 21, green 46, white 231
  const palette = pictureLines(picture("x", 8, 6), 8, 10, false, "256");
  assert.equal(palette[0], "\x1b[38;5;196m\x1b[48;5;46m▀▀▀▀\x1b[38;5;21m▀▀▀▀\x1b[0m");
  assert.equal(palette[2], "\x1b[48;5;231m        \x1b[0m");
  // Smaller room than the picture: the middle, no wider than the room.
  const cropped = pictureLines(picture("x", 8, 6), 4, 2, false, "truecolor");
  assert.equal(cropped.length, 2);
  assert.equal(stripAnsi(cropped[0]!), "▀▀▀▀");
  assert.match(cropped[0]!, /255;0;0m.*0;0;255m/);
  // ASCII: luminance ramp, red and blue are dark-ish, white is '@'
  const ascii = pictureLines(picture("x", 8, 6), 8, 10, true);
  assert.deepEqual(ascii.map((l) => l.length), [8, 8, 8]);
  assert.equal(ascii[2], "@@@@@@@@");
  assert.match(ascii.join(""), /^[\x20-\x7e]+$/);
});

test("the pane shows whose video, its stats and the keys; the picture replaces the status line", async () => {
  let view = videoCall();
  const { actions, log } = actionsLog();
  const r = render(<CallApp view={view} actions={actions} ascii={false} width={100} height={30} />);
  const frame = (): string => stripAnsi(r.lastFrame() ?? "");
  assert.match(frame(), /^Video cam · 320x240 15fps kf4 · following the speaker · n next p hide/m);
  assert.match(frame(), /waiting for a key frame from cam/);
  // the participant list has a video column for cam, empty for mic
  assert.match(frame(), /^○ cam .*320x240 15fps kf4/m);
  assert.doesNotMatch(frame().split("\n").find((l) => l.startsWith("○ mic")) ?? "", /fps/);
  assert.match(frame(), /p video/);
  await waitFor(() => log.includes("area 100x14"), "the preview area to be reported", 2000, () => log.join(","));

  view = reduce(view, { type: "preview-picture", picture: picture("p-cam", 40, 28) });
  r.rerender(<CallApp view={view} actions={actions} ascii={false} width={100} height={30} />);
  await waitFor(() => frame().includes("▀".repeat(40)), "half blocks", 2000, frame);
  const raw = r.lastFrame() ?? "";
  const blockLines = frame().split("\n").filter((l) => l.includes("▀"));
  assert.equal(blockLines.length, 13, "28 pixel rows in 14 lines, the last one white on white");
  assert.ok(blockLines.every((l) => l.trim() === "▀".repeat(40) && displayWidth(l) <= 100));
  assert.match(raw, /38;5;196m/, "red pixels (256-colour palette by default)");
  assert.match(raw, /38;5;21m/, "blue pixels");
  assert.match(raw, /48;5;46m/, "green pixels below them");
  assert.match(raw, /48;5;231m {40}/, "the white bottom row");
  assert.doesNotMatch(frame(), /waiting for a key frame/);
  assert.ok(frame().split("\n").length <= 29, "the frame stays shorter than the terminal");

  // keys reach the actions
  await waitFor(() => r.stdin.listenerCount("readable") > 0, "input to be wired");
  r.stdin.write("n");
  r.stdin.write("p");
  await waitFor(() => log.includes("next") && log.includes("toggle"), "n and p", 2000, () => log.join(","));
});

test("ascii mode draws the picture with a 7-bit ramp; a hidden preview draws nothing", async () => {
  const view = reduce(videoCall(), { type: "preview-picture", picture: picture("p-cam", 40, 20) });
  const r = render(<CallApp view={view} actions={actionsLog().actions} ascii={true} width={80} height={24} />);
  const frame = r.lastFrame() ?? "";
  assert.match(frame, /^[\x00-\x7f]*$/, "ASCII only");
  assert.match(frame, /^Video cam \| 320x240 15fps kf4/m);
  assert.ok(frame.split("\n").filter((l) => /^ *@{40}$/.test(l)).length === 1, "the white bottom rows as '@'");
  assert.ok(frame.split("\n").filter((l) => /^ *[-=:.+*#%]{40}$/.test(l)).length >= 2, "the red/blue rows as darker ramp characters");
  const hidden = reduce(view, { type: "preview-toggle" });
  r.rerender(<CallApp view={hidden} actions={actionsLog().actions} ascii={true} width={80} height={24} />);
  await waitFor(() => !(r.lastFrame() ?? "").includes("Video cam"), "the pane to go", 2000, () => r.lastFrame() ?? "");
});
