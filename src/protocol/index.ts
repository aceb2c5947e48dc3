export * from "./messages.js";
export * from "./invite.js";
