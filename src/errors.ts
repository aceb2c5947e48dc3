/**
 * One error hierarchy for the whole library. Every failure a user can meet has a stable `code`
 * and an exit code; the CLI maps errors to exits in one place (src/cli/main.ts).
 *
 * src/crypto does not import this file (it imports nothing from other src/ folders); it throws its
 * own CryptoError, which the CLI maps as well.
 */

/** Documented process exit codes (docs/cli.md). */
export const ExitCode = {
  ok: 0,
  internal: 1,
  usage: 2,
  invite: 3,
  connection: 4,
  media: 5,
  denied: 6,
  crypto: 7,
  thresholds: 8,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export class ConclaveError extends Error {
  readonly code: string;
  readonly exitCode: ExitCode;
  constructor(code: string, message: string, exitCode: ExitCode = ExitCode.internal, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.exitCode = exitCode;
  }
}

/** Bad command-line or API arguments that are not plain TypeError/RangeError. */
export class UsageError extends ConclaveError {
  constructor(message: string, code = "usage") {
    super(code, message, ExitCode.usage);
  }
}

/** A malformed invite link, or one without its secret part. */
export class InviteError extends ConclaveError {
  constructor(message: string, code = "invite-invalid") {
    super(code, message, ExitCode.invite);
  }
}

/** The relay is down, refused us, or the connection broke. */
export class ConnectionError extends ConclaveError {
  constructor(message: string, code = "connection-failed", options?: { cause?: unknown }) {
    super(code, message, ExitCode.connection, options);
  }
}

/** The relay answered but will not let us in (room full, overloaded, bad token). */
export class DeniedError extends ConclaveError {
  constructor(message: string, code = "denied") {
    super(code, message, ExitCode.denied);
  }
}

/** ffmpeg missing, a source that cannot be read, a device that is not there. */
export class MediaError extends ConclaveError {
  constructor(message: string, code = "media-failed", options?: { cause?: unknown }) {
    super(code, message, ExitCode.media, options);
  }
}

/** Identity file unreadable, wrong passphrase, key agreement failure. */
export class KeyError extends ConclaveError {
  constructor(message: string, code = "key-error", options?: { cause?: unknown }) {
    super(code, message, ExitCode.crypto, options);
  }
}
