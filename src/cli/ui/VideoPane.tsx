/**
 * The video preview pane (`join --show-video`, keys p and n): a title line with whose video it is and
 * how it arrives, then the latest decoded picture drawn with half blocks (media/video/preview.ts
 * renderHalfBlocks: '▀' with 24-bit or 256-palette colours, or a luminance ramp of ASCII characters in
 * --ascii mode),
 * centred and cut to the rows the layout gives it. Before the first picture: one status line.
 */
import { Box, Text } from "ink";
import { useMemo, type ReactElement } from "react";
import { renderHalfBlocks, type RenderHalfBlocksOptions } from "../../media/video/preview.js";
import type { PeerView, PreviewPicture, PreviewView } from "./state.js";
import type { Glyphs } from "./glyphs.js";
import { Line, span, type Span } from "./Line.js";
import { videoText } from "./ParticipantList.js";

export type PreviewColors = NonNullable<RenderHalfBlocksOptions["colors"]>;

export interface VideoPaneProps {
  preview: PreviewView;
  /** Colour codes for the picture (ignored in ASCII mode). */
  colors: PreviewColors;
  peers: PeerView[];
  width: number;
  /** Lines below the title. */
  rows: number;
  glyphs: Glyphs;
}

/** The picture as terminal lines, at most `cols` × `rows` cells, centred in `cols`. */
export function pictureLines(picture: PreviewPicture, cols: number, rows: number, ascii: boolean, colors: PreviewColors = "truecolor"): string[] {
  const width = Math.min(picture.width, Math.max(0, cols));
  const height = Math.min(picture.height, Math.max(0, rows) * 2);
  if (width === 0 || height === 0) return [];
  let rgb = picture.rgb;
  if (width !== picture.width || height !== picture.height) {
    // The terminal got smaller than the picture (the decoder restarts at the new size): crop the middle.
    const x0 = Math.floor((picture.width - width) / 2);
    const y0 = Math.floor((picture.height - height) / 2);
    const out = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y++) {
      const from = ((y0 + y) * picture.width + x0) * 3;
      out.set(picture.rgb.subarray(from, from + width * 3), y * width * 3);
    }
    rgb = out;
  }
  const pad = " ".repeat(Math.floor((cols - width) / 2));
  return renderHalfBlocks(rgb, width, height, { ascii, colors }).map((l) => pad + l);
}

export function previewTitleSpans(preview: PreviewView, peers: PeerView[], g: Glyphs): Span[] {
  const shown = peers.find((p) => p.peerId === preview.shown);
  const how = preview.pinned !== null || preview.query !== null ? "pinned" : "following the speaker";
  const spans: Span[] = [span("Video", { bold: true })];
  if (shown) {
    spans.push(span(` ${shown.name}`, { bold: true, color: "magenta" }));
    if (shown.video) spans.push(span(` ${g.dot} ${videoText(shown.video)}`, { dim: true }));
  }
  spans.push(span(` ${g.dot} ${how}`, { dim: true }), span(` ${g.dot} `, { dim: true }), span("n", { bold: true, color: "cyan" }), span(" next ", { dim: true }));
  spans.push(span("p", { bold: true, color: "cyan" }), span(" hide", { dim: true }));
  return spans;
}

/** What the pane says while there is no picture. */
export function previewStatus(preview: PreviewView, peers: PeerView[]): string {
  if (preview.query !== null) return `waiting for "${preview.query}" to join`;
  const pinned = preview.pinned === null ? undefined : peers.find((p) => p.peerId === preview.pinned);
  if (pinned && !pinned.video) return `${pinned.name} sends no video (n: next)`;
  const shown = peers.find((p) => p.peerId === preview.shown);
  if (shown) return `waiting for a key frame from ${shown.name}`;
  return "nobody sends video";
}

export function VideoPane({ preview, colors, peers, width, rows, glyphs }: VideoPaneProps): ReactElement {
  const picture = preview.picture;
  const lines = useMemo(() => (picture ? pictureLines(picture, width, rows, glyphs.ascii, colors) : []), [picture, width, rows, glyphs.ascii, colors]);
  return (
    <Box flexDirection="column">
      <Line spans={previewTitleSpans(preview, peers, glyphs)} width={width} ascii={glyphs.ascii} />
      {lines.length === 0 ? (
        <Line spans={[span(`  ${previewStatus(preview, peers)}`, { dim: true })]} width={width} ascii={glyphs.ascii} />
      ) : (
        lines.map((line, i) => (
          <Text key={i} wrap="truncate-end">
            {line}
          </Text>
        ))
      )}
    </Box>
  );
}
