export * from "./relay.js";
export * from "./limits.js";
export { roomPacketRate, roomCost, joinCost, streamCost, AUDIO_PACKETS_PER_SECOND, VIDEO_PACKET_COST, DEFAULT_VIDEO_PACKETS_PER_SECOND } from "./placement.js";
