/**
 * How many lines each part of the screen gets, and which participant columns fit, for a terminal of
 * a given size. Pure, so a 60×15 terminal and a 250-column one can be checked without rendering.
 *
 *   header        2 lines   room, relay, time, round trip / E2EE suite, key generation, rotation
 *   warnings      0..n      sticky; "+k more" when they do not all fit
 *   body          rest      participants + video preview + chat, or one of the overlays (verify, devices, help)
 *   chat input    0..1
 *   footer        2 lines   your mic and mute state / keys or a notice
 *
 * The frame is kept one line shorter than the terminal: a frame that fills it makes Ink redraw the
 * whole screen on every update.
 */

export const HEADER_LINES = 2;
export const FOOTER_LINES = 2;
export const MIN_WIDTH = 40;
export const MIN_HEIGHT = 10;

export type LinkColumn = "full" | "short" | "min" | "none";

export interface RowColumns {
  /** Marker column (speaking / muted), always 2. */
  mark: number;
  name: number;
  /** Level meter cells + 1 space, or 0. */
  meter: number;
  /** "speaking" / "muted" / "no audio", or 0. */
  state: number;
  fingerprint: number;
  /** Video stats of publishers ("320x240 15fps kf12"), or 0. */
  video: number;
  link: LinkColumn;
  linkWidth: number;
  /** Whatever is left: verified, recorder, declined, bot. */
  flags: number;
}

const LINK_WIDTHS: Record<Exclude<LinkColumn, "none">, number> = { full: 21, short: 12, min: 5 };
export const VIDEO_COLUMN_WIDTH = 21;

/**
 * Columns for a participant row at this width. Names get 10..24 columns; other columns are dropped in
 * order of importance. `video`: someone publishes video, so a video column is wanted (it comes before
 * the fingerprint and the long link column).
 */
export function participantColumns(width: number, video = false): RowColumns {
  const w = Math.max(MIN_WIDTH, width);
  const cols: RowColumns = { mark: 2, name: 0, meter: 0, state: 0, fingerprint: 0, video: 0, link: "none", linkWidth: 0, flags: 0 };
  const used = (): number => cols.mark + cols.meter + cols.state + cols.fingerprint + cols.video + cols.linkWidth + cols.flags;
  // Essential columns keep at least 10 columns for the name; the extras need 18.
  const tryAdd = (nameMin: number, apply: (c: RowColumns) => void): void => {
    const saved = { ...cols };
    apply(cols);
    if (w - used() < nameMin) Object.assign(cols, saved);
  };
  tryAdd(10, (c) => (c.state = 9));
  tryAdd(10, (c) => (c.flags = 10));
  tryAdd(10, (c) => ((c.link = "min"), (c.linkWidth = LINK_WIDTHS.min)));
  tryAdd(10, (c) => (c.meter = 7));
  tryAdd(18, (c) => ((c.link = "short"), (c.linkWidth = LINK_WIDTHS.short)));
  if (video) tryAdd(18, (c) => (c.video = VIDEO_COLUMN_WIDTH));
  tryAdd(18, (c) => (c.fingerprint = 12));
  tryAdd(18, (c) => ((c.link = "full"), (c.linkWidth = LINK_WIDTHS.full)));
  cols.name = Math.min(24, w - used());
  // Give any width left to the flags column.
  cols.flags += Math.max(0, w - used() - cols.name);
  return cols;
}

export interface ScreenLayout {
  width: number;
  height: number;
  /** Lines the frame may use (terminal rows − 1). */
  lines: number;
  warnings: number;
  /** True when some warnings are hidden: the last warning line says how many. */
  warningsOverflow: boolean;
  body: number;
  /** Within the body (main mode): participant rows (without the title line). */
  peerRows: number;
  /** Within the body (main mode): video preview lines without its title line; 0 = no preview pane. */
  previewRows: number;
  /** Within the body (main mode): whether the chat title line is shown. */
  showChat: boolean;
  /** Within the body (main mode): chat lines (without the title line). */
  chatRows: number;
  chatInput: number;
}

export interface ScreenInput {
  width: number;
  height: number;
  warnings: number;
  peers: number;
  /** Wrapped chat lines available. */
  chatLines: number;
  chatOpen: boolean;
  /** The video preview pane, when shown: picture rows it wants (0: only a status line). */
  preview?: { rows: number };
}

/** Largest picture the preview decodes: at most 120 columns and 60 % of the body's height. */
export function previewArea(width: number, height: number): { cols: number; rows: number } {
  const lines = Math.max(MIN_HEIGHT, height) - 1;
  const body = lines - HEADER_LINES - FOOTER_LINES;
  return { cols: Math.min(120, Math.max(MIN_WIDTH, width)), rows: Math.max(1, Math.min(24, Math.floor(body * 0.6) - 1)) };
}

export function screenLayout(input: ScreenInput): ScreenLayout {
  const width = Math.max(MIN_WIDTH, input.width);
  const height = Math.max(MIN_HEIGHT, input.height);
  const lines = height - 1;
  const chatInput = input.chatOpen ? 1 : 0;
  const maxWarnings = lines >= 30 ? 5 : lines >= 20 ? 3 : 2;
  const warnings = Math.min(input.warnings, maxWarnings);
  const warningsOverflow = input.warnings > maxWarnings;
  const fullBody = Math.max(2, lines - HEADER_LINES - FOOTER_LINES - warnings - chatInput);
  // Participants: title + one row each (at least one row: "waiting for others").
  const peersWanted = Math.max(1, input.peers);
  const chatWanted = input.chatLines > 0 || input.chatOpen ? input.chatLines : 0;
  let showChat = chatWanted > 0 || input.chatOpen;
  // The preview pane (title + picture or status line) comes after up to three participants and
  // before the chat's title and first line; what it does not use goes to participants and chat.
  let previewLines = 0;
  if (input.preview) {
    const wanted = 1 + Math.max(1, input.preview.rows);
    const keep = 1 + Math.min(peersWanted, 3) + (showChat ? 1 + Math.min(1, chatWanted) : 0);
    previewLines = Math.min(wanted, Math.max(0, fullBody - keep));
    if (previewLines < 2) previewLines = 0;
  }
  const body = fullBody - previewLines;
  // Participants come first; the chat keeps its title and one line as long as at least three
  // participants (or all, if fewer) stay visible.
  const chatMin = showChat ? 1 + Math.min(1, chatWanted) : 0;
  let peerRows = Math.min(peersWanted, body - 1);
  if (showChat && body - 1 - peerRows < chatMin) {
    peerRows = Math.min(body - 1, Math.max(Math.min(peersWanted, 3), body - 1 - chatMin));
  }
  if (body - 1 - peerRows < 1) showChat = false;
  let chatRows = showChat ? Math.max(0, body - 1 - peerRows - 1) : 0;
  chatRows = Math.min(chatRows, chatWanted);
  if (chatRows === 0 && !input.chatOpen) showChat = false;
  if (!showChat) peerRows = Math.min(peersWanted, body - 1);
  return { width, height, lines, warnings, warningsOverflow, body: fullBody, peerRows, previewRows: Math.max(0, previewLines - 1), showChat, chatRows, chatInput };
}

/** Word-wrap one line of text to `width` columns (hard breaks inside words that do not fit). */
export function wrapText(text: string, width: number, measure: (s: string) => number): string[] {
  if (width <= 0) return [];
  const out: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    const candidate = line.length === 0 ? word : `${line} ${word}`;
    if (measure(candidate) <= width) {
      line = candidate;
      continue;
    }
    if (line.length > 0) out.push(line);
    line = "";
    let rest = word;
    while (measure(rest) > width) {
      let cut = "";
      for (const ch of rest) {
        if (measure(cut + ch) > width) break;
        cut += ch;
      }
      if (cut.length === 0) break;
      out.push(cut);
      rest = rest.slice(cut.length);
    }
    line = rest;
  }
  if (line.length > 0 || out.length === 0) out.push(line);
  return out;
}
