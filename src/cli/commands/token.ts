/**
 * `conclave token keygen` and `conclave token new`: the operator side of `conclave serve --auth FILE`
 * (docs/operations.md). Tokens go to stdout and nowhere else; nothing here logs a token or a key.
 */
import { hostname } from "node:os";
import { InvalidArgumentError, Option, type Command } from "commander";
import { decodeJoinToken, formatOperatorKeyLine, operatorKeyId, signJoinToken, toBase64Url } from "../../crypto/index.js";
import { loadOperatorKey } from "../../client/operator-key.js";
import { createOutput } from "../output.js";
import type { CliContext } from "../commands.js";

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** Longest TTL `token new` issues: tokens cannot be revoked, so they should be short. */
export const MAX_TOKEN_TTL_MS = 30 * 86_400_000;

/** `90s`, `15m`, `1h`, `7d`, or plain seconds. */
export function parseTtl(value: string): number {
  const m = /^(\d{1,9})([smhd]?)$/.exec(value.trim());
  const ms = m ? Number(m[1]) * UNIT_MS[m[2] || "s"]! : NaN;
  if (!Number.isSafeInteger(ms) || ms < 1000 || ms > MAX_TOKEN_TTL_MS) {
    throw new InvalidArgumentError("must be a duration like 90s, 15m, 1h or 7d, from 1s to 30d");
  }
  return ms;
}

/** A room id, or an invite link whose room is taken (its secret is neither used nor printed). */
export function parseRoomArg(value: string): string {
  const text = value.trim();
  if (/^[A-Za-z0-9_-]{1,64}$/.test(text)) return text;
  let path = "";
  try {
    path = new URL(text.replace(/^conclave:\/\//i, "https://")).pathname;
  } catch {
    // not a link either
  }
  const m = /^\/r\/([A-Za-z0-9_-]{1,64})\/?$/.exec(path);
  if (!m) throw new InvalidArgumentError("must be a room id (1 to 64 base64url characters) or an invite link");
  return m[1]!;
}

export function registerToken(program: Command, ctx: CliContext): void {
  const token = program
    .command("token")
    .description("issue signed join tokens for a relay started with --auth (see docs/operations.md)");

  token
    .command("keygen")
    .description("create the operator key (once) and print its public key line for the relay's --auth file")
    .option("--key <file>", "operator key file (default: ~/.config/conclave/operator-key.json)")
    .addOption(new Option("--json", "write JSON lines"))
    .action(async (opts: { key?: string; json?: boolean }) => {
      const out = createOutput(Boolean(opts.json));
      ctx.setOutput(out);
      const { key, path, created } = await loadOperatorKey({ ...(opts.key ? { path: opts.key } : {}), create: true });
      const line = formatOperatorKeyLine(key.publicKey, `${safeComment(hostname())} ${new Date().toISOString().slice(0, 10)}`);
      if (opts.json) {
        out.event({
          type: "operator-key",
          path,
          created,
          keyId: operatorKeyId(key.publicKey),
          publicKey: toBase64Url(key.publicKey),
          authLine: line,
        });
        return;
      }
      // stdout carries only the line for the --auth file, so `conclave token keygen >> FILE` works.
      process.stdout.write(line + "\n");
      process.stderr.write(
        `${created ? "created" : "using the existing"} operator key ${path} (key id ${operatorKeyId(key.publicKey)}); ` +
          `add the line above to the relay's --auth file\n`,
      );
    });

  token
    .command("new")
    .description("print a join token for one room, signed with the operator key")
    .requiredOption("--room <room>", "room id, or an invite link (only its room is used)", parseRoomArg)
    .addOption(
      new Option("--ttl <duration>", "how long the token is valid: 90s, 15m, 1h, 7d (at most 30d)").argParser(parseTtl).default(3_600_000, "1h"),
    )
    .option("--key <file>", "operator key file (default: ~/.config/conclave/operator-key.json)")
    .addOption(new Option("--json", "write JSON lines"))
    .action(async (opts: { room: string; ttl: number; key?: string; json?: boolean }) => {
      const out = createOutput(Boolean(opts.json));
      ctx.setOutput(out);
      const { key } = await loadOperatorKey(opts.key ? { path: opts.key } : {});
      const text = signJoinToken({ operatorSecretKey: key.secretKey, room: opts.room, expiresAt: Date.now() + opts.ttl });
      key.secretKey.fill(0);
      const claims = decodeJoinToken(text);
      const expiresAt = new Date(claims.expiresAt).toISOString();
      if (opts.json) {
        out.event({ type: "token", token: text, room: claims.room, expiresAt, id: claims.id, keyId: claims.keyId });
        return;
      }
      // stdout carries only the token, so TOKEN=$(conclave token new --room ROOM) works.
      process.stdout.write(text + "\n");
      process.stderr.write(`token ${claims.id} for room ${claims.room}, valid until ${expiresAt}\n`);
    });
}

function safeComment(text: string): string {
  return text.replace(/[^A-Za-z0-9._@-]/g, "").slice(0, 64) || "operator";
}
