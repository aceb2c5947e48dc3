/** Waiting and frame helpers for the UI tests: poll with a deadline, never sleep a fixed time. */

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;?]*[ -/]*[@-~]|\u001b\][^\u0007]*\u0007/g;

export function stripAnsi(text: string): string {
  return text.replace(ANSI, "");
}

export async function waitFor<T>(
  probe: () => T | undefined | false | null,
  what: string,
  timeoutMs = 3000,
  describe: () => string = () => "",
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false && value !== null) return value;
    if (Date.now() > deadline) {
      const detail = describe();
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail ? `\n--- last state ---\n${detail}` : ""}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The line of a frame that contains `needle`. */
export function lineWith(frame: string, needle: string): string | undefined {
  return frame.split("\n").find((l) => l.includes(needle));
}
