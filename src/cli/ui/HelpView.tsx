/** `?`: the keys, and what the markers mean. */
import { Box } from "ink";
import type { ReactElement } from "react";
import type { Glyphs } from "./glyphs.js";
import { Line, span, type Span } from "./Line.js";

export function helpLines(g: Glyphs): Span[][] {
  const key = (k: string, what: string): Span[] => [span(`  ${k.padEnd(10)}`, { bold: true, color: "cyan" }), span(what)];
  const mark = (m: string, what: string, color?: string): Span[] => [span(`  ${m.padEnd(10)}`, color ? { color } : {}), span(what, { dim: true })];
  return [
    [span("Keys", { bold: true }), span("  (Esc or ? to close)", { dim: true })],
    key("m", "mute / unmute your microphone"),
    key("c or /", "chat: type, Enter sends, Esc cancels"),
    key("v", "verify members: compare safety numbers"),
    key("d", "devices: what you send, where audio plays"),
    key("p", "video preview: show / hide (decodes one member's video)"),
    key("n", "video of the next member; after the last, follow the speaker"),
    key("?", "this help"),
    key("q, Ctrl-C", "leave the call"),
    [span("Markers", { bold: true })],
    mark(g.speaking, "speaking", "green"),
    mark(g.muted, "muted", "red"),
    mark(`${g.verified}verified`, "you compared safety numbers with them", "green"),
    mark(`${g.changed}new key`, "a name you know arrived with a different identity key", "red"),
    mark(`${g.recording}REC`, "recorder: gets the keys of everyone who did not decline", "red"),
    mark("no-rec", "declined recording: a recorder never gets their keys", "cyan"),
    mark("good/fair", "link: loss and jitter of their audio, round trip to the relay"),
  ];
}

export function HelpView({ width, rows, glyphs }: { width: number; rows: number; glyphs: Glyphs }): ReactElement {
  return (
    <Box flexDirection="column">
      {helpLines(glyphs)
        .slice(0, Math.max(1, rows))
        .map((spans, i) => (
          <Line key={i} spans={spans} width={width} ascii={glyphs.ascii} />
        ))}
    </Box>
  );
}
