/**
 * The call screen: header, sticky warnings, then participants, the video preview (when shown) and
 * chat (or one overlay: verify, devices, help), and your mic line with the keys. It renders a CallView and calls UiActions; it
 * never touches a Participant, so tests drive it with a hand-made view (CallApp) or a CallStore
 * (ConnectedCallApp).
 */
import { Box, useInput, usePaste, useWindowSize, type Key } from "ink";
import { useCallback, useEffect, useRef, useState, useSyncExternalStore, type ReactElement } from "react";
import type { CallStore, CallView, WarningView } from "./state.js";
import { glyphsFor, type Glyphs } from "./glyphs.js";
import { previewArea, screenLayout, FOOTER_LINES } from "./layout.js";
import { Header } from "./Header.js";
import { ParticipantList } from "./ParticipantList.js";
import { ChatInput, ChatPane, chatDisplayLines } from "./ChatPane.js";
import { MicMeter } from "./MicMeter.js";
import { VerificationView } from "./VerificationView.js";
import { DevicePicker, type DeviceLists, type DevicePickerState } from "./DevicePicker.js";
import { HelpView } from "./HelpView.js";
import { VideoPane, type PreviewColors } from "./VideoPane.js";
import { Line, span, type Span } from "./Line.js";

export interface UiActions {
  setMuted(muted: boolean): void;
  sendChat(text: string): void;
  /** Leave the call (idempotent). */
  leave(): void;
  setVerified(peerId: string, verified: boolean): void;
  listDevices?(): Promise<DeviceLists>;
  selectInput?(spec: string): Promise<void>;
  selectOutput?(id: string): Promise<void>;
  /** Currently selected output id ("off" when nothing plays), null when output cannot be chosen. */
  currentOutput?(): string | null;
  /** p: show or hide the video preview. */
  togglePreview?(): void;
  /** n: show the next video publisher (after the last one: follow the speaker again). */
  nextPreview?(): void;
  /** The largest picture the preview may draw, in cells; called again after a resize. */
  setPreviewArea?(cols: number, rows: number): void;
}

export type Mode = "main" | "chat" | "verify" | "devices" | "help";

interface UiState {
  mode: Mode;
  draft: string;
  selected: number;
  leaving: boolean;
  devices: DevicePickerState;
}

export interface CallAppProps {
  view: CallView;
  actions: UiActions;
  ascii: boolean;
  /** Terminal size; defaults to the real one (and follows resizes). */
  width?: number;
  height?: number;
  initialMode?: Mode;
  /**
   * Colour codes of the video preview. Default: the 256-colour palette, which every xterm-like
   * terminal has and which costs Ink about half the time per frame of 24-bit colour.
   */
  previewColors?: PreviewColors;
}

const NOTICE_MS = 4000;

function warningSpans(w: WarningView, g: Glyphs): Span[] {
  const color = w.kind === "intruder" || w.kind === "identity-changed" ? "red" : "yellow";
  return [span(`${g.warning} `, { color, bold: true }), span(w.text, { color })];
}

function hintSpans(mode: Mode, view: CallView, leaving: boolean, width: number): Span[] {
  if (view.status === "left") return [span("you left the call", { color: "yellow" })];
  if (leaving) return [span("leaving the call", { color: "yellow" })];
  if (view.notice && view.now - view.notice.at < NOTICE_MS) return [span(view.notice.text, { color: "cyan" })];
  if (mode === "chat") return [span("typing a message", { dim: true }), span("  Enter send  Esc cancel", { dim: true })];
  const k = (key: string, what: string): Span[] => [span(key, { bold: true, color: "cyan" }), span(` ${what}  `, { dim: true })];
  const short = width < 72;
  const video = view.preview.visible || view.peers.some((p) => p.video !== null);
  return [
    ...k("m", view.self.muted ? "unmute" : "mute"),
    ...k("c", "chat"),
    ...k("v", "verify"),
    ...k("d", short ? "dev" : "devices"),
    ...(video ? k("p", "video") : []),
    ...k("?", "help"),
    ...k("q", "leave"),
  ];
}

/** Printable text from a key press (a paste arrives as one string); control characters dropped. */
function typedText(input: string, key: Key): string {
  if (key.ctrl || key.meta || key.escape || key.return || key.tab || key.backspace || key.delete) return "";
  if (key.upArrow || key.downArrow || key.leftArrow || key.rightArrow || key.pageUp || key.pageDown || key.home || key.end) return "";
  // eslint-disable-next-line no-control-regex
  return input.replace(/[\u0000-\u001f\u007f-\u009f]/g, "");
}

const NO_KEY: Key = {
  upArrow: false,
  downArrow: false,
  leftArrow: false,
  rightArrow: false,
  pageDown: false,
  pageUp: false,
  home: false,
  end: false,
  return: false,
  escape: false,
  ctrl: false,
  shift: false,
  tab: false,
  backspace: false,
  delete: false,
  meta: false,
  super: false,
  hyper: false,
  capsLock: false,
  numLock: false,
};

/** One character of a multi-key chunk as the key it stands for. */
function keyOf(ch: string): [string, Key] {
  switch (ch) {
    case "\r":
    case "\n":
      return ["", { ...NO_KEY, return: true }];
    case "\t":
      return ["", { ...NO_KEY, tab: true }];
    case "\u007f":
    case "\b":
      return ["", { ...NO_KEY, backspace: true }];
    case "\u001b":
      return ["", { ...NO_KEY, escape: true }];
    case "\u0003":
      return ["c", { ...NO_KEY, ctrl: true }];
    default:
      return [ch, { ...NO_KEY, shift: /[A-Z]/.test(ch) }];
  }
}

export function CallApp({ view, actions, ascii, width: widthProp, height: heightProp, initialMode = "main", previewColors = "256" }: CallAppProps): ReactElement {
  const size = useWindowSize();
  const width = widthProp ?? size.columns;
  const height = heightProp ?? size.rows;
  const g = glyphsFor(ascii);
  // Keys can arrive several per chunk ("c", "hi", Enter): each handler must see what the previous
  // one did, before React re-renders. So the UI state lives in a ref, mirrored into React state.
  const [ui, setUiState] = useState<UiState>(() => ({
    mode: initialMode,
    draft: "",
    selected: 0,
    leaving: false,
    devices: { loading: false, lists: null, focus: "input", inputIndex: 0, outputIndex: 0 },
  }));
  const uiRef = useRef(ui);
  const setUi = useCallback((change: (u: UiState) => UiState) => {
    uiRef.current = change(uiRef.current);
    setUiState(uiRef.current);
  }, []);
  const setDevices = useCallback((change: (d: DevicePickerState) => DevicePickerState) => setUi((u) => ({ ...u, devices: change(u.devices) })), [setUi]);
  const setMode = useCallback((mode: Mode) => setUi((u) => ({ ...u, mode })), [setUi]);
  // The mute state we asked for last: m m in quick succession toggles twice, even between polls.
  const mutedRef = useRef(view.self.muted);
  useEffect(() => {
    mutedRef.current = view.self.muted;
  }, [view.self.muted]);
  const viewRef = useRef(view);
  viewRef.current = view;
  const mounted = useRef(true);
  useEffect(
    () => () => {
      mounted.current = false;
    },
    [],
  );

  const leave = useCallback(() => {
    setUi((u) => ({ ...u, leaving: true }));
    actions.leave();
  }, [actions, setUi]);

  const openDevices = useCallback(() => {
    setMode("devices");
    if (!actions.listDevices) {
      setDevices((d) => ({ ...d, loading: false, lists: { inputs: [], outputs: [], note: "device selection is not available here" } }));
      return;
    }
    setDevices((d) => ({ ...d, loading: true, error: undefined }));
    actions.listDevices().then(
      (lists) => {
        if (!mounted.current) return;
        const current = viewRef.current.self.source ?? "none";
        const output = actions.currentOutput?.() ?? null;
        setDevices(() => ({
          loading: false,
          lists,
          focus: "input",
          inputIndex: Math.max(0, lists.inputs.findIndex((c) => c.id === current)),
          outputIndex: Math.max(0, lists.outputs.findIndex((c) => c.id === output)),
        }));
      },
      (err: unknown) => {
        if (!mounted.current) return;
        setDevices((d) => ({ ...d, loading: false, lists: { inputs: [], outputs: [] }, error: `cannot list devices: ${(err as Error).message}` }));
      },
    );
  }, [actions, setDevices, setMode]);

  const choose = useCallback(() => {
    const devices = uiRef.current.devices;
    const lists = devices.lists;
    if (!lists) return;
    const choice = devices.focus === "input" ? lists.inputs[devices.inputIndex] : lists.outputs[devices.outputIndex];
    const run = devices.focus === "input" ? actions.selectInput : actions.selectOutput;
    if (!choice || !run) return;
    setDevices((d) => ({ ...d, error: undefined }));
    run.call(actions, choice.id).then(
      () => {
        if (mounted.current && uiRef.current.mode === "devices") setMode("main");
      },
      (err: unknown) => {
        if (mounted.current) setDevices((d) => ({ ...d, error: `${choice.id}: ${(err as Error).message}` }));
      },
    );
  }, [actions, setDevices, setMode]);

  const handleKey = (input: string, key: Key): void => {
    if (key.ctrl && input === "c") {
      leave();
      return;
    }
    const u = uiRef.current;
    const current = viewRef.current;
    if (u.leaving) return;
    switch (u.mode) {
      case "chat": {
        if (key.escape) {
          setUi((x) => ({ ...x, draft: "", mode: "main" }));
        } else if (key.return) {
          const text = u.draft.trim();
          if (text.length > 0) actions.sendChat(text);
          setUi((x) => ({ ...x, draft: "", mode: "main" }));
        } else if (key.backspace || key.delete) {
          setUi((x) => ({ ...x, draft: [...x.draft].slice(0, -1).join("") }));
        } else if (key.ctrl && input === "u") {
          setUi((x) => ({ ...x, draft: "" }));
        } else {
          const text = typedText(input, key);
          if (text) setUi((x) => ({ ...x, draft: (x.draft + text).slice(0, 4000) }));
        }
        return;
      }
      case "verify": {
        const count = current.peers.length;
        const at = Math.min(u.selected, Math.max(0, count - 1));
        if (key.escape || input === "v") setMode("main");
        else if (input === "q") leave();
        else if (key.upArrow || input === "k") setUi((x) => ({ ...x, selected: Math.max(0, at - 1) }));
        else if (key.downArrow || input === "j") setUi((x) => ({ ...x, selected: Math.min(Math.max(0, count - 1), at + 1) }));
        else if (key.return || input === " ") {
          const peer = current.peers[at];
          if (peer) actions.setVerified(peer.peerId, !peer.verified);
        }
        return;
      }
      case "devices": {
        const lists = u.devices.lists;
        if (key.escape || input === "d") setMode("main");
        else if (input === "q") leave();
        else if (!lists) return;
        else if (key.tab || key.leftArrow || key.rightArrow) setDevices((d) => ({ ...d, focus: d.focus === "input" ? "output" : "input" }));
        else if (key.upArrow || input === "k" || key.downArrow || input === "j") {
          const delta = key.upArrow || input === "k" ? -1 : 1;
          setDevices((d) => {
            const n = d.focus === "input" ? lists.inputs.length : lists.outputs.length;
            const clamp = (i: number): number => Math.max(0, Math.min(n - 1, i + delta));
            return d.focus === "input" ? { ...d, inputIndex: clamp(d.inputIndex) } : { ...d, outputIndex: clamp(d.outputIndex) };
          });
        } else if (key.return) choose();
        return;
      }
      case "help":
        if (key.escape || input === "?") setMode("main");
        else if (input === "q") leave();
        return;
      case "main":
        if (input === "q") leave();
        else if (input === "m") {
          mutedRef.current = !mutedRef.current;
          actions.setMuted(mutedRef.current);
        } else if (input === "c" || input === "/") setUi((x) => ({ ...x, draft: "", mode: "chat" }));
        else if (input === "v") setUi((x) => ({ ...x, selected: Math.min(x.selected, Math.max(0, current.peers.length - 1)), mode: "verify" }));
        else if (input === "d") openDevices();
        else if (input === "?") setMode("help");
        else if (input === "p") actions.togglePreview?.();
        else if (input === "n") actions.nextPreview?.();
        return;
    }
  };

  useInput((input, key) => {
    // Several keys in one chunk (tmux send-keys, a slow SSH link, fast typing) arrive as one string:
    // take them one at a time, so "c", "hi", Enter works the same however it is split.
    if (input.length > 1 && !key.ctrl && !key.meta) {
      for (const ch of input) handleKey(...keyOf(ch));
      return;
    }
    handleKey(input, key);
  });

  // Pasted text (bracketed paste) never runs commands: it goes into the chat input.
  usePaste((text) => {
    if (uiRef.current.leaving) return;
    const clean = text.replace(/[\r\n\t]+/g, " ");
    const typed = typedText(clean, keyOf("")[1]);
    if (!typed) return;
    setUi((x) => ({ ...x, mode: "chat", draft: (x.mode === "chat" ? x.draft + typed : typed).slice(0, 4000) }));
  });

  // The preview decodes at most this many cells (the terminal's size sets it, not what else is on screen,
  // so new members or warnings never restart the decoder).
  const area = previewArea(width, height);
  useEffect(() => {
    actions.setPreviewArea?.(area.cols, area.rows);
  }, [actions, area.cols, area.rows]);

  const { mode, draft, selected, leaving, devices } = ui;
  const chatLines = chatDisplayLines(view.chat, Math.max(1, width), g);
  const layout = screenLayout({
    width,
    height,
    warnings: view.warnings.length,
    peers: view.peers.length,
    chatLines: chatLines.length,
    chatOpen: mode === "chat",
    ...(view.preview.visible ? { preview: { rows: view.preview.picture ? Math.ceil(view.preview.picture.height / 2) : 0 } } : {}),
  });
  const w = layout.width;
  const warnings = layout.warningsOverflow ? view.warnings.slice(-(layout.warnings - 1)) : view.warnings.slice(-layout.warnings);
  const hidden = view.warnings.length - warnings.length;
  const overlayRows = layout.lines - 2 - FOOTER_LINES - layout.warnings;

  let body: ReactElement;
  switch (mode) {
    case "verify":
      body = (
        <VerificationView
          peers={view.peers}
          selected={Math.min(selected, Math.max(0, view.peers.length - 1))}
          selfFingerprint={view.self.fingerprint}
          width={w}
          rows={overlayRows}
          glyphs={g}
        />
      );
      break;
    case "devices":
      body = (
        <DevicePicker
          state={devices}
          currentInput={view.self.source ?? "none"}
          currentOutput={actions.currentOutput?.() ?? null}
          outputAvailable={Boolean(actions.selectOutput) && actions.currentOutput?.() !== null}
          width={w}
          rows={overlayRows}
          glyphs={g}
        />
      );
      break;
    case "help":
      body = <HelpView width={w} rows={overlayRows} glyphs={g} />;
      break;
    default:
      body = (
        <Box flexDirection="column">
          <ParticipantList peers={view.peers} width={w} rows={layout.peerRows} glyphs={g} />
          {layout.previewRows > 0 ? <VideoPane preview={view.preview} colors={previewColors} peers={view.peers} width={w} rows={layout.previewRows} glyphs={g} /> : null}
          {layout.showChat ? <ChatPane chat={view.chat} width={w} rows={layout.chatRows} glyphs={g} /> : null}
          {mode === "chat" ? <ChatInput text={draft} width={w} glyphs={g} /> : null}
        </Box>
      );
  }

  return (
    // No explicit width unless given (tests): until React re-renders after a resize, Ink truncates
    // the old lines to the new terminal width instead of letting the terminal wrap them.
    <Box flexDirection="column" {...(widthProp !== undefined ? { width: w } : {})}>
      <Header view={view} width={w} glyphs={g} />
      {hidden > 0 ? <Line spans={[span(`${g.warning} +${hidden} earlier warnings`, { color: "yellow" })]} width={w} ascii={g.ascii} /> : null}
      {warnings.map((warning) => (
        <Line key={warning.id} spans={warningSpans(warning, g)} width={w} ascii={g.ascii} />
      ))}
      {body}
      <MicMeter self={view.self} width={w} glyphs={g} />
      <Line spans={hintSpans(mode, view, leaving, w)} width={w} ascii={g.ascii} />
    </Box>
  );
}

export interface ConnectedCallAppProps extends Omit<CallAppProps, "view"> {
  store: CallStore;
}

/** CallApp over a CallStore: re-renders when the store publishes (at most once per tick). */
export function ConnectedCallApp({ store, ...rest }: ConnectedCallAppProps): ReactElement {
  const view = useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
  return <CallApp view={view} {...rest} />;
}
