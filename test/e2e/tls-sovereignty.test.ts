/**
 * Hop security and sovereignty: a relay with a TLS certificate serves wss and invites use https; a
 * client that does not trust the certificate refuses with one clear error; and every socket a whole
 * call opens (relay and clients, TCP and UDP) talks only to the loopback addresses we named.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import dgram from "node:dgram";
import net from "node:net";
import { Relay, Participant, newInvite, resolveFfmpeg, parseAudioSource, ConnectionError } from "../../src/index.js";
import { tempDir, waitFor } from "../helpers/util.js";

const ffmpeg = resolveFfmpeg().path;

function selfSigned(dir: string): { cert: Buffer; key: Buffer } {
  const key = join(dir, "key.pem");
  const cert = join(dir, "cert.pem");
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
  ], { stdio: "ignore" });
  return { cert: readFileSync(cert), key: readFileSync(key) };
}

test("a relay with a certificate serves wss; invites use https; untrusted certificates are refused", async () => {
  const dir = tempDir();
  const tls = selfSigned(dir.path);
  const relay = new Relay({ host: "127.0.0.1", port: 0, tls });
  const url = await relay.start();
  assert.match(url, /^https:\/\//);
  const invite = newInvite(url);
  assert.match(invite, /^https:\/\/127\.0\.0\.1:\d+\/r\//);
  const a = await Participant.join(invite, { name: "a", ffmpeg, ca: tls.cert, statsIntervalMs: 0 });
  const b = await Participant.join(invite, { name: "b", ffmpeg, ca: tls.cert, statsIntervalMs: 0 });
  try {
    await a.publish(parseAudioSource("tone:440"));
    await waitFor(() => b.heard.length === 1, 10_000, "b hears a over a wss-signalled call");
    await assert.rejects(
      Participant.join(invite, { name: "c", statsIntervalMs: 0, reconnect: false }),
      (err: unknown) => err instanceof ConnectionError && /certificate/.test(err.message),
    );
  } finally {
    await a.close();
    await b.close();
    await relay.close();
    dir.cleanup();
  }
});

test("every socket a call opens talks only to the loopback addresses we named (no STUN, no telemetry)", async () => {
  const destinations = new Set<string>();
  const origSend = dgram.Socket.prototype.send;
  const origConnect = net.Socket.prototype.connect;
  dgram.Socket.prototype.send = function (this: dgram.Socket, ...args: unknown[]) {
    // send(msg, [offset, length,] port, address, cb)
    const nums = args.filter((x) => typeof x === "number") as number[];
    const addr = args.find((x, i) => i > 0 && typeof x === "string") as string | undefined;
    destinations.add(`udp ${addr ?? "?"}:${nums[nums.length - 1] ?? "?"}`);
    return (origSend as (...a: unknown[]) => void).apply(this, args);
  } as typeof dgram.Socket.prototype.send;
  net.Socket.prototype.connect = function (this: net.Socket, ...args: unknown[]) {
    // net normalises connect() arguments into [options, callback] before calling it again.
    const raw = Array.isArray(args[0]) ? (args[0] as unknown[])[0] : args[0];
    const first = raw as { host?: string; port?: number; path?: string } | number | string;
    if (typeof first === "object" && first !== null && !first.path && first.port !== undefined) {
      destinations.add(`tcp ${first.host ?? "localhost"}:${first.port}`);
    } else if (typeof first === "number") {
      destinations.add(`tcp ${typeof args[1] === "string" ? args[1] : "localhost"}:${first}`);
    }
    return (origConnect as (...a: unknown[]) => net.Socket).apply(this, args);
  } as typeof net.Socket.prototype.connect;
  // workers: 0 keeps the relay's media in this thread, so the patched sockets see its sends too.
  const relay = new Relay({ host: "127.0.0.1", port: 0, workers: 0 });
  try {
    const invite = newInvite(await relay.start());
    const a = await Participant.join(invite, { name: "a", ffmpeg, statsIntervalMs: 0 });
    const b = await Participant.join(invite, { name: "b", ffmpeg, statsIntervalMs: 0 });
    await a.publish(parseAudioSource("tone:440"));
    await waitFor(() => b.heard.length === 1, 10_000, "b hears a");
    await a.close();
    await b.close();
  } finally {
    dgram.Socket.prototype.send = origSend;
    net.Socket.prototype.connect = origConnect;
    await relay.close();
  }
  assert.ok(destinations.size > 0, "the audit saw the call's sockets");
  for (const d of destinations) assert.match(d, /^(udp|tcp) (127\.0\.0\.1|localhost|::1):\d+$/, `unexpected destination ${d}`);
});
