/**
 * The media engine's offer queue (src/server/offer-queue.ts): one offer at a time, a newcomer's
 * first offer before other members' renegotiations, and those renegotiations held back while a
 * newcomer connects (until it connects, or at most the hold's limit). Tasks here are plain async
 * functions that record their order; the queue never looks inside them.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { OfferQueue } from "../../src/server/offer-queue.js";

const task = (log: string[], name: string) => async (): Promise<void> => {
  log.push(name);
};

test("one task at a time; a newcomer's first offer (urgent) goes before renegotiations queued earlier", async () => {
  const queue = new OfferQueue();
  const log: string[] = [];
  let inFlight = 0;
  let most = 0;
  const counted = (name: string) => async (): Promise<void> => {
    inFlight++;
    most = Math.max(most, inFlight);
    await new Promise((r) => setImmediate(r));
    log.push(name);
    inFlight--;
  };
  const all = [queue.run(counted("a")), queue.run(counted("b")), queue.run(counted("c")), queue.run(counted("newcomer"), true)];
  await Promise.all(all);
  assert.equal(most, 1);
  assert.deepEqual(log, ["newcomer", "a", "b", "c"]);
});

test("renegotiations wait while a newcomer connects; its own first offer and later urgent ones do not", async () => {
  const queue = new OfferQueue();
  const log: string[] = [];
  const release = queue.holdWhileConnecting();
  const later = queue.run(task(log, "renegotiate member"));
  await queue.run(task(log, "another newcomer"), true);
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(log, ["another newcomer"], "the renegotiation is held");
  release();
  release(); // idempotent
  await later;
  assert.deepEqual(log, ["another newcomer", "renegotiate member"]);
});

test("a newcomer that never connects holds renegotiations back for a bounded time only", async () => {
  const queue = new OfferQueue();
  const log: string[] = [];
  queue.holdWhileConnecting(); // never released
  const started = Date.now();
  // The hold's own timer is unref'd (it must not keep a relay alive): a ref'd handle keeps this test's
  // process running until the hold expires.
  const alive = setInterval(() => {}, 50);
  await queue.run(task(log, "renegotiate member"));
  clearInterval(alive);
  const waited = Date.now() - started;
  assert.deepEqual(log, ["renegotiate member"]);
  assert.ok(waited >= 400 && waited < 3000, `held ${waited} ms`);
});
