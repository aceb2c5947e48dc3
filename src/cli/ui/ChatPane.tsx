/**
 * Chat: the last messages that fit (wrapped, newest at the bottom) and, while typing, the input
 * line. Messages are end-to-end encrypted to each member (src/client/e2ee.ts sendChat); the text
 * shown here was sanitised by the view model.
 */
import { Box } from "ink";
import type { ReactElement } from "react";
import type { ChatLine } from "./state.js";
import type { Glyphs } from "./glyphs.js";
import { wrapText } from "./layout.js";
import { Line, span, type Span } from "./Line.js";
import { displayWidth, formatClock, truncate } from "./text.js";

/** Every chat message as wrapped display lines (oldest first). */
export function chatDisplayLines(chat: ChatLine[], width: number, g: Glyphs): Span[][] {
  const out: Span[][] = [];
  for (const m of chat) {
    const time = `${formatClock(m.at, false)} `;
    const name = truncate(m.name, 16, g.ascii);
    const prefixWidth = displayWidth(time) + displayWidth(name) + 2;
    const indent = width - prefixWidth >= 16 ? prefixWidth : 2;
    const firstWidth = Math.max(1, width - prefixWidth);
    const rest = Math.max(1, width - indent);
    const wrapped = wrapText(m.text, firstWidth, displayWidth);
    const first = wrapped[0] ?? "";
    out.push([span(time, { dim: true }), span(name, m.self ? { color: "cyan", bold: true } : { bold: true }), span(": "), span(first)]);
    // Continuation lines may be wider than the first (small indent on narrow terminals): re-wrap.
    const remainder = rest === firstWidth ? wrapped.slice(1) : wrapText(m.text.slice(first.length).trimStart(), rest, displayWidth);
    for (const line of remainder) if (line.length > 0) out.push([span(" ".repeat(indent)), span(line)]);
  }
  return out;
}

export interface ChatPaneProps {
  chat: ChatLine[];
  width: number;
  /** Message lines available (the title is extra). */
  rows: number;
  glyphs: Glyphs;
}

export function ChatPane({ chat, width, rows, glyphs }: ChatPaneProps): ReactElement {
  const lines = chatDisplayLines(chat, width, glyphs);
  const shown = rows > 0 ? lines.slice(-rows) : [];
  const title = `Chat ${glyphs.rule.repeat(Math.max(0, width - 5))}`;
  return (
    <Box flexDirection="column">
      <Line spans={[span(title, { dim: true })]} width={width} ascii={glyphs.ascii} />
      {shown.map((spans, i) => (
        <Line key={i} spans={spans} width={width} ascii={glyphs.ascii} />
      ))}
    </Box>
  );
}

export interface ChatInputProps {
  text: string;
  width: number;
  glyphs: Glyphs;
}

/** The line being typed; shows its end when longer than the terminal. */
export function ChatInput({ text, width, glyphs }: ChatInputProps): ReactElement {
  const hint = width >= 70 ? "  Enter send, Esc cancel" : "";
  const room = Math.max(4, width - 3 - hint.length - 1);
  let visible = text;
  while (displayWidth(visible) > room) visible = [...visible].slice(1).join("");
  return (
    <Line
      spans={[span("> ", { color: "cyan", bold: true }), span(visible), span(glyphs.cursor, { color: "cyan" }), span(hint, { dim: true })]}
      width={width}
      ascii={glyphs.ascii}
    />
  );
}
