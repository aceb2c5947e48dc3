/**
 * A recorder: a receive-only participant that announces the recorder role (every member sees it),
 * decrypts locally and writes one Ogg Opus file per remote participant, copying the Opus packets bit
 * for bit. Members who declined recording never give it their keys, so it cannot write their voice.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { OggOpusWriter } from "../media/index.js";
import type { Invite } from "../protocol/index.js";
import { Participant, type JoinOptions, type ReceivedAudio } from "./participant.js";

export interface RecorderOptions extends Omit<JoinOptions, "role" | "noRecord"> {
  outDir: string;
}

export interface RecordedFile {
  peerId: string;
  name: string;
  path: string;
  packets: number;
}

export class Recorder {
  private readonly writers = new Map<string, { writer: OggOpusWriter; file: RecordedFile; jitter: JitterBuffer }>();
  private closed = false;

  private constructor(
    readonly participant: Participant,
    private readonly outDir: string,
    private readonly name: string,
  ) {
    participant.on("audio", (audio) => this.write(audio));
  }

  static async start(invite: string | Invite, options: RecorderOptions): Promise<Recorder> {
    mkdirSync(options.outDir, { recursive: true });
    const name = options.name ?? "recorder";
    const participant = await Participant.join(invite, { ...options, name, role: "recorder" });
    return new Recorder(participant, options.outDir, name);
  }

  get files(): RecordedFile[] {
    return [...this.writers.values()].map((w) => ({ ...w.file }));
  }

  private write(audio: ReceivedAudio): void {
    if (this.closed) return;
    // Files are keyed by the member's identity, so a member who reconnects (new peer id) or a
    // recorder that reconnects keeps writing to the same file; the writer fills the gap.
    const member = this.participant.e2ee.members.get(audio.peerId);
    const key = member ? Buffer.from(member.identityKey).toString("base64url") : audio.peerId;
    let entry = this.writers.get(key);
    if (!entry) {
      const name = member?.name ?? "unknown";
      const safe = name.replace(/[^A-Za-z0-9_.-]+/g, "_").slice(0, 40) || "peer";
      const path = join(this.outDir, `${safe}-${audio.peerId}.ogg`);
      const writer = OggOpusWriter.open(path, { tags: { TITLE: name } });
      entry = { writer, file: { peerId: audio.peerId, name, path, packets: 0 }, jitter: new JitterBuffer() };
      this.writers.set(key, entry);
      this.participant.emit("event", {
        type: "recording",
        by: [{ peerId: this.participant.peerId, name: this.name }],
        files: this.files.map((f) => f.path),
        time: new Date().toISOString(),
      });
    }
    const { writer, file } = entry;
    entry.jitter.push(audio.payload, audio.timestamp, (payload, timestamp) => {
      writer.writePacket(payload, timestamp);
      file.packets++;
    });
  }

  /** Close every file cleanly (final page with end-of-stream) and leave the room. */
  async close(reason = "left"): Promise<RecordedFile[]> {
    if (!this.closed) {
      this.closed = true;
      for (const { writer, file, jitter } of this.writers.values()) {
        jitter.drain((payload, timestamp) => {
          writer.writePacket(payload, timestamp);
          file.packets++;
        });
        writer.close();
      }
    }
    await this.participant.close(reason);
    return this.files;
  }
}

/**
 * A small reorder buffer for recording: packets are held for up to `depth` packets (about 200 ms of
 * 20 ms frames) and released in RTP timestamp order, so jitter that reorders packets does not make
 * the writer drop them as late.
 */
export class JitterBuffer {
  private readonly held: { payload: Buffer; timestamp: number }[] = [];

  constructor(private readonly depth = 10) {}

  push(payload: Buffer, timestamp: number, release: (payload: Buffer, timestamp: number) => void): void {
    // Insert in timestamp order (signed 32-bit difference, so wraparound sorts correctly).
    let i = this.held.length;
    while (i > 0 && ((timestamp - this.held[i - 1]!.timestamp) | 0) < 0) i--;
    this.held.splice(i, 0, { payload, timestamp });
    while (this.held.length > this.depth) {
      const next = this.held.shift()!;
      release(next.payload, next.timestamp);
    }
  }

  drain(release: (payload: Buffer, timestamp: number) => void): void {
    for (const next of this.held.splice(0)) release(next.payload, next.timestamp);
  }
}
