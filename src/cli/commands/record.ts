import { Option, type Command } from "commander";
import { Recorder } from "../../client/index.js";
import { createOutput } from "../output.js";
import { identityFor, makeLogger, parseSeconds, readCa, waitForStop } from "../common.js";
import type { CliContext } from "../commands.js";
import { ExitCode } from "../../errors.js";

export function registerRecord(program: Command, ctx: CliContext): void {
  program
    .command("record")
    .description("join receive-only and write one Ogg Opus file per speaker (every member sees that you record)")
    .argument("<invite>", "the invite link")
    .requiredOption("--out <dir>", "folder for the recordings")
    .option("--duration <seconds>", "stop after this many seconds", parseSeconds)
    .option("--name <name>", "display name", "recorder")
    .option("--identity <file>", "identity key file")
    .option("--token <token>", "join token, when the relay requires one")
    .option("--ca <file>", "trust this CA certificate (PEM) for a relay with a private certificate")
    .addOption(new Option("--json", "write JSON lines"))
    .action(async (invite: string, opts: { out: string; duration?: number; name: string; identity?: string; json?: boolean; token?: string; ca?: string }) => {
      const out = createOutput(Boolean(opts.json));
      ctx.setOutput(out);
      const log = makeLogger(ctx.debug);
      const identity = await identityFor(opts.identity);
      const recorder = await Recorder.start(invite, {
        outDir: opts.out,
        name: opts.name,
        identity,
        ...(opts.token ? { token: opts.token } : {}),
        ...(opts.ca ? { ca: readCa(opts.ca) } : {}), logger: log.child("recorder"), onEvent: (e) => out.event(e) });
      const closed = new Promise<void>((resolve) => recorder.participant.once("closed", () => resolve()));
      const why = await waitForStop(opts.duration, closed);
      const files = await recorder.close(why === "duration" ? "duration" : "left");
      out.event({ type: "recorded", files });
      if (!opts.json) for (const f of files) process.stdout.write(`${f.path} (${f.name}, ${f.packets} packets)\n`);
      process.exitCode = why === "done" ? ExitCode.connection : ExitCode.ok;
    });
}
