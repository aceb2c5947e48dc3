/**
 * `conclave doctor` through the real CLI: which ffmpeg it resolved and from where, whether the
 * relay's native send path is in use (and why not when it is turned off), and exit 5 with one clear
 * problem line when the ffmpeg it is given does not exist.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { runCli } from "../helpers/util.js";

// A port nobody listens on is not needed: doctor only checks whether the port is free.
const PORT = "18999";

test("doctor --json reports ffmpeg's source and the native send path", async () => {
  const run = runCli(["doctor", "--json", "--port", PORT]);
  const { code } = await run.exited;
  assert.equal(code, 0, run.stderr);
  const report = run.lines.find((l) => l.type === "doctor");
  assert.ok(report, run.stdout);
  const ffmpeg = report.ffmpeg as { path: string; source: string; libopus: boolean };
  assert.ok(["flag", "env", "ffmpeg-static", "@ffmpeg-installer/ffmpeg", "PATH"].includes(ffmpeg.source), ffmpeg.source);
  assert.equal(ffmpeg.libopus, true);
  const nativeSend = report.nativeSend as { available: boolean; detail: string };
  assert.equal(nativeSend.available, true, `the test command builds the native send path: ${nativeSend.detail}`);
  assert.match(nativeSend.detail, /conclave_native\.node$/);
});

test("doctor with CONCLAVE_NATIVE=0 says the native path is off; with a missing ffmpeg it exits 5", async () => {
  const off = runCli(["doctor", "--json", "--port", PORT], { CONCLAVE_NATIVE: "0" });
  assert.equal((await off.exited).code, 0, off.stderr);
  const report = off.lines.find((l) => l.type === "doctor")!;
  assert.deepEqual(report.nativeSend, { available: false, detail: "turned off (CONCLAVE_NATIVE=0)" });

  const missing = runCli(["doctor", "--json", "--port", PORT, "--ffmpeg", "/nonexistent/ffmpeg"]);
  assert.equal((await missing.exited).code, 5);
  const bad = missing.lines.find((l) => l.type === "doctor")!;
  assert.equal(bad.ok, false);
  assert.ok((bad.problems as string[]).some((p) => p.includes("/nonexistent/ffmpeg")), JSON.stringify(bad.problems));
  assert.equal(missing.stderr.includes("    at "), false, "no stack trace");
});
