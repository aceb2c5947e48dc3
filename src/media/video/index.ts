/** Public API of the video media layer (re-exported by src/media/index.ts). */
export { isVp8Keyframe, parseVp8Frame } from "./vp8.js";
export type { Vp8FrameInfo } from "./vp8.js";
export { IvfReader, parseIvfHeader, encodeIvfHeader, encodeIvfFrame, IVF_FILE_HEADER_SIZE, IVF_FRAME_HEADER_SIZE } from "./ivf.js";
export type { IvfHeader, IvfFrame, IvfHeaderFields } from "./ivf.js";
export {
  VideoSource,
  parseVideoSource,
  describeVideoSource,
  videoSourceArgs,
  videoEncodeSettings,
  FLASH_BEEP_AUDIO_LAVFI,
} from "./video-source.js";
export type {
  VideoSourceSpec,
  OpenableVideoSourceSpec,
  ParseVideoSourceOptions,
  VideoFrame,
  VideoSourceEvents,
  VideoSourceOptions,
  VideoEncodeSettings,
  VideoSourceStats,
} from "./video-source.js";
export { packetizeVp8, parseVp8Descriptor, Vp8Depacketizer, VP8_MAX_PICTURE_ID } from "./vp8-rtp.js";
export type {
  Vp8PacketizeOptions,
  Vp8Descriptor,
  RtpPacketLike,
  Vp8AssembledFrame,
  Vp8DepacketizerStats,
  Vp8DepacketizerOptions,
} from "./vp8-rtp.js";
export { WebmWriter } from "./webm-writer.js";
export type { WebmWriterOptions, WebmWriterStats } from "./webm-writer.js";
export { VideoPreview, renderHalfBlocks, fitHalfBlocks, videoPreviewArgs } from "./preview.js";
export type { PreviewFrame, VideoPreviewEvents, VideoPreviewOptions, VideoPreviewStats, RenderHalfBlocksOptions } from "./preview.js";
export { VideoStreamStats } from "./stats.js";
export type { VideoStreamSnapshot } from "./stats.js";
