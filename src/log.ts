/**
 * A tiny structured logger shared by every layer except src/crypto (which does no I/O).
 * Log lines never carry invite secrets, keys or plaintext: callers pass only ids, sizes and states.
 */
export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  child(scope: string): Logger;
}

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export function createLogger(
  level: LogLevel = "warn",
  write: (line: string) => void = (line) => process.stderr.write(line + "\n"),
  scope = "conclave",
): Logger {
  const emit = (lvl: Exclude<LogLevel, "silent">, message: string, fields?: Record<string, unknown>): void => {
    if (rank[lvl] < rank[level]) return;
    const extra = fields && Object.keys(fields).length > 0 ? " " + JSON.stringify(fields) : "";
    write(`[${scope}] ${lvl}: ${message}${extra}`);
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    child: (s) => createLogger(level, write, `${scope}:${s}`),
  };
}

export const nullLogger: Logger = createLogger("silent", () => {});
