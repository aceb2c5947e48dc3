/**
 * The fuzz harness shared by the test suite (test/fuzz/*.test.ts, a bounded number of cases per
 * property) and by `npm run fuzz` (scripts/fuzz.mjs, FUZZ_RUNS cases per property). A property is a
 * named check over one fast-check arbitrary; it passes unless the check throws.
 */
import * as fc from "fast-check";
import { sodiumReady } from "../../../src/crypto/index.js";

export interface FuzzProperty {
  /** Test name; scripts/fuzz.mjs filters on it with FUZZ_FILTER. */
  readonly name: string;
  /** Cases per run in the test suite (each test file stays well under 10 s). */
  readonly ciRuns: number;
  /**
   * Runs `numRuns` cases. On failure throws fast-check's report, which carries the seed and the
   * shrunk counterexample (replay with FUZZ_SEED and FUZZ_PATH).
   */
  run(numRuns: number, options?: { seed?: number; path?: string }): Outcomes;
}

/** How often each outcome (an error code, or "accepted") came up during one run: shows which paths were reached. */
export type Outcomes = Record<string, number>;

let outcomes: Outcomes = {};

/** Counts one outcome of the current run. */
export function note(outcome: string): void {
  outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
}

/**
 * A property over `arbitrary`. `setup` runs once per `run()` and returns the state the check works
 * on (keys, receivers), so every run starts fresh.
 */
export function fuzzProperty<T, S = undefined>(
  name: string,
  ciRuns: number,
  arbitrary: fc.Arbitrary<T>,
  check: (value: T, state: S) => void,
  setup?: () => S,
): FuzzProperty {
  return {
    name,
    ciRuns,
    run(numRuns, options = {}) {
      const state = (setup ? setup() : undefined) as S;
      outcomes = {};
      fc.assert(
        fc.property(arbitrary, (value) => {
          check(value, state);
        }),
        {
          numRuns,
          ...(options.seed !== undefined ? { seed: options.seed } : {}),
          ...(options.path !== undefined ? { path: options.path } : {}),
        },
      );
      return outcomes;
    },
  };
}

/** Everything the properties need before they run (libsodium). */
export async function fuzzReady(): Promise<void> {
  await sodiumReady();
}

/** Fails unless `err` is an instance of `type` whose `code` is one of `codes`. */
export function expectCoded(err: unknown, type: abstract new (...args: never[]) => Error, codes: readonly string[], where: string): void {
  if (!(err instanceof type)) {
    throw new Error(`${where}: expected ${type.name}, got ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
  }
  const code = (err as Error & { code?: unknown }).code;
  if (typeof code !== "string" || !codes.includes(code)) {
    throw new Error(`${where}: unexpected ${type.name} code ${String(code)} (${err.message})`);
  }
  note(code);
}

/** Throws `new Error(message)` unless `condition`. */
export function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(message);
}
