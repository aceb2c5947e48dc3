/**
 * Batched UDP reading (src/media/udp-batch.ts over the native module's recvBatch), on real dgram
 * sockets over 127.0.0.1 and ::1: every datagram arrives once, whole, with dgram's sender format;
 * stop() and closing the socket give reading back or end it; a datagram longer than a slot is
 * dropped and counted; a worker thread ends cleanly with a reader running; bad arguments throw.
 *
 * The test command builds the native module on this machine, so its absence is a failure here.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createSocket, type Socket, type SocketType } from "node:dgram";
import { once } from "node:events";
import { Worker } from "node:worker_threads";
import { native, nativeStatus, socketFd } from "../../src/media/native.js";
import { UdpBatchReceive, BATCH_SLOT_BYTES } from "../../src/media/udp-batch.js";
import { waitFor } from "../helpers/util.js";

const TIMEOUT_MS = 5000;

function api() {
  const n = native();
  assert.ok(n, `the native module is built and loads (${nativeStatus().detail})`);
  return n;
}

async function bound(type: SocketType = "udp4", host = "127.0.0.1"): Promise<Socket> {
  const socket = createSocket(type);
  await new Promise<void>((resolve) => socket.bind(0, host, resolve));
  return socket;
}

for (const [type, host] of [
  ["udp4", "127.0.0.1"],
  ["udp6", "::1"],
] as const) {
  test(`every datagram arrives once and whole, with dgram's sender, in batches (${host})`, async () => {
    api();
    const [rx, tx] = [await bound(type, host), await bound(type, host)];
    const got: { body: Buffer; from: [string, number] }[] = [];
    const reader = UdpBatchReceive.start(rx, (data, sender) => got.push({ body: Buffer.from(data), from: sender() }));
    try {
      assert.ok(reader?.running, "the batched reader starts");
      let dgramEvents = 0;
      rx.on("message", () => dgramEvents++);
      const count = 100;
      for (let i = 0; i < count; i++) {
        const body = Buffer.alloc(20 + ((i * 7) % 600), i & 0xff);
        body.writeUInt32BE(i, 0);
        tx.send(body, rx.address().port, host);
      }
      await waitFor(() => got.length >= count, TIMEOUT_MS, `${count} datagrams`);
      assert.equal(got.length, count);
      for (let i = 0; i < count; i++) {
        const { body, from } = got[i]!;
        assert.equal(body.readUInt32BE(0), i, "in order, none twice");
        assert.equal(body.length, 20 + ((i * 7) % 600), "whole");
        assert.equal(body[body.length - 1], i & 0xff);
        assert.deepEqual(from, [host, tx.address().port], "the sender as dgram reports it");
      }
      assert.equal(dgramEvents, 0, "dgram reads nothing while the batched reader runs");
      assert.ok(reader!.batches < count, `fewer callbacks than datagrams (${reader!.batches} for ${count})`);
      assert.equal(reader!.datagrams, count);
    } finally {
      reader?.stop();
      rx.close();
      tx.close();
    }
  });
}

test("stop() gives reading back to dgram; closing the socket ends the reader", async () => {
  api();
  const [rx, tx] = [await bound(), await bound()];
  let batched = 0;
  const reader = UdpBatchReceive.start(rx, () => batched++);
  assert.ok(reader);
  tx.send(Buffer.from("one"), rx.address().port, "127.0.0.1");
  await waitFor(() => batched > 0, TIMEOUT_MS, "a batched datagram");
  reader.stop();
  assert.equal(reader.running, false);
  const message = once(rx, "message");
  tx.send(Buffer.from("two"), rx.address().port, "127.0.0.1");
  const [data] = (await message) as [Buffer];
  assert.equal(data.toString(), "two", "dgram reads again after stop()");
  assert.equal(batched, 1);

  const again = UdpBatchReceive.start(rx, () => {});
  assert.ok(again?.running);
  const closed = once(rx, "close");
  rx.close();
  await closed;
  assert.equal(again.running, false, "closing the socket stops the reader");
  again.stop();
  tx.close();
});

test("a datagram longer than a slot is dropped and counted; the next one arrives", async () => {
  api();
  const [rx, tx] = [await bound(), await bound()];
  const got: number[] = [];
  const reader = UdpBatchReceive.start(rx, (data) => got.push(data.length));
  assert.ok(reader);
  try {
    tx.send(Buffer.alloc(BATCH_SLOT_BYTES + 1), rx.address().port, "127.0.0.1");
    tx.send(Buffer.alloc(BATCH_SLOT_BYTES), rx.address().port, "127.0.0.1");
    await waitFor(() => got.length > 0, TIMEOUT_MS, "the slot-sized datagram");
    assert.deepEqual(got, [BATCH_SLOT_BYTES]);
    assert.equal(reader.truncated, 1);
  } finally {
    reader.stop();
    rx.close();
    tx.close();
  }
});

test("a worker thread with a running reader ends cleanly, terminated or on its own", async () => {
  api();
  const source = `
    const { createSocket } = require("node:dgram");
    const { parentPort, workerData } = require("node:worker_threads");
    import(workerData.module).then(({ UdpBatchReceive }) => {
      const rx = createSocket("udp4");
      rx.bind(0, "127.0.0.1", () => {
        let got = 0;
        UdpBatchReceive.start(rx, () => { if (++got === 10) parentPort.postMessage("got"); });
        parentPort.postMessage(rx.address().port);
        if (workerData.closeAfter) parentPort.once("message", () => rx.close());
      });
    });
  `;
  const module = new URL("../../src/media/udp-batch.js", import.meta.url).href;
  const tx = await bound();
  try {
    for (const closeAfter of [false, true]) {
      const worker = new Worker(source, { eval: true, workerData: { module, closeAfter } });
      const errors: Error[] = [];
      worker.on("error", (e) => errors.push(e));
      const [port] = (await once(worker, "message")) as [number];
      const got = once(worker, "message");
      for (let i = 0; i < 10; i++) tx.send(Buffer.alloc(40), port, "127.0.0.1");
      await got;
      const exited = once(worker, "exit");
      if (closeAfter) worker.postMessage("close");
      else void worker.terminate();
      const timer = setTimeout(() => worker.terminate(), TIMEOUT_MS);
      const [code] = (await exited) as [number];
      clearTimeout(timer);
      assert.deepEqual(errors, []);
      // Closed: the reader no longer keeps the worker's loop alive, so it ends by itself (code 0).
      assert.equal(code, closeAfter ? 0 : 1, closeAfter ? "the worker ended on its own" : "terminated");
    }
  } finally {
    tx.close();
  }
});

test("recvBatch and its companions refuse bad arguments with an exception", async () => {
  const n = api();
  const socket = await bound();
  try {
    const fd = socketFd(socket);
    const area = Buffer.alloc(BATCH_SLOT_BYTES);
    const meta = new Uint32Array(8);
    const bad: [string, () => unknown][] = [
      ["negative fd", () => n.recvBatch(-1, area, meta, () => {})],
      ["area too small", () => n.recvBatch(fd, Buffer.alloc(100), meta, () => {})],
      ["meta too small", () => n.recvBatch(fd, area, new Uint32Array(4), () => {})],
      ["meta of another type", () => n.recvBatch(fd, area, new Uint8Array(64) as unknown as Uint32Array, () => {})],
      ["no callback", () => n.recvBatch(fd, area, meta, 5 as unknown as () => void)],
      ["stop without a handle", () => n.recvStop({} as never)],
      ["another kind of handle", () => n.recvStop(n.target("127.0.0.1", 9) as never)],
      ["address index out of range", () => n.formatAddress(meta, 1)],
    ];
    for (const [label, call] of bad) assert.throws(call, Error, label);
  } finally {
    socket.close();
  }
});
