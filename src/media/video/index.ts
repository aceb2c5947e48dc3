/** Public API of the video media layer (re-exported by src/media/index.ts). */
export { isVp8Keyframe, parseVp8Frame } from "./vp8.js";
export type { Vp8FrameInfo } from "./vp8.js";
export {
  NAL_TYPE,
  nalType,
  splitAnnexB,
  joinAnnexB,
  toLengthPrefixed,
  splitLengthPrefixed,
  isH264Keyframe,
  parseH264AccessUnit,
  parseSps,
  encodeAvcConfig,
  parseAvcConfig,
} from "./h264.js";
export type { H264FrameInfo, SpsInfo, AvcConfig } from "./h264.js";
export { FlvH264Reader } from "./flv.js";
export type { H264AccessUnit } from "./flv.js";
export { packetizeH264, parseH264PayloadHeader, H264Depacketizer, H264_OPAQUE_NAL_TYPE, H264_OPAQUE_NAL_HEADER } from "./h264-rtp.js";
export type { H264PayloadHeader, H264DepacketizerOptions } from "./h264-rtp.js";
export { IvfReader, parseIvfHeader, encodeIvfHeader, encodeIvfFrame, IVF_FILE_HEADER_SIZE, IVF_FRAME_HEADER_SIZE } from "./ivf.js";
export type { IvfHeader, IvfFrame, IvfHeaderFields } from "./ivf.js";
export {
  VideoSource,
  parseVideoSource,
  describeVideoSource,
  videoSourceArgs,
  videoEncodeSettings,
  FLASH_BEEP_AUDIO_LAVFI,
  VIDEO_CODECS,
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
  VideoCodecName,
} from "./video-source.js";
export { packetizeVp8, parseVp8Descriptor, Vp8Depacketizer, VP8_MAX_PICTURE_ID } from "./vp8-rtp.js";
export type {
  Vp8PacketizeOptions,
  Vp8Descriptor,
  PayloadHeader,
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
