/**
 * Drives the terminal video preview for the UI: the view model (state.ts) decides whose video is
 * shown; this runs ONE VideoPreview decoder (one ffmpeg) for that member while the preview is
 * visible, feeds it only that member's decrypted frames, and dispatches its pictures to the store.
 *
 *   - Whom: `view.preview.shown` while `view.preview.visible`; re-checked on every published view.
 *   - When the member changes, the preview is hidden or the drawing area changes (a terminal
 *     resize), the decoder is stopped; the next one starts at the shown member's next key frame,
 *     sized with fitHalfBlocks from that key frame's resolution (publishers send one at least every
 *     second, see media/video/video-source.ts), and gets that key frame first.
 *   - Pictures: `fps` a second (ffmpeg's fps filter), so the UI redraws the pane at most that often.
 *   - A decoder that dies is reported once and not restarted until the shown member, the area or the
 *     visibility changes.
 */
import type { ReceivedVideo } from "../../client/participant.js";
import type { Logger } from "../../log.js";
import { fitHalfBlocks, VideoPreview, type VideoPreviewOptions } from "../../media/video/preview.js";
import { parseVp8Frame } from "../../media/video/vp8.js";
import { parseH264AccessUnit } from "../../media/video/h264.js";
import type { CallStore } from "./state.js";

/** Where decrypted video frames come from (a Participant). */
export interface VideoFeed {
  on(event: "video", listener: (video: ReceivedVideo) => void): unknown;
  off(event: "video", listener: (video: ReceivedVideo) => void): unknown;
}

export interface PreviewDriverOptions {
  /** Path of ffmpeg, or null when there is none (the pane then says so). Asked when a decoder is needed. */
  ffmpeg: () => string | null;
  /** Pictures per second (default 4). */
  fps?: number;
  logger?: Logger;
  /** Starts a decoder (tests count them); default VideoPreview.start. */
  startDecoder?: (options: VideoPreviewOptions) => VideoPreview;
}

export interface PreviewDriverStats {
  /** Decoders started so far. */
  started: number;
  /** Decoders running now (0 or 1; one being closed counts until it has exited). */
  running: number;
  /** Frames handed to a decoder. */
  framesIn: number;
}

interface Current {
  peerId: string;
  decoder: VideoPreview | null;
  failed: boolean;
}

export class PreviewDriver {
  readonly #feed: VideoFeed;
  readonly #store: CallStore;
  readonly #options: PreviewDriverOptions;
  readonly #unsubscribe: () => void;
  readonly #closing = new Set<Promise<void>>();
  readonly #stats: PreviewDriverStats = { started: 0, running: 0, framesIn: 0 };
  #current: Current | null = null;
  #area: { cols: number; rows: number } = { cols: 80, rows: 10 };
  #closed = false;

  constructor(feed: VideoFeed, store: CallStore, options: PreviewDriverOptions) {
    this.#feed = feed;
    this.#store = store;
    this.#options = options;
    this.#feed.on("video", this.#onVideo);
    this.#unsubscribe = store.subscribe(() => this.reconcile());
    this.reconcile();
  }

  get stats(): Readonly<PreviewDriverStats> {
    return { ...this.#stats };
  }

  /** Whose video is being decoded (or awaited), null when none. */
  get peerId(): string | null {
    return this.#current?.peerId ?? null;
  }

  /** The largest picture in cells; a change restarts the decoder at the next key frame. */
  setArea(cols: number, rows: number): void {
    if (!(cols >= 2 && rows >= 1)) return;
    if (cols === this.#area.cols && rows === this.#area.rows) return;
    this.#area = { cols: Math.floor(cols), rows: Math.floor(rows) };
    if (this.#current) this.#stopDecoder(this.#current);
  }

  /** Follow the store's latest view: start waiting for another member, or stop. */
  reconcile(): void {
    if (this.#closed) return;
    const p = this.#store.latest.preview;
    const want = p.visible ? p.shown : null;
    if (want === (this.#current?.peerId ?? null)) return;
    if (this.#current) this.#stopDecoder(this.#current);
    this.#current = want === null ? null : { peerId: want, decoder: null, failed: false };
  }

  /** Stop decoding and wait for the decoder to exit. Idempotent. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#feed.off("video", this.#onVideo);
      this.#unsubscribe();
      if (this.#current) this.#stopDecoder(this.#current);
      this.#current = null;
    }
    await Promise.all([...this.#closing]);
  }

  readonly #onVideo = (video: ReceivedVideo): void => {
    const current = this.#current;
    if (!current || current.failed || video.peerId !== current.peerId) return;
    if (!current.decoder) {
      if (!video.keyframe) return;
      current.decoder = this.#startDecoder(current, video.frame, video.codec);
      if (!current.decoder) return;
    }
    current.decoder.push(video.frame, video.keyframe);
    this.#stats.framesIn += 1;
  };

  #startDecoder(current: Current, keyframe: Uint8Array, codec: ReceivedVideo["codec"] = "vp8"): VideoPreview | null {
    const ffmpeg = this.#options.ffmpeg();
    const fail = (text: string): null => {
      current.failed = true;
      this.#store.dispatch({ type: "warning", id: "preview", kind: "error", text, at: Date.now() });
      return null;
    };
    if (!ffmpeg) return fail("video preview: ffmpeg not found");
    const info = codec === "h264" ? parseH264AccessUnit(keyframe) : parseVp8Frame(keyframe);
    const size = fitHalfBlocks(this.#area.cols, this.#area.rows, info?.width || 16, info?.height || 9);
    const start = this.#options.startDecoder ?? ((o: VideoPreviewOptions) => VideoPreview.start(o));
    let decoder: VideoPreview;
    try {
      decoder = start({
        ffmpeg,
        width: size.width,
        height: size.height,
        fps: this.#options.fps ?? 4,
        codec,
        ...(this.#options.logger ? { logger: this.#options.logger } : {}),
      });
    } catch (err) {
      return fail(`video preview: ${(err as Error).message}`);
    }
    this.#stats.started += 1;
    this.#stats.running += 1;
    const peerId = current.peerId;
    decoder.on("frame", (picture) => {
      if (this.#current?.decoder !== decoder) return;
      this.#store.dispatch({ type: "preview-picture", picture: { peerId, rgb: picture.rgb, width: picture.width, height: picture.height, at: Date.now() } });
    });
    decoder.on("error", (err) => {
      if (this.#current?.decoder !== decoder) return;
      current.decoder = null;
      fail(err.message);
    });
    decoder.once("close", () => {
      this.#stats.running -= 1;
    });
    return decoder;
  }

  #stopDecoder(current: Current): void {
    const decoder = current.decoder;
    current.decoder = null;
    current.failed = false;
    if (!decoder) return;
    const closing = decoder.close().catch(() => {});
    this.#closing.add(closing);
    void closing.finally(() => this.#closing.delete(closing));
  }
}
