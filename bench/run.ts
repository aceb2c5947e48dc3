/**
 * `npm run bench`: every benchmark, one JSON line per result on stdout.
 *
 * - bench/sframe.ts: SFrame encrypt/decrypt against raw AES-GCM;
 * - bench/relay.ts: the relay's SRTP protection, forwarding cost and loss (lean vs werift's generic
 *   path at 10 and 20 publishing participants, the lean path at 40 and at the admitted capacity),
 *   join time at 2 and 20 participants;
 * - bench/video.ts: the relay's CPU per forwarded video packet and per forwarded 720p stream
 *   (1 publisher to 1, 8 and 16 subscribers);
 * - bench/bots.ts (when present): the bots' own benchmarks (join time, density, and through
 *   bench/bots-video.ts the CPU of publishing video bots, ffmpeg apart from Conclave).
 *
 * A part that fails prints a `{"type":"bench-error",...}` line and the others still run.
 * `node dist/bench/run.js sframe,relay` runs only the named parts (sframe, relay, video, bots).
 */
import { pathToFileURL } from "node:url";
import { benchSframe } from "./sframe.js";
import { benchRelay } from "./relay.js";
import { benchVideo } from "./video.js";

type Part = "sframe" | "relay" | "video" | "bots";
const PARTS: readonly Part[] = ["sframe", "relay", "video", "bots"];

function print(result: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

async function runPart(name: Part, run: () => Promise<Array<Record<string, unknown>>>): Promise<void> {
  const started = Date.now();
  try {
    for (const r of await run()) print(r);
  } catch (err) {
    print({ type: "bench-error", name, error: (err as Error).message });
  }
  process.stderr.write(`[bench] ${name} took ${Math.round((Date.now() - started) / 1000)} s\n`);
}

/** bench/bots.ts is written separately; run it when it is there. */
async function benchBotsIfPresent(): Promise<Array<Record<string, unknown>>> {
  let mod: { benchBots?: () => Promise<Array<Record<string, unknown>>> };
  try {
    mod = (await import(new URL("./bots.js", import.meta.url).href)) as typeof mod;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === "ERR_MODULE_NOT_FOUND" && /bench\/bots\.js/.test(e.message)) {
      return [{ type: "bench-skipped", name: "bots", reason: "bench/bots.ts is not there" }];
    }
    throw err;
  }
  if (typeof mod.benchBots !== "function") return [{ type: "bench-skipped", name: "bots", reason: "bench/bots.ts exports no benchBots()" }];
  return mod.benchBots();
}

export async function runAll(parts: readonly Part[] = PARTS): Promise<void> {
  if (parts.includes("sframe")) await runPart("sframe", benchSframe);
  if (parts.includes("relay")) await runPart("relay", () => benchRelay());
  if (parts.includes("video")) await runPart("video", () => benchVideo());
  if (parts.includes("bots")) await runPart("bots", benchBotsIfPresent);
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) {
  const only = process.argv[2]?.split(",").filter((p): p is Part => (PARTS as readonly string[]).includes(p));
  await runAll(only && only.length > 0 ? only : undefined);
  // Child processes and sockets are closed by then; leave even if a library keeps a handle open.
  process.exit(0);
}
