/**
 * The `conclave` command line. Every command is a thin layer over the library (src/index.ts);
 * errors map to exit codes here and only here (docs/cli.md lists them).
 */
import { Command, CommanderError, Option } from "commander";
import { ConclaveError, ExitCode, UsageError } from "../errors.js";
import { CryptoError } from "../crypto/index.js";
import { createOutput, type Output } from "./output.js";
import { registerCommands } from "./commands.js";

export interface GlobalOptions {
  json?: boolean;
  debug?: boolean;
  ffmpeg?: string;
}

/** Run the CLI with the given arguments; resolves with the exit code. */
/**
 * A reader of stdout that goes away (`conclave serve --json | head -1`) is not this program's error:
 * later lines are dropped instead of an unhandled EPIPE ending the process with a stack trace.
 */
function tolerateClosedStdout(): void {
  if (process.stdout.listenerCount("error") > 0) return;
  process.stdout.on("error", () => {});
}

export async function run(argv: string[]): Promise<number> {
  tolerateClosedStdout();
  const program = new Command();
  let output: Output = createOutput(argv.includes("--json"));
  const debug = argv.includes("--debug");
  program
    .name("conclave")
    .description("Self-hosted, end-to-end encrypted calls from the terminal and for automation")
    .version("0.1.0")
    .addOption(new Option("--debug", "show stack traces and debug logs"))
    .exitOverride()
    .configureOutput({
      writeErr: (text) => process.stderr.write(text),
      outputError: (text, write) => write(text.replace(/^error: /, "conclave: ")),
    })
    .showSuggestionAfterError(true);
  registerCommands(program, {
    setOutput: (o) => {
      output = o;
    },
    debug,
  });
  try {
    await program.parseAsync(argv, { from: "user" });
    return (process.exitCode as number | undefined) ?? ExitCode.ok;
  } catch (err) {
    return reportError(err, output, debug);
  }
}

export function exitCodeOf(err: unknown): number {
  if (err instanceof ConclaveError) return err.exitCode;
  if (err instanceof CryptoError) return ExitCode.crypto;
  if (err instanceof TypeError || err instanceof RangeError) return ExitCode.usage;
  return ExitCode.internal;
}

function reportError(err: unknown, output: Output, debug: boolean): number {
  if (err instanceof CommanderError) {
    // commander already printed its one line (or the help/version text).
    if (err.code === "commander.helpDisplayed" || err.code === "commander.version" || err.code === "commander.help") return ExitCode.ok;
    return ExitCode.usage;
  }
  const code = exitCodeOf(err);
  const e = err as Error & { code?: string };
  const message = err instanceof Error ? e.message : String(err);
  if (output.json) output.event({ type: "error", code: e.code ?? "internal", message });
  process.stderr.write(`conclave: ${message}${code === ExitCode.internal && !debug ? " (run with --debug for details)" : ""}\n`);
  if (debug && err instanceof Error && err.stack) process.stderr.write(err.stack + "\n");
  return code;
}

export { UsageError };
