export * from "./relay.js";
export * from "./limits.js";
