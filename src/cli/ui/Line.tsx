/**
 * One terminal line made of styled spans. Every component renders whole lines, each already cut to
 * the width it may use, so the frame height is known in advance and never exceeds the terminal
 * (a frame taller than the terminal makes Ink clear the screen on every update: flicker).
 */
import { Text } from "ink";
import type { ReactElement } from "react";
import { displayWidth, truncate } from "./text.js";

export interface Span {
  text: string;
  color?: string;
  bold?: boolean;
  dim?: boolean;
  inverse?: boolean;
}

export function span(text: string, style: Omit<Span, "text"> = {}): Span {
  return { text, ...style };
}

/** Cut a line of spans to `width` columns (the last visible span is truncated with a mark). */
export function clipSpans(spans: Span[], width: number, ascii: boolean): Span[] {
  const out: Span[] = [];
  let used = 0;
  for (const s of spans) {
    const w = displayWidth(s.text);
    if (used + w <= width) {
      out.push(s);
      used += w;
      continue;
    }
    const room = width - used;
    if (room > 0) out.push({ ...s, text: truncate(s.text, room, ascii) });
    break;
  }
  return out;
}

export function Line({ spans, width, ascii }: { spans: Span[]; width: number; ascii: boolean }): ReactElement {
  const shown = clipSpans(spans, width, ascii);
  return (
    <Text wrap="truncate-end">
      {shown.length === 0
        ? " "
        : shown.map((s, i) => (
            <Text
              key={i}
              {...(s.color ? { color: s.color } : {})}
              {...(s.bold ? { bold: true } : {})}
              {...(s.dim ? { dimColor: true } : {})}
              {...(s.inverse ? { inverse: true } : {})}
            >
              {s.text}
            </Text>
          ))}
    </Text>
  );
}
