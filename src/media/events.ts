/**
 * A small typed event emitter for the media layer: a map from event name to argument tuple, and an
 * emit that survives a throwing listener (the exception is reported to `onListenerError`, by default
 * the logger, and the remaining listeners still run). Emitting "error" with no listener does not
 * throw, unlike node:events; it is reported the same way so a device failure never crashes the
 * process.
 */
import type { Logger } from "../log.js";

type Listener<A extends unknown[]> = (...args: A) => void;

export class TypedEmitter<E extends { [K in keyof E]: unknown[] }> {
  #listeners = new Map<keyof E, Array<{ fn: Listener<never[]>; once: boolean }>>();
  protected eventLogger: Logger | undefined;

  on<K extends keyof E>(event: K, fn: Listener<E[K]>): this {
    this.#add(event, fn, false);
    return this;
  }

  once<K extends keyof E>(event: K, fn: Listener<E[K]>): this {
    this.#add(event, fn, true);
    return this;
  }

  off<K extends keyof E>(event: K, fn: Listener<E[K]>): this {
    const list = this.#listeners.get(event);
    if (!list) return this;
    const i = list.findIndex((l) => l.fn === (fn as unknown as Listener<never[]>));
    if (i >= 0) list.splice(i, 1);
    return this;
  }

  listenerCount<K extends keyof E>(event: K): number {
    return this.#listeners.get(event)?.length ?? 0;
  }

  /** Calls every listener; returns whether there was one. Never throws. */
  protected emit<K extends keyof E>(event: K, ...args: E[K]): boolean {
    const list = this.#listeners.get(event);
    if (!list || list.length === 0) {
      if (event === "error") this.onListenerError(args[0], event);
      return false;
    }
    for (const l of [...list]) {
      if (l.once) {
        const i = list.indexOf(l);
        if (i >= 0) list.splice(i, 1);
      }
      try {
        (l.fn as unknown as Listener<E[K]>)(...args);
      } catch (err) {
        this.onListenerError(err, event);
      }
    }
    return true;
  }

  protected onListenerError(err: unknown, event: keyof E): void {
    const message = err instanceof Error ? err.message : String(err);
    const what = event === "error" ? "unhandled error event" : `listener for "${String(event)}" threw`;
    this.eventLogger?.warn(what, { error: message });
  }

  #add<K extends keyof E>(event: K, fn: Listener<E[K]>, once: boolean): void {
    let list = this.#listeners.get(event);
    if (!list) this.#listeners.set(event, (list = []));
    list.push({ fn: fn as unknown as Listener<never[]>, once });
  }
}
