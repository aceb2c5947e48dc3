/**
 * One ffmpeg child process, wrapped the way mediasoup wraps its worker.
 *
 * stdio of the child:
 *   fd 0 (stdin)  — "pipe": input media the caller writes (e.g. Ogg Opus pages for playback);
 *                   "ignore": /dev/null, and callers pass -nostdin so ffmpeg never reads keys.
 *   fd 1 (stdout) — "pipe": the encoded or decoded output (Ogg, raw PCM); "ignore": /dev/null when
 *                   the output goes to a device or file.
 *   fd 2 (stderr) — ffmpeg's log; split into lines (on \n and \r), forwarded to the logger at debug
 *                   level, and the last few lines kept for error messages.
 *
 * Lifecycle:
 *   - `started` resolves when the process has proven it runs: its first stdout byte when stdout is
 *     piped, or the OS-level spawn otherwise. It rejects with MediaError code "ffmpeg-start-failed"
 *     (message carries ffmpeg's last stderr line) if the binary cannot be executed or the process
 *     exits before that point. An exit after `started` is "died later": `exit` reports it and
 *     `startedOk` tells the two apart.
 *   - `exit` is emitted once, after the process exited and its stdio closed (so every stdout byte
 *     has been delivered before it).
 *   - `close()` is idempotent: SIGTERM, then SIGKILL after `killTimeoutMs`, and resolves on exit.
 *   - Every live child is recorded in a module-level set and SIGKILLed on the parent's 'exit', so an
 *     exiting Node process never leaves an orphan ffmpeg behind.
 */
import { spawn, type ChildProcess } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import { MediaError } from "../../errors.js";
import { nullLogger, type Logger } from "../../log.js";
import { TypedEmitter } from "../events.js";

export interface FfmpegProcessOptions {
  /** Path of the ffmpeg binary (see resolveFfmpeg). */
  ffmpeg: string;
  logger?: Logger;
  /** fd 0: "pipe" to write input, "ignore" (default) for none. */
  stdin?: "pipe" | "ignore";
  /** fd 1: "pipe" (default) to read output, "ignore" when ffmpeg writes to a device or file. */
  stdout?: "pipe" | "ignore";
  /** Grace period between SIGTERM and SIGKILL in close(), ms (default 2000). */
  killTimeoutMs?: number;
  /** How many stderr lines to keep for error messages (default 20). */
  stderrTail?: number;
}

export interface FfmpegExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Whether the exit was requested by close(). */
  requested: boolean;
  /** Whether the process had started (see `started`) before it exited. */
  startedOk: boolean;
}

export type FfmpegProcessEvents = {
  exit: [code: number | null, signal: NodeJS.Signals | null, info: FfmpegExit];
};

const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const child of liveChildren) {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
  });
}

/** Number of ffmpeg children this process currently owns (for tests and diagnostics). */
export function liveFfmpegCount(): number {
  return liveChildren.size;
}

export class FfmpegProcess extends TypedEmitter<FfmpegProcessEvents> {
  readonly stdout: Readable | null;
  readonly stdin: Writable | null;
  readonly pid: number | undefined;
  /** Resolves once the process runs (first stdout byte, or spawn when stdout is ignored). */
  readonly started: Promise<void>;
  /** Resolves with the exit information once the process has exited and its stdio closed. */
  readonly exited: Promise<FfmpegExit>;

  readonly #child: ChildProcess;
  readonly #logger: Logger;
  readonly #killTimeoutMs: number;
  readonly #tailSize: number;
  readonly #tail: string[] = [];
  #partialLine = "";
  #startedOk = false;
  #closing = false;
  #exitInfo: FfmpegExit | null = null;
  #closePromise: Promise<void> | null = null;
  #resolveStarted!: () => void;
  #rejectStarted!: (err: Error) => void;
  #resolveExited!: (info: FfmpegExit) => void;

  private constructor(args: readonly string[], opts: FfmpegProcessOptions) {
    super();
    this.#logger = opts.logger ?? nullLogger;
    this.eventLogger = this.#logger;
    this.#killTimeoutMs = opts.killTimeoutMs ?? 2000;
    this.#tailSize = opts.stderrTail ?? 20;
    this.started = new Promise<void>((resolve, reject) => {
      this.#resolveStarted = resolve;
      this.#rejectStarted = reject;
    });
    // Callers that only care about exit must not get an unhandled rejection.
    this.started.catch(() => {});
    this.exited = new Promise<FfmpegExit>((resolve) => (this.#resolveExited = resolve));

    installExitHook();
    const stdoutMode = opts.stdout ?? "pipe";
    this.#child = spawn(opts.ffmpeg, [...args], {
      stdio: [opts.stdin ?? "ignore", stdoutMode, "pipe"],
      windowsHide: true,
    });
    this.pid = this.#child.pid;
    this.stdout = this.#child.stdout;
    this.stdin = this.#child.stdin;
    if (this.#child.pid !== undefined) liveChildren.add(this.#child);
    this.#logger.debug("ffmpeg spawn", { pid: this.#child.pid, args: args.join(" ") });

    // A closed stdin pipe (ffmpeg died) must surface through 'exit', not crash the process.
    this.#child.stdin?.on("error", (err) => this.#logger.debug("ffmpeg stdin error", { error: err.message }));
    this.#child.stdout?.on("error", (err) => this.#logger.debug("ffmpeg stdout error", { error: err.message }));

    this.#child.stderr?.setEncoding("utf8");
    this.#child.stderr?.on("data", (text: string) => this.#onStderr(text));

    if (stdoutMode === "pipe") {
      this.#child.stdout?.once("data", () => this.#markStarted());
    } else {
      this.#child.once("spawn", () => this.#markStarted());
    }

    this.#child.once("error", (err: NodeJS.ErrnoException) => {
      // spawn failure (ENOENT, EACCES) or a failed kill(); only the former ends the process here.
      if (this.#child.pid === undefined || err.code === "ENOENT" || err.code === "EACCES") {
        this.#rejectStarted(
          new MediaError(`cannot run ffmpeg at ${opts.ffmpeg}: ${err.code ?? err.message}`, "ffmpeg-start-failed", {
            cause: err,
          }),
        );
        this.#finish(null, null);
      } else {
        this.#logger.warn("ffmpeg process error", { error: err.message });
      }
    });
    this.#child.once("close", (code, signal) => this.#finish(code, signal));
  }

  /** Spawns ffmpeg with `args` (the binary path comes from opts.ffmpeg). */
  static start(args: readonly string[], opts: FfmpegProcessOptions): FfmpegProcess {
    return new FfmpegProcess(args, opts);
  }

  /** The last stderr lines, oldest first. */
  get stderrTail(): readonly string[] {
    return this.#tail;
  }

  /** The last non-empty stderr line, or "" if ffmpeg printed nothing. */
  get lastStderrLine(): string {
    return this.#tail[this.#tail.length - 1] ?? "";
  }

  get exitInfo(): FfmpegExit | null {
    return this.#exitInfo;
  }

  get closing(): boolean {
    return this.#closing;
  }

  /** Stops the process (SIGTERM, then SIGKILL after a bound) and resolves once it has exited. */
  close(): Promise<void> {
    if (this.#closePromise) return this.#closePromise;
    this.#closing = true;
    this.#closePromise = (async () => {
      if (this.#exitInfo) return;
      this.stdin?.destroy();
      this.#signal("SIGTERM");
      const timer = setTimeout(() => this.#signal("SIGKILL"), this.#killTimeoutMs);
      try {
        await this.exited;
      } finally {
        clearTimeout(timer);
      }
    })();
    return this.#closePromise;
  }

  #signal(sig: NodeJS.Signals): void {
    if (this.#exitInfo) return;
    try {
      this.#child.kill(sig);
    } catch {
      // already exited
    }
  }

  #markStarted(): void {
    if (this.#startedOk || this.#exitInfo) return;
    this.#startedOk = true;
    this.#resolveStarted();
  }

  #onStderr(text: string): void {
    const parts = (this.#partialLine + text).split(/\r\n|\r|\n/);
    this.#partialLine = parts.pop() ?? "";
    for (const line of parts) this.#stderrLine(line);
  }

  #stderrLine(line: string): void {
    const trimmed = line.trim();
    if (!trimmed) return;
    this.#logger.debug(trimmed, { pid: this.pid });
    this.#tail.push(trimmed);
    if (this.#tail.length > this.#tailSize) this.#tail.shift();
  }

  #finish(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#exitInfo) return;
    if (this.#partialLine) {
      this.#stderrLine(this.#partialLine);
      this.#partialLine = "";
    }
    liveChildren.delete(this.#child);
    const info: FfmpegExit = { code, signal, requested: this.#closing, startedOk: this.#startedOk };
    this.#exitInfo = info;
    if (!this.#startedOk) {
      const why = this.lastStderrLine || (signal ? `killed by ${signal}` : `exit code ${code}`);
      this.#rejectStarted(new MediaError(`ffmpeg failed to start: ${why}`, "ffmpeg-start-failed"));
    }
    this.#logger.debug("ffmpeg exit", { pid: this.pid, code, signal, requested: info.requested });
    this.#resolveExited(info);
    this.emit("exit", code, signal, info);
  }
}
