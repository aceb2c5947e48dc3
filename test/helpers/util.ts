/** Test helpers: temp dirs, waiting for events with timeouts, running the CLI. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn, type ChildProcess } from "node:child_process";
import type { EventEmitter } from "node:events";
import { fileURLToPath } from "node:url";

export const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));
export const cliPath = join(repoRoot, "bin", "conclave");

export function tempDir(prefix = "conclave-test-"): { path: string; cleanup(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** Wait until `predicate` is true, checking every 20 ms, or fail after `timeoutMs`. */
export async function waitFor(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Wait for an event on an emitter that satisfies `match`. */
export function waitForEvent<T extends unknown[]>(
  emitter: EventEmitter,
  name: string,
  match: (...args: T) => boolean,
  timeoutMs: number,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(name, listener);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for '${name}'`));
    }, timeoutMs);
    const listener = (...args: unknown[]): void => {
      if (match(...(args as T))) {
        clearTimeout(timer);
        emitter.off(name, listener);
        resolve(args as T);
      }
    };
    emitter.on(name, listener);
  });
}

export interface CliRun {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  stdout: string;
  stderr: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolve with the first JSON line that matches, or fail after timeoutMs. */
  waitForLine(match: (line: Record<string, unknown>) => boolean, timeoutMs: number, what: string): Promise<Record<string, unknown>>;
  kill(signal?: NodeJS.Signals): void;
}

const running = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

/** Run the real CLI as a child process, collecting JSON lines from stdout. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): CliRun {
  const child = spawn(process.execPath, [cliPath, ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  const run: CliRun = {
    child,
    lines: [],
    stdout: "",
    stderr: "",
    exited: new Promise((resolve) => {
      child.on("exit", (code, signal) => {
        running.delete(child);
        resolve({ code, signal });
      });
    }),
    waitForLine: (match, timeoutMs, what) => waitFor(() => run.lines.some(match), timeoutMs, what).then(() => run.lines.find(match)!),
    kill: (signal = "SIGTERM") => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
  let buffer = "";
  child.stdout!.on("data", (chunk: Buffer) => {
    const text = chunk.toString();
    run.stdout += text;
    buffer += text;
    let nl: number;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line.startsWith("{")) {
        try {
          run.lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // not JSON
        }
      }
    }
  });
  child.stderr!.on("data", (chunk: Buffer) => {
    run.stderr += chunk.toString();
  });
  return run;
}

/** Stop a CLI child: SIGTERM, then SIGKILL after a bound. */
export async function stopCli(run: CliRun, timeoutMs = 5000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  run.kill("SIGTERM");
  const timer = setTimeout(() => run.kill("SIGKILL"), timeoutMs);
  const result = await run.exited;
  clearTimeout(timer);
  return result;
}
