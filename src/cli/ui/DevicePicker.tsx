/**
 * `d`: choose what you send (capture devices, a test tone, silence, nothing) and where received
 * audio plays. Inputs are `--audio` source specs (parseAudioSource), so the picker can offer exactly
 * what the command line accepts.
 */
import { Box } from "ink";
import type { ReactElement } from "react";
import type { Glyphs } from "./glyphs.js";
import { Line, span, type Span } from "./Line.js";
import { fit } from "./text.js";

export interface DeviceChoice {
  /** For inputs an --audio spec ("device:hw:0,0", "tone:440"); for outputs "off", "alsa:default", "pulse:default". */
  id: string;
  label: string;
}

export interface DeviceLists {
  inputs: DeviceChoice[];
  outputs: DeviceChoice[];
  /** Shown under the lists (e.g. why there are no devices). */
  note?: string;
}

/** The inputs to offer for what listCaptureDevices() found. */
export function inputChoices(devices: { alsa: string[]; pulse: boolean }): DeviceChoice[] {
  const out: DeviceChoice[] = [];
  if (devices.pulse) out.push({ id: "device:pulse:default", label: "PulseAudio default input" });
  if (devices.alsa.length > 0) out.push({ id: "device:default", label: "ALSA default input" });
  for (const name of devices.alsa) out.push({ id: `device:${name}`, label: `ALSA ${name}` });
  out.push({ id: "tone:440", label: "test tone 440 Hz" });
  out.push({ id: "silence", label: "silence (stay connected, send nothing audible)" });
  out.push({ id: "none", label: "none (stop sending)" });
  return out;
}

/** Where received audio can go. */
export function outputChoices(devices: { alsa: string[]; pulse: boolean }): DeviceChoice[] {
  const out: DeviceChoice[] = [{ id: "off", label: "off (do not play)" }];
  if (devices.pulse) out.push({ id: "pulse:default", label: "PulseAudio default output" });
  out.push({ id: "alsa:default", label: "ALSA default output" });
  return out;
}

export interface DevicePickerState {
  loading: boolean;
  lists: DeviceLists | null;
  focus: "input" | "output";
  inputIndex: number;
  outputIndex: number;
  error?: string;
}

export interface DevicePickerProps {
  state: DevicePickerState;
  currentInput: string | null;
  currentOutput: string | null;
  /** False when this session cannot play audio: the output list is shown but cannot be chosen. */
  outputAvailable: boolean;
  width: number;
  rows: number;
  glyphs: Glyphs;
}

function listLines(
  title: string,
  choices: DeviceChoice[],
  index: number,
  focused: boolean,
  current: string | null,
  width: number,
  g: Glyphs,
): Span[][] {
  const lines: Span[][] = [[span(title, focused ? { bold: true, color: "cyan" } : { bold: true })]];
  choices.forEach((c, i) => {
    const isSelected = focused && i === index;
    const isCurrent = c.id === current;
    lines.push([
      span(isSelected ? `${g.selected} ` : "  ", { color: "cyan" }),
      span(isCurrent ? `${g.speaking} ` : "  ", { color: "green" }),
      span(fit(c.id, Math.min(24, Math.max(10, Math.floor(width / 3))), g.ascii), isSelected ? { inverse: true } : {}),
      span(" "),
      span(c.label, { dim: true }),
    ]);
  });
  return lines;
}

export function DevicePicker({ state, currentInput, currentOutput, outputAvailable, width, rows, glyphs: g }: DevicePickerProps): ReactElement {
  const lines: Span[][] = [];
  lines.push([span("Devices", { bold: true }), span("  Tab switch list, Enter choose, Esc back", { dim: true })]);
  if (state.loading || !state.lists) {
    lines.push([span("  looking for devices", { dim: true })]);
  } else {
    const inputs = listLines("Send (input)", state.lists.inputs, state.inputIndex, state.focus === "input", currentInput, width, g);
    const outputs = listLines(
      outputAvailable ? "Play (output)" : "Play (output) - not available in this session",
      state.lists.outputs,
      state.outputIndex,
      state.focus === "output",
      currentOutput,
      width,
      g,
    );
    // Keep the focused list's selection visible: trim the other list first.
    const budget = Math.max(2, rows - 1 - (state.error ? 1 : 0) - (state.lists.note ? 1 : 0));
    const focusedLines = state.focus === "input" ? inputs : outputs;
    const otherLines = state.focus === "input" ? outputs : inputs;
    const focusedRoom = Math.max(2, budget - Math.min(otherLines.length, 2));
    const focusedIndex = (state.focus === "input" ? state.inputIndex : state.outputIndex) + 1;
    const start = Math.max(1, Math.min(focusedIndex - (focusedRoom - 1) + 1, focusedLines.length - (focusedRoom - 1)));
    const focusedShown = [focusedLines[0]!, ...focusedLines.slice(start, start + focusedRoom - 1)];
    const otherShown = otherLines.slice(0, Math.max(0, budget - focusedShown.length));
    if (state.focus === "input") lines.push(...focusedShown, ...otherShown);
    else lines.push(...otherShown, ...focusedShown);
    if (state.lists.note) lines.push([span(state.lists.note, { dim: true })]);
  }
  if (state.error) lines.push([span(state.error, { color: "red" })]);
  return (
    <Box flexDirection="column">
      {lines.slice(0, Math.max(1, rows)).map((spans, i) => (
        <Line key={i} spans={spans} width={width} ascii={g.ascii} />
      ))}
    </Box>
  );
}
