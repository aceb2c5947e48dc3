import { Option, type Command } from "commander";
import { Relay } from "../../server/index.js";
import { Participant, newInvite } from "../../client/index.js";
import { AudioSource, parseAudioSource } from "../../media/index.js";
import { createOutput } from "../output.js";
import { ffmpegPath, identityFor, makeLogger, parseSeconds, waitForStop } from "../common.js";
import type { CliContext } from "../commands.js";
import { ExitCode } from "../../errors.js";

/**
 * `npm start`: an embedded relay on loopback, a new room, two tone bots and you. In a terminal this
 * opens the call UI; otherwise (or with --headless) it runs headless for a short, bounded time and
 * prints a summary.
 */
export function registerDemo(program: Command, ctx: CliContext): void {
  program
    .command("demo")
    .description("try it: a local relay, a room, two tone bots and you")
    .option("--duration <seconds>", "headless: how long to run", parseSeconds, 6)
    .option("--headless", "no terminal UI")
    .option("--ffmpeg <path>", "ffmpeg binary to use")
    .option("--ascii", "plain ASCII terminal UI")
    .addOption(new Option("--json", "write JSON lines (implies --headless)"))
    .action(async (opts: { duration: number; headless?: boolean; ffmpeg?: string; json?: boolean; ascii?: boolean }) => {
      const out = createOutput(Boolean(opts.json));
      ctx.setOutput(out);
      const log = makeLogger(ctx.debug);
      const ffmpeg = ffmpegPath(opts.ffmpeg);
      const relay = new Relay({ host: "127.0.0.1", port: 0, logger: log.child("relay") });
      const url = await relay.start();
      const bots: Participant[] = [];
      const sources: AudioSource[] = [];
      try {
        const invite = newInvite(url);
        out.event({ type: "listening", url });
        out.line(`local relay on ${url}; a new end-to-end encrypted room with two tone bots`);
        for (const [name, freq] of [["alice-bot", 440], ["bob-bot", 660]] as const) {
          const source = await AudioSource.open(parseAudioSource(`tone:${freq}`), { ffmpeg, logger: log.child("ffmpeg") });
          sources.push(source);
          const bot = await Participant.join(invite, { name, role: "bot", ffmpeg, logger: log.child(name), statsIntervalMs: 0 });
          await bot.publish(source);
          bots.push(bot);
        }
        const interactive = !opts.headless && !opts.json && process.stdout.isTTY === true;
        const identity = await identityFor(undefined);
        if (interactive) {
          const { runInteractive } = await import("../ui/run.js");
          process.exitCode = await runInteractive(invite, { name: process.env.USER ?? "you", identity, ffmpeg, logger: log.child("you"), levels: true }, parseAudioSource("silence"), { ascii: Boolean(opts.ascii) });
          return;
        }
        const you = await Participant.join(invite, {
          name: process.env.USER ?? "you",
          identity,
          ffmpeg,
          logger: log.child("you"),
          levels: true,
          onEvent: (e) => out.event(e),
        });
        await waitForStop(opts.duration);
        const stats = you.statsEvent();
        const heard = you.heard.map((id) => you.e2ee.members.get(id)?.name ?? id);
        await you.close("demo-finished");
        const ok = heard.length === bots.length;
        out.event({ type: "summary", heard, expected: bots.length, decryptFailures: you.e2ee.stats.decryptFailures, stats, pass: ok });
        out.line(ok ? `summary: heard ${heard.join(" and ")}, end-to-end encrypted; all good` : `summary: heard only ${heard.join(", ") || "nobody"}`);
        process.exitCode = ok ? ExitCode.ok : ExitCode.internal;
      } finally {
        await Promise.all(bots.map((b) => b.close()));
        await Promise.all(sources.map((s) => s.close()));
        await relay.close();
      }
    });
}
