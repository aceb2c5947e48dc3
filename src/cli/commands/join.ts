import { createInterface } from "node:readline";
import { Option, type Command } from "commander";
import { Participant, type JoinOptions } from "../../client/index.js";
import { parseAudioSource, parseVideoSource, AudioPlayer, type AudioOutput } from "../../media/index.js";
import { createOutput, type Output } from "../output.js";
import { ffmpegPath, identityFor, makeLogger, parsePositiveInt, parseSeconds, parseSuite, parseVideoSize, readCa, waitForStop } from "../common.js";
import type { CliContext } from "../commands.js";
import { ExitCode } from "../../errors.js";

export interface JoinCliOptions {
  name?: string;
  audio: string;
  loop?: boolean;
  duration?: number;
  headless?: boolean;
  json?: boolean;
  play?: string | boolean;
  record?: boolean;
  identity?: string;
  ffmpeg?: string;
  suite?: 4 | 5;
  ascii?: boolean;
  token?: string;
  ca?: string;
  video?: string;
  videoSize?: [number, number];
  fps?: number;
  videoBitrate?: number;
  videoCodec?: "vp8" | "h264";
  showVideo?: string | boolean;
}

export function registerJoin(program: Command, ctx: CliContext): void {
  program
    .command("join")
    .description("join a room and publish audio")
    .argument("<invite>", "the invite link, http://HOST:PORT/r/ROOM#SECRET")
    .option("--name <name>", "display name (sent end-to-end encrypted)", process.env.USER ?? "guest")
    .option("--audio <source>", "tone:FREQ | file:PATH | PATH | device:NAME | silence | none", "none")
    .option("--loop", "repeat a file source")
    .option("--video <source>", "testsrc | file:PATH | device:/dev/videoN | screen | none", "none")
    .option("--video-size <WxH>", "video size", parseVideoSize, [640, 360] as [number, number])
    .option("--fps <n>", "video frames per second", parsePositiveInt("--fps", 60), 15)
    .option("--video-bitrate <kbps>", "video bitrate in kbit/s", parsePositiveInt("--video-bitrate", 20000), 500)
    .addOption(new Option("--video-codec <codec>", "video codec: vp8 or h264 (every member must be able to receive it)").choices(["vp8", "h264"]).default("vp8"))
    .option("--show-video [peer]", "terminal UI: draw the speaker's video (or PEER's: a name or id prefix) with half blocks")
    .option("--duration <seconds>", "leave after this many seconds", parseSeconds)
    .option("--headless", "no terminal UI: events on stdout (the default when stdout is not a terminal)")
    .option("--play [device]", "play what you receive through ffmpeg (default output device, or the one named)")
    .option("--no-record", "never give your keys to a recorder: you cannot be recorded")
    .option("--identity <file>", "identity key file (default: $XDG_CONFIG_HOME/conclave/identity.json)")
    .option("--ffmpeg <path>", "ffmpeg binary to use")
    .option("--suite <suite>", "SFrame cipher suite: 4 (AES-128-GCM, default) or 5 (AES-256-GCM)", parseSuite)
    .option("--ascii", "plain ASCII terminal UI")
    .option("--token <token>", "join token, when the relay requires one (conclave token new)")
    .option("--ca <file>", "trust this CA certificate (PEM) for a relay with a private certificate")
    .addOption(new Option("--json", "write JSON lines (implies --headless)"))
    .action(async (invite: string, opts: JoinCliOptions) => {
      const out = createOutput(Boolean(opts.json));
      ctx.setOutput(out);
      const code = await runJoin(invite, opts, out, ctx.debug);
      process.exitCode = code;
    });
}

export async function runJoin(invite: string, opts: JoinCliOptions, out: Output, debug: boolean): Promise<number> {
  const log = makeLogger(debug);
  const source = parseAudioSource(opts.audio, { loop: Boolean(opts.loop) });
  const video = parseVideoSource(opts.video ?? "none", { loop: Boolean(opts.loop) });
  const interactive = !opts.headless && !opts.json && process.stdout.isTTY === true;
  const showVideo = interactive && opts.showVideo !== undefined;
  const needsFfmpeg = source.kind !== "none" || video.kind !== "none" || opts.play !== undefined || showVideo;
  const ffmpeg = needsFfmpeg ? ffmpegPath(opts.ffmpeg) : undefined;
  const identity = await identityFor(opts.identity);
  const options: JoinOptions = {
    name: opts.name ?? "guest",
    identity,
    noRecord: opts.record === false,
    suite: opts.suite ?? 4,
    ...(video.kind !== "none" ? { video: true, videoCodec: opts.videoCodec ?? "vp8" } : {}),
    ...(opts.token ? { token: opts.token } : {}),
    ...(opts.ca ? { ca: readCa(opts.ca) } : {}),
    logger: log.child("client"),
    levels: interactive,
    ...(interactive ? {} : { onEvent: (e) => out.event(e) }),
    ...(ffmpeg ? { ffmpeg } : {}),
  };
  if (interactive) {
    const { runInteractive } = await import("../ui/run.js");
    return runInteractive(invite, options, source, {
      ...(opts.duration !== undefined ? { duration: opts.duration } : {}),
      ascii: Boolean(opts.ascii),
      ...(opts.play !== undefined ? { play: opts.play } : {}),
      ...(showVideo ? { showVideo: opts.showVideo } : {}),
      ...(video.kind !== "none"
        ? {
            video: {
              spec: video,
              settings: { width: (opts.videoSize ?? [640, 360])[0], height: (opts.videoSize ?? [640, 360])[1], fps: opts.fps ?? 15, bitrateKbps: opts.videoBitrate ?? 500 },
            },
          }
        : {}),
    });
  }
  const participant = await Participant.join(invite, options);
  const closed = new Promise<void>((resolve) => participant.once("closed", () => resolve()));
  let player: AudioPlayer | undefined;
  if (opts.play !== undefined && ffmpeg) {
    const p = AudioPlayer.open({ ffmpeg, ...(typeof opts.play === "string" ? { output: parseOutput(opts.play) } : {}), logger: log.child("player") });
    p.on("error", (err: Error) => out.event({ type: "error", code: (err as { code?: string }).code ?? "player", message: err.message }));
    participant.on("audio", (a) => p.writePacket(a.payload, a.timestamp));
    player = p;
  }
  if (source.kind !== "none") await participant.publish(source);
  if (video.kind !== "none") {
    const [width, height] = opts.videoSize ?? [640, 360];
    await participant.publishVideo(video, { width, height, fps: opts.fps ?? 15, bitrateKbps: opts.videoBitrate ?? 500 });
  }
  // Headless chat: every line on stdin is sent to the room, end-to-end encrypted.
  const rl = process.stdin.isTTY ? undefined : createInterface({ input: process.stdin });
  rl?.on("line", (line) => {
    const text = line.trim();
    if (text.length > 0) participant.sendChat(text);
  });
  const why = await waitForStop(opts.duration, closed);
  rl?.close();
  await player?.close();
  await participant.close(why === "duration" ? "duration" : why === "signal" ? "left" : "relay-closed");
  return why === "done" ? ExitCode.connection : ExitCode.ok;
}

/** `--play pulse:NAME`, `--play pulse`, `--play alsa:NAME` or a bare ALSA device name. */
function parseOutput(text: string): AudioOutput {
  if (text === "pulse") return { backend: "pulse", device: "default" };
  if (text.startsWith("pulse:")) return { backend: "pulse", device: text.slice(6) || "default" };
  if (text.startsWith("alsa:")) return { backend: "alsa", device: text.slice(5) || "default" };
  return { backend: "alsa", device: text };
}
