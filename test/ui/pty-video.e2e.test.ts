/**
 * The terminal video preview end to end: an in-process relay, two members publishing `testsrc` VP8
 * video (cam2 also a tone, so it is the speaker), and the real `conclave join --show-video` CLI in
 * tmux. Checks that the pane follows the speaker and draws real decoded video with coloured half
 * blocks within a few seconds, that the CLI runs exactly one ffmpeg decoder although two members
 * send video, that `n` switches to the other member (a new decoder replaces the old one), and that
 * `p` hides the pane and stops decoding.
 *
 * Needs the compiled CLI (`npx tsc -p tsconfig.json`) and tmux.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Relay, Participant, newInvite, resolveFfmpeg } from "../../src/index.js";
import { parseAudioSource, parseVideoSource } from "../../src/media/index.js";
import { stripAnsi, waitFor } from "./helpers.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const cli = join(root, "bin", "conclave");
const hasTmux = spawnSync("tmux", ["-V"]).status === 0;
const built = existsSync(join(root, "dist", "src", "cli", "main.js"));
const skip = !hasTmux ? "tmux is not installed" : !built ? "the CLI is not built (npx tsc -p tsconfig.json)" : false;

const socket = `conclave-video-test-${process.pid}`;
const session = `video-${process.pid}-${Date.now()}`;
let dir = "";
let relay: Relay | undefined;
const cams: Participant[] = [];
let tmuxStarted = false;

function tmux(...args: string[]): string {
  return execFileSync("tmux", ["-L", socket, ...args], { encoding: "utf8" });
}

/** The pane with colours (-e): tmux keeps 24-bit colours as 38;2;R;G;B. */
function capture(colours = false): string {
  try {
    return tmux("capture-pane", "-p", ...(colours ? ["-e"] : []), "-t", session);
  } catch {
    return "";
  }
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Pids of the ffmpeg preview decoders (rawvideo out of an IVF pipe) below the tmux pane. */
function decoders(): number[] {
  let panePid: number;
  try {
    panePid = Number(tmux("display-message", "-p", "-t", session, "#{pane_pid}").trim());
  } catch {
    return [];
  }
  const parent = new Map<number, number>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // gone already
    }
  }
  const below = (pid: number): boolean => {
    for (let p = parent.get(pid), n = 0; p !== undefined && n < 50; p = parent.get(p), n++) if (p === panePid) return true;
    return false;
  };
  return [...parent.keys()].filter((pid) => {
    if (!below(pid)) return false;
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      return cmd.includes("ivf") && cmd.includes("rawvideo");
    } catch {
      return false;
    }
  });
}

/**
 * The picture as tmux holds it: lines below the pane's title with at least 10 colour codes, the half
 * blocks on them, and how many different colours they use (the UI draws with the 256-colour palette;
 * tmux may report a colour as 38;5;N or as 38;2;R;G;B).
 */
function drawn(): { lines: number; blocks: number; colours: number } {
  const raw = capture(true).split("\n");
  const title = raw.findIndex((l) => stripAnsi(l).startsWith("Video "));
  if (title < 0) return { lines: 0, blocks: 0, colours: 0 };
  const codes = (l: string): string[] => l.match(/[34]8;(5;\d+|2;\d+;\d+;\d+)/g) ?? [];
  const lines = raw.slice(title + 1).filter((l) => codes(l).length >= 10);
  const blocks = lines.reduce((n, l) => n + (stripAnsi(l).match(/▀/g)?.length ?? 0), 0);
  return { lines: lines.length, blocks, colours: new Set(lines.flatMap(codes)).size };
}

const picture = (): boolean => {
  const d = drawn();
  return d.lines >= 10 && d.blocks >= 100 && d.colours >= 8;
};

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), "conclave-pty-video-"));
  relay = new Relay({ host: "127.0.0.1", port: 0 });
  const url = await relay.start();
  const invite = newInvite(url);
  const ffmpeg = resolveFfmpeg().path;
  for (const name of ["cam1", "cam2"]) {
    const cam = await Participant.join(invite, { name, ffmpeg, video: true, levels: false, statsIntervalMs: 0 });
    cams.push(cam);
    await cam.publishVideo(parseVideoSource("testsrc"), { width: 320, height: 240, fps: 10, bitrateKbps: 200 });
    if (name === "cam2") await cam.publish(parseAudioSource("tone:440"));
  }
  const exitFile = join(dir, "exit");
  const command =
    `cd ${shellQuote(root)} && env -u CI -u CONTINUOUS_INTEGRATION XDG_CONFIG_HOME=${shellQuote(join(dir, "config"))} LANG=C.UTF-8 LC_ALL= ` +
    `node ${shellQuote(cli)} join ${shellQuote(invite)} --name viewer --audio none --show-video 2>${shellQuote(join(dir, "stderr"))}; ` +
    `echo EXIT:$? > ${shellQuote(exitFile)}; sleep 60`;
  tmux("new-session", "-d", "-s", session, "-x", "100", "-y", "30", command);
  tmuxStarted = true;
});

after(async () => {
  if (tmuxStarted) spawnSync("tmux", ["-L", socket, "kill-server"]);
  await Promise.all(cams.map((c) => c.close()));
  await relay?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("join --show-video draws one member's real video with half blocks, one decoder, n switches, p stops", { skip, timeout: 60_000 }, async () => {
  const exitFile = join(dir, "exit");
  const stderr = (): string => (existsSync(join(dir, "stderr")) ? readFileSync(join(dir, "stderr"), "utf8") : "");
  const describe = (): string => `${capture()}\n--- decoders: ${decoders().join(",")}\n--- stderr ---\n${stderr()}`;

  // cam2 speaks: its video is shown. testsrc has many colours.
  await waitFor(() => /^Video cam2 · 320x240 \d+fps kf\d+ · following the speaker/m.test(capture()), "the pane for cam2, the speaker", 20_000, describe);
  const started = Date.now();
  await waitFor(() => picture(), "coloured half blocks from cam2's video", 10_000, describe);
  const firstPictureMs = Date.now() - started;
  // The participant list shows both senders' video stats.
  await waitFor(
    () => /^. cam1 .*320x240 \d+fps kf\d+/m.test(capture()) && /^. cam2 .*320x240 \d+fps kf\d+/m.test(capture()),
    "video stats of both members",
    10_000,
    describe,
  );
  // Two members send video; one decoder runs.
  const first = decoders();
  assert.equal(first.length, 1, describe());

  // n: cam1 (the first sender) pinned although cam2 speaks; a new decoder replaces the old one.
  tmux("send-keys", "-t", session, "n");
  await waitFor(() => /^Video cam1 .*· pinned/m.test(capture()), "cam1 pinned", 5000, describe);
  await waitFor(() => picture(), "half blocks from cam1's video", 10_000, describe);
  await waitFor(() => decoders().length === 1 && decoders()[0] !== first[0], "one new decoder for cam1", 5000, describe);

  // p hides the pane and stops the decoder.
  tmux("send-keys", "-t", session, "p");
  await waitFor(() => !capture().includes("Video cam1") && decoders().length === 0, "no pane, no decoder", 5000, describe);
  console.log(JSON.stringify({ firstPictureMs }));

  tmux("send-keys", "-t", session, "q");
  await waitFor(() => existsSync(exitFile) && readFileSync(exitFile, "utf8").trim(), "the CLI to exit", 15_000, describe);
  assert.equal(readFileSync(exitFile, "utf8").trim(), "EXIT:0", describe());
  assert.equal(stripAnsi(stderr()).trim(), "", "nothing on stderr");
});
