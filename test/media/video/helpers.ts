/** Helpers for the video tests: run ffmpeg to make fixtures and to inspect what we wrote. */
import { execFile } from "node:child_process";
import { ffmpegPath } from "../helpers.js";

export interface FfmpegRun {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs the real ffmpeg to completion (bounded by `timeoutMs`). */
export function runFfmpeg(args: string[], timeoutMs = 20_000): Promise<FfmpegRun> {
  return new Promise((resolve, reject) => {
    execFile(
      ffmpegPath(),
      ["-hide_banner", "-nostdin", ...args],
      { encoding: "buffer", maxBuffer: 64 * 1024 * 1024, timeout: timeoutMs },
      (err, stdout, stderr) => {
        // A non-zero exit is a result to inspect; a spawn failure or a timeout kill is an error.
        const exitCode: unknown = err ? (err as { code?: unknown }).code : 0;
        if (typeof exitCode !== "number") {
          reject(err ?? new Error("ffmpeg did not exit"));
          return;
        }
        resolve({ code: exitCode, stdout, stderr: stderr.toString("utf8") });
      },
    );
  });
}

/** Writes `seconds` of VP8 testsrc (keyframe every `gop` frames) to an IVF file as fast as possible. */
export async function makeIvf(file: string, opts: { width?: number; height?: number; fps?: number; seconds?: number; gop?: number } = {}): Promise<void> {
  const { width = 320, height = 240, fps = 15, seconds = 2, gop = fps } = opts;
  const r = await runFfmpeg([
    "-loglevel", "error",
    "-f", "lavfi", "-i", `testsrc=size=${width}x${height}:rate=${fps}`,
    "-t", String(seconds),
    "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k",
    "-g", String(gop), "-keyint_min", String(gop),
    "-f", "ivf", "-y", file,
  ]);
  if (r.code !== 0) throw new Error(`ffmpeg failed to make ${file}: ${r.stderr}`);
}

export interface PacketInfo {
  stream: number;
  pts: number;
  size: number;
  keyframe: boolean;
}

/**
 * What ffmpeg reads from a media file: its stream description (stderr), the packets per stream
 * (framecrc with stream copy: pts in the stream time base, ms for Matroska) and the exit code.
 */
export async function inspectMedia(file: string): Promise<{ code: number | null; stderr: string; packets: PacketInfo[] }> {
  const r = await runFfmpeg(["-i", file, "-map", "0", "-c", "copy", "-f", "framecrc", "-"]);
  const packets: PacketInfo[] = [];
  for (const line of r.stdout.toString("utf8").split("\n")) {
    if (line.startsWith("#") || line.trim() === "") continue;
    const f = line.split(",").map((s) => s.trim());
    packets.push({ stream: Number(f[0]), pts: Number(f[2]), size: Number(f[4]), keyframe: !line.includes("F=0x0") });
  }
  return { code: r.code, stderr: r.stderr, packets };
}

/** Decodes every stream of `file` and returns the number of decoded video frames and ffmpeg's log. */
export async function decodeMedia(file: string): Promise<{ code: number | null; stderr: string; videoFrames: number }> {
  const r = await runFfmpeg(["-i", file, "-f", "null", "-"]);
  const m = [...r.stderr.matchAll(/frame=\s*(\d+)/g)].pop();
  return { code: r.code, stderr: r.stderr, videoFrames: m ? Number(m[1]) : 0 };
}

export interface EbmlNode {
  id: number;
  /** Offset of the element's first byte. */
  start: number;
  dataStart: number;
  /** null: unknown size (runs to the end of the parent). */
  size: number | null;
}

function readVint(b: Buffer, off: number, keepMarker: boolean): { value: number; len: number; allOnes: boolean } | null {
  if (off >= b.length) return null;
  const first = b[off]!;
  let len = 1;
  while (len <= 8 && !(first & (0x80 >> (len - 1)))) len++;
  if (len > 8 || off + len > b.length) return null;
  let value = keepMarker ? first : first & (0xff >> len);
  let allOnes = (first & (0xff >> len)) === 0xff >> len;
  for (let i = 1; i < len; i++) {
    value = value * 256 + b[off + i]!;
    if (b[off + i] !== 0xff) allOnes = false;
  }
  return { value, len, allOnes };
}

/** The elements directly inside [from, to) of an EBML document; stops at a truncated element. */
export function ebmlChildren(b: Buffer, from: number, to: number): EbmlNode[] {
  const out: EbmlNode[] = [];
  let off = from;
  while (off < to) {
    const id = readVint(b, off, true);
    if (!id) break;
    const size = readVint(b, off + id.len, false);
    if (!size) break;
    const dataStart = off + id.len + size.len;
    const node: EbmlNode = { id: id.value, start: off, dataStart, size: size.allOnes ? null : size.value };
    out.push(node);
    if (node.size === null) break;
    off = dataStart + node.size;
  }
  return out;
}

export interface ParsedBlock {
  track: number;
  /** Absolute timestamp in ms (cluster + relative). */
  ts: number;
  keyframe: boolean;
  size: number;
}

export interface ParsedWebm {
  docType: string;
  segmentSizeKnown: boolean;
  clusters: { ts: number; offset: number; blocks: ParsedBlock[] }[];
  hasCues: boolean;
  hasSeekHead: boolean;
}

/** A minimal WebM walker for tests: EBML header DocType, Segment, Clusters with SimpleBlocks, Cues. */
export function parseWebm(b: Buffer): ParsedWebm {
  const top = ebmlChildren(b, 0, b.length);
  const header = top.find((n) => n.id === 0x1a45dfa3)!;
  const docTypeNode = ebmlChildren(b, header.dataStart, header.dataStart + header.size!).find((n) => n.id === 0x4282)!;
  const docType = b.toString("latin1", docTypeNode.dataStart, docTypeNode.dataStart + docTypeNode.size!);
  const seg = top.find((n) => n.id === 0x18538067)!;
  const segEnd = seg.size === null ? b.length : Math.min(b.length, seg.dataStart + seg.size);
  const out: ParsedWebm = { docType, segmentSizeKnown: seg.size !== null, clusters: [], hasCues: false, hasSeekHead: false };
  for (const n of ebmlChildren(b, seg.dataStart, segEnd)) {
    if (n.id === 0x1c53bb6b) out.hasCues = true;
    if (n.id === 0x114d9b74) out.hasSeekHead = true;
    if (n.id !== 0x1f43b675 || n.size === null || n.dataStart + n.size > b.length) continue;
    const kids = ebmlChildren(b, n.dataStart, n.dataStart + n.size);
    const tsNode = kids.find((k) => k.id === 0xe7)!;
    const ts = b.readUIntBE(tsNode.dataStart, tsNode.size!);
    const blocks = kids
      .filter((k) => k.id === 0xa3)
      .map((k) => ({
        track: b[k.dataStart]! & 0x7f,
        ts: ts + b.readInt16BE(k.dataStart + 1),
        keyframe: (b[k.dataStart + 3]! & 0x80) !== 0,
        size: k.size! - 4,
      }));
    out.clusters.push({ ts, offset: n.start, blocks });
  }
  return out;
}
