/**
 * The native send path (native/conclave_native.c via src/media/native.ts): the RFC 7714 vector,
 * byte-for-byte agreement with the JavaScript protector the relay falls back to, a real datagram
 * through sendSeal on a dgram socket's descriptor, decryption by werift's SRTP receive context, and
 * bad arguments answered with an exception, never a crash.
 *
 * The module is optional for users, but the test command builds it (scripts/build-native.mjs) on
 * this Linux machine, so here its absence is a failure, not a skip.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, existsSync, mkdtempSync, mkdirSync, writeFileSync, copyFileSync, chmodSync, rmSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createSocket, type Socket } from "node:dgram";
import { once } from "node:events";
import { randomBytes, randomInt } from "node:crypto";
import { native, nativeStatus, socketFd, NATIVE_EAGAIN } from "../../src/media/native.js";
import { SrtpGcmProtector, RolloverCounter, RTP_HEADER_BYTES, GCM_TAG_BYTES } from "../../src/server/srtp-protect.js";
import { SrtpOutput } from "../../src/server/srtp-output.js";
import { loadRfc7714Vector, weriftSrtpPair } from "../helpers/srtp.js";

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, "scripts", "build-native.mjs"))) return dir;
    dir = dirname(dir);
  }
  throw new Error("scripts/build-native.mjs not found");
}

function api() {
  const n = native();
  assert.ok(n, `the native send path is built and loads (${nativeStatus().detail})`);
  return n;
}

async function boundSocket(): Promise<Socket> {
  const s = createSocket("udp4");
  s.bind(0, "127.0.0.1");
  await once(s, "listening");
  return s;
}

test("native seal reproduces the RFC 7714 §16.1 vector", () => {
  const n = api();
  const v = loadRfc7714Vector();
  const rtp = Buffer.from(v.rtp, "hex");
  const context = n.gcmContext(Buffer.from(v.session_key, "hex"), Buffer.from(v.session_salt, "hex"));
  const payload = rtp.subarray(RTP_HEADER_BYTES);
  const out = Buffer.alloc(RTP_HEADER_BYTES + payload.length + GCM_TAG_BYTES);
  const written = n.seal(context, rtp[1]!, rtp.readUInt16BE(2), rtp.readUInt32BE(4), rtp.readUInt32BE(8), v.roc, payload, out);
  assert.equal(written, out.length);
  assert.equal(out.toString("hex"), v.srtp);
});

test("native open: the RFC 7714 vector decrypts; a flipped bit, a wrong ROC or a truncated packet is refused", () => {
  const n = api();
  const v = loadRfc7714Vector();
  const rtp = Buffer.from(v.rtp, "hex");
  const srtp = Buffer.from(v.srtp, "hex");
  const context = n.gcmContext(Buffer.from(v.session_key, "hex"), Buffer.from(v.session_salt, "hex"), true);
  const out = Buffer.alloc(srtp.length);
  const length = n.open(context, srtp, RTP_HEADER_BYTES, v.roc, out);
  assert.equal(length, rtp.length - RTP_HEADER_BYTES);
  assert.deepEqual(out.subarray(0, length), rtp.subarray(RTP_HEADER_BYTES));
  for (const at of [1, RTP_HEADER_BYTES + 3, srtp.length - 1]) {
    const bad = Buffer.from(srtp);
    bad[at]! ^= 0x01;
    assert.equal(n.open(context, bad, RTP_HEADER_BYTES, v.roc, out), -1, `bit flipped at ${at}`);
  }
  assert.equal(n.open(context, srtp, RTP_HEADER_BYTES, v.roc + 1, out), -1, "wrong rollover counter");
  assert.equal(n.open(context, srtp.subarray(0, 20), RTP_HEADER_BYTES, v.roc, out), -1, "truncated");
  assert.equal(n.open(context, srtp, 200, v.roc, out), -1, "header longer than the packet");
  // And it still opens the genuine packet after those refusals (the context is reusable).
  assert.equal(n.open(context, srtp, RTP_HEADER_BYTES, v.roc, out), rtp.length - RTP_HEADER_BYTES);
});

test("native seal then open round-trips random packets; a context does only its own direction", () => {
  const n = api();
  const key = randomBytes(16);
  const salt = randomBytes(12);
  const sealer = n.gcmContext(key, salt);
  const opener = n.gcmContext(key, salt, true);
  for (let i = 0; i < 50; i++) {
    const payload = randomBytes(randomInt(0, 1200));
    const roc = randomInt(2 ** 32);
    const packet = Buffer.alloc(RTP_HEADER_BYTES + payload.length + GCM_TAG_BYTES);
    n.seal(sealer, 111, randomInt(0x10000), randomInt(2 ** 32), randomInt(2 ** 32), roc, payload, packet);
    const out = Buffer.alloc(payload.length);
    assert.equal(n.open(opener, packet, RTP_HEADER_BYTES, roc, out), payload.length);
    assert.deepEqual(out, payload);
  }
  assert.throws(() => n.open(sealer, Buffer.alloc(40), RTP_HEADER_BYTES, 0, Buffer.alloc(40)), /seals/);
  assert.throws(() => n.seal(opener, 0, 1, 2, 3, 4, Buffer.alloc(10), Buffer.alloc(60)), /bad arguments/);
});

test("native seal and the JavaScript protector produce the same bytes", () => {
  const n = api();
  for (let k = 0; k < 20; k++) {
    const key = randomBytes(16);
    const salt = randomBytes(12);
    const js = new SrtpGcmProtector(key, salt);
    const context = n.gcmContext(key, salt);
    for (let i = 0; i < 10; i++) {
      const payload = randomBytes(randomInt(0, 1200));
      const marker = randomInt(2) === 1;
      const pt = randomInt(128);
      const seq = randomInt(0x10000);
      const ts = randomInt(2 ** 32);
      const ssrc = randomInt(2 ** 32);
      const roc = randomInt(2 ** 32);
      const expected = js.protect(marker, pt, seq, ts, ssrc, roc, payload);
      const out = Buffer.alloc(expected.length);
      n.seal(context, (marker ? 0x80 : 0) | pt, seq, ts, ssrc, roc, payload, out);
      assert.deepEqual(out, expected, `packet ${k}/${i} (${payload.length} bytes)`);
    }
  }
});

test("sealSend puts one SRTP datagram on the wire that werift's receive context decrypts", async () => {
  const n = api();
  const { local: sender, remote: receiver } = weriftSrtpPair();
  const cipher = sender.localContext.cipher as unknown as { srtpSessionKey: Buffer; srtpSessionSalt: Buffer };
  const context = n.gcmContext(cipher.srtpSessionKey, cipher.srtpSessionSalt);
  const from = await boundSocket();
  const to = await boundSocket();
  try {
    const fd = socketFd(from);
    assert.ok(fd >= 0, "the dgram socket's descriptor is readable");
    const target = n.target("127.0.0.1", to.address().port);
    assert.ok(target);
    const got: Buffer[] = [];
    to.on("message", (m) => got.push(m));
    const payloads = Array.from({ length: 5 }, (_, i) => randomBytes(80 + i));
    for (let i = 0; i < payloads.length; i++) {
      const sent = n.sealSend(context, 0x80 | 111, 1000 + i, 48_000 + 960 * i, 0x1234_5678, 0, payloads[i]!, fd, target);
      assert.equal(sent, RTP_HEADER_BYTES + payloads[i]!.length + GCM_TAG_BYTES);
    }
    const deadline = Date.now() + 5000;
    while (got.length < payloads.length && Date.now() < deadline) await once(to, "message");
    assert.equal(got.length, payloads.length);
    for (let i = 0; i < payloads.length; i++) {
      const plain = receiver.decrypt(got[i]!);
      assert.deepEqual(plain.subarray(RTP_HEADER_BYTES), payloads[i], `packet ${i} decrypts to its payload`);
      assert.equal(plain.readUInt16BE(2), 1000 + i);
      assert.equal(plain[1], 0x80 | 111);
    }
  } finally {
    from.close();
    to.close();
  }
});

test("connectTarget: sealSend to the connected target sends without an address, other targets still get sendto; the socket then hears only that address", async () => {
  const n = api();
  const context = n.gcmContext(randomBytes(16), randomBytes(12));
  const [from, to, other, stranger] = [await boundSocket(), await boundSocket(), await boundSocket(), await boundSocket()];
  try {
    const fd = socketFd(from);
    const target = n.target("127.0.0.1", to.address().port)!;
    const otherTarget = n.target("127.0.0.1", other.address().port)!;
    assert.equal(n.connectTarget(fd, target), 0);
    const atTo = once(to, "message");
    assert.equal(n.sealSend(context, 111, 1, 2, 3, 0, Buffer.alloc(40, 7), fd, target), 68);
    const [, rinfo] = (await atTo) as [Buffer, { port: number }];
    assert.equal(rinfo.port, from.address().port);
    // A target the socket is not connected to is still reached (sendto with its address).
    const atOther = once(other, "message");
    assert.equal(n.sealSend(context, 111, 2, 2, 3, 0, Buffer.alloc(40, 7), fd, otherTarget), 68);
    await atOther;
    // Connected: the kernel drops what another address sends; the connected peer still gets through.
    const heard: number[] = [];
    from.on("message", (_m, r) => heard.push(r.port));
    stranger.send(Buffer.from("from a stranger"), from.address().port, "127.0.0.1");
    const fromPeer = once(from, "message");
    to.send(Buffer.from("from the peer"), from.address().port, "127.0.0.1");
    await fromPeer;
    assert.deepEqual(heard, [to.address().port]);
    assert.throws(() => n.connectTarget(-1, target), /bad arguments/);
    assert.throws(() => n.connectTarget(fd, context as never), /bad arguments/);
  } finally {
    for (const s of [from, to, other, stranger]) s.close();
  }
});

test("sealSend reaches an IPv6 socket on ::1", async () => {
  const n = api();
  const context = n.gcmContext(randomBytes(16), randomBytes(12));
  const from = createSocket("udp6");
  const to = createSocket("udp6");
  from.bind(0, "::1");
  to.bind(0, "::1");
  await Promise.all([once(from, "listening"), once(to, "listening")]);
  try {
    const target = n.target("::1", to.address().port);
    assert.ok(target);
    const got = once(to, "message");
    assert.equal(n.sealSend(context, 111, 1, 2, 3, 0, Buffer.alloc(40, 7), socketFd(from), target), 12 + 40 + 16);
    const [message, rinfo] = (await got) as [Buffer, { port: number }];
    assert.equal(message.length, 12 + 40 + 16);
    assert.equal(rinfo.port, from.address().port, "sent from the socket's own address");
  } finally {
    from.close();
    to.close();
  }
});

test("native path: bad arguments throw, a name is not an address, a closed descriptor is an error code", async () => {
  const n = api();
  assert.throws(() => n.gcmContext(Buffer.alloc(15), Buffer.alloc(12)), /16-byte key/);
  assert.throws(() => n.gcmContext("k" as unknown as Buffer, Buffer.alloc(12)), /Uint8Arrays/);
  assert.equal(n.target("relay.example", 5000), null);
  // What JavaScript sees as another string is not read as its prefix.
  assert.equal(n.target("127.0.0.1\0.example", 5000), null, "a NUL inside the host");
  assert.equal(n.target(`::1${" ".repeat(80)}`, 5000), null, "longer than the module's buffer");
  assert.equal(n.target(`0000:0000:0000:0000:0000:ffff:255.255.255.255`, 5000) !== null, true, "the longest address form");
  assert.throws(() => n.target("127.0.0.1", 0), /port/);
  const context = n.gcmContext(Buffer.alloc(16, 1), Buffer.alloc(12, 2));
  assert.throws(() => n.seal(context, 0, 1, 2, 3, 4, Buffer.alloc(100), Buffer.alloc(50)), /too small/);
  assert.throws(() => n.seal(context, 0, 1, 2, 3, 4, Buffer.alloc(4000), Buffer.alloc(5000)), /too large/);
  assert.throws(() => n.sealSend({} as never, 0, 1, 2, 3, 4, Buffer.alloc(10), 3, n.target("127.0.0.1", 9)!), /bad arguments/);
  const nonce = Buffer.alloc(12, 4);
  const none = Buffer.alloc(0);
  assert.throws(() => n.aeadKey(Buffer.alloc(15)), /16- or 32-byte key/);
  const key = n.aeadKey(Buffer.alloc(16, 3));
  assert.throws(() => n.aeadSealWith(key, nonce, none, none, Buffer.alloc(4), Buffer.alloc(19), 0), /too small/);
  assert.throws(() => n.aeadSealWith(key, nonce, none, none, Buffer.alloc(4), Buffer.alloc(40), 30), /too small/);
  assert.throws(() => n.aeadSealWith(key, Buffer.alloc(8), none, none, Buffer.alloc(4), Buffer.alloc(40), 0), /12-byte nonce/);
  const sealed = Buffer.alloc(20);
  assert.equal(n.aeadSealWith(key, nonce, Buffer.from("hdr"), none, Buffer.from("data"), sealed, 0), 20);
  const plain = Buffer.alloc(4);
  assert.equal(n.aeadOpenWith(key, nonce, Buffer.from("hdr"), none, sealed.subarray(0, 4), sealed.subarray(4), plain), 4);
  assert.equal(plain.toString(), "data");
  assert.equal(n.aeadOpenWith(key, nonce, Buffer.from("hdx"), none, sealed.subarray(0, 4), sealed.subarray(4), plain), -1, "other AAD");
  assert.deepEqual(plain, Buffer.alloc(4), "nothing of a refused frame is left in out");
  assert.throws(() => n.aeadOpenWith(key, nonce, none, none, sealed.subarray(0, 4), sealed.subarray(4, 12), plain), /16-byte tag/);
  assert.throws(() => n.aeadOpenWith(context as never, nonce, none, none, sealed.subarray(0, 4), sealed.subarray(4), plain), /bad arguments/);
  n.aeadForget(key);
  assert.throws(() => n.aeadSealWith(key, nonce, none, none, Buffer.alloc(4), Buffer.alloc(20), 0), /forgotten/);
  // A handle of one kind where another is expected is refused, not misread.
  const target = n.target("127.0.0.1", 9)!;
  const key2 = n.aeadKey(Buffer.alloc(16, 5));
  assert.throws(() => n.seal(target as never, 0, 1, 2, 3, 4, Buffer.alloc(10), Buffer.alloc(60)), /bad arguments/);
  assert.throws(() => n.seal(key2 as never, 0, 1, 2, 3, 4, Buffer.alloc(10), Buffer.alloc(60)), /bad arguments/);
  assert.throws(() => n.sealSend(context, 0, 1, 2, 3, 4, Buffer.alloc(10), 3, context as never), /bad arguments/);
  assert.throws(() => n.open(key2 as never, Buffer.alloc(40), 12, 0, Buffer.alloc(40)), /bad arguments/);
  assert.throws(() => n.aeadSealWith(target as never, nonce, none, none, Buffer.alloc(4), Buffer.alloc(20), 0), /bad arguments/);
  assert.throws(() => n.aeadOpenWith({} as never, nonce, none, none, Buffer.alloc(4), Buffer.alloc(16), Buffer.alloc(4)), /bad arguments/);
  const s = await boundSocket();
  const fd = socketFd(s);
  s.close();
  await once(s, "close");
  // A descriptor that is closed (and not reused yet in this instant): EBADF, not a crash.
  const code = n.sealSend(context, 0, 1, 2, 3, 4, Buffer.alloc(10), fd, n.target("127.0.0.1", 9)!);
  assert.ok(code < 0 && code !== -NATIVE_EAGAIN, `an error code (${code})`);
});

test("SrtpOutput: a payload too large for the native stack buffer goes out through the JavaScript protector", async () => {
  api();
  const { local: srtp, remote: receiver } = weriftSrtpPair();
  const from = await boundSocket();
  const to = await boundSocket();
  try {
    // Just what SrtpOutput reads of werift's DTLS transport and ICE pair.
    const pair = { protocol: { transport: { type: "udp", socket: from, closed: false, onData: () => {} } }, remoteAddr: ["127.0.0.1", to.address().port] };
    const dtls = { state: "connected", srtpStarted: true, srtp, iceTransport: { connection: { state: "connected", nominated: pair } } };
    const output = SrtpOutput.of(dtls as never);
    assert.ok(output?.usesNative);
    const got: Buffer[] = [];
    to.on("message", (m) => got.push(m));
    // A publisher can send (and the relay decrypts) far larger datagrams than an MTU: loopback, IP fragments.
    const payloads = [randomBytes(100), randomBytes(3000), randomBytes(60_000)];
    const roc = new RolloverCounter();
    for (let i = 0; i < payloads.length; i++) assert.equal(output.send(true, 111, 500 + i, 9000, 0xabcd, roc, payloads[i]!), true, `packet ${i} sent`);
    const deadline = Date.now() + 5000;
    while (got.length < payloads.length && Date.now() < deadline) await once(to, "message");
    assert.equal(got.length, payloads.length);
    for (let i = 0; i < payloads.length; i++) {
      assert.deepEqual(receiver.decrypt(got[i]!).subarray(RTP_HEADER_BYTES), payloads[i], `packet ${i} (${payloads[i]!.length} bytes) decrypts`);
    }
    assert.equal(output.nativeSent, 1, "the small packet took the native path");
  } finally {
    from.close();
    to.close();
  }
});

test("native open and aeadOpenWith: header lengths past the packet are refused; a context opens again after a refusal", () => {
  const n = api();
  const key = randomBytes(16);
  const salt = randomBytes(12);
  const sealer = n.gcmContext(key, salt);
  const opener = n.gcmContext(key, salt, true);
  const payload = randomBytes(100);
  const packet = Buffer.alloc(RTP_HEADER_BYTES + payload.length + GCM_TAG_BYTES);
  n.seal(sealer, 111, 7, 8, 9, 0, payload, packet);
  const out = Buffer.alloc(4096);
  for (const header of [0, 11, packet.length - 15, packet.length, 2 ** 31, 2 ** 32 - 17, 2 ** 32 - 16, 2 ** 32 - 1]) {
    assert.equal(n.open(opener, packet, header, 0, out), -1, `header length ${header}`);
  }
  assert.equal(n.open(opener, packet, RTP_HEADER_BYTES, 0, out), payload.length);
  const k = n.aeadKey(randomBytes(32));
  const nonce = randomBytes(12);
  const sealed = Buffer.alloc(50 + 16);
  n.aeadSealWith(k, nonce, Buffer.from("h"), Buffer.from("m"), Buffer.alloc(50, 1), sealed, 0);
  const plain = Buffer.alloc(50);
  const tag = Buffer.from(sealed.subarray(50));
  tag[0]! ^= 1;
  assert.equal(n.aeadOpenWith(k, nonce, Buffer.from("h"), Buffer.from("m"), sealed.subarray(0, 50), tag, plain), -1);
  assert.equal(n.aeadOpenWith(k, nonce, Buffer.from("h"), Buffer.from("m"), sealed.subarray(0, 50), sealed.subarray(50), plain), 50);
  assert.deepEqual(plain, Buffer.alloc(50, 1));
  n.aeadForget(k);
  n.aeadForget(k); // twice: no double free
  assert.throws(() => n.aeadOpenWith(k, nonce, none(), none(), sealed.subarray(0, 50), sealed.subarray(50), plain), /forgotten/);
});

test("aeadSealWith and aeadOpenWith refuse inputs longer than OpenSSL's int lengths (never authenticate a truncated AAD)", (t) => {
  const n = api();
  const k = n.aeadKey(randomBytes(16));
  const nonce = randomBytes(12);
  for (const size of [2 ** 31, 2 ** 32]) {
    let big: Uint8Array;
    try {
      // Zero pages never touched: no memory is used unless the module reads them.
      big = new Uint8Array(size);
    } catch {
      t.diagnostic(`cannot reserve ${size} bytes here; that size is not checked`);
      continue;
    }
    assert.throws(() => n.aeadSealWith(k, nonce, big, none(), Buffer.from("data"), Buffer.alloc(20), 0), /too long/, `seal, AAD of ${size} bytes`);
    assert.throws(() => n.aeadSealWith(k, nonce, none(), big, Buffer.from("data"), Buffer.alloc(20), 0), /too long/, `seal, metadata of ${size} bytes`);
    assert.throws(() => n.aeadOpenWith(k, nonce, big, none(), Buffer.alloc(4), Buffer.alloc(16), Buffer.alloc(4)), /too long/, `open, AAD of ${size} bytes`);
    assert.throws(() => n.aeadOpenWith(k, nonce, none(), big, Buffer.alloc(4), Buffer.alloc(16), Buffer.alloc(4)), /too long/, `open, metadata of ${size} bytes`);
  }
  n.aeadForget(k);
});

function none(): Buffer {
  return Buffer.alloc(0);
}

/** A copy of the build script and the C source in a fresh directory (`name` may hold a space). */
function buildRoot(name: string): string {
  const root = join(mkdtempSync(join(tmpdir(), "conclave-build-")), name);
  mkdirSync(join(root, "scripts"), { recursive: true });
  mkdirSync(join(root, "native"));
  copyFileSync(join(repoRoot(), "scripts", "build-native.mjs"), join(root, "scripts", "build-native.mjs"));
  copyFileSync(join(repoRoot(), "native", "conclave_native.c"), join(root, "native", "conclave_native.c"));
  return root;
}

/** A stand-in compiler that records its arguments and fails (nothing is compiled). */
function failingCompiler(dir: string): { cc: string; args: () => string[] } {
  const cc = join(dir, "fake-cc.sh");
  const log = join(dir, "fake-cc.args");
  writeFileSync(cc, `#!/bin/sh\nfor a in "$@"; do printf '%s\\n' "$a"; done > '${log}'\necho 'fake-cc: no' >&2\nexit 1\n`);
  chmodSync(cc, 0o755);
  return { cc, args: () => (existsSync(log) ? readFileSync(log, "utf8").split("\n").filter(Boolean) : []) };
}

function runBuild(root: string, env: Record<string, string>): { status: number; stdout: string } {
  try {
    const stdout = execFileSync(process.execPath, [join(root, "scripts", "build-native.mjs")], {
      env: { ...process.env, CONCLAVE_NATIVE: "", ...env },
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 20_000,
    });
    return { status: 0, stdout };
  } catch (err) {
    const e = err as { status: number | null; stdout?: string; stderr?: string };
    return { status: e.status ?? -1, stdout: `${e.stdout ?? ""}${e.stderr ?? ""}` };
  }
}

test("build-native never fails an install: an unwritable build/ is one line and exit 0", () => {
  const root = buildRoot("plain");
  try {
    // A file where build/ should be: mkdir fails even for root (a read-only package directory behaves alike).
    writeFileSync(join(root, "build"), "not a directory");
    const { cc } = failingCompiler(root);
    const r = runBuild(root, { CC: cc });
    assert.equal(r.status, 0, `exit status 0 (output: ${r.stdout})`);
    assert.match(r.stdout, /JavaScript/);
    assert.equal(r.stdout.trim().split("\n").length, 1, "one line");
  } finally {
    rmSync(dirname(root), { recursive: true, force: true });
  }
});

test("build-native: a package path with a space reaches the compiler as a real path", () => {
  const root = buildRoot("with space");
  try {
    const fake = failingCompiler(root);
    const r = runBuild(root, { CC: fake.cc });
    assert.equal(r.status, 0, r.stdout);
    const args = fake.args();
    const source = args.find((a) => a.endsWith("conclave_native.c"));
    assert.ok(source, `the compiler was called with the source (${args.join(" ")})`);
    assert.ok(existsSync(source), `${source} exists`);
  } finally {
    rmSync(dirname(root), { recursive: true, force: true });
  }
});

test("build-native: when the source changed and the build fails, the stale module is removed (never loaded)", () => {
  const root = buildRoot("stale");
  try {
    mkdirSync(join(root, "build"));
    const stale = join(root, "build", "conclave_native.node");
    writeFileSync(stale, "an older build");
    utimesSync(stale, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    const fake = failingCompiler(root);
    const r = runBuild(root, { CC: fake.cc });
    assert.equal(r.status, 0, r.stdout);
    assert.ok(fake.args().length > 0, "the compiler was tried");
    assert.equal(existsSync(stale), false, "no module older than its source is left to load");
  } finally {
    rmSync(dirname(root), { recursive: true, force: true });
  }
});

test("build-native: a module whose symbols the node binary lacks is refused at load (never a process abort at first call)", () => {
  const root = buildRoot("symbols");
  try {
    // Stands in for a node built without OpenSSL: the module calls a function nothing defines.
    writeFileSync(
      join(root, "native", "conclave_native.c"),
      `#include <node_api.h>
extern int conclave_no_such_symbol(void);
static napi_value call(napi_env env, napi_callback_info info) {
  (void)env;
  (void)info;
  return conclave_no_such_symbol() ? NULL : NULL;
}
static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "call", NAPI_AUTO_LENGTH, call, NULL, &fn);
  napi_set_named_property(env, exports, "call", fn);
  return exports;
}
NAPI_MODULE(conclave_native, init)
`,
    );
    const r = runBuild(root, {});
    assert.equal(r.status, 0, r.stdout);
    const module = join(root, "build", "conclave_native.node");
    assert.ok(existsSync(module), `built (${r.stdout})`);
    const script = `try { require(${JSON.stringify(module)}).call(); console.log("called"); } catch (e) { console.log("refused: " + e.message.split("\\n")[0]); }`;
    let out = "";
    try {
      out = execFileSync(process.execPath, ["-e", script], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 20_000 });
    } catch (err) {
      const e = err as { status: number | null; signal: string | null; stderr?: string };
      assert.fail(`the process died (status ${e.status}, signal ${e.signal}): ${(e.stderr ?? "").trim()}`);
    }
    assert.match(out, /^refused: .*conclave_no_such_symbol/);
  } finally {
    rmSync(dirname(root), { recursive: true, force: true });
  }
});
