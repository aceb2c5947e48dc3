/**
 * Opus packet inspection (RFC 6716) — just enough to know how long a packet plays and to make a
 * packet that tells the decoder to conceal a loss.
 *
 * TOC byte, RFC 6716 §3.1:
 *
 *    0 1 2 3 4 5 6 7
 *   +-+-+-+-+-+-+-+-+
 *   | config  |s| c |
 *   +-+-+-+-+-+-+-+-+
 *
 *   config (5 bits): mode, bandwidth and frame size (Table 2);
 *   s: stereo flag; c: frame count code (§3.2): 0 = one frame, 1 = two frames of equal size,
 *   2 = two frames of different sizes, 3 = an arbitrary number of frames, counted in byte 1.
 */

/** Samples per frame at 48 kHz for each of the 32 configs (RFC 6716 §3.1, Table 2). */
const FRAME_SAMPLES: readonly number[] = [
  // 0..11 SILK-only NB/MB/WB: 10, 20, 40, 60 ms
  480, 960, 1920, 2880, 480, 960, 1920, 2880, 480, 960, 1920, 2880,
  // 12..15 Hybrid SWB/FB: 10, 20 ms
  480, 960, 480, 960,
  // 16..31 CELT-only NB/WB/SWB/FB: 2.5, 5, 10, 20 ms
  120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960,
];

/** RFC 6716 §3.2.5 / §3.4 R5: a packet may hold at most 120 ms of audio. */
const MAX_PACKET_SAMPLES = 5760;

/** Samples (at 48 kHz) per frame for a TOC byte, RFC 6716 §3.1. */
export function opusFrameSamples(toc: number): number {
  return FRAME_SAMPLES[(toc >> 3) & 0x1f]!;
}

/**
 * Number of 48 kHz samples the packet decodes to: frame size from the TOC config (§3.1) times the
 * frame count from code c (§3.2.2–§3.2.5). Throws RangeError for packets that RFC 6716 §3.4 calls
 * malformed here: empty (R1), code 3 without its count byte or with M = 0 (R5), or longer than
 * 120 ms (R5).
 */
export function opusPacketSamples(packet: Uint8Array): number {
  if (packet.length < 1) throw new RangeError("empty Opus packet (RFC 6716 §3.4 R1)");
  const toc = packet[0]!;
  const perFrame = opusFrameSamples(toc);
  let frames: number;
  switch (toc & 0x03) {
    case 0: // §3.2.2: one frame
      frames = 1;
      break;
    case 1: // §3.2.3: two CBR frames
    case 2: // §3.2.4: two VBR frames
      frames = 2;
      break;
    default: {
      // §3.2.5: frame count byte |v|p|     M     |
      if (packet.length < 2) throw new RangeError("Opus code 3 packet without frame count byte (RFC 6716 §3.2.5)");
      frames = packet[1]! & 0x3f;
      if (frames === 0) throw new RangeError("Opus code 3 packet with zero frames (RFC 6716 §3.4 R5)");
    }
  }
  const samples = perFrame * frames;
  if (samples > MAX_PACKET_SAMPLES) throw new RangeError("Opus packet longer than 120 ms (RFC 6716 §3.4 R5)");
  return samples;
}

/**
 * A 1-byte packet: TOC with code 0 and an empty frame. RFC 6716 §3.2.1 allows a zero-length frame
 * and says the decoder treats it as lost (or DTX) and conceals it (PLC) for the TOC's frame
 * duration. The config and stereo bits are copied from `previous` so the duration and channel count
 * match the stream; without it we use config 9 (SILK WB 20 ms, what libopus picks for mono voip).
 */
export function opusPlcPacket(previous?: Uint8Array): Buffer {
  const toc = previous && previous.length > 0 ? previous[0]! & 0xfc : 9 << 3;
  return Buffer.from([toc]);
}

/**
 * A PLC packet lasting exactly `samples` (one of 120, 240, 480, 960, 1920, 2880). Keeps the
 * previous packet's config when its duration fits, else picks a config of the same mode family
 * (SILK 10–60 ms, CELT 2.5–20 ms) and falls back to CELT fullband for short durations. The decoder
 * conceals with the mode of the last packet it really decoded, so only the duration matters here.
 */
export function opusPlcPacketOfDuration(samples: number, previous?: Uint8Array): Buffer {
  const prevToc = previous && previous.length > 0 ? previous[0]! : 9 << 3;
  const stereo = prevToc & 0x04;
  const config = prevToc >> 3;
  if (FRAME_SAMPLES[config] === samples) return Buffer.from([(config << 3) | stereo]);
  let family: number[];
  if (config < 12) {
    const base = config & ~3; // SILK, same bandwidth: 10, 20, 40, 60 ms
    family = [base, base + 1, base + 2, base + 3];
  } else if (config < 16) {
    const base = config & ~1; // Hybrid: 10, 20 ms
    family = [base, base + 1];
  } else {
    const base = config & ~3; // CELT: 2.5, 5, 10, 20 ms
    family = [base, base + 1, base + 2, base + 3];
  }
  family.push(28, 29, 30, 31, 11); // CELT FB, then SILK WB 60 ms
  for (const c of family) {
    if (FRAME_SAMPLES[c] === samples) return Buffer.from([(c << 3) | stereo]);
  }
  throw new RangeError(`no Opus frame lasts ${samples} samples`);
}

/** Frame durations a single PLC packet can have, longest first. */
export const OPUS_FRAME_SIZES: readonly number[] = [2880, 1920, 960, 480, 240, 120];
