import { Option, type Command } from "commander";
import { newInvite, checkRelay } from "../../client/index.js";
import { createOutput } from "../output.js";
import type { CliContext } from "../commands.js";
import { readCa } from "../common.js";

export function registerRoom(program: Command, ctx: CliContext): void {
  const room = program.command("room").description("manage rooms");
  room
    .command("new")
    .description("create a room and print its invite link (the secret after # never reaches the relay)")
    .requiredOption("--server <url>", "the relay's URL, e.g. http://127.0.0.1:8443")
    .option("--no-check", "do not check that the relay is up")
    .option("--ca <file>", "trust this CA certificate (PEM) when checking an https relay")
    .addOption(new Option("--json", "write JSON lines"))
    .action(async (opts: { server: string; check: boolean; json?: boolean; ca?: string }) => {
      const out = createOutput(Boolean(opts.json));
      ctx.setOutput(out);
      if (opts.check) await checkRelay(opts.server, opts.ca ? { ca: readCa(opts.ca) } : {});
      const invite = newInvite(opts.server);
      if (opts.json) out.event({ type: "room", invite });
      else process.stdout.write(invite + "\n");
    });
}
