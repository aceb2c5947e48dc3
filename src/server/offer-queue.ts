/** How long one offer may hold an engine's offer queue. */
const OFFER_TASK_TIMEOUT_MS = 3000;
/** How long a newcomer's connection setup may hold back other renegotiations. */
const CONNECT_HOLD_MAX_MS = 500;

/**
 * Runs offer creation one task at a time, with a turn of the event loop between tasks. werift
 * builds a 40-m-line offer in 10–20 ms of synchronous work; a room's worth of them back to back
 * would stall packet forwarding and answers to ICE consent checks (werift drops a connection whose
 * consent checks go unanswered for 30 s, and waits only 500 ms for each answer).
 */
export class OfferQueue {
  private readonly first: (() => void)[] = [];
  private readonly later: (() => void)[] = [];
  private running = false;
  /** Newcomers between their first offer and their connection (see holdWhileConnecting). */
  private readonly connecting = new Set<symbol>();

  /**
   * Run `task` when its turn comes; `urgent` tasks (a newcomer's first offer) go before the rest.
   * The queue moves on after OFFER_TASK_TIMEOUT_MS even if a task has not settled: werift never
   * settles an offer on a PeerConnection closed under it (a participant leaving mid-offer).
   */
  run(task: () => Promise<void>, urgent = false): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      (urgent ? this.first : this.later).push(() => {
        let done = false;
        const next = (): void => {
          if (done) return;
          done = true;
          clearTimeout(watchdog);
          this.running = false;
          this.pump();
        };
        const watchdog = setTimeout(next, OFFER_TASK_TIMEOUT_MS);
        task().then(resolve, reject).finally(next);
      });
      this.pump();
    });
  }

  /**
   * A newcomer's first offer is out and its ICE and DTLS handshakes are running: hold back the other
   * members' renegotiations (they add the newcomer's m-lines, which carry nothing before it is
   * connected anyway) until it connects, at most CONNECT_HOLD_MAX_MS, so the newcomer's handshake,
   * the relay's forwarding and the members' own processes are not busy with a room's worth of
   * offers and answers in the moment its first audio is due. Call the returned function when it
   * is connected, failed or gone; it is idempotent.
   */
  holdWhileConnecting(): () => void {
    const token = Symbol("connecting");
    this.connecting.add(token);
    const release = (): void => {
      clearTimeout(timer);
      if (this.connecting.delete(token)) this.pump();
    };
    const timer = setTimeout(release, CONNECT_HOLD_MAX_MS);
    timer.unref();
    return release;
  }

  private pump(): void {
    if (this.running || (this.first.length === 0 && (this.connecting.size > 0 || this.later.length === 0))) return;
    this.running = true;
    setImmediate(() => {
      // Chosen now, not when scheduled: an urgent task queued meanwhile still goes first.
      const next = this.first.shift() ?? (this.connecting.size === 0 ? this.later.shift() : undefined);
      if (next) next();
      else this.running = false; // a hold began meanwhile; its release pumps again
    });
  }
}
