// Runs the compiled test suite (dist/test/**/*.test.js) with node's built-in runner.
// Usage: node scripts/test.mjs [filter]   e.g. `npm test -- e2e` runs only files whose path contains "e2e".
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { spawn } from "node:child_process";

const root = new URL("..", import.meta.url).pathname;
const testRoot = join(root, "dist", "test");
const filter = process.argv[2];

function collect(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...collect(path));
    else if (name.endsWith(".test.js")) out.push(path);
  }
  return out;
}

const files = collect(testRoot)
  .filter((f) => !filter || relative(testRoot, f).includes(filter))
  .sort();
if (files.length === 0) {
  console.error(`no test files${filter ? ` matching ${filter}` : ""} under dist/test`);
  process.exit(1);
}
const child = spawn(
  process.execPath,
  ["--test", "--test-concurrency=1", "--test-timeout=180000", "--test-force-exit", "--test-reporter=spec", ...files],
  { stdio: "inherit", cwd: root, env: { ...process.env, CONCLAVE_TEST: "1" } },
);
const kill = () => child.kill("SIGTERM");
process.on("SIGINT", kill);
process.on("SIGTERM", kill);
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
