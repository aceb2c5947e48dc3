import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TrustStore, defaultTrustStorePath } from "../../src/client/trust-store.js";
import { key } from "./fixtures.js";

let dir: string;
let savedXdg: string | undefined;

before(() => {
  dir = mkdtempSync(join(tmpdir(), "conclave-trust-"));
  savedXdg = process.env.XDG_CONFIG_HOME;
  process.env.XDG_CONFIG_HOME = dir;
});

after(() => {
  if (savedXdg === undefined) delete process.env.XDG_CONFIG_HOME;
  else process.env.XDG_CONFIG_HOME = savedXdg;
  rmSync(dir, { recursive: true, force: true });
});

test("lives in the config dir as verified.json with mode 0600", () => {
  const path = defaultTrustStorePath();
  assert.equal(path, join(dir, "conclave", "verified.json"));
  const store = TrustStore.open();
  assert.equal(existsSync(path), false, "opening writes nothing");
  store.setVerified(key(1), "alice", true);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  const parsed = JSON.parse(readFileSync(path, "utf8"));
  assert.equal(parsed.verified[key(1)].name, "alice");
});

test("verified members persist across opens and can be unverified", () => {
  const path = join(dir, "persist", "verified.json");
  TrustStore.open(path).setVerified(key(2), "bob", true);
  const again = TrustStore.open(path);
  assert.equal(again.isVerified(key(2)), true);
  assert.equal(again.verifiedName(key(2)), "bob");
  assert.equal(again.isVerified(key(3)), false);
  again.setVerified(key(2), "bob", false);
  assert.equal(TrustStore.open(path).isVerified(key(2)), false);
});

test("known names: new, same, changed; remember moves the name to the new key", () => {
  const path = join(dir, "names", "verified.json");
  const store = TrustStore.open(path);
  assert.equal(store.checkName("alice", key(1)), "new");
  store.remember("alice", key(1));
  assert.equal(store.checkName("alice", key(1)), "same");
  const later = TrustStore.open(path);
  assert.equal(later.checkName("alice", key(1)), "same");
  assert.equal(later.checkName("Alice ", key(4)), "changed", "names compare case- and space-insensitively");
  assert.equal(later.knownKeyFor("alice"), key(1));
  later.remember("alice", key(4));
  assert.equal(TrustStore.open(path).checkName("alice", key(4)), "same");
  assert.equal(statSync(path).mode & 0o777, 0o600);
});

test("two stores on one file do not undo each other's changes", () => {
  const path = join(dir, "shared", "verified.json");
  const a = TrustStore.open(path);
  const b = TrustStore.open(path);
  a.setVerified(key(5), "carol", true);
  b.setVerified(key(6), "dave", true);
  const c = TrustStore.open(path);
  assert.equal(c.isVerified(key(5)), true);
  assert.equal(c.isVerified(key(6)), true);
});

test("a damaged file is moved aside, not fatal; odd names cannot pollute prototypes", () => {
  const sub = join(dir, "bad");
  mkdirSync(sub, { recursive: true });
  const path = join(sub, "verified.json");
  writeFileSync(path, "{not json", { mode: 0o600 });
  const store = TrustStore.open(path);
  assert.equal(existsSync(`${path}.corrupt`), true);
  assert.equal(store.checkName("__proto__", key(7)), "new");
  store.remember("__proto__", key(7));
  store.remember("constructor", key(8));
  const again = TrustStore.open(path);
  assert.equal(again.checkName("__proto__", key(7)), "same");
  assert.equal(again.checkName("constructor", key(8)), "same");
  assert.equal(again.checkName("toString", key(8)), "new");
  assert.equal(({} as Record<string, unknown>).identityKey, undefined);
});

test("rejects keys that are not 32 bytes of base64url", () => {
  const store = TrustStore.open(join(dir, "keys", "verified.json"));
  assert.throws(() => store.setVerified("short", "x", true), TypeError);
  assert.throws(() => store.remember("x", "not a key!"), TypeError);
});
