import { createServer } from "node:net";
import { Option, type Command } from "commander";
import { resolveFfmpeg, probeFfmpeg, listCaptureDevices, nativeStatus } from "../../media/index.js";
import { createOutput } from "../output.js";
import { parsePort } from "../common.js";
import type { CliContext } from "../commands.js";
import { ExitCode } from "../../errors.js";

function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

export function registerDoctor(program: Command, ctx: CliContext): void {
  program
    .command("doctor")
    .description("check this machine: Node, ffmpeg (which one and from where), libopus, capture devices, relay ports")
    .option("--ffmpeg <path>", "ffmpeg binary to check")
    .option("--host <address>", "relay address to check", "127.0.0.1")
    .option("--port <port>", "relay port to check", parsePort, 8443)
    .addOption(new Option("--json", "write one JSON line"))
    .action(async (opts: { ffmpeg?: string; host: string; port: number; json?: boolean }) => {
      const out = createOutput(Boolean(opts.json));
      ctx.setOutput(out);
      const problems: string[] = [];
      const nodeMajor = Number(process.versions.node.split(".")[0]);
      if (nodeMajor < 20) problems.push(`Node ${process.versions.node} is too old; Conclave needs Node 20 or later`);
      let ffmpeg: { path: string; source: string; version?: string; libopus?: boolean; libvpx?: boolean; libx264?: boolean } | undefined;
      try {
        const found = resolveFfmpeg(opts.ffmpeg ? { flag: opts.ffmpeg } : {});
        const probe = await probeFfmpeg(found.path);
        ffmpeg = { path: found.path, source: found.source, version: probe.version, libopus: probe.hasLibopus, libvpx: probe.hasLibvpx, libx264: probe.hasLibx264 };
        if (!probe.hasLibopus) problems.push("this ffmpeg has no libopus encoder; audio cannot be published");
      } catch (err) {
        problems.push((err as Error).message);
      }
      const devices = await listCaptureDevices();
      const portOk = await portFree(opts.host, opts.port);
      if (!portOk) problems.push(`port ${opts.port} on ${opts.host} is taken; run the relay with --port`);
      // Optional: without it the relay forwards through its JavaScript path (same bytes, more CPU).
      const nativeSend = nativeStatus();
      const report = {
        type: "doctor",
        node: process.versions.node,
        platform: `${process.platform}-${process.arch}`,
        ffmpeg: ffmpeg ?? null,
        captureDevices: devices,
        relayPort: { host: opts.host, port: opts.port, free: portOk },
        nativeSend,
        problems,
        ok: problems.length === 0,
      };
      if (opts.json) out.event(report);
      else {
        const lines = [
          `node        ${process.versions.node} ${nodeMajor >= 20 ? "ok" : "TOO OLD"}`,
          ffmpeg
            ? `ffmpeg      ${ffmpeg.path}\n            from ${ffmpeg.source}, version ${ffmpeg.version}, libopus ${ffmpeg.libopus ? "yes" : "NO"}, libvpx ${ffmpeg.libvpx ? "yes" : "no"}`
            : "ffmpeg      NOT FOUND",
          `capture     alsa: ${devices.alsa.length > 0 ? devices.alsa.join(", ") : "none"}; pulseaudio: ${devices.pulse ? "yes" : "no"}`,
          `relay port  ${opts.host}:${opts.port} ${portOk ? "free" : "IN USE"}`,
          `native send ${nativeSend.available ? "yes" : "no (the relay uses its JavaScript path)"}: ${nativeSend.detail}`,
          problems.length === 0 ? "all good" : `problems:\n${problems.map((p) => `  - ${p}`).join("\n")}`,
        ];
        process.stdout.write(lines.join("\n") + "\n");
      }
      process.exitCode = ffmpeg ? ExitCode.ok : ExitCode.media;
    });
}
