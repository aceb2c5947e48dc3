/**
 * Every symbol the UI draws, in a Unicode set and a plain-ASCII set (`--ascii`, or a locale without
 * UTF-8). Neither set uses emoji; the ASCII set is 7-bit only.
 */
export interface Glyphs {
  ascii: boolean;
  speaking: string;
  silent: string;
  muted: string;
  verified: string;
  changed: string;
  warning: string;
  recording: string;
  lock: string;
  selected: string;
  meterFull: string;
  meterEmpty: string;
  /** Column separator in the header. */
  dot: string;
  rule: string;
  cursor: string;
  ellipsis: string;
}

export const UNICODE_GLYPHS: Glyphs = {
  ascii: false,
  speaking: "●",
  silent: "○",
  muted: "×",
  verified: "✓",
  changed: "!",
  warning: "⚠",
  recording: "◉",
  lock: "E2EE",
  selected: "›",
  meterFull: "█",
  meterEmpty: "·",
  dot: "·",
  rule: "─",
  cursor: "▏",
  ellipsis: "…",
};

export const ASCII_GLYPHS: Glyphs = {
  ascii: true,
  speaking: "*",
  silent: "o",
  muted: "x",
  verified: "+",
  changed: "!",
  warning: "!",
  recording: "@",
  lock: "E2EE",
  selected: ">",
  meterFull: "#",
  meterEmpty: ".",
  dot: "|",
  rule: "-",
  cursor: "_",
  ellipsis: "..",
};

export function glyphsFor(ascii: boolean): Glyphs {
  return ascii ? ASCII_GLYPHS : UNICODE_GLYPHS;
}

/** A horizontal level meter of `cells` characters for a level in dBFS (floor -60 dB). */
export function meterBar(levelDbfs: number | null, cells: number, g: Glyphs, floorDbfs = -60): string {
  if (cells <= 0) return "";
  const level = levelDbfs === null || !Number.isFinite(levelDbfs) ? floorDbfs : levelDbfs;
  const fraction = Math.min(1, Math.max(0, (level - floorDbfs) / -floorDbfs));
  const filled = Math.round(fraction * cells);
  return g.meterFull.repeat(filled) + g.meterEmpty.repeat(cells - filled);
}
