export * from "./participant.js";
export * from "./recorder.js";
export * from "./events.js";
export * from "./room.js";
export * from "./identity-store.js";
export { E2eeSession, type MemberInfo, type E2eeStats } from "./e2ee.js";
export { ReceiveStats, type ReceiveStatsSnapshot } from "./receive-stats.js";
export * from "./bots.js";
export * from "./loadtest.js";
