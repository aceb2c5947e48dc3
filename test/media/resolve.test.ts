import { test, describe, afterEach } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { MediaError } from "../../src/errors.js";
import { clearFfmpegResolutionCache, ensureExecutable, resolveFfmpeg } from "../../src/media/ffmpeg/resolve.js";
import { listCaptureDevices, probeFfmpeg } from "../../src/media/ffmpeg/probe.js";
import { tempDir } from "./helpers.js";

function script(dir: string, name: string, mode: number): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, "#!/bin/sh\necho fake-ffmpeg\n", { mode });
  fs.chmodSync(file, mode);
  return file;
}

describe("resolveFfmpeg", () => {
  afterEach(() => clearFfmpegResolutionCache());

  test("precedence: --ffmpeg flag over CONCLAVE_FFMPEG over npm packages", () => {
    const { dir, cleanup } = tempDir();
    try {
      const a = script(dir, "ffmpeg-a", 0o755);
      const b = script(dir, "ffmpeg-b", 0o755);
      const env = { PATH: "", HOME: dir, CONCLAVE_FFMPEG: b };
      assert.deepEqual(resolveFfmpeg({ flag: a, env }), { path: a, source: "flag" });
      assert.deepEqual(resolveFfmpeg({ env }), { path: b, source: "env" });
      const pkg = resolveFfmpeg({ env: { PATH: "", HOME: dir } });
      assert.ok(pkg.source === "ffmpeg-static" || pkg.source === "@ffmpeg-installer/ffmpeg", pkg.source);
      assert.ok(fs.statSync(pkg.path).isFile());
    } finally {
      cleanup();
    }
  });

  test("a bare name in --ffmpeg is looked up on PATH", () => {
    const { dir, cleanup } = tempDir();
    try {
      const a = script(dir, "my-ffmpeg", 0o755);
      assert.deepEqual(resolveFfmpeg({ flag: "my-ffmpeg", env: { PATH: dir } }), { path: a, source: "flag" });
    } finally {
      cleanup();
    }
  });

  test("explicit paths that are missing or not executable are errors naming their source", () => {
    const { dir, cleanup } = tempDir();
    try {
      const missing = path.join(dir, "nope");
      assert.throws(
        () => resolveFfmpeg({ flag: missing, env: {} }),
        (e: unknown) => e instanceof MediaError && e.code === "ffmpeg-not-found" && e.message.includes("--ffmpeg") && e.message.includes(missing),
      );
      const notExec = script(dir, "noexec", 0o644);
      assert.throws(
        () => resolveFfmpeg({ env: { CONCLAVE_FFMPEG: notExec } }),
        (e: unknown) => e instanceof MediaError && e.code === "ffmpeg-not-found" && e.message.includes("CONCLAVE_FFMPEG") && /not executable/.test(e.message),
      );
      assert.throws(() => resolveFfmpeg({ flag: dir, env: {} }), /not a file/);
    } finally {
      cleanup();
    }
  });

  test("results are cached per flag and environment", () => {
    const env = { PATH: "" };
    assert.equal(resolveFfmpeg({ env }), resolveFfmpeg({ env: { PATH: "" } }));
  });
});

describe("ensureExecutable", () => {
  test("adds the missing execute bit in place", () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = script(dir, "ffmpeg", 0o644);
      assert.equal(ensureExecutable(file, { cacheDir: path.join(dir, "cache") }), file);
      assert.equal(fs.statSync(file).mode & 0o100, 0o100);
      assert.equal(execFileSync(file).toString().trim(), "fake-ffmpeg");
    } finally {
      cleanup();
    }
  });

  test("copies to the cache directory when chmod fails (read-only install)", () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = script(dir, "ffmpeg", 0o644);
      const cacheDir = path.join(dir, "cache");
      const readOnly = (): void => {
        throw Object.assign(new Error("EROFS: read-only file system"), { code: "EROFS" });
      };
      const copy = ensureExecutable(file, { cacheDir, chmod: readOnly });
      assert.ok(copy && copy.startsWith(cacheDir + path.sep), String(copy));
      assert.equal(fs.statSync(file).mode & 0o111, 0, "original untouched");
      assert.equal(execFileSync(copy).toString().trim(), "fake-ffmpeg");
      assert.equal(ensureExecutable(file, { cacheDir, chmod: readOnly }), copy, "reuses the cached copy");
    } finally {
      cleanup();
    }
  });

  test("a missing file gives null", () => {
    assert.equal(ensureExecutable("/nonexistent/ffmpeg", { cacheDir: "/nonexistent" }), null);
  });
});

describe("probe", () => {
  test("probeFfmpeg reports version and encoders of the bundled ffmpeg", async () => {
    const caps = await probeFfmpeg(resolveFfmpeg().path);
    assert.ok(caps.version.length > 0);
    assert.equal(caps.hasLibopus, true);
    assert.equal(caps.hasLibvpx, true);
    assert.equal(typeof caps.hasLibx264, "boolean");
  });

  test("probeFfmpeg on a non-ffmpeg is a MediaError", async () => {
    await assert.rejects(probeFfmpeg("/nonexistent/ffmpeg"), (e: unknown) => e instanceof MediaError && e.code === "ffmpeg-unusable");
  });

  test("listCaptureDevices parses /proc/asound/pcm and never throws", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const pcm = path.join(dir, "pcm");
      fs.writeFileSync(
        pcm,
        "00-00: ALC3246 Analog : ALC3246 Analog : playback 1 : capture 1\n" +
          "00-03: HDMI 0 : HDMI 0 : playback 1\n" +
          "01-00: USB Audio : USB Audio : capture 1\n",
      );
      fs.mkdirSync(path.join(dir, "pulse"));
      fs.writeFileSync(path.join(dir, "pulse", "native"), "");
      assert.deepEqual(await listCaptureDevices({ procPcmPath: pcm, env: { XDG_RUNTIME_DIR: dir } }), {
        alsa: ["hw:0,0", "hw:1,0"],
        pulse: true,
      });
      assert.deepEqual(await listCaptureDevices({ procPcmPath: path.join(dir, "none"), env: {} }), { alsa: [], pulse: false });
      assert.equal((await listCaptureDevices({ procPcmPath: "/nonexistent", env: { PULSE_SERVER: "unix:/x" } })).pulse, true);
    } finally {
      cleanup();
    }
  });
});
