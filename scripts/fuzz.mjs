// Long fuzzing run: the same properties as test/fuzz/*.test.ts with many more cases each.
// Build first (`npm run fuzz` does: tsc -p tsconfig.json && node scripts/fuzz.mjs).
//
//   FUZZ_RUNS=200000        cases per property (default 100000)
//   FUZZ_FILTER=sframe      only properties whose name contains this text
//   FUZZ_SEED=123           fixed seed (default: random, printed); FUZZ_PATH replays a shrunk failure
//
// Prints one JSON line per property, {"property","runs","ms","outcomes"} or {"property","error"},
// and exits 1 if any property failed. The failure text carries the seed and path to replay it.
import { fileURLToPath } from "node:url";
import { existsSync } from "node:fs";

const root = fileURLToPath(new URL("..", import.meta.url));
const entry = `${root}dist/test/fuzz/properties/index.js`;
if (!existsSync(entry)) {
  console.error("scripts/fuzz.mjs: dist/test/fuzz is missing; run `npx tsc -p tsconfig.json` first (npm run fuzz does)");
  process.exit(2);
}

function intFromEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) {
    console.error(`scripts/fuzz.mjs: ${name} must be a positive integer, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return n;
}

const runs = intFromEnv("FUZZ_RUNS", 100_000);
const seed = intFromEnv("FUZZ_SEED", Math.floor(Math.random() * 0x7fffffff) + 1);
const path = process.env.FUZZ_PATH || undefined;
const filter = process.env.FUZZ_FILTER ?? "";

const { allProperties, fuzzReady } = await import(entry);
await fuzzReady();
const selected = allProperties.filter((p) => p.name.includes(filter));
if (selected.length === 0) {
  console.error(`scripts/fuzz.mjs: no property matches FUZZ_FILTER=${JSON.stringify(filter)}`);
  process.exit(2);
}
console.log(JSON.stringify({ type: "fuzz-start", properties: selected.length, runs, seed }));
let failed = 0;
const started = Date.now();
for (const property of selected) {
  const t0 = Date.now();
  try {
    const outcomes = property.run(runs, { seed, ...(path ? { path } : {}) });
    console.log(JSON.stringify({ property: property.name, runs, ms: Date.now() - t0, outcomes }));
  } catch (err) {
    failed++;
    console.log(JSON.stringify({ property: property.name, runs, ms: Date.now() - t0, error: String(err?.message ?? err) }));
  }
}
console.log(JSON.stringify({ type: "fuzz-done", properties: selected.length, failed, runs, seed, ms: Date.now() - started }));
process.exit(failed > 0 ? 1 : 0);
