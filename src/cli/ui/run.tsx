/**
 * `conclave join` in a terminal: join, publish, render the call with Ink until the user leaves
 * (q, Ctrl-C, SIGINT/SIGTERM/SIGHUP), `duration` passes or the relay ends the call; then leave
 * cleanly (goodbye to the room, media stopped, Ink unmounted, terminal restored).
 *
 * This module owns the side effects the components ask for through UiActions: mute, chat, the
 * trust store, switching the input source, playing received audio and the video preview decoder.
 */
import { render } from "ink";
import { Participant, type JoinOptions } from "../../client/participant.js";
import { TrustStore } from "../../client/trust-store.js";
import {
  AudioPlayer,
  AudioSource,
  describeAudioSource,
  listCaptureDevices,
  parseAudioSource,
  resolveFfmpeg,
  type AudioOutput,
  type AudioSourceSpec,
} from "../../media/index.js";
import { ExitCode } from "../../errors.js";
import type { Logger } from "../../log.js";
import { ConnectedCallApp, type UiActions } from "./App.js";
import { bindParticipant } from "./bind.js";
import { inputChoices, outputChoices, type DeviceLists } from "./DevicePicker.js";
import type { CallStore } from "./state.js";
import type { VideoSourceSpec } from "../../media/index.js";
import { localeSupportsUnicode } from "./text.js";
import { PreviewDriver } from "./video-preview.js";

export interface InteractiveUiOptions {
  /** Leave after this many seconds. */
  duration?: number;
  /** Plain ASCII (also chosen automatically when the locale is not UTF-8). */
  ascii: boolean;
  /** Video to publish once joined (the participant must have joined with `video: true`). */
  video?: { spec: VideoSourceSpec; settings: { width: number; height: number; fps: number; bitrateKbps: number } };
  /** Start playing received audio: true for the default ALSA device, or `alsa:NAME` / `pulse[:NAME]` / a bare ALSA name. */
  play?: string | boolean;
  /** `--show-video [PEER]`: start with the video preview shown; a string follows that member (name or id prefix). */
  showVideo?: string | boolean;
}

/** UI redraws a second while the video preview is shown. */
const PREVIEW_UI_RATE_HZ = 5;

type StopReason = "user" | "signal" | "duration" | "closed";

/**
 * While Ink owns the terminal, log lines written to the same terminal would tear the frame: warnings
 * and errors become notices in the UI instead (debug and info are dropped). When stderr is not the
 * terminal (redirected to a file), the caller's logger is kept.
 */
function uiLogger(base: Logger | undefined, getStore: () => CallStore | undefined): Logger | undefined {
  if (!process.stderr.isTTY) return base;
  const make = (scope: string): Logger => {
    const note = (level: string, message: string): void => {
      getStore()?.dispatch({ type: "notice", text: `${level}: ${scope ? `${scope}: ` : ""}${message}`, at: Date.now() });
    };
    return {
      debug: () => {},
      info: () => {},
      warn: (m) => note("warning", m),
      error: (m) => note("error", m),
      child: (s) => make(scope ? `${scope}:${s}` : s),
    };
  };
  return make("");
}

function outputFor(id: string): AudioOutput | null {
  if (id === "alsa:default") return { backend: "alsa", device: "default" };
  if (id === "pulse:default") return { backend: "pulse", device: "default" };
  if (id.startsWith("alsa:")) return { backend: "alsa", device: id.slice("alsa:".length) };
  if (id.startsWith("pulse:")) return { backend: "pulse", device: id.slice("pulse:".length) };
  return null;
}

export async function runInteractive(invite: string, options: JoinOptions, source: AudioSourceSpec, ui: InteractiveUiOptions): Promise<number> {
  const ascii = ui.ascii || !localeSupportsUnicode(process.env);
  let store: CallStore | undefined;
  const logger = uiLogger(options.logger, () => store);
  // Events emitted while joining (members, the first key rotation) reach the UI through this buffer.
  const early: Parameters<NonNullable<JoinOptions["onEvent"]>>[0][] = [];
  let bound = false;
  const participant = await Participant.join(invite, {
    ...options,
    levels: true,
    ...(logger ? { logger } : {}),
    onEvent: (e) => {
      if (!bound) early.push(e);
    },
  });

  let trust: TrustStore | undefined;
  try {
    trust = TrustStore.open();
  } catch {
    trust = undefined;
  }
  const binding = bindParticipant(participant, {
    ...(trust ? { trust } : {}),
    name: options.name ?? "guest",
    source: source.kind === "none" ? null : describeAudioSource(source),
    onTrustError: (err) => store?.dispatch({ type: "notice", text: `cannot save to the trust store: ${err.message}`, at: Date.now() }),
    ...(ui.showVideo !== undefined && ui.showVideo !== false
      ? { preview: { visible: true, ...(typeof ui.showVideo === "string" && ui.showVideo ? { peer: ui.showVideo } : {}) } }
      : {}),
  });
  store = binding.store;
  bound = true;
  for (const event of early) {
    const at = Date.parse(event.time);
    binding.store.dispatch({ type: "event", event, at: Number.isFinite(at) ? at : Date.now() });
  }
  const callStore = binding.store;
  const notice = (text: string): void => callStore.dispatch({ type: "notice", text, at: Date.now() });

  // ---- media we own: a switched-to input, players for received audio ----
  let ffmpegPath: string | null | undefined = options.ffmpeg;
  const ffmpeg = (): string | null => {
    if (ffmpegPath === undefined) {
      try {
        ffmpegPath = resolveFfmpeg().path;
      } catch {
        ffmpegPath = null;
      }
    }
    return ffmpegPath;
  };
  let ownedSource: AudioSource | undefined;
  let output =
    ui.play === undefined || ui.play === false
      ? "off"
      : ui.play === true
        ? "alsa:default"
        : ui.play === "pulse"
          ? "pulse:default"
          : /^(alsa|pulse):/.test(ui.play)
            ? ui.play
            : `alsa:${ui.play}`;
  const preview = new PreviewDriver(participant, callStore, { ffmpeg, ...(logger ? { logger: logger.child("preview") } : {}) });
  // Drawing a picture costs Ink more than the rest of the screen: while the preview is shown the UI
  // polls and redraws 5 times a second instead of 10 (pictures come 4 times a second).
  const followPreviewRate = (): void => binding.setRate(callStore.latest.preview.visible ? PREVIEW_UI_RATE_HZ : 10);
  followPreviewRate();
  const unsubscribeRate = callStore.subscribe(followPreviewRate);
  const players = new Map<string, AudioPlayer>();
  const closePlayers = async (): Promise<void> => {
    const all = [...players.values()];
    players.clear();
    await Promise.all(all.map((p) => p.close().catch(() => {})));
  };
  participant.on("audio", (audio) => {
    if (output === "off") return;
    let player = players.get(audio.peerId);
    if (!player) {
      const out = outputFor(output);
      const path = ffmpeg();
      if (!out || !path) return;
      player = AudioPlayer.open({ ffmpeg: path, output: out, ...(logger ? { logger: logger.child("player") } : {}) });
      const name = participant.e2ee.members.get(audio.peerId)?.name ?? audio.peerId.slice(0, 8);
      player.on("error", (err) => {
        callStore.dispatch({ type: "warning", id: `player:${output}`, kind: "error", text: `cannot play ${name}: ${err.message}`, at: Date.now() });
      });
      players.set(audio.peerId, player);
    }
    player.writePacket(audio.payload, audio.timestamp);
  });
  participant.on("event", (event) => {
    if (event.type !== "peer-left") return;
    const player = players.get(event.peerId);
    players.delete(event.peerId);
    void player?.close().catch(() => {});
  });

  if (source.kind !== "none") {
    try {
      await participant.publish(source);
    } catch (err) {
      callStore.dispatch({ type: "source", source: null });
      callStore.dispatch({
        type: "warning",
        id: "publish",
        kind: "error",
        text: `cannot send ${describeAudioSource(source)}: ${(err as Error).message}; press d to choose another input`,
        at: Date.now(),
      });
    }
  }

  if (ui.video) {
    try {
      await participant.publishVideo(ui.video.spec, ui.video.settings);
    } catch (err) {
      callStore.dispatch({ type: "warning", id: "publish-video", kind: "error", text: `cannot send video: ${(err as Error).message}`, at: Date.now() });
    }
  }

  // ---- stop conditions ----
  let stopped: (why: StopReason) => void = () => {};
  const stop = new Promise<StopReason>((resolve) => {
    stopped = resolve;
  });
  const onSignal = (): void => stopped("signal");
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("SIGHUP", onSignal);
  const timer = ui.duration !== undefined ? setTimeout(() => stopped("duration"), ui.duration * 1000) : undefined;
  participant.once("closed", () => stopped("closed"));

  const actions: UiActions = {
    setMuted(muted) {
      participant.setMuted(muted);
      callStore.dispatch({ type: "poll", sample: { now: Date.now(), muted: participant.muted } });
    },
    sendChat(text) {
      participant.sendChat(text);
      callStore.dispatch({ type: "chat-sent", text, at: Date.now() });
    },
    leave() {
      stopped("user");
    },
    setVerified(peerId, verified) {
      const peer = callStore.latest.peers.find((p) => p.peerId === peerId);
      if (!peer) return;
      try {
        trust?.setVerified(peer.identityKey, peer.name, verified);
        callStore.dispatch({ type: "trust", peerId, verified });
        notice(trust ? `${peer.name} marked ${verified ? "verified" : "not verified"}` : `${peer.name}: not saved (no trust store)`);
      } catch (err) {
        notice(`cannot save verification: ${(err as Error).message}`);
      }
    },
    async listDevices(): Promise<DeviceLists> {
      const devices = await listCaptureDevices();
      const lists: DeviceLists = { inputs: inputChoices(devices), outputs: outputChoices(devices) };
      if (devices.alsa.length === 0 && !devices.pulse) lists.note = "no capture devices found (no ALSA card, no PulseAudio server)";
      if (ffmpeg() === null) lists.note = "ffmpeg not found: only 'none' works";
      return lists;
    },
    async selectInput(spec) {
      const parsed = parseAudioSource(spec);
      const previous = ownedSource;
      if (parsed.kind === "none") {
        await participant.unpublish();
        ownedSource = undefined;
        callStore.dispatch({ type: "source", source: null });
      } else {
        const path = ffmpeg();
        if (!path) throw new Error("ffmpeg is not available");
        const next = await AudioSource.open(parsed, { ffmpeg: path, ...(logger ? { logger: logger.child("ffmpeg") } : {}) });
        try {
          await participant.publish(next);
        } catch (err) {
          await next.close().catch(() => {});
          throw err;
        }
        ownedSource = next;
        callStore.dispatch({ type: "source", source: describeAudioSource(parsed) });
      }
      await previous?.close().catch(() => {});
      notice(`input: ${parsed.kind === "none" ? "none" : describeAudioSource(parsed)}`);
    },
    async selectOutput(id) {
      if (id !== "off" && (!outputFor(id) || ffmpeg() === null)) throw new Error("cannot play audio here (ffmpeg missing)");
      output = id;
      await closePlayers();
      notice(id === "off" ? "output: off" : `output: ${id}`);
    },
    currentOutput() {
      return output;
    },
    togglePreview() {
      callStore.dispatch({ type: "preview-toggle" });
      callStore.flush();
    },
    nextPreview() {
      callStore.dispatch({ type: "preview-next" });
      callStore.flush();
    },
    setPreviewArea(cols, rows) {
      preview.setArea(cols, rows);
    },
  };

  // A terminal that reflows its lines when it gets narrower (tmux, VTE, iTerm2) turns the previous
  // frame into more rows than Ink knows about; Ink then erases too few and old lines stay above the
  // new frame. Clearing the screen first leaves Ink a clean one to draw on. (Registered before
  // render(), so it runs before Ink's own resize handler.)
  let columns = process.stdout.columns ?? 0;
  const onResize = (): void => {
    const now = process.stdout.columns ?? 0;
    if (now < columns) process.stdout.write("\u001b[H\u001b[2J");
    columns = now;
  };
  process.stdout.on("resize", onResize);

  const ink = render(<ConnectedCallApp store={callStore} actions={actions} ascii={ascii} />, {
    exitOnCtrlC: false,
    patchConsole: true,
    incrementalRendering: true,
    maxFps: 30,
  });

  let why: StopReason;
  try {
    why = await stop;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    process.off("SIGHUP", onSignal);
    if (timer) clearTimeout(timer);
  }
  callStore.dispatch({ type: "notice", text: "leaving the call", at: Date.now() });
  callStore.flush();
  try {
    unsubscribeRate();
    await preview.close();
    await participant.close(why === "duration" ? "duration" : why === "closed" ? "relay-closed" : "left");
    await closePlayers();
    await ownedSource?.close().catch(() => {});
  } finally {
    binding.dispose();
    callStore.flush();
    ink.unmount();
    await ink.waitUntilExit().catch(() => {});
    process.stdout.off("resize", onResize);
    callStore.close();
  }
  if (why === "closed") {
    const reason = callStore.latest.leftReason;
    process.stderr.write(`conclave: the call ended${reason ? ` (${reason})` : ""}\n`);
    return ExitCode.connection;
  }
  return ExitCode.ok;
}
