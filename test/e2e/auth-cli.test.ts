/**
 * Access control through the CLI, as an operator sets it up (docs/operations.md): `token keygen`
 * writes the operator key and the line for the auth file, `serve --auth FILE` requires tokens,
 * `token new --room INVITE` signs one, and `join --token` gets in while a join without a token, with
 * a token for another room, or with a tampered token is refused with exit code 6 (denied) and one
 * line on stderr. The token never appears in anything the relay prints.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { runCli, stopCli, tempDir, type CliRun } from "../helpers/util.js";

const dir = tempDir();
const env = { XDG_CONFIG_HOME: join(dir.path, "config") };
const running: CliRun[] = [];
after(async () => {
  await Promise.all(running.map((r) => stopCli(r)));
  dir.cleanup();
});

async function finished(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; run: CliRun }> {
  const run = runCli(args, env);
  running.push(run);
  const timer = setTimeout(() => run.kill("SIGKILL"), 30_000);
  const { code } = await run.exited;
  clearTimeout(timer);
  return { code, stdout: run.stdout, stderr: run.stderr, run };
}

test("serve --auth admits a join with a token from token new and refuses the rest with exit code 6", async () => {
  const keyFile = join(dir.path, "operator-key.json");
  const authFile = join(dir.path, "operators");
  const keygen = await finished(["token", "keygen", "--key", keyFile]);
  assert.equal(keygen.code, 0, keygen.stderr);
  assert.equal(statSync(keyFile).mode & 0o777, 0o600, "the operator key is private");
  const authLine = keygen.stdout.trim();
  assert.equal(authLine.split("\n").length, 1, "stdout carries only the line for the auth file");
  appendFileSync(authFile, `${authLine}\n`);

  const relay = runCli(["serve", "--host", "127.0.0.1", "--port", "0", "--auth", authFile, "--json"], env);
  running.push(relay);
  const listening = await relay.waitForLine((l) => l.type === "listening", 20_000, "the relay to listen");
  const url = String(listening.url);
  const room = await finished(["room", "new", "--server", url]);
  assert.equal(room.code, 0, room.stderr);
  const invite = room.stdout.trim().split("\n").pop()!;
  const other = (await finished(["room", "new", "--server", url])).stdout.trim().split("\n").pop()!;

  const issued = await finished(["token", "new", "--room", invite, "--ttl", "10m", "--key", keyFile]);
  assert.equal(issued.code, 0, issued.stderr);
  const token = issued.stdout.trim();
  assert.ok(token.length > 40, "a token on stdout");
  const forOther = (await finished(["token", "new", "--room", other, "--ttl", "10m", "--key", keyFile])).stdout.trim();

  const joined = await finished(["join", invite, "--token", token, "--audio", "silence", "--headless", "--json", "--duration", "1", "--name", "holder"]);
  assert.equal(joined.code, 0, joined.stderr);
  assert.ok(joined.run.lines.some((l) => l.type === "joined"), "the token holder joined");

  const tampered = token.slice(0, -3) + (token.endsWith("AAA") ? "BBB" : "AAA");
  for (const [what, args] of [
    ["no token", []],
    ["a token for another room", ["--token", forOther]],
    ["a tampered token", ["--token", tampered]],
  ] as const) {
    const refused = await finished(["join", invite, ...args, "--audio", "silence", "--headless", "--duration", "1", "--name", "intruder"]);
    assert.equal(refused.code, 6, `${what}: exit code 6 (denied); stderr: ${refused.stderr}`);
    const lines = refused.stderr.trim().split("\n");
    assert.equal(lines.length, 1, `${what}: one line on stderr, no stack trace: ${refused.stderr}`);
    assert.match(lines[0]!, /^conclave: .*token/i, `${what}: the line says what is wrong`);
  }
  const { code } = await stopCli(relay);
  assert.equal(code, 0, "the relay stops cleanly on SIGTERM");
  assert.ok(!relay.stdout.includes(token) && !relay.stderr.includes(token), "the relay never prints a token");
  assert.ok(relay.lines.some((l) => l.type === "refused"), "the relay reports the refused joins");
});
