/** How long one offer may hold an engine's offer queue. */
const OFFER_TASK_TIMEOUT_MS = 3000;

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

  private pump(): void {
    if (this.running || (this.first.length === 0 && this.later.length === 0)) return;
    this.running = true;
    setImmediate(() => (this.first.shift() ?? this.later.shift())!());
  }
}
