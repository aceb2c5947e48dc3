/**
 * Child process for the SIGKILL test (not a test file itself): records testsrc video and a tone into
 * a WebM until it is killed, reporting progress as JSON lines on stdout.
 *   argv: <out.webm|out.mkv> <ffmpeg> [vp8|h264]
 */
import { AudioSource } from "../../../src/media/audio-source.js";
import { VideoSource } from "../../../src/media/video/video-source.js";
import { WebmWriter } from "../../../src/media/video/webm-writer.js";

const [out, ffmpeg, codec = "vp8"] = process.argv.slice(2) as [string, string, "vp8" | "h264" | undefined];
const writer = WebmWriter.open(out, { video: { codec, width: 320, height: 240 }, audio: { channels: 1 } });
const [video, audio] = await Promise.all([
  VideoSource.open({ kind: "testsrc" }, { ffmpeg, width: 320, height: 240, fps: 15, codec }),
  AudioSource.open({ kind: "tone", frequency: 440 }, { ffmpeg }),
]);
let samples = 0;
video.on("frame", (f) => writer.writeVideo(f.data, f.timestamp90k / 90, f.keyframe));
audio.on("frame", (f) => {
  writer.writeAudio(f.payload, samples / 48);
  samples += f.samples;
});
const report = (): void => {
  const s = writer.stats;
  process.stdout.write(JSON.stringify({ clusters: s.clusters, videoFrames: s.videoFrames, pids: [video.pid, audio.pid] }) + "\n");
};
setInterval(report, 50);
