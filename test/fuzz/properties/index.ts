/** Every fuzz property, for scripts/fuzz.mjs; the test files import their own group. */
import type { FuzzProperty } from "./harness.js";
import { signallingProperties } from "./signalling.js";
import { sframeProperties } from "./sframe.js";
import { envelopeProperties } from "./envelope.js";
import { inviteProperties } from "./invite.js";
import { tokenProperties } from "./token.js";

export { fuzzReady, type FuzzProperty } from "./harness.js";
export { signallingProperties, sframeProperties, envelopeProperties, inviteProperties, tokenProperties };

export const allProperties: FuzzProperty[] = [
  ...signallingProperties,
  ...sframeProperties,
  ...envelopeProperties,
  ...inviteProperties,
  ...tokenProperties,
];
