import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { MediaError } from "../../src/errors.js";
import { createLogger } from "../../src/log.js";
import { FfmpegProcess, liveFfmpegCount } from "../../src/media/ffmpeg/process.js";
import { ffmpegPath, isAlive, waitUntil, withTimeout } from "./helpers.js";

describe("FfmpegProcess", () => {
  test("a binary that cannot run fails to start", async () => {
    const proc = FfmpegProcess.start(["-version"], { ffmpeg: "/nonexistent/ffmpeg" });
    await assert.rejects(proc.started, (e: unknown) => e instanceof MediaError && e.code === "ffmpeg-start-failed" && /ENOENT/.test(e.message));
    const exit = await withTimeout(proc.exited, 5000, "exit");
    assert.equal(exit.startedOk, false);
    await proc.close();
  });

  test("exiting before any output is a start failure carrying ffmpeg's last stderr line", async () => {
    const lines: string[] = [];
    const logger = createLogger("debug", (l) => lines.push(l));
    const proc = FfmpegProcess.start(["-hide_banner", "-nostdin", "-i", "/nonexistent/input.wav", "-f", "null", "-"], {
      ffmpeg: ffmpegPath(),
      logger,
    });
    await assert.rejects(proc.started, (e: unknown) => e instanceof MediaError && e.code === "ffmpeg-start-failed" && /No such file or directory/.test(e.message));
    const exit = await withTimeout(proc.exited, 10_000, "exit");
    assert.notEqual(exit.code, 0);
    assert.ok(lines.some((l) => l.includes("debug") && l.includes("No such file")), "stderr forwarded to logger");
  });

  test("a running process is 'started'; close() is idempotent, waits for exit and reports it as requested", async () => {
    const proc = FfmpegProcess.start(
      ["-hide_banner", "-nostdin", "-re", "-f", "lavfi", "-i", "sine", "-f", "s16le", "pipe:1"],
      { ffmpeg: ffmpegPath() },
    );
    proc.stdout!.resume();
    await withTimeout(proc.started, 10_000, "start");
    const pid = proc.pid!;
    assert.ok(isAlive(pid));
    const exits: unknown[] = [];
    proc.on("exit", (...args) => exits.push(args));
    const [a, b] = [proc.close(), proc.close()];
    await withTimeout(Promise.all([a, b]), 5000, "close");
    assert.equal(isAlive(pid), false);
    assert.equal(exits.length, 1);
    assert.equal(proc.exitInfo!.requested, true);
    assert.equal(proc.exitInfo!.startedOk, true);
    await proc.close();
  });

  test("close() escalates to SIGKILL when SIGTERM is ignored", async () => {
    // Not ffmpeg, but the same wrapper: a shell that ignores TERM and execs sleep (which inherits it).
    const proc = FfmpegProcess.start(["-c", "trap '' TERM; echo up; exec sleep 30"], { ffmpeg: "/bin/sh", killTimeoutMs: 200 });
    proc.stdout!.resume();
    await withTimeout(proc.started, 5000, "start");
    await withTimeout(proc.close(), 5000, "close");
    assert.equal(proc.exitInfo!.signal, "SIGKILL");
  });

  test("a process that dies after starting is reported as not requested", async () => {
    const proc = FfmpegProcess.start(["-c", "echo up; exit 3"], { ffmpeg: "/bin/sh" });
    proc.stdout!.resume();
    const exit = await withTimeout(proc.exited, 5000, "exit");
    assert.deepEqual({ code: exit.code, requested: exit.requested, startedOk: exit.startedOk }, { code: 3, requested: false, startedOk: true });
    assert.equal(liveFfmpegCount(), 0);
  });

  test("children are killed when the parent process exits", async () => {
    const module = fileURLToPath(new URL("../../src/media/ffmpeg/process.js", import.meta.url));
    const code = `
      const { FfmpegProcess } = await import(${JSON.stringify(module)});
      // Output to /dev/null and a silent log: nothing but the exit hook can end this ffmpeg.
      const p = FfmpegProcess.start(["-nostdin","-nostats","-loglevel","quiet","-re","-f","lavfi","-i","sine","-f","null","-"], { ffmpeg: ${JSON.stringify(ffmpegPath())}, stdout: "ignore" });
      await p.started;
      process.stdout.write(String(p.pid) + "\\n");
      process.exit(0);`;
    const parent = spawn(process.execPath, ["--input-type=module", "-e", code], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    parent.stdout.on("data", (d: Buffer) => (out += d.toString()));
    await withTimeout(new Promise((r) => parent.once("close", r)), 15_000, "parent exit");
    const pid = Number(out.trim());
    assert.ok(pid > 0, `child pid printed: ${out}`);
    await waitUntil(() => !isAlive(pid), 5000, "orphan ffmpeg to die");
  });
});
