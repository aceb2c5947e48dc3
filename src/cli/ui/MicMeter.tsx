/**
 * Your side of the call: microphone level (what the others hear, measured on the Opus frames we
 * send), mute state, and what we publish. The level keeps moving while muted, so you can see the
 * mic works before unmuting; the line says MUTED in red then.
 */
import type { ReactElement } from "react";
import type { CallView } from "./state.js";
import { meterBar, type Glyphs } from "./glyphs.js";
import { Line, span, type Span } from "./Line.js";

export function micSpans(self: CallView["self"], width: number, g: Glyphs): Span[] {
  const cells = width >= 100 ? 20 : width >= 70 ? 12 : 8;
  const spans: Span[] = [span("You ", { bold: true }), span(`(${self.name}) `, { dim: true })];
  if (self.source === null || self.source === "none") {
    spans.push(span("not sending audio", { dim: true }), span("  "));
  } else {
    const level = self.micLevelDbfs;
    spans.push(span("mic ", { dim: true }), span(meterBar(level, cells, g), self.muted ? { dim: true } : self.speaking ? { color: "green" } : {}));
    spans.push(span(level === null || !Number.isFinite(level) ? "   --dB" : `${String(Math.round(level)).padStart(4)}dB`, { dim: true }), span("  "));
  }
  if (self.muted) spans.push(span("MUTED", { color: "red", bold: true }), span(" (m to unmute)  ", { dim: true }));
  else spans.push(span("live", { color: "green" }), span("  "));
  if (self.source !== null && self.source !== "none") spans.push(span("input ", { dim: true }), span(self.source));
  return spans;
}

export function MicMeter({ self, width, glyphs }: { self: CallView["self"]; width: number; glyphs: Glyphs }): ReactElement {
  return <Line spans={micSpans(self, width, glyphs)} width={width} ascii={glyphs.ascii} />;
}
