/**
 * Signed join tokens: the properties (./properties/token.ts, shared with `npm run fuzz`), the exact
 * refusal codes, the two file formats, and the real CLI (`conclave token keygen` / `token new`).
 */
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  decodeJoinToken,
  decodeOperatorKeyFile,
  encodeOperatorKeyFile,
  formatOperatorKeyLine,
  generateOperatorKey,
  operatorKeyId,
  parseOperatorKeys,
  signJoinToken,
  toBase64Url,
  verifyJoinToken,
  CryptoError,
  type OperatorKeyPair,
} from "../../src/crypto/index.js";
import { loadOperatorKey, readOperatorPublicKeys } from "../../src/client/operator-key.js";
import { fuzzReady } from "./properties/harness.js";
import { tokenProperties } from "./properties/token.js";
import { runCli, tempDir } from "../helpers/util.js";

const NOW = 1_750_000_000_000;
let op: OperatorKeyPair;

before(async () => {
  await fuzzReady();
  op = generateOperatorKey();
});

describe("join token properties", () => {
  for (const property of tokenProperties) {
    test(property.name, () => {
      property.run(property.ciRuns);
    });
  }
});

describe("join tokens", () => {
  test("verify: each refusal has its code, checked in order missing → malformed → signature → expiry → room", () => {
    const keys = { operatorPublicKeys: [op.publicKey], room: "room1", now: NOW };
    const token = signJoinToken({ operatorSecretKey: op.secretKey, room: "room1", expiresAt: NOW + 1000 });
    const code = (t: unknown, o = keys): string => {
      const v = verifyJoinToken(t, o);
      return v.ok ? "ok" : v.code;
    };
    assert.equal(code(token), "ok");
    assert.equal(code(undefined), "token-missing");
    assert.equal(code(""), "token-missing");
    assert.equal(code(42), "token-malformed");
    assert.equal(code("cjt1.!!"), "token-malformed");
    assert.equal(code(token.replace("cjt1.", "cjt9.")), "token-malformed");
    assert.equal(code(token, { ...keys, operatorPublicKeys: [generateOperatorKey().publicKey] }), "token-bad-signature");
    assert.equal(code(token, { ...keys, now: NOW + 1000 }), "token-expired");
    assert.equal(code(token, { ...keys, room: "room2" }), "token-wrong-room");
    // An expired token for another room signed by a stranger: the signature is what is reported.
    assert.equal(code(token, { operatorPublicKeys: [generateOperatorKey().publicKey], room: "x", now: NOW + 5000 }), "token-bad-signature");
  });

  test("claims: keyId names the key, id is 16 bytes, and nothing in the token is the secret key", () => {
    const id = new Uint8Array(16).fill(7);
    const token = signJoinToken({ operatorSecretKey: op.secretKey, room: "abc", expiresAt: NOW, id });
    const claims = decodeJoinToken(token);
    assert.deepEqual(claims, { version: 1, keyId: operatorKeyId(op.publicKey), expiresAt: NOW, id: toBase64Url(id), room: "abc" });
    assert.ok(token.length < 200, `token is ${token.length} characters`);
    assert.ok(!token.includes(toBase64Url(op.secretKey.subarray(0, 32)).slice(0, 20)));
    const verdict = verifyJoinToken(token, { operatorPublicKeys: [op.publicKey], room: "abc", now: NOW - 1 });
    assert.ok(verdict.ok);
    assert.deepEqual(verdict.claims, claims);
  });

  test("several operator keys: a token from any listed key verifies", () => {
    const other = generateOperatorKey();
    const token = signJoinToken({ operatorSecretKey: other.secretKey, room: "r", expiresAt: NOW + 10 });
    assert.ok(verifyJoinToken(token, { operatorPublicKeys: [op.publicKey, other.publicKey], room: "r", now: NOW }).ok);
  });

  test("bad arguments are TypeError/RangeError, not verdicts", () => {
    assert.throws(() => signJoinToken({ operatorSecretKey: op.publicKey, room: "r", expiresAt: NOW }), RangeError);
    assert.throws(() => signJoinToken({ operatorSecretKey: op.secretKey, room: "bad room", expiresAt: NOW }), RangeError);
    assert.throws(() => signJoinToken({ operatorSecretKey: op.secretKey, room: "r", expiresAt: 1.5 }), RangeError);
    assert.throws(() => verifyJoinToken("x", { operatorPublicKeys: [new Uint8Array(3)], room: "r" }), RangeError);
  });

  test("operator key file: round trip, and a swapped public key is detected", () => {
    const text = encodeOperatorKeyFile(op);
    const back = decodeOperatorKeyFile(text);
    assert.deepEqual(back.publicKey, op.publicKey);
    const doc = JSON.parse(text) as Record<string, string>;
    doc.publicKey = toBase64Url(generateOperatorKey().publicKey);
    assert.throws(() => decodeOperatorKeyFile(JSON.stringify(doc)), (e: unknown) => e instanceof CryptoError && e.code === "operator-key-corrupt");
    assert.throws(() => decodeOperatorKeyFile("nope"), (e: unknown) => e instanceof CryptoError && e.code === "operator-key-corrupt");
  });

  test("--auth file: comments, blank lines, duplicates, and a pasted secret key file is refused", () => {
    const other = generateOperatorKey();
    const text = [
      "# operators of example.org",
      "",
      formatOperatorKeyLine(op.publicKey, "alice laptop"),
      `  ${formatOperatorKeyLine(other.publicKey)}  `,
      formatOperatorKeyLine(op.publicKey, "duplicate"),
    ].join("\n");
    const keys = parseOperatorKeys(text);
    assert.equal(keys.length, 2);
    assert.throws(() => parseOperatorKeys("# nothing\n"), /no operator public key/);
    assert.throws(() => parseOperatorKeys("ed25519 abc"), /line 1/);
    assert.throws(() => parseOperatorKeys(encodeOperatorKeyFile(op)), /SECRET key file/);
  });
});

describe("operator key files and the CLI", () => {
  test("loadOperatorKey creates the key once with mode 0600 and reads it back", async () => {
    const dir = tempDir();
    try {
      const path = join(dir.path, "sub", "op.json");
      await assert.rejects(loadOperatorKey({ path }), (e: Error & { code?: string }) => e.code === "operator-key-missing");
      const first = await loadOperatorKey({ path, create: true });
      assert.equal(first.created, true);
      assert.equal(statSync(path).mode & 0o777, 0o600);
      const second = await loadOperatorKey({ path, create: true });
      assert.equal(second.created, false);
      assert.deepEqual(second.key.publicKey, first.key.publicKey);
    } finally {
      dir.cleanup();
    }
  });

  test("conclave token keygen → --auth file → conclave token new: the token verifies against the file", async () => {
    const dir = tempDir();
    try {
      const env = { XDG_CONFIG_HOME: dir.path };
      const keygen = runCli(["token", "keygen"], env);
      assert.equal((await keygen.exited).code, 0, keygen.stderr);
      const authFile = join(dir.path, "operators");
      writeFileSync(authFile, `# relay operators\n${keygen.stdout}`);
      assert.equal(statSync(join(dir.path, "conclave", "operator-key.json")).mode & 0o777, 0o600);
      assert.doesNotMatch(keygen.stdout + keygen.stderr, /secretKey/);

      const issue = runCli(["token", "new", "--room", "http://127.0.0.1:1/r/RoomRoom1#" + "s".repeat(43), "--ttl", "15m", "--json"], env);
      assert.equal((await issue.exited).code, 0, issue.stderr);
      const line = issue.lines.find((l) => l.type === "token")!;
      assert.equal(line.room, "RoomRoom1");
      assert.doesNotMatch(issue.stdout, /s{43}/, "the invite secret is not echoed");
      const expiresIn = Date.parse(String(line.expiresAt)) - Date.now();
      assert.ok(expiresIn > 14 * 60_000 && expiresIn <= 15 * 60_000, `expires in ${expiresIn} ms`);
      const verdict = verifyJoinToken(line.token, { operatorPublicKeys: readOperatorPublicKeys(authFile), room: "RoomRoom1" });
      assert.ok(verdict.ok, JSON.stringify(verdict));

      const plain = runCli(["token", "new", "--room", "RoomRoom1"], env);
      assert.equal((await plain.exited).code, 0);
      assert.match(plain.stdout, /^cjt1\.[A-Za-z0-9_-]+\n$/, "stdout holds the token alone");

      const missing = runCli(["token", "new", "--room", "r", "--key", join(dir.path, "none.json")], env);
      assert.equal((await missing.exited).code, 7);
      assert.match(missing.stderr, /conclave token keygen/);
      const badTtl = runCli(["token", "new", "--room", "r", "--ttl", "1y"], env);
      assert.equal((await badTtl.exited).code, 2);
      assert.ok(readFileSync(authFile, "utf8").startsWith("# relay operators\ned25519 "));
    } finally {
      dir.cleanup();
    }
  });
});
