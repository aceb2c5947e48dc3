/**
 * Signalling work of every participant in this process, run in arrival order in short slices with
 * a turn of the event loop between slices.
 *
 * Why: a participant answers each relay message synchronously, and one join costs every member of
 * the room key envelopes to open and seal (libsodium) and a renegotiation (werift SDP parsing). With
 * dozens of bots in one process, a join or a leave lands as a burst of such messages on every bot's
 * socket at once; handled inside one poll phase of the event loop they held it for up to seconds on
 * a busy machine. Meanwhile no UDP socket was read (their buffers overflowed: packet loss), no
 * timer fired (werift's ICE consent checks and DTLS retransmissions) and no WebSocket ping was
 * answered in time (the relay then closes the connection). Here a burst is worked off SLICE_MS at a
 * time and everything else runs in between.
 *
 * Order: tasks run one after the other as queued, except `urgent` ones, which go before every task
 * not yet started (answers to the relay's offers while the queue is behind: the relay drops a
 * participant that takes longer than 10 s to answer, however much key exchange is waiting).
 */

/**
 * Longest stretch of queued work before the event loop gets a turn, ms. Each turn also works off
 * every datagram that arrived meanwhile, which in a process full of receiving bots can take tens of
 * ms: with 4 ms slices signalling got a few percent of the CPU and a newcomer into a room of 20
 * publishers (bench/relay.ts join) waited 3 s instead of 0.2 s for the members' keys and answers.
 * 50 ms keeps both: the 40-bot density bench stays lossless under two busy loops (bench/README.md).
 */
const SLICE_MS = 50;
/**
 * Lag from which answers to offers jump the queue (`behind`). Below it everything runs in arrival
 * order, as it did before there was a queue: an answer does not hold up a key acknowledgement.
 */
export const BEHIND_MS = 1000;

interface Task {
  run: () => void;
  /** End the slice after this task: what it sets off (microtasks) gets the turn to itself. */
  alone: boolean;
  /** performance.now() when queued. */
  at: number;
}

/** A FIFO that is cheap to shift from. */
class Fifo {
  private items: Task[] = [];
  private head = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  get first(): Task | undefined {
    return this.items[this.head];
  }

  push(task: Task): void {
    this.items.push(task);
  }

  shift(): Task | undefined {
    const task = this.items[this.head];
    if (task === undefined) return undefined;
    this.items[this.head++] = undefined as unknown as Task;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return task;
  }
}

export class TurnQueue {
  private readonly urgent = new Fifo();
  private readonly normal = new Fifo();
  private scheduled = false;

  constructor(private readonly sliceMs = SLICE_MS) {}

  /** Tasks waiting to run. */
  get pending(): number {
    return this.urgent.size + this.normal.size;
  }

  /** How long the oldest waiting task has waited, ms (0 when none waits): how far behind we are. */
  get lagMs(): number {
    const now = performance.now();
    const oldest = Math.min(this.urgent.first?.at ?? now, this.normal.first?.at ?? now);
    return now - oldest;
  }

  /** The oldest waiting task has waited BEHIND_MS or more. */
  get behind(): boolean {
    return this.lagMs >= BEHIND_MS;
  }

  /** Run `task` after everything queued before it (`urgent`: before every non-urgent task), in a later turn of the event loop. */
  push(task: () => void, opts: { urgent?: boolean; alone?: boolean } = {}): void {
    (opts.urgent ? this.urgent : this.normal).push({ run: task, alone: opts.alone ?? false, at: performance.now() });
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.drain);
    }
  }

  /**
   * Resolves when its turn comes, as the last task of its slice: the caller's continuation (one
   * chunk of async work, such as answering an offer) runs right after, alone, before the event
   * loop turns again.
   */
  turn(urgent = false): Promise<void> {
    return new Promise((resolve) => this.push(resolve, { urgent, alone: true }));
  }

  private readonly drain = (): void => {
    const end = performance.now() + this.sliceMs;
    for (;;) {
      const task = this.urgent.shift() ?? this.normal.shift();
      if (!task) break;
      try {
        task.run();
      } catch {
        // A task reports its own failures; one that throws must not stall the rest.
      }
      if (task.alone || performance.now() >= end) break;
    }
    if (this.pending === 0) {
      this.scheduled = false;
      return;
    }
    setImmediate(this.drain);
  };
}

/** The queue every Participant of this process puts relay messages on. */
export const signallingTurns = new TurnQueue();
