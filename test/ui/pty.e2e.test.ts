/**
 * End to end in a real pseudo-terminal: an in-process relay and tone bot, and the real
 * `conclave join` CLI running in tmux (its own tmux server, so a user's sessions are untouched).
 * Checks that the UI shows the bot speaking, that `m` mutes us for the others, that the layout
 * follows a resize, and that `q` leaves cleanly with exit code 0.
 *
 * Needs the compiled CLI (`npx tsc -p tsconfig.json`) and tmux.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Relay, Participant, newInvite, parseAudioSource, resolveFfmpeg, type ConclaveEvent } from "../../src/index.js";
import { displayWidth } from "../../src/cli/ui/text.js";
import { stripAnsi, waitFor } from "./helpers.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const cli = join(root, "bin", "conclave");
const hasTmux = spawnSync("tmux", ["-V"]).status === 0;
const built = existsSync(join(root, "dist", "src", "cli", "main.js"));
const skip = !hasTmux ? "tmux is not installed" : !built ? "the CLI is not built (npx tsc -p tsconfig.json)" : false;

const socket = `conclave-ui-test-${process.pid}`;
const session = `ui-${process.pid}-${Date.now()}`;
let dir = "";
let relay: Relay | undefined;
let bot: Participant | undefined;
const botEvents: (ConclaveEvent & { time: string })[] = [];
let tmuxStarted = false;

function tmux(...args: string[]): string {
  return execFileSync("tmux", ["-L", socket, ...args], { encoding: "utf8" });
}

function capture(): string {
  try {
    return tmux("capture-pane", "-p", "-t", session);
  } catch {
    return "";
  }
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), "conclave-pty-"));
  relay = new Relay({ host: "127.0.0.1", port: 0 });
  const url = await relay.start();
  const invite = newInvite(url);
  bot = await Participant.join(invite, { name: "tonebot", ffmpeg: resolveFfmpeg().path, levels: false });
  bot.on("event", (e) => botEvents.push(e));
  await bot.publish(parseAudioSource("tone:440"));
  const exitFile = join(dir, "exit");
  // A person's terminal, not a CI job: Ink draws only the last frame when CI is set (and CI sets it).
  const command =
    `cd ${shellQuote(root)} && env -u CI -u CONTINUOUS_INTEGRATION XDG_CONFIG_HOME=${shellQuote(join(dir, "config"))} LANG=C.UTF-8 LC_ALL= ` +
    `node ${shellQuote(cli)} join ${shellQuote(invite)} --name tester --audio none 2>${shellQuote(join(dir, "stderr"))}; ` +
    `echo EXIT:$? > ${shellQuote(exitFile)}; sleep 60`;
  tmux("new-session", "-d", "-s", session, "-x", "100", "-y", "30", command);
  tmuxStarted = true;
});

after(async () => {
  if (tmuxStarted) spawnSync("tmux", ["-L", socket, "kill-server"]);
  await bot?.close();
  await relay?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("conclave join in a terminal: speaking bot, mute, resize, clean leave", { skip, timeout: 60_000 }, async () => {
  const exitFile = join(dir, "exit");
  const stderr = (): string => (existsSync(join(dir, "stderr")) ? readFileSync(join(dir, "stderr"), "utf8") : "");
  const describe = (): string => `${capture()}\n--- stderr ---\n${stderr()}`;

  // The bot shows up, speaking (its tone is decrypted and metered by the CLI).
  await waitFor(() => /● tonebot .*speaking/.test(capture()), "tonebot speaking in the UI", 20_000, describe);
  const frame = capture();
  assert.match(frame, /E2EE AES_128_GCM_SHA256_128/);
  assert.match(frame, /Participants \(1\)/);
  assert.match(frame, /not sending audio/);

  // m mutes us: the bot learns it end-to-end, the UI says so.
  tmux("send-keys", "-t", session, "m");
  await waitFor(
    () => botEvents.find((e) => e.type === "muted" && e.name === "tester" && e.muted),
    "the bot to see tester muted",
    10_000,
    describe,
  );
  await waitFor(() => capture().includes("MUTED"), "MUTED in the UI", 5000, describe);

  // Narrow terminal: the frame follows, no line wider than the terminal, no stale lines.
  tmux("resize-window", "-t", session, "-x", "60", "-y", "15");
  await waitFor(
    () => {
      const lines = capture().split("\n");
      return lines.some((l) => /● tonebot/.test(l)) && lines.every((l) => displayWidth(l) <= 60) && !capture().includes("fingerprint");
    },
    "the 60x15 layout",
    5000,
    describe,
  );
  assert.equal(capture().split("\n").filter((l) => l.startsWith("Conclave")).length, 1, "one header on screen");

  // q leaves cleanly: exit code 0, the bot sees us leave.
  tmux("send-keys", "-t", session, "q");
  await waitFor(() => existsSync(exitFile) && readFileSync(exitFile, "utf8").trim(), "the CLI to exit", 15_000, describe);
  assert.equal(readFileSync(exitFile, "utf8").trim(), "EXIT:0", describe());
  await waitFor(() => botEvents.find((e) => e.type === "peer-left" && e.name === "tester"), "the bot to see tester leave", 10_000, describe);
  // Ink shows the cursor again on exit through stderr; nothing else may appear there.
  assert.equal(stripAnsi(stderr()).trim(), "", "nothing on stderr");
});
