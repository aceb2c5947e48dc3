// Builds the optional native send path (native/conclave_native.c → build/conclave_native.node) with
// the machine's C compiler against the Node-API and OpenSSL headers that ship with Node. It needs no
// download and links to nothing (the symbols come from the node binary that loads it).
//
// It never fails the install: without a compiler or headers it prints one line and the relay uses
// its JavaScript path (`conclave doctor` says which one is in use). CONCLAVE_NATIVE=0 skips it.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

// A real path (URL.pathname would keep a space in the package's path as %20).
const root = fileURLToPath(new URL("..", import.meta.url));
const source = join(root, "native", "conclave_native.c");
const out = join(root, "build", "conclave_native.node");

function headers() {
  const candidates = [
    process.env.npm_config_nodedir && join(process.env.npm_config_nodedir, "include", "node"),
    join(dirname(dirname(process.execPath)), "include", "node"),
    "/usr/include/node",
    "/usr/local/include/node",
  ].filter(Boolean);
  return candidates.find((dir) => existsSync(join(dir, "node_api.h")) && existsSync(join(dir, "openssl", "evp.h")));
}

function main() {
  if (process.env.CONCLAVE_NATIVE === "0") return;
  if (process.platform !== "linux") {
    console.log("conclave: native send path is Linux-only; using the JavaScript path");
    return;
  }
  if (existsSync(out) && statSync(out).mtimeMs >= statSync(source).mtimeMs) return;
  const include = headers();
  if (!include) {
    console.log("conclave: Node's headers not found; the relay uses its JavaScript send path");
    return;
  }
  const cc = process.env.CC || "cc";
  const tmp = `${out}.${process.pid}.tmp`;
  try {
    mkdirSync(dirname(out), { recursive: true });
    // -z now: every symbol is bound when Node loads the module, so a node binary without the OpenSSL
    // symbols makes the load fail (the loader falls back) instead of killing the process at first use.
    const flags = ["-O2", "-fPIC", "-shared", "-Wl,-z,now", "-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror"];
    execFileSync(cc, [...flags, `-I${include}`, "-o", tmp, source], {
      stdio: ["ignore", "ignore", "pipe"],
      // A hung compiler must not hang the install.
      timeout: 120_000,
    });
    renameSync(tmp, out);
  } catch (err) {
    // A module built from an older source must not be loaded in its place.
    for (const file of [tmp, out]) {
      try {
        rmSync(file, { force: true });
      } catch {
        // Nothing to remove, or not allowed to: the loader checks what it loads.
      }
    }
    const detail = String(err.stderr ?? err.message).split("\n").find((l) => l.trim()) ?? "";
    console.log(`conclave: could not build the native send path (${cc}: ${detail.trim()}); the relay uses its JavaScript path`);
  }
}

try {
  main();
} catch (err) {
  // Never fail an install (a missing source, an unreadable directory): the JavaScript path remains.
  console.log(`conclave: native send path not built (${String(err?.message ?? err).split("\n")[0]}); the relay uses its JavaScript path`);
}
