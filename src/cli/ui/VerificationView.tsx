/**
 * `v`: compare safety numbers and mark members verified. The safety number of a pair of identity
 * keys is the same on both sides (src/crypto/safety.ts); reading it to each other over another
 * channel proves nobody in the middle (the relay included) swapped keys. Marking a member verified
 * stores their identity key in the trust store, so the mark comes back in later calls and is lost
 * if they ever show up with another key.
 */
import { Box } from "ink";
import type { ReactElement } from "react";
import type { PeerView } from "./state.js";
import type { Glyphs } from "./glyphs.js";
import { Line, span, type Span } from "./Line.js";
import { fit } from "./text.js";

/** Split "12345 67890 …" into display lines of as many groups as fit. */
export function safetyNumberLines(safetyNumber: string, width: number): string[] {
  const groups = safetyNumber.split(" ").filter((x) => x.length > 0);
  if (groups.length === 0) return [];
  const groupWidth = groups[0]!.length + 1;
  const perLine = Math.max(1, Math.min(6, Math.floor((width - 4) / groupWidth)));
  const lines: string[] = [];
  for (let i = 0; i < groups.length; i += perLine) lines.push(groups.slice(i, i + perLine).join(" "));
  return lines;
}

export interface VerificationViewProps {
  peers: PeerView[];
  selected: number;
  selfFingerprint: string;
  width: number;
  rows: number;
  glyphs: Glyphs;
}

export function VerificationView({ peers, selected, selfFingerprint, width, rows, glyphs: g }: VerificationViewProps): ReactElement {
  const a = g.ascii;
  const lines: Span[][] = [];
  const up = a ? "up/down" : "↑/↓";
  lines.push([span("Verify members", { bold: true }), span(`  ${up} choose, Enter mark/unmark verified, Esc back`, { dim: true })]);
  if (peers.length === 0) {
    lines.push([span("  nobody else is in the call", { dim: true })]);
  } else {
    const current = peers[Math.min(Math.max(0, selected), peers.length - 1)]!;
    const numberLines = current.safetyNumber ? safetyNumberLines(current.safetyNumber, width) : [];
    const detail: Span[][] = [];
    detail.push([span(`Safety number with ${current.name}:`, { bold: true })]);
    if (numberLines.length === 0) detail.push([span("  (not received yet)", { dim: true })]);
    for (const l of numberLines) detail.push([span(`  ${l}`, { color: "cyan" })]);
    detail.push([span("Read it to each other by phone or in person; identical on both sides = no one in between.", { dim: true })]);
    if (selfFingerprint) detail.push([span("Your fingerprint: ", { dim: true }), span(selfFingerprint)]);
    // The list gets what the detail leaves, but at least 1 row; scroll to keep the selection visible.
    const listRows = Math.max(1, rows - 1 - detail.length);
    const index = peers.indexOf(current);
    const start = Math.min(Math.max(0, index - listRows + 1), Math.max(0, peers.length - listRows));
    for (const p of peers.slice(start, start + listRows)) {
      const isSelected = p === current;
      const nameWidth = Math.min(24, Math.max(8, width - 30));
      const status = p.identityChanged && !p.verified ? span(`${g.changed} new key, not verified`, { color: "red" }) : p.verified ? span(`${g.verified} verified`, { color: "green" }) : span("not verified", { dim: true });
      lines.push([
        span(isSelected ? `${g.selected} ` : "  ", { color: "cyan" }),
        span(fit(p.name, nameWidth, a), isSelected ? { bold: true, inverse: true } : {}),
        span(" "),
        span(fit(p.shortFingerprint, 11, a), { dim: true }),
        status,
      ]);
    }
    lines.push(...detail.slice(0, Math.max(0, rows - lines.length)));
  }
  return (
    <Box flexDirection="column">
      {lines.slice(0, Math.max(1, rows)).map((spans, i) => (
        <Line key={i} spans={spans} width={width} ascii={a} />
      ))}
    </Box>
  );
}
