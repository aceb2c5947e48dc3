/**
 * The per-process queue participants put relay messages on (src/client/turn-queue.ts): order is
 * kept, urgent tasks go first, the event loop gets a turn between slices, and a `turn()` caller's
 * continuation runs alone. Orderings only, no timing: a slice of 0 ms ends after every task.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { TurnQueue } from "../../src/client/turn-queue.js";

function settled(q: TurnQueue): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => (q.pending === 0 ? resolve() : void setImmediate(check));
    check();
  });
}

test("tasks run in the order queued, later than the push", async () => {
  const q = new TurnQueue(1000);
  const log: string[] = [];
  for (const name of ["a", "b", "c"]) q.push(() => log.push(name));
  log.push("pushed");
  assert.equal(q.pending, 3);
  await settled(q);
  assert.deepEqual(log, ["pushed", "a", "b", "c"]);
  assert.equal(q.lagMs, 0);
});

test("urgent tasks go before every task not yet started", async () => {
  const q = new TurnQueue(1000);
  const log: string[] = [];
  q.push(() => log.push("a"));
  q.push(() => {
    log.push("b");
    q.push(() => log.push("urgent-late"), { urgent: true });
  });
  q.push(() => log.push("c"));
  q.push(() => log.push("urgent"), { urgent: true });
  await settled(q);
  assert.deepEqual(log, ["urgent", "a", "b", "urgent-late", "c"]);
});

test("the event loop turns between slices: I/O queued by one task runs before the next", async () => {
  const q = new TurnQueue(0);
  const log: string[] = [];
  q.push(() => {
    log.push("task-1");
    setImmediate(() => log.push("io"));
  });
  q.push(() => log.push("task-2"));
  await settled(q);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(log, ["task-1", "io", "task-2"]);
});

test("turn(): the caller's continuation runs before the next queued task", async () => {
  const q = new TurnQueue(1000);
  const log: string[] = [];
  q.push(() => log.push("a"));
  const t = q.turn().then(() => log.push("continuation"));
  q.push(() => log.push("b"));
  await t;
  await settled(q);
  assert.deepEqual(log, ["a", "continuation", "b"]);
});

test("a throwing task does not stop the queue", async () => {
  const q = new TurnQueue(1000);
  const log: string[] = [];
  q.push(() => {
    throw new Error("boom");
  });
  q.push(() => log.push("after"));
  await settled(q);
  assert.deepEqual(log, ["after"]);
});
