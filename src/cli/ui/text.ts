/**
 * Text helpers for the terminal UI. Names and chat come from other members: they are end-to-end
 * authenticated but chosen by people we may not trust, so before they reach the terminal every
 * control character (escape sequences could move the cursor, retitle the window or fake UI lines),
 * bidirectional override and zero-width character is removed and whitespace runs are collapsed.
 */

// C0 and C1 controls (incl. ESC, BEL, CR, LF, TAB), DEL, bidi embeddings/overrides/isolates,
// zero-width and invisible formatting characters, line/paragraph separators, BOM.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]/gu;

/** Make untrusted text safe for one terminal line. */
export function sanitize(text: string, maxLength = 2000): string {
  const clean = text.replace(UNSAFE, " ").replace(/\s+/gu, " ").trim();
  return clean.length > maxLength ? clean.slice(0, maxLength) : clean;
}

/** Shorten an id for display: "3f9a2c…81" (ascii: "3f9a2c..81"). */
export function shortId(id: string, ascii: boolean, keep = 6): string {
  if (id.length <= keep + 4) return id;
  return `${id.slice(0, keep)}${ascii ? ".." : "…"}${id.slice(-2)}`;
}

/** "1:05", "12:00:07" */
export function formatElapsed(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mm = h > 0 ? String(m).padStart(2, "0") : String(m);
  return `${h > 0 ? `${h}:` : ""}${mm}:${String(s).padStart(2, "0")}`;
}

/** Local wall-clock time, "14:03:27" (or "14:03" without seconds). */
export function formatClock(at: number, seconds = true): string {
  const d = new Date(at);
  const hh = String(d.getHours()).padStart(2, "0");
  const mm = String(d.getMinutes()).padStart(2, "0");
  return seconds ? `${hh}:${mm}:${String(d.getSeconds()).padStart(2, "0")}` : `${hh}:${mm}`;
}

/** Whether the locale can show UTF-8 (LC_ALL, then LC_CTYPE, then LANG, as the C library decides). */
export function localeSupportsUnicode(env: NodeJS.ProcessEnv = process.env): boolean {
  const locale = env.LC_ALL || env.LC_CTYPE || env.LANG || "";
  return /utf-?8/i.test(locale);
}

function codePointWidth(cp: number): number {
  if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) return 0;
  if (cp < 0x300) return 1;
  if ((cp >= 0x300 && cp <= 0x36f) || (cp >= 0x200b && cp <= 0x200f) || (cp >= 0xfe00 && cp <= 0xfe0f)) return 0;
  if (
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0xa4cf && cp !== 0x303f) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1f64f) ||
    (cp >= 0x1f900 && cp <= 0x1f9ff) ||
    (cp >= 0x20000 && cp <= 0x3fffd)
  ) {
    return 2;
  }
  return /\p{M}/u.test(String.fromCodePoint(cp)) ? 0 : 1;
}

/** Terminal columns a string takes (wide East Asian characters count 2, combining marks 0). */
export function displayWidth(text: string): number {
  let width = 0;
  for (const ch of text) width += codePointWidth(ch.codePointAt(0)!);
  return width;
}

/** Cut to at most `width` columns, marking the cut ("…", ascii "~"). */
export function truncate(text: string, width: number, ascii: boolean): string {
  if (width <= 0) return "";
  if (displayWidth(text) <= width) return text;
  const mark = ascii ? "~" : "…";
  let out = "";
  let used = 0;
  for (const ch of text) {
    const w = codePointWidth(ch.codePointAt(0)!);
    if (used + w > width - 1) break;
    out += ch;
    used += w;
  }
  return out + mark;
}

/** Truncate, then pad with spaces to exactly `width` columns. */
export function fit(text: string, width: number, ascii: boolean, align: "left" | "right" = "left"): string {
  const cut = truncate(text, width, ascii);
  const pad = " ".repeat(Math.max(0, width - displayWidth(cut)));
  return align === "left" ? cut + pad : pad + cut;
}
