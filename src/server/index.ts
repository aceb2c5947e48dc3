export * from "./relay.js";
export * from "./limits.js";
export { roomPacketRate, AUDIO_PACKETS_PER_SECOND } from "./placement.js";
