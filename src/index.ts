/**
 * Conclave's library API: the CLI, the bots and the tests all go through these exports.
 */
export { Relay, type RelayOptions, type RelayStats, defaultLimits, type RelayLimits } from "./server/index.js";
export {
  Participant,
  Recorder,
  newInvite,
  checkRelay,
  loadIdentity,
  rotateIdentity,
  defaultIdentityPath,
  configDir,
  E2eeSession,
  ReceiveStats,
  stamp,
  type JoinOptions,
  type RecorderOptions,
  type RecordedFile,
  type ReceivedAudio,
  type ConclaveEvent,
  type ConclaveEventType,
  type PeerStats,
  type MemberInfo,
  type Role,
} from "./client/index.js";
export {
  BotFleet,
  Bot,
  summarizeBots,
  percentile,
  distribution,
  lossPercent,
  runLoadtest,
  startRelayProcess,
  buildReport,
  formatReport,
  type BotFleetOptions,
  type BotSnapshot,
  type BotVideoSnapshot,
  type BotsSummary,
  type Distribution,
  type LoadtestOptions,
  type LoadtestReport,
  type LoadtestProgress,
  type LoadtestEvent,
  type RelayProcess,
} from "./client/index.js";
export { parseInvite, formatInvite, type Invite } from "./protocol/index.js";
export {
  AudioSource,
  parseAudioSource,
  resolveFfmpeg,
  OggOpusWriter,
  type AudioSourceSpec,
  type FfmpegResolution,
} from "./media/index.js";
export * from "./errors.js";
export { createLogger, nullLogger, type Logger, type LogLevel } from "./log.js";
export * as sframe from "./crypto/sframe/index.js";
export {
  fingerprint,
  safetyNumber,
  generateIdentity,
  CryptoError,
  type IdentityKeyPair,
} from "./crypto/index.js";
