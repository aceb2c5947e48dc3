/**
 * The members of the call, one line each: speaking/muted marker, name, level meter, state,
 * fingerprint, video (resolution, frame rate, key frames received), link quality, and flags
 * (verified, new identity key, recorder, declined recording).
 * Columns are dropped on narrow terminals (see layout.ts participantColumns).
 */
import { Box } from "ink";
import type { ReactElement } from "react";
import type { PeerView } from "./state.js";
import { meterBar, type Glyphs } from "./glyphs.js";
import { participantColumns, type RowColumns } from "./layout.js";
import { Line, span, type Span } from "./Line.js";
import { fit } from "./text.js";

function stateOf(p: PeerView): { text: string; color?: string } {
  if (p.muted) return { text: "muted", color: "red" };
  if (p.speaking) return { text: "speaking", color: "green" };
  if (!p.heard) return { text: "no audio", color: "gray" };
  return { text: "" };
}

function linkText(p: PeerView, cols: RowColumns): string {
  const { lossPct, jitterMs, quality } = p.link;
  const loss = lossPct === null ? "--" : `${lossPct.toFixed(lossPct >= 10 ? 0 : 1)}%`;
  const jitter = jitterMs === null ? "--" : `${Math.round(jitterMs)}ms`;
  const q = quality === "unknown" ? "--" : quality;
  switch (cols.link) {
    case "full":
      return `${q} ${loss} ${jitter}`;
    case "short":
      return `${loss} ${jitter}`;
    case "min":
      return q;
    case "none":
      return "";
  }
}

/** "320x240 15fps kf12": resolution of the latest key frame, frames per second, key frames received. */
export function videoText(v: NonNullable<PeerView["video"]>): string {
  const size = v.width > 0 ? `${v.width}x${v.height}` : "?x?";
  return `${size} ${Math.round(v.fps)}fps kf${v.keyframes}`;
}

const QUALITY_COLORS: Record<string, string | undefined> = { good: "green", fair: "yellow", poor: "red" };

function flagSpans(p: PeerView, g: Glyphs, width: number): Span[] {
  const out: Span[] = [];
  const long = width >= 14;
  if (p.identityChanged) out.push(span(`${g.changed}${long ? "new key " : "key "}`, { color: "red", bold: true }));
  if (p.verified) out.push(span(`${g.verified}${long ? "verified " : "ok "}`, { color: "green" }));
  if (p.recorder) out.push(span(`${g.recording}REC `, { color: "red", bold: true }));
  if (p.declinedRecording) out.push(span(long ? "no-rec " : "norec ", { color: "cyan" }));
  if (p.role === "bot") out.push(span("bot ", { dim: true }));
  return out;
}

export function participantRowSpans(p: PeerView, cols: RowColumns, g: Glyphs): Span[] {
  const a = g.ascii;
  const state = stateOf(p);
  const mark = p.muted ? span(fit(g.muted, cols.mark, a), { color: "red" }) : p.speaking ? span(fit(g.speaking, cols.mark, a), { color: "green" }) : span(fit(g.silent, cols.mark, a), { dim: true });
  const spans: Span[] = [mark, span(fit(p.name, cols.name, a), p.speaking ? { bold: true } : {})];
  if (cols.meter > 0) {
    const bar = p.heard && !p.muted ? meterBar(p.levelDbfs, cols.meter - 2, g) : " ".repeat(cols.meter - 2);
    spans.push(span(" "), span(bar, p.speaking ? { color: "green" } : { dim: true }), span(" "));
  }
  if (cols.state > 0) spans.push(span(fit(state.text, cols.state, a), state.color ? { color: state.color } : {}));
  if (cols.fingerprint > 0) spans.push(span(fit(p.shortFingerprint, cols.fingerprint, a), { dim: true }));
  if (cols.video > 0) spans.push(span(fit(p.video ? videoText(p.video) : "", cols.video, a), { color: "magenta" }));
  if (cols.linkWidth > 0) {
    const color = QUALITY_COLORS[p.link.quality];
    spans.push(span(fit(linkText(p, cols), cols.linkWidth, a), color ? { color } : { dim: true }));
  }
  if (cols.flags > 0) spans.push(...flagSpans(p, g, cols.flags));
  return spans;
}

export function participantTitleSpans(count: number, cols: RowColumns, g: Glyphs): Span[] {
  const a = g.ascii;
  const title = `Participants (${count})`;
  // Column headings only when the title fits above the name column (wide terminals).
  if (title.length + 1 > cols.mark + cols.name) return [span(title, { bold: true })];
  const spans: Span[] = [span(fit(title, cols.mark + cols.name, a), { bold: true })];
  if (cols.meter > 0) spans.push(span(fit(" level", cols.meter, a), { dim: true }));
  if (cols.state > 0) spans.push(span(fit("", cols.state, a)));
  if (cols.fingerprint > 0) spans.push(span(fit("fingerprint", cols.fingerprint, a), { dim: true }));
  if (cols.video > 0) spans.push(span(fit("video", cols.video, a), { dim: true }));
  if (cols.linkWidth > 0) spans.push(span(fit(cols.link === "short" ? "loss jitter" : cols.link === "full" ? "link loss jitter" : "link", cols.linkWidth, a), { dim: true }));
  return spans;
}

export interface ParticipantListProps {
  peers: PeerView[];
  width: number;
  /** Rows available for members (the title line is extra). */
  rows: number;
  glyphs: Glyphs;
}

export function ParticipantList({ peers, width, rows, glyphs }: ParticipantListProps): ReactElement {
  const cols = participantColumns(width, peers.some((p) => p.video !== null));
  const shown = peers.length > rows ? peers.slice(0, Math.max(0, rows - 1)) : peers;
  const hidden = peers.length - shown.length;
  return (
    <Box flexDirection="column">
      <Line spans={participantTitleSpans(peers.length, cols, glyphs)} width={width} ascii={glyphs.ascii} />
      {peers.length === 0 ? (
        <Line spans={[span("  waiting for others to join", { dim: true })]} width={width} ascii={glyphs.ascii} />
      ) : null}
      {shown.map((p) => (
        <Line key={p.peerId} spans={participantRowSpans(p, cols, glyphs)} width={width} ascii={glyphs.ascii} />
      ))}
      {hidden > 0 ? <Line spans={[span(`  +${hidden} more`, { dim: true })]} width={width} ascii={glyphs.ascii} /> : null}
    </Box>
  );
}
