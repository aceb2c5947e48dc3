/**
 * `conclave serve` through the CLI: the `listening` line states the admission limits and video
 * repair as the relay enforces them (defaults filled in, flags applied), bad values are one clear
 * line with exit code 2, and a reader of stdout that goes away does not end the relay with a stack
 * trace.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { runCli, stopCli, type CliRun } from "../helpers/util.js";

const runs: CliRun[] = [];
after(async () => {
  for (const r of runs) await stopCli(r);
});

function start(args: string[]): CliRun {
  const run = runCli(["serve", "--host", "127.0.0.1", "--port", "0", "--json", ...args]);
  runs.push(run);
  return run;
}

test("serve --json: the listening line states admission and video repair; --video-packet-cost and --no-video-repair apply", async () => {
  const plain = start([]);
  const tuned = start(["--video-packet-cost", "5", "--no-video-repair", "--max-packet-rate", "1000", "--max-room-size", "7"]);
  const listening = (r: CliRun) => r.waitForLine((l) => l.type === "listening", 15_000, "the listening line");
  const [a, b] = await Promise.all([listening(plain), listening(tuned)]);
  assert.equal(a.videoRepair, true);
  assert.deepEqual(a.admission, { maxParticipants: 200, maxRooms: 100, maxRoomSize: 50, maxPacketRate: (a.admission as { maxPacketRate: number }).maxPacketRate, videoPacketCost: 3, maxLoad: 0.9 });
  assert.ok((a.admission as { maxPacketRate: number }).maxPacketRate >= 40_000, "the default scales with the cores");
  assert.equal(b.videoRepair, false);
  assert.deepEqual(b.admission, { maxParticipants: 200, maxRooms: 100, maxRoomSize: 7, maxPacketRate: 1000, videoPacketCost: 5, maxLoad: 0.9 });
});

test("serve: a bad --video-packet-cost is one clear line and exit code 2", async () => {
  const run = runCli(["serve", "--port", "0", "--video-packet-cost", "lots"]);
  runs.push(run);
  const { code } = await run.exited;
  assert.equal(code, 2);
  assert.equal(run.stderr.trim().split("\n").length, 1, run.stderr);
  assert.match(run.stderr, /--video-packet-cost/);
});

test("serve --json whose reader goes away keeps serving and stops cleanly, without a stack trace", async () => {
  const run = start([]);
  await run.waitForLine((l) => l.type === "listening", 15_000, "the listening line");
  // The reader goes away (as `| head -1` does): the relay's next line hits a closed pipe.
  run.child.stdout!.destroy();
  const { code } = await stopCli(run);
  assert.equal(code, 0, `exit code; stderr: ${run.stderr}`);
  assert.doesNotMatch(run.stderr, /EPIPE|at .*\.js:\d+/, "no unhandled error, no stack trace");
});
