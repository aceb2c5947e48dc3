/**
 * Two header lines: where you are (room, relay, time in the call, round trip) and how the call is
 * protected (SFrame cipher suite, sender-key generation, last rotation and why). Room ids are
 * shortened: the full id is part of the invite and not worth the columns.
 */
import { Box } from "ink";
import type { ReactElement } from "react";
import type { CallView } from "./state.js";
import type { Glyphs } from "./glyphs.js";
import { Line, span, type Span } from "./Line.js";
import { formatClock, formatElapsed, shortId } from "./text.js";

function relayHost(relay: string): string {
  try {
    const url = new URL(relay);
    return url.host;
  } catch {
    return relay;
  }
}

export function headerSpans(view: CallView, width: number, g: Glyphs): [Span[], Span[]] {
  const narrow = width < 80;
  const sep = span(`  `);
  const first: Span[] = [span("Conclave", { bold: true, color: "cyan" }), sep];
  first.push(span("room ", { dim: true }), span(shortId(view.room, g.ascii, narrow ? 4 : 6)), sep);
  if (view.status === "connecting") first.push(span("connecting", { color: "yellow" }), sep);
  else if (view.status === "reconnecting") first.push(span("reconnecting", { color: "yellow", bold: true }), sep);
  else if (view.status === "left") first.push(span(`left${view.leftReason && view.leftReason !== "left" ? ` (${view.leftReason})` : ""} after ${formatElapsed(view.elapsedMs)}`, { color: "yellow" }), sep);
  else first.push(span(formatElapsed(view.elapsedMs), { bold: true }), sep);
  if (view.recording.by.length > 0) {
    first.push(span(`${g.recording} REC${narrow ? "" : ` by ${view.recording.by.join(", ")}`}`, { color: "red", bold: true }), sep);
  }
  if (view.status !== "left") first.push(span("rtt ", { dim: true }), span(view.rttMs === null ? "--" : `${Math.round(view.rttMs)}ms`), sep);
  first.push(span("relay ", { dim: true }), span(relayHost(view.relay)));

  const e = view.e2ee;
  const second: Span[] = [span(g.lock, { color: "green", bold: true }), span(" "), span(e.suiteName, { color: "green" })];
  second.push(span(narrow ? "  gen " : "  key generation ", { dim: true }), span(String(e.generation)));
  if (!e.lastRotation) second.push(span(narrow ? "  initial" : "  initial key, not rotated yet", { dim: true }));
  else {
    second.push(
      span(narrow ? "  rot " : "  rotated ", { dim: true }),
      span(formatClock(e.lastRotation.at)),
      span(` (${e.lastRotation.reason}${narrow ? "" : `, ${e.lastRotation.tookMs}ms`})`, { dim: true }),
    );
  }
  if (e.decryptFailures > 0) second.push(span(`  ${e.decryptFailures} undecryptable`, { color: "red" }));
  if (e.rejected > 0) second.push(span(`  ${e.rejected} rejected`, { color: "yellow" }));
  return [first, second];
}

export function Header({ view, width, glyphs }: { view: CallView; width: number; glyphs: Glyphs }): ReactElement {
  const [first, second] = headerSpans(view, width, glyphs);
  return (
    <Box flexDirection="column">
      <Line spans={first} width={width} ascii={glyphs.ascii} />
      <Line spans={second} width={width} ascii={glyphs.ascii} />
    </Box>
  );
}
