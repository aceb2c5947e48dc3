/**
 * One relay on 127.0.0.1 for a whole test file: started before its first test, closed after its
 * last, with the cleanups the tests registered run first (last registered, first run).
 */
import { before, after } from "node:test";
import { Relay, type RelayOptions } from "../../src/index.js";

export interface SharedRelay {
  readonly relay: Relay;
  /** The relay's http:// URL, for newInvite(). */
  readonly url: string;
  /** Run `cleanup` after the file's tests, before the relay closes. */
  defer(cleanup: () => unknown): void;
}

export function sharedRelay(options: RelayOptions = {}, afterClose?: () => void): SharedRelay {
  const cleanups: (() => unknown)[] = [];
  let relay: Relay | undefined;
  let url = "";
  before(async () => {
    relay = new Relay({ host: "127.0.0.1", port: 0, ...options });
    url = await relay.start();
  });
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await relay?.close();
    afterClose?.();
  });
  return {
    get relay(): Relay {
      if (!relay) throw new Error("the shared relay is not started yet");
      return relay;
    },
    get url(): string {
      return url;
    },
    defer: (cleanup) => void cleanups.push(cleanup),
  };
}
